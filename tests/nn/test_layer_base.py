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
