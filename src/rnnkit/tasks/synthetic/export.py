"""What the synthetic tasks export: sequences to outputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    features = model.recurrent.input_size
    outputs = model.head.out_features
    shape: tuple[int | str, ...] = (
        ("batch", "time", outputs) if model.per_step else ("batch", outputs)
    )

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.randn((batch, steps, features), generator=generator),)

    return Signature(
        module=model,
        inputs=(TensorSpec("inputs", "float32", ("batch", "time", features), "input sequence"),),
        outputs=(
            TensorSpec(
                "outputs",
                "float32",
                shape,
                "class logits at every step" if model.per_step else "one prediction per sequence",
            ),
        ),
        sample=sample,
        extra={"dataset": info.get("dataset")},
    )
