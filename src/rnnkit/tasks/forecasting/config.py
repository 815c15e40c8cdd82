"""Config sections of forecasting: the series, its windows and the forecaster."""

from __future__ import annotations

from typing import Any, Literal

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
    # Target transform before the scaler, fitted on the training part and undone for
    # metrics and forecasts; then a lag difference (0 = off, 1 = first difference).
    transform: Literal["none", "log", "log1p", "boxcox"] = "none"
    difference: int = Field(0, ge=0)
    # Columns known in advance for the forecast steps (promotions, prices, planned events).
    future_covariates: list[str] = Field(default_factory=list)
    # Calendar features of the time axis (sin/cos of the position in each period) and a
    # public-holiday flag for a country code (needs the optional holidays package).
    calendar: list[
        Literal[
            "hour", "day_of_week", "day_of_month", "day_of_year", "week_of_year", "month", "quarter"
        ]
    ] = Field(default_factory=list)
    holidays: str | None = None
    # Long format: the column naming the series each row belongs to; one global model.
    series_column: str | None = None


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

    @model_validator(mode="after")
    def _check_intervals(self) -> ForecastingConfig:
        # Undoing a difference sums the forecast steps; the quantiles of a sum are not the
        # sums of the quantiles, so the head's intervals would not be intervals any more.
        if self.model.likelihood != "none" and self.data.difference:
            raise ValueError(
                f"model.likelihood = {self.model.likelihood!r} with data.difference = "
                f"{self.data.difference}: intervals cannot be undifferenced; use "
                "data.difference: 0 (a log or boxcox data.transform is fine) or "
                "model.likelihood: none"
            )
        return self

    def memory_span(self, info: dict[str, Any]) -> tuple[int, str] | None:
        # A forecast of the next `horizon` steps leans on the last horizon of the window
        # and on the same point one season back; the rest of the window is context.
        season = self.data.season_length or info.get("season_length") or 1
        return (
            max(self.data.horizon, season),
            f"the longer of the horizon ({self.data.horizon}) and the season length ({season})",
        )
