"""What a forecaster exports: a window to the forecast, in scaled units; a probabilistic
forecaster (``model.likelihood``) also returns its distribution parameters."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec

#: What the last axis of the exported ``distribution`` holds, per likelihood.
PARAMETERS = {
    "gaussian": "mean and standard deviation",
    "student_t": "location, scale and degrees of freedom",
}


class WithDistribution(nn.Module):
    """The forecaster's point forecast (B, H, K) and parameters (B, H, K, P), traced once."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, window: Tensor) -> tuple[Tensor, Tensor]:
        from rnnkit.tasks.forecasting.probabilistic import point

        params = self.model.distribution(window)
        return point(params, self.model.likelihood, self.model.quantiles), params


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    features, targets, horizon = model.input_size, model.num_targets, model.horizon
    probabilistic = model.likelihood != "none"

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.randn((batch, steps, features), generator=generator),)

    outputs = [
        TensorSpec(
            "forecast",
            "float32",
            ("batch", horizon, targets),
            f"the next {horizon} steps of {info.get('target_columns')}, scaled "
            "(invert with preprocess/scaler.json)",
        )
    ]
    if probabilistic:
        what = PARAMETERS.get(model.likelihood, f"the quantiles at levels {model.quantiles}")
        outputs.append(
            TensorSpec(
                "distribution",
                "float32",
                ("batch", horizon, targets, model.num_params),
                f"the {model.likelihood} forecast of every step: {what}, in scaled units "
                "(locations, scales and quantiles invert with preprocess/scaler.json)",
            )
        )
    return Signature(
        module=WithDistribution(model) if probabilistic else model,
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
        outputs=tuple(outputs),
        sample=sample,
        extra={
            "lookback": info.get("lookback"),
            "horizon": horizon,
            "columns": info.get("columns"),
            "target_columns": info.get("target_columns"),
            "frequency": info.get("frequency"),
            "likelihood": model.likelihood,
            "quantiles": model.quantiles if model.likelihood == "quantile" else None,
        },
    )
