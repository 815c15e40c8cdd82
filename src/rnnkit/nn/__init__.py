"""Recurrent building blocks, usable alone in any PyTorch code (imports only torch)."""

from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.crf import CRF
from rnnkit.nn.recurrent import GRU, LSTM, RNN

__all__ = ["CRF", "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]
