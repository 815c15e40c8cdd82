"""Memory a model or a batch asks for, checked against the machine before allocating.

A hand-edited ``info.json`` (a vocabulary of 10^12 tokens), a typo in
``model.hidden_size`` or one 50 MB review without ``data.max_length`` would otherwise
end in an allocation failure deep inside torch (or in the kernel's out-of-memory
killer). Here the model is first built on torch's ``meta`` device, which records
shapes and allocates nothing, and its size is compared with the memory the machine has
available; a batch's activations are estimated from its shape.

The estimates are rough on purpose (float32; training keeps the weights, their
gradients and two optimizer moments, four copies in all): they refuse only what cannot
fit, by a wide margin, and say which setting asks for how much.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from rnnkit.errors import UserError

FLOAT_BYTES = 4
#: Copies of every parameter while training: weights, gradients, Adam's two moments.
TRAINING_COPIES = 4
#: Floats kept per time step and sample for each layer and direction of a recurrent
#: stack: the gate pre-activations (four for an LSTM), the cell and hidden states, and
#: their gradients on the way back.
FLOATS_PER_STEP_AND_UNIT = 8


def available_memory() -> int | None:
    """Bytes of memory the machine can give this process now (Linux: MemAvailable),
    or None where that cannot be told."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class _SkipRandomInit(TorchFunctionMode):
    """Leave parameter initialisation out of a meta-device build.

    Meta tensors hold no values, yet their random in-place initialisers run through
    torch's Python reference kernels, whose first use imports the compiler stack (about
    a second at every inference command). Only shapes matter here.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _INIT_OPS:
            # torch.nn.init passes the tensor by keyword, Tensor methods as self.
            tensor = args[0] if args else kwargs.get("tensor")
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


_INIT_OPS = frozenset(
    {
        "normal_",
        "uniform_",
        "zero_",
        "zeros_",
        "ones_",
        "fill_",
        "constant_",
        "xavier_uniform_",
        "xavier_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "trunc_normal_",
        "orthogonal_",
    }
)


def check_model_memory(
    build: Callable[[Any, dict[str, Any]], nn.Module],
    config: Any,
    info: dict[str, Any],
    *,
    training: bool,
    info_source: str = "info",
    available: int | None = None,
) -> None:
    """Refuse a model that cannot fit in memory, naming the setting that makes it big.

    ``build(config, info)`` is run on the meta device (nothing is allocated). A build
    that fails there is left for the real build to report. ``info_source`` names where
    ``info`` comes from in the message (``preprocess/info.json`` of a run directory).
    """
    try:
        with torch.device("meta"), _SkipRandomInit():
            model = build(config, info)
    except RuntimeError as err:
        # A tensor past 2**63 bytes cannot even be described; other errors are left for
        # the real build to report, with their context.
        sizes = re.search(r"overflowed with sizes=\[([\d, ]+)\]", str(err))
        if sizes is None:
            return
        shape = torch.Size(int(n) for n in sizes.group(1).split(","))
        raise UserError(
            f"the model needs a tensor of shape {list(shape)}, too large for any memory; it "
            f"comes from {_culprits(config, info, shape, info_source)}"
        ) from None
    except Exception:  # the real build reports its own errors, with their context
        return
    tensors = [*model.parameters(), *model.buffers()]
    if not tensors:
        return
    count = sum(t.numel() for t in tensors)
    needed = count * FLOAT_BYTES * (TRAINING_COPIES if training else 1)
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return
    name, largest = max(model.named_parameters(), key=lambda item: item[1].numel())
    purpose = "to train (weights, gradients and optimizer state)" if training else "for its weights"
    raise UserError(
        f"the model has {count:,} parameters and needs about {human_bytes(needed)} {purpose}, "
        f"more than the {human_bytes(available)} of memory available; its largest tensor, "
        f"{name} {list(largest.shape)}, comes from {_culprits(config, info, largest.shape, info_source)}"
    )


def _culprits(config: Any, info: dict[str, Any], shape: torch.Size, info_source: str) -> str:
    """The settings whose value is a dimension of ``shape`` (the largest such first)."""
    settings: list[tuple[str, int]] = []
    model_section = getattr(config, "model", None)
    if model_section is not None:
        settings += [(f"model.{k}={v}", v) for k, v in model_section.model_dump().items()]
    settings += [(f"{k}={v} in {info_source}", v) for k, v in info.items()]
    for dimension in sorted(set(shape), reverse=True):
        named = [
            name
            for name, value in settings
            if isinstance(value, int) and not isinstance(value, bool) and value == dimension
        ]
        if named:
            return ", ".join(named)
    return f"a dimension of {max(shape):,}"


def check_batch_memory(
    *,
    batch_size: int,
    steps: int,
    input_size: int,
    hidden_size: int,
    layers: int,
    directions: int,
    what: str,
    advice: str,
    available: int | None = None,
) -> None:
    """Refuse a batch whose activations cannot fit in memory.

    A recurrent stack keeps about :data:`FLOATS_PER_STEP_AND_UNIT` floats per time step,
    sample, layer, direction and hidden unit for backpropagation through time, plus the
    input itself. ``what`` names the batch ("the longest text, row 3 of train, 10,000,001
    tokens"), ``advice`` the setting that fixes it.
    """
    per_step = input_size + layers * directions * hidden_size * FLOATS_PER_STEP_AND_UNIT
    needed = batch_size * steps * per_step * FLOAT_BYTES
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return
    raise UserError(
        f"{what}: in a batch of {batch_size} it asks for about {human_bytes(needed)} of "
        f"activations to train, more than the {human_bytes(available)} of memory available; "
        f"{advice}"
    )
