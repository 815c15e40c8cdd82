"""Forecasting from a trained run's files: the input table, its known-future rows, and
one series' forecast (used for single series and, series by series, for panels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.config import Config
from rnnkit.errors import DataError
from rnnkit.tasks.forecasting.probabilistic import band_columns, forecast_bands, point


def read_table(table: Any, default_source: str) -> tuple[Any, str]:
    """A DataFrame and a name for messages, from a CSV path or a DataFrame."""
    import pandas as pd

    if not isinstance(table, (str, Path)):
        return table, default_source
    source = str(table)
    if not Path(table).is_file():
        raise DataError(f"forecast input file not found: {table}")
    try:
        return pd.read_csv(table, skipinitialspace=True), source
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{source}: not a readable CSV file ({err})") from None


def in_model_order(table: Any, config: Config) -> Any:
    """A loaded :class:`~rnnkit.data.timeseries.SeriesTable` with its columns as the model
    reads them: future covariates moved last, calendar features appended."""
    from rnnkit.tasks.forecasting.series import calendar_block, calendar_names, known_future_last

    columns, values = known_future_last(
        list(table.columns), table.values, list(config.data.future_covariates)
    )
    calendar = calendar_block(table.index, config)
    table.columns = columns + (calendar_names(config) if calendar.shape[1] else [])
    table.values = np.concatenate([values, calendar], axis=1) if calendar.shape[1] else values
    return table


def split_ahead(series: Any, targets: list[str]) -> tuple[Any, Any]:
    """Rows at the end of a table whose targets are all blank are the forecast steps (their
    known-future covariates filled): (the series, those rows or None)."""
    if not all(name in series.columns for name in targets):
        return series, None
    blank = series[targets].isna().all(axis=1).to_numpy()
    trailing = 0
    while trailing < len(blank) and blank[len(blank) - 1 - trailing]:
        trailing += 1
    if trailing == 0:
        return series, None
    return series.iloc[: len(series) - trailing], series.iloc[len(series) - trailing :]


def known_future_rows(
    config: Config, info: dict[str, Any], future_index: Any, ahead: Any, steps: int
) -> np.ndarray:
    """(steps, C) known-future columns for the forecast steps, in the data's units:
    ``data.future_covariates`` from ``ahead`` (matched by date when it has the date
    column, else row by row), then the calendar features of ``future_index``."""
    import pandas as pd

    from rnnkit.tasks.forecasting.series import calendar_block

    names = list(config.data.future_covariates)
    blocks = []
    if names:
        if ahead is None:
            raise DataError(
                f"this model needs the future covariates {', '.join(names)} for the {steps} "
                "steps it forecasts: pass future= (rnnkit forecast --future CSV) or end the "
                "input with those rows, targets blank"
            )
        ahead, source = read_table(ahead, "the future covariates")
        missing = [name for name in names if name not in ahead.columns]
        if missing:
            raise DataError(f"{source} has no column {missing[0]!r}; it needs {', '.join(names)}")
        date_column = info.get("date_column")
        if (
            isinstance(future_index, pd.DatetimeIndex)
            and isinstance(date_column, str)
            and (date_column in ahead.columns)
        ):
            dates = pd.DatetimeIndex(pd.to_datetime(ahead[date_column], errors="coerce"))
            rows = ahead.set_index(dates)[names]
            rows = rows[~rows.index.duplicated()].reindex(future_index[:steps])
        else:
            rows = ahead[names].iloc[:steps].reset_index(drop=True)
        rows = rows.apply(pd.to_numeric, errors="coerce")
        given = rows.notna().all(axis=1).to_numpy()
        if len(rows) < steps or not given.all():
            first = int(np.flatnonzero(~given)[0]) if not given.all() else len(rows)
            when = future_index[first] if first < len(future_index) else first
            raise DataError(
                f"{source} gives the future covariates {', '.join(names)} for {first} of "
                f"the {steps} forecast steps; the first missing one is {when}"
            )
        blocks.append(rows.to_numpy(np.float64))
    calendar = calendar_block(future_index[:steps], config)
    if calendar.shape[1]:
        blocks.append(calendar.astype(np.float64))
    return np.concatenate(blocks, axis=1)


def future_index_after(index: Any, info: dict[str, Any], steps: int) -> Any:
    """The ``steps`` time steps after ``index`` (dates at the run's frequency, or positions)."""
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex):
        frequency = info.get("frequency") or pd.infer_freq(index[-3:])
        return future_dates(index[-1], steps, frequency)
    return pd.RangeIndex(len(index), len(index) + steps)


