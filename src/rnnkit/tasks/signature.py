"""The traced interface of a task's model, as export writes it (see :mod:`rnnkit.export`).

Each task that can be exported declares ``signature(model, info) -> Signature`` in its
spec; export traces ``Signature.module`` on ``Signature.sample`` inputs. A model that runs
as several graphs (an encoder, then a decoder step called once per output token) returns
a tuple of signatures instead, each with its own ``name``: export writes one file per
graph, named after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, dtype and shape (ints, or names of dynamic axes)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    description: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "description": self.description,
        }


@dataclass(frozen=True)
class Signature:
    """What is traced: a module, its inputs and outputs, and how to make sample inputs.

    ``sample(batch, steps, generator)`` returns a tuple of input tensors in the order of
    ``inputs``. ``name`` names the graph's file (``model.onnx``); ``extra`` entries go
    into io.json as they are.
    """

    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    sample: Callable[[int, int, torch.Generator], tuple[Tensor, ...]]
    extra: dict[str, Any]
    name: str = "model"

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """ONNX dynamic axes: for every tensor, the positions of its named dimensions."""
        return {
            spec.name: {axis: size for axis, size in enumerate(spec.shape) if isinstance(size, str)}
            for spec in (*self.inputs, *self.outputs)
        }
