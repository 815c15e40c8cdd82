"""Forecasting: the next ``horizon`` steps of one or more series from a lookback window,
against naive, seasonal-naive and Holt-Winters baselines."""

from rnnkit.tasks.forecasting.config import ForecastingConfig
from rnnkit.tasks.spec import TaskSpec

_HERE = "rnnkit.tasks.forecasting"

SPEC = TaskSpec(
    name="forecasting",
    summary="forecast the next steps of time series",
    config=ForecastingConfig,
    metrics={
        "loss": "min",
        "mae": "min",
        "rmse": "min",
        "mape": "min",
        "smape": "min",
        "mase": "min",
        # probabilistic forecasts (model.likelihood) and the baselines' residual intervals
        "coverage_80": "near",
        "pinball": "min",
        "crps": "min",
    },
    nominal={"coverage_80": 0.8},
    training=f"{_HERE}.panel:PanelForecastingTask",  # one series or a panel
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:ForecastPredictor",
    export=f"{_HERE}.export:signature",
    cli=f"{_HERE}.cli:register",
    fixture=f"{_HERE}.fixture:tiny_config",
    dataset_kinds=("series",),
)