#: The last year a forecast's dates may reach: Python's datetime, the CSV and the plot's
#: date axis all end at 9999.
LAST_YEAR = 9999


def future_dates(last: Any, horizon: int, frequency: str) -> Any:
    """The ``horizon`` dates after ``last`` at ``frequency``, or a DataError naming the
    largest horizon whose dates stay within :data:`LAST_YEAR`."""
    import pandas as pd

    def reachable(steps: int) -> bool:
        try:
            return (last + steps * pd.tseries.frequencies.to_offset(frequency)).year <= LAST_YEAR
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            return False

    if not reachable(horizon):
        low, high = 0, horizon  # reachable(low), not reachable(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if reachable(middle) else (low, middle)
        raise DataError(
            f"horizon={horizon} steps of {frequency!r} after {last} would go past the year "
            f"{LAST_YEAR}, the last date a forecast can be written with; use a horizon of at "
            f"most {low}"
        )
    return pd.date_range(last, periods=horizon + 1, freq=frequency)[1:]


def forecast_frames(
    config: Config,
    info: dict[str, Any],
    model: nn.Module,
    index: Any,
    values: np.ndarray,
    transform: Any,
    scaler: Any,
    *,
    horizon: int,
    future: Any = None,
) -> tuple[Any, Any]:
    """Forecast ``horizon`` steps after a filled series (T, F) in model column order, with
    its fitted target transform (or None) and scaler: (the lookback rows, the forecast) as
    DataFrames indexed by time, one column per target, in the data's units. A
    probabilistic model's forecast also has its 80% interval, ``<target>_lower_80`` and
    ``<target>_upper_80`` after each target."""
    import pandas as pd

    from rnnkit.tasks.forecasting.series import restore, with_future_rows

    trained = info["horizon"]
    future_size = int(info.get("future_size", 0))
    lookback, k = info["lookback"], info["num_targets"]
    lag = transform.lag if transform is not None else 0
    if len(values) < lookback + lag:
        raise DataError(
            f"the series has {len(values)} rows, fewer than lookback = {lookback}"
            + (f" + difference = {lag}" if lag else "")
        )
    rows = values[-(lookback + lag) :].astype(np.float64)
    if transform is not None and not transform.is_identity:
        rows[:, :k] = transform.apply(rows[:, :k])
    window = np.asarray(scaler.transform(rows[-lookback:]), dtype=np.float32)[None]
    steps = horizon if config.model.strategy == "recursive" else trained
    future_index = future_index_after(index, info, max(steps, horizon))
    if future_size:
        known = np.full((steps, values.shape[1]), np.nan)
        known[:, -future_size:] = known_future_rows(config, info, future_index, future, steps)
        scaled_known = np.asarray(scaler.transform(known), dtype=np.float32)[None]
        window = with_future_rows(window, scaled_known, future_size)
    model.eval()
    with torch.no_grad():
        params = model.distribution(torch.from_numpy(window), steps)[:, :horizon]  # (1, H, K, P)
        scaled = point(params, model.likelihood, model.quantiles).numpy()  # (1, H, K)
    origins = np.array([len(values)])

    def invert(scaled_targets: np.ndarray) -> np.ndarray:
        """Scaled targets (1, H, K) -> the data's units: unscale, then undo the transform."""
        flat = np.asarray(scaled_targets, dtype=np.float64).reshape(-1, k)
        unscaled = np.asarray(scaler.inverse_transform(flat, columns=range(k)))
        return restore(transform, unscaled.reshape(scaled_targets.shape), values, origins)

    forecast = invert(scaled)[0]  # (H, K)
    columns = list(info["target_columns"])
    frame = pd.DataFrame(forecast, index=future_index[:horizon], columns=columns)
    if model.likelihood != "none":
        # The quantiles go through the (monotone) inverse one by one: a quantile of the
        # transformed value is the same quantile of the original one.
        lower, upper = forecast_bands(
            params.numpy().astype(np.float64), invert, model.likelihood, model.quantiles
        )
        frame = band_columns(frame, lower[0], upper[0])
    return (
        pd.DataFrame(values[-lookback:, :k], index=index[-lookback:], columns=columns),
        frame,
    )
