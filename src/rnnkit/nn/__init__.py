"""Recurrent building blocks, usable alone in any PyTorch code (imports only torch)."""

from rnnkit.nn.attention import BahdanauAttention, LuongAttention
from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.crf import CRF
from rnnkit.nn.minimal import MinGRU, MinLSTM
from rnnkit.nn.recurrent import GRU, LSTM, RNN
from rnnkit.nn.rglru import RGLRU
from rnnkit.nn.scan_layers import minimal_layer

__all__ = [
    "CRF",
    "GRU",
    "LSTM",
    "RGLRU",
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
