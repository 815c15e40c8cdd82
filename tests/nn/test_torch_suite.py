"""PyTorch's own test inputs for its recurrent modules, run on rnnkit.nn's.

torch ships, for each module it tests, a ``ModuleInfo`` in
``torch.testing._internal.common_modules.module_db``: functions that build sample inputs
(constructor arguments, forward arguments, a reference function) and error inputs
(arguments with the exception type and message torch promises). This file runs the
installed torch's samples and error inputs for ``nn.RNN``, ``nn.GRU``, ``nn.LSTM`` and
their cells against rnnkit's classes: every sample must construct with the same initial
weights as torch.nn for the same seed and give torch.nn's outputs and gradients (on
both of rnnkit's paths for the layers), and every error input must raise torch's
exception type with a message matching torch's pattern. The inputs come from torch
itself, so a new torch release brings its new cases with it.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence

import rnnkit.nn

MODULES = ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell")
LAYERS = ("RNN", "GRU", "LSTM")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _import_common_modules():
    """torch's ModuleInfo database, imported without its side effects on this process.

    Importing ``torch.testing._internal`` freezes ``torch.backends``' flags (torch's own
    suite forbids setting them), wraps TorchScript calls for its profiler and sets an
    inductor cache directory; all three are undone so the rest of the session runs as
    without this file.
    """
    script_calls = (torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__)
    cache_dir = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    pytest.importorskip("expecttest")  # torch.testing._internal needs it
    # torch's own context manager: it puts the flag back as it was on exit.
    with getattr(torch.backends, "__allow_nonbracketed_mutation")():
        from torch.testing._internal import common_modules
    torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__ = script_calls
    if cache_dir is None:
        os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
    return common_modules


@pytest.fixture(scope="module")
def common_modules():
    return _import_common_modules()


def _module_info(common_modules, name: str):
    torch_cls = getattr(torch.nn, name)
    (info,) = [info for info in common_modules.module_db if info.module_cls is torch_cls]
    return info


def _tensors(value) -> list[torch.Tensor]:
    """The tensors of a module's output, flattened in order (packed sequences: their data)."""
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for item in value for t in _tensors(item)]


def _leaves(args) -> list[torch.Tensor]:
    return [t for t in _tensors([a for a in args if a is not None]) if t.requires_grad]


def _loss(outputs: list[torch.Tensor]) -> torch.Tensor:
    # Fixed, uneven weights so that every element reaches the gradients.
    return sum(
        (t * torch.linspace(-1.0, 2.0, t.numel(), dtype=t.dtype, device=t.device).view_as(t)).sum()
        for t in outputs
    )


def _run(module, args, kwargs) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(outputs, gradients of a loss over them for the inputs and parameters)."""
    outputs = _tensors(module(*args, **kwargs))
    wrt = _leaves(args) + list(module.parameters())
    grads = torch.autograd.grad(_loss(outputs), wrt, allow_unused=True)
    return outputs, [g for g in grads if g is not None]


def _samples(info, name: str, device: str, dtype: torch.dtype, training: bool) -> list:
    make = info.module_inputs_func
    samples = list(make(info, device=device, dtype=dtype, requires_grad=True, training=training))
    if name in ("RNN", "GRU"):
        # Packed-sequence samples, which the functions build on request.
        samples += make(
            info,
            device=device,
            dtype=dtype,
            requires_grad=True,
            training=training,
            with_packed_sequence=True,
        )[len(samples) :]
    return samples


# torch's samples are the same in both modes (no dropout): each mode runs in one dtype.
MODES = [(torch.float32, True), (torch.float64, False)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("dtype", "training"), MODES, ids=["float32-train", "float64-eval"])
@pytest.mark.parametrize("name", MODULES)
def test_torch_samples_give_torch_outputs(
    common_modules, name: str, dtype: torch.dtype, training: bool, device: str
) -> None:
    info = _module_info(common_modules, name)
    torch_cls, ours_cls = getattr(torch.nn, name), getattr(rnnkit.nn, name)
    samples = _samples(info, name, device, dtype, training)
    assert samples
    impls = ("fused", "reference") if name in LAYERS else (None,)
    tolerance = {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {}
    failures = []
    for number, sample in enumerate(samples):
        construct, forward = sample.constructor_input, sample.forward_input
        case = f"sample {number}: {name}(*{construct.args}, **{construct.kwargs})"
        torch.manual_seed(number)
        reference = torch_cls(*construct.args, **construct.kwargs).to(device, dtype)
        torch.manual_seed(number)
        ours = ours_cls(*construct.args, **construct.kwargs).to(device, dtype)
        assert isinstance(ours, torch_cls), case
        ours_state, torch_state = ours.state_dict(), reference.state_dict()
        assert list(ours_state) == list(torch_state), case
        for key, value in torch_state.items():  # the same seed draws the same weights
            torch.testing.assert_close(ours_state[key], value, rtol=0, atol=0, msg=case)
        reference.train(training)
        expected = _run(reference, forward.args, forward.kwargs)
        for impl in impls:
            ours.train(training)
            if impl is not None:
                ours.impl = impl
            try:
                got = _run(ours, forward.args, forward.kwargs)
                for a, b in zip(got[0] + got[1], expected[0] + expected[1], strict=True):
                    torch.testing.assert_close(a, b, **tolerance)
                if sample.reference_fn is not None and not isinstance(
                    forward.args[0], PackedSequence
                ):
                    # torch's own reference: the unbatched call equals a batch of one.
                    # (the stored function adds the parameters itself)
                    batch_of_one = sample.reference_fn(ours, *forward.args, **forward.kwargs)
                    unbatched = ours(*forward.args, **forward.kwargs)
                    for a, b in zip(_tensors(unbatched), _tensors(batch_of_one), strict=True):
                        torch.testing.assert_close(a, b, **tolerance)
            except Exception as error:  # collected, so one run reports every failing sample
                failures.append(f"{case} impl={impl}: {type(error).__name__}: {error}")
    assert not failures, f"{len(failures)} of {len(samples)} samples fail:\n" + "\n".join(failures)


@pytest.mark.parametrize("name", MODULES)
def test_torch_error_inputs_raise_torchs_errors(common_modules, name: str) -> None:
    info = _module_info(common_modules, name)
    errors = list(
        info.module_error_inputs_func(
            info, device="cpu", dtype=torch.float32, requires_grad=False, training=True
        )
    )
    assert errors
    construction = common_modules.ModuleErrorEnum.CONSTRUCTION_ERROR
    failures = []
    for number, error in enumerate(errors):
        sample = error.module_error_input
        construct, forward = sample.constructor_input, sample.forward_input
        case = f"error input {number}: {name}(*{construct.args}, **{construct.kwargs})"
        for cls in (getattr(torch.nn, name), getattr(rnnkit.nn, name)):
            try:
                with pytest.raises(error.error_type, match=error.error_regex):
                    if error.error_on == construction:
                        cls(*construct.args, **construct.kwargs)
                    else:
                        module = cls(*construct.args, **construct.kwargs)
                        module(*forward.args, **forward.kwargs)
            except BaseException as failure:  # pytest's Failed is a BaseException
                failures.append(f"{case} on {cls.__module__}: {failure}")
    assert not failures, f"{len(failures)} of {len(errors)} error inputs fail:\n" + "\n".join(
        failures
    )
