"""What a forecaster exports: a window to the forecast, in scaled units."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    features, targets, horizon = model.input_size, model.num_targets, model.horizon

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.randn((batch, steps, features), generator=generator),)

    return Signature(
        module=model,
        inputs=(
            TensorSpec(
                "window",
                "float32",
                ("batch", "time", features),
                "the last steps of the series (trained with lookback "
                f"{info.get('lookback')}), columns {info.get('columns')}, scaled with "
                "preprocess/scaler.json",
            ),
        ),
        outputs=(
            TensorSpec(
                "forecast",
                "float32",
                ("batch", horizon, targets),
                f"the next {horizon} steps of {info.get('target_columns')}, scaled "
                "(invert with preprocess/scaler.json)",
            ),
        ),
        sample=sample,
        extra={
            "lookback": info.get("lookback"),
            "horizon": horizon,
            "columns": info.get("columns"),
            "target_columns": info.get("target_columns"),
            "frequency": info.get("frequency"),
        },
    )
