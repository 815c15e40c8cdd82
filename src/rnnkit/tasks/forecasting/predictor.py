"""Inference for forecasters: forecast from the end of the run's series or a new one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from rnnkit.config import Config
from rnnkit.errors import ConfigError, DataError
from rnnkit.rundir import PREPROCESS_DIR, check_writable, read_json, write_text
from rnnkit.tasks.forecasting.inference import (
    forecast_frames,
    in_model_order,
    read_table,
    split_ahead,
)
from rnnkit.tasks.forecasting.probabilistic import LOWER, UPPER
from rnnkit.tasks.predictor import Predictor

SCALER_FILE = "scaler.json"
HISTORY_FILE = "history.json"


class ForecastPredictor(Predictor):
    def forecast(self, horizon: int | None = None, series: Any = None, future: Any = None) -> Any:
        """Forecast ``horizon`` steps (default: the trained horizon) after a series.

        ``series`` is None (the end of the run's own data), a CSV path or a DataFrame
        with the training columns, the same frequency and at least ``lookback`` rows.
        ``future`` gives a model trained with ``data.future_covariates`` their values for
        the forecast steps: a CSV path or a DataFrame with those columns (and the date
        column, matched by date; without it, row by row). It may be left out when
        ``series`` ends with rows whose targets are blank and whose future covariates
        are filled. Returns a pandas DataFrame indexed by the future time steps, one
        column per target, in the original units; a probabilistic model
        (``model.likelihood``) adds its 80% interval as ``<target>_lower_80`` and
        ``<target>_upper_80`` after each.
        """
        result = forecast_from(
            self.run_dir,
            self.config,
            self.info,
            self.model,
            horizon=horizon,
            series=series,
            future=future,
        )
        return result.forecast


def inverse_targets(scaler: Any, scaled_targets: np.ndarray, num_targets: int) -> np.ndarray:
    """Undo the scaling of the target columns (..., K) (the first K scaler columns)."""
    flat = np.asarray(scaled_targets, dtype=np.float64).reshape(-1, num_targets)
    restored = scaler.inverse_transform(flat, columns=list(range(num_targets)))
    return np.asarray(restored).reshape(scaled_targets.shape)


@dataclass
class Forecast:
    """A forecast from the end of a series: ``history`` and ``forecast`` as DataFrames
    indexed by time, one column per target, in the original units."""

    history: Any  # pandas DataFrame, the lookback rows the forecast was made from
    forecast: Any  # pandas DataFrame, ``horizon`` rows after the history


def input_series(
    run_dir: Path, config: Config, info: dict[str, Any], series: Any
) -> tuple[Any, np.ndarray]:
    """(index, filled values (T, F)) of the series to forecast from, validated.

    ``series`` is None (the end of the run's own data, saved at training time), a path
    to a CSV file, or a pandas DataFrame with the same columns as the training data.
    """
    import pandas as pd

    from rnnkit.data import timeseries

    history = read_json(Path(run_dir) / PREPROCESS_DIR / HISTORY_FILE)
    if series is None:
        index = history["index"]
        index = pd.DatetimeIndex(index) if history["frequency"] else pd.RangeIndex(len(index))
        return index, np.asarray(history["values"], dtype=np.float32)
    series, source = read_table(series, "the input")
    data = config.data
    table = timeseries.load_series(
        series,
        date_column=history.get("date_column"),
        target=list(info["target_columns"]),
        covariates=(*data.covariates, *data.future_covariates),
        categorical=tuple(data.categorical),
        categories=history.get("categories") or None,
        source=source,
    )
    table = in_model_order(table, config)
    if history["frequency"] and table.frequency != history["frequency"]:
        raise DataError(
            f"{source} has frequency {table.frequency!r}; the model was trained on "
            f"{history['frequency']!r} data"
        )
    if table.columns != list(info["columns"]):
        raise DataError(
            f"{source} gives columns {', '.join(table.columns)}; the model needs "
            f"{', '.join(info['columns'])}"
        )
    if len(table) < info["lookback"]:
        raise DataError(
            f"{source} has {len(table)} rows; the model needs at least lookback = "
            f"{info['lookback']} rows to forecast from"
        )
    values = np.asarray(timeseries.fill_missing(table.values, data.fill_missing), dtype=np.float32)
    return table.index, values


def forecast_from(
    run_dir: Path,
    config: Config,
    info: dict[str, Any],
    model: nn.Module,
    *,
    horizon: int | None = None,
    series: Any = None,
    future: Any = None,
) -> Forecast:
    """Forecast ``horizon`` steps after the end of ``series`` (see :func:`input_series`)."""
    from rnnkit.data.timeseries import scaler_from_json

    horizon = resolve_horizon(config, info, horizon)
    if info.get("series_column"):
        from rnnkit.tasks.forecasting.panel_forecast import forecast_panel

        history, forecast = forecast_panel(run_dir, config, info, model, horizon, series, future)
        return Forecast(history=history, forecast=forecast)
    from rnnkit.tasks.forecasting.series import load_transform

    future_size = int(info.get("future_size", 0))
    if series is not None and future_size:
        series, ahead = split_ahead(read_table(series, "the input")[0], info["target_columns"])
        future = ahead if future is None else future
    index, values = input_series(run_dir, config, info, series)
    transform = load_transform(run_dir)
    scaler_path = Path(run_dir) / PREPROCESS_DIR / SCALER_FILE
    scaler = scaler_from_json(
        read_json(scaler_path), source=str(scaler_path), features=len(info["columns"])
    )
    history, forecast = forecast_frames(
        config, info, model, index, values, transform, scaler, horizon=horizon, future=future
    )
    return Forecast(history=history, forecast=forecast)


def write_forecast(
    run_dir: str | Path,
    *,
    horizon: int | None = None,
    series: Any = None,
    output: str | Path | None = None,
    plot: bool = True,
    future: Any = None,
) -> tuple[Any, Path, Path | None]:
    """Forecast with a run directory's model; write it as CSV and PNG (``rnnkit forecast``).

    Returns the forecast DataFrame and the paths of the CSV and the plot (the CSV's
    path with ``.png``; None with ``plot=False``, which never imports matplotlib).
    """
    from rnnkit.predictor import load

    csv_path = Path(output) if output is not None else Path(run_dir) / "forecast.csv"
    if csv_path.is_dir():
        raise DataError(
            f"--output {csv_path} is a folder; give the path of a CSV file to write "
            f"(e.g. {csv_path / 'forecast.csv'})"
        )
    predictor = load(run_dir)
    if not isinstance(predictor, ForecastPredictor):
        raise DataError(f"{run_dir} is a {predictor.task} run; forecast needs a forecasting run")
    check_writable(
        csv_path.parent,
        f"forecast writes {csv_path.name} and its plot there",
        "make it writable, or give --output FILE.csv elsewhere",
    )
    result = forecast_from(
        predictor.run_dir,
        predictor.config,
        predictor.info,
        predictor.model,
        horizon=horizon,
        series=series,
        future=future,
    )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame = result.forecast.rename_axis("time")
    write_text(csv_path, frame.to_csv())
    if not plot:
        return frame, csv_path, None
    from rnnkit.evaluate.plots import forecast_png

    target = result.forecast.columns[0]
    history, forecast = first_series(result, predictor.info)
    lower, upper = f"{target}_{LOWER}", f"{target}_{UPPER}"
    band = None
    if lower in forecast.columns:
        band = (forecast[lower].to_numpy(), forecast[upper].to_numpy())
    png_path = forecast_png(
        history.index,
        history[target].to_numpy(),
        forecast.index,
        forecast[target].to_numpy(),
        csv_path.with_suffix(".png"),
        band=band,
        title=f"{predictor.config.name}: {len(frame)}-step forecast",
        target_name=str(target),
    )
    return frame, csv_path, png_path


def first_series(result: Forecast, info: dict[str, Any]) -> tuple[Any, Any]:
    """History and forecast of the first series of a panel run (of the one series else)."""
    column = info.get("series_column")
    if not column:
        return result.history, result.forecast
    name = result.forecast[column].iloc[0]
    return (
        result.history[result.history[column] == name],
        result.forecast[result.forecast[column] == name],
    )


def resolve_horizon(
    config: Config, info: dict[str, Any], horizon: int | None, spelled: str = "horizon={}"
) -> int:
    """How many steps to forecast: the trained horizon when ``horizon`` is None.

    A direct forecaster has one output per trained step, so it cannot go further; a
    recursive one feeds its forecasts back and can. ``spelled`` writes the value as the
    user gave it (``"horizon={}"`` for the Python API, ``"--horizon {}"`` for the CLI).
    """
    trained = int(info["horizon"])
    horizon = trained if horizon is None else int(horizon)
    given = spelled.format(horizon)
    if horizon < 1:
        raise ConfigError(f"{given} must be at least 1")
    if config.model.strategy == "direct" and horizon > trained:
        raise ConfigError(
            f"{given} is beyond the {trained} steps this direct forecaster was trained "
            f"for; use a horizon of at most {trained}, or train with "
            "model.strategy=recursive"
        )
    return horizon
