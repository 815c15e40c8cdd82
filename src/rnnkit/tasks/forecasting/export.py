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

    outputs = [
        TensorSpec(
            "forecast",
            "float32",
            ("batch", horizon, targets),
            f"the next {horizon} steps of {info.get('target_columns')}, scaled "
            "(invert with preprocess/scaler.json, then preprocess/transform.json)",
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
                "(quantiles invert with preprocess/scaler.json, then "
                "preprocess/transform.json; a scale only with the scaler)",
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
                f"preprocess/scaler.json{known}",
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
            "future_size": future,
            "target_transform": "preprocess/transform.json (undo after the scaler)",
        },
    )
