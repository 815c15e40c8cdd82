"""The layers' shared machinery (rnnkit.nn.layer_base) where the layers' tests do not reach."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import rnnkit.nn
from rnnkit.nn.layer_base import _check_lengths, _eager_under_compile


def test_rnnkit_nn_import_does_not_import_dynamo() -> None:
    code = "import sys, rnnkit.nn; print('torch._dynamo' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
    assert rnnkit.nn.LSTM.forward.__wrapped__  # the undecorated forward stays reachable


def test_eager_under_compile_runs_the_method_and_keeps_its_name() -> None:
    calls = []

    def method(value: int) -> int:
        """Doubles."""
        calls.append(value)
        return 2 * value

    wrapped = _eager_under_compile(method)
    assert wrapped(3) == 6 and wrapped(4) == 8 and calls == [3, 4]
    assert wrapped.__name__ == "method" and wrapped.__doc__ == "Doubles."


def test_lengths_come_back_as_a_cpu_int64_tensor_whatever_they_came_as() -> None:
    for given in ([3, 1], (3, 1), torch.tensor([3, 1], dtype=torch.int32)):
        lengths = _check_lengths(given, batch_size=2, steps=3)
        assert lengths.dtype == torch.int64 and lengths.device.type == "cpu"
        assert lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"lengths must be <= the time dimension \(3\)"):
        _check_lengths([4, 1], batch_size=2, steps=3)


@pytest.mark.parametrize("layer_class", [rnnkit.nn.LSTM, rnnkit.nn.GRU, rnnkit.nn.RNN])
@pytest.mark.parametrize("impl", ["auto", "reference"])
def test_steps_inside_shared_masks_give_the_whole_sequence_call_in_training(
    layer_class: type, impl: str
) -> None:
    """One step per call, masks shared: the numbers of one call over the whole sequence
    (same seed), outputs, final states and gradients; outside the block they differ."""
    torch.manual_seed(0)
    options = {"recurrent_dropout": 0.4, "weight_drop": 0.5, "layer_norm": True}
    layer = layer_class(3, 5, num_layers=2, batch_first=True, impl=impl, **options).double()
    layer.train()
    x = torch.randn(4, 6, 3, dtype=torch.float64)

    torch.manual_seed(1)
    whole, whole_state = layer(x)
    whole.sum().backward()
    whole_grads = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()

    def stepped() -> tuple[torch.Tensor, object]:
        state, outputs = None, []
        for t in range(x.shape[1]):
            output, state = layer(x[:, t : t + 1], state)
            outputs.append(output)
        return torch.cat(outputs, 1), state

    torch.manual_seed(1)
    with layer.shared_masks():
        steps, step_state = stepped()
    steps.sum().backward()
    torch.testing.assert_close(steps, whole, rtol=0, atol=1e-12)
    for got, want in zip(
        step_state if isinstance(step_state, tuple) else (step_state,),
        whole_state if isinstance(whole_state, tuple) else (whole_state,),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for parameter, want in zip(layer.parameters(), whole_grads, strict=True):
        torch.testing.assert_close(parameter.grad, want, rtol=0, atol=1e-10)
    assert layer._shared is None  # the block is over: calls draw again

    torch.manual_seed(1)
    fresh, _ = stepped()
    assert not torch.allclose(fresh, whole)


def test_a_call_with_another_batch_size_inside_shared_masks_is_refused() -> None:
    layer = rnnkit.nn.GRU(3, 4, batch_first=True, recurrent_dropout=0.3).train()
    with layer.shared_masks():
        layer(torch.randn(2, 1, 3))
        with pytest.raises(ValueError, match="batch size 5, the first one had 2"):
            layer(torch.randn(5, 1, 3))
