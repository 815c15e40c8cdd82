"""Config sections of forecasting: the series, its windows and the forecaster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnnkit.config import Config, SourceConfig, StackConfig


class ForecastingData(SourceConfig):
    """A table of time series: the time axis, targets, covariates and windows."""

    date_column: str | list[str] | None = None
    target: str | list[str] | None = None
    covariates: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    frequency: str | None = None  # pandas offset alias; inferred from the dates when unset
    fill_missing: Literal["interpolate", "ffill", "bfill", "mean", "median", "drop"] = "interpolate"
    scaler: Literal["standard", "minmax", "none"] = "standard"
    lookback: int = Field(24, ge=1)
    horizon: int = Field(1, ge=1)
    stride: int = Field(1, ge=1)
    season_length: int | None = Field(None, ge=1)


class ForecastingModel(StackConfig):
    """A forecaster reads the past in time order, so it has no ``bidirectional``."""

    input_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on the window
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    strategy: Literal["direct", "recursive"] = "direct"
    # Probabilistic forecasts (see rnnkit.tasks.forecasting.probabilistic): "none" trains on
    # the squared error; the others train a head for a distribution (negative
    # log-likelihood) or for quantiles (pinball loss). ``quantiles`` are the levels a
    # quantile head predicts and every forecaster's pinball loss is scored at.
    likelihood: Literal["none", "gaussian", "student_t", "quantile"] = "none"
    # Divide the window by its own standard deviation and scale the forecast back
    # (reversible instance normalisation): for swings that grow with the level.
    window_scale: bool = False
    quantiles: list[float] = Field(default_factory=lambda: [0.1, 0.5, 0.9])

    @model_validator(mode="after")
    def _check_quantiles(self) -> ForecastingModel:
        levels = self.quantiles
        if not levels or any(not 0 < q < 1 for q in levels) or sorted(set(levels)) != levels:
            raise ValueError(
                f"model.quantiles = {levels}: give increasing levels strictly between 0 and 1"
            )
        missing = [q for q in (0.1, 0.5, 0.9) if q not in levels]
        if self.likelihood == "quantile" and missing:
            raise ValueError(
                f"model.quantiles = {levels} lacks {missing}: a quantile head needs 0.5 (the "
                "point forecast) and 0.1 and 0.9 (the 80% interval)"
            )
        return self


class ForecastingConfig(Config):
    task: Literal["forecasting"] = "forecasting"
    data: ForecastingData
    model: ForecastingModel = Field(default_factory=ForecastingModel)
