"""Recurrent building blocks, usable alone in any PyTorch code (imports only torch)."""

from rnnkit.nn.attention import BahdanauAttention, LuongAttention
from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.crf import CRF
from rnnkit.nn.minimal import MinGRU, MinLSTM, minimal_layer
from rnnkit.nn.recurrent import GRU, LSTM, RNN

__all__ = [
    "CRF",
    "GRU",
    "LSTM",
    "RNN",
    "BahdanauAttention",
    "GRUCell",
    "LSTMCell",
    "LuongAttention",
    "MinGRU",
    "MinLSTM",
    "RNNCell",
    "minimal_layer",
]
