"""The C++ time loops split over threads (rnnkit.nn.fused_native) against the Python loops.

tests/nn/test_fused.py checks both loops against the cells at one thread; here the batch
is large enough that each step's rows are shared between two threads, and the layer-norm
gain gradients are summed per thread.
"""

from __future__ import annotations

import pytest
import torch

from rnnkit import nn as rnn_nn
from rnnkit.nn import native

pytestmark = pytest.mark.skipif(
    not native.available(), reason="no C++ compiler here: the native loops are not built"
)
LAYERS = {"lstm": rnn_nn.LSTM, "gru": rnn_nn.GRU, "rnn": rnn_nn.RNN}


def _run(layer, x, switch, monkeypatch):
    monkeypatch.setenv(native.SWITCH, switch)
    torch.manual_seed(1)  # the same dropout and zoneout masks on both runs
    output, state = layer(x)
    states = state if isinstance(state, tuple) else (state,)
    weights = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)
    loss = (output * weights).sum() + sum((s * s).sum() for s in states)
    return [output, *torch.autograd.grad(loss, [x, *layer.parameters()])]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_rows_split_over_two_threads_match_the_python_loops(kind, monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        layer = LAYERS[kind](
            8, 256, layer_norm=True, recurrent_dropout=0.3, zoneout=0.2, dtype=torch.float64
        )
        x = torch.randn(3, 64, 8, dtype=torch.float64, requires_grad=True)
        native_results = _run(layer, x, "1", monkeypatch)
        python_results = _run(layer, x, "0", monkeypatch)
    finally:
        torch.set_num_threads(threads)
    names = ["output", "x"] + [name for name, _ in layer.named_parameters()]
    for name, got, want in zip(names, native_results, python_results, strict=True):
        torch.testing.assert_close(
            got, want, atol=1e-10, rtol=1e-10, msg=lambda m, n=name: f"{n}: {m}"
        )
