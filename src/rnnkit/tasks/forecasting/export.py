"""What a forecaster exports: a window to the forecast, in scaled units."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    features, targets, horizon = model.input_size, model.num_targets, model.horizon

    future = getattr(model, "future_size", 0)
    # With known-future covariates the window ends with `horizon` rows holding them.
    extra_rows = horizon if future else 0

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.randn((batch, steps + extra_rows, features), generator=generator),)

    known = (
        f"; then {horizon} rows whose last {future} columns are the known-future covariates "
        "of the forecast steps (the other columns are ignored)"
        if future
        else ""
    )

    return Signature(
        module=model,
        inputs=(
            TensorSpec(
                "window",
                "float32",
                ("batch", "time", features),
                "the last steps of the series (trained with lookback "
                f"{info.get('lookback')}), columns {info.get('columns')}, scaled with "
                f"preprocess/scaler.json{known}",
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
            "future_size": future,
            "target_transform": "preprocess/transform.json (undo after the scaler)",
        },
    )
