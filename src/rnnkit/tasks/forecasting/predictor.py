"""Inference for forecasters: forecast from the end of the run's series or a new one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.config import Config
from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_text
from rnnkit.tasks.forecasting.probabilistic import band_columns, forecast_bands, point
from rnnkit.tasks.predictor import Predictor

SCALER_FILE = "scaler.json"
HISTORY_FILE = "history.json"


class ForecastPredictor(Predictor):
    def forecast(self, horizon: int | None = None, series: Any = None) -> Any:
        """Forecast ``horizon`` steps (default: the trained horizon) after a series.

        ``series`` is None (the end of the run's own data), a CSV path or a DataFrame
        with the training columns, the same frequency and at least ``lookback`` rows.
        Returns a pandas DataFrame indexed by the future time steps, one column per
        target, in the original units; a probabilistic model (``model.likelihood``) adds
        its 80% interval as ``<target>_lower_80`` and ``<target>_upper_80`` after each.
        """
        result = forecast_from(
            self.run_dir, self.config, self.info, self.model, horizon=horizon, series=series
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
    # (lower, upper) (H, K) 80% interval of a probabilistic model, else None
    band: tuple[np.ndarray, np.ndarray] | None = None


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
    source = "the input"
    if isinstance(series, (str, Path)):
        source = str(series)
        if not Path(series).is_file():
            raise DataError(f"forecast input file not found: {series}")
        try:
            series = pd.read_csv(series, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise DataError(f"{source}: not a readable CSV file ({err})") from None
    data = config.data
    table = timeseries.load_series(
        series,
        date_column=history.get("date_column"),
        target=list(info["target_columns"]),
        covariates=tuple(data.covariates),
        categorical=tuple(data.categorical),
        categories=history.get("categories") or None,
        source=source,
    )
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
) -> Forecast:
    """Forecast ``horizon`` steps after the end of ``series`` (see :func:`input_series`)."""
    import pandas as pd

    from rnnkit.data.timeseries import scaler_from_json

    trained = info["horizon"]
    horizon = trained if horizon is None else int(horizon)
    if horizon < 1:
        raise DataError(f"horizon={horizon} must be at least 1")
    if config.model.strategy == "direct" and horizon > trained:
        raise DataError(
            f"horizon={horizon} is beyond the {trained} steps this direct forecaster was "
            f"trained for; use horizon <= {trained} or train with model.strategy=recursive"
        )
    index, values = input_series(run_dir, config, info, series)
    lookback, k = info["lookback"], info["num_targets"]
    if len(values) < lookback:
        raise DataError(f"the series has {len(values)} rows, fewer than lookback = {lookback}")
    scaler = scaler_from_json(read_json(Path(run_dir) / PREPROCESS_DIR / SCALER_FILE))
    window = np.asarray(scaler.transform(values[-lookback:]), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        steps = horizon if config.model.strategy == "recursive" else trained
        params = model.distribution(torch.from_numpy(window)[None], steps)[:, :horizon]
        scaled = point(params, model.likelihood, model.quantiles).numpy()  # (1, H, K)
    forecast = inverse_targets(scaler, scaled, k)[0]  # (H, K)
    band = None
    if model.likelihood != "none":
        lower, upper = forecast_bands(
            params.numpy().astype(np.float64),
            lambda values: inverse_targets(scaler, values, k),
            model.likelihood,
            model.quantiles,
        )
        band = (lower[0], upper[0])
    if isinstance(index, pd.DatetimeIndex):
        frequency = info.get("frequency") or pd.infer_freq(index[-3:])
        future = pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
    else:
        future = pd.RangeIndex(len(index), len(index) + horizon)
    columns = list(info["target_columns"])
    frame = pd.DataFrame(forecast, index=future, columns=columns)
    if band is not None:
        frame = band_columns(frame, *band)
    return Forecast(
        history=pd.DataFrame(values[-lookback:, :k], index=index[-lookback:], columns=columns),
        forecast=frame,
        band=band,
    )


def write_forecast(
    run_dir: str | Path,
    *,
    horizon: int | None = None,
    series: Any = None,
    output: str | Path | None = None,
) -> tuple[Any, Path, Path]:
    """Forecast with a run directory's model; write it as CSV and PNG (``rnnkit forecast``).

    Returns the forecast DataFrame and the paths of the CSV and the plot (the CSV's
    path with ``.png``).
    """
    from rnnkit.evaluate.plots import forecast_png
    from rnnkit.predictor import load

    predictor = load(run_dir)
    if not isinstance(predictor, ForecastPredictor):
        raise DataError(f"{run_dir} is a {predictor.task} run; forecast needs a forecasting run")
    result = forecast_from(
        predictor.run_dir,
        predictor.config,
        predictor.info,
        predictor.model,
        horizon=horizon,
        series=series,
    )
    csv_path = Path(output) if output is not None else Path(run_dir) / "forecast.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame = result.forecast.rename_axis("time")
    write_text(csv_path, frame.to_csv())
    target = result.forecast.columns[0]
    band = None if result.band is None else (result.band[0][:, 0], result.band[1][:, 0])
    png_path = forecast_png(
        result.history.index,
        result.history[target].to_numpy(),
        result.forecast.index,
        result.forecast[target].to_numpy(),
        csv_path.with_suffix(".png"),
        band=band,
        title=f"{predictor.config.name}: {len(frame)}-step forecast",
        target_name=str(target),
    )
    return frame, csv_path, png_path
