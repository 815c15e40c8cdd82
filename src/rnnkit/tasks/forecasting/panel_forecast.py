"""Panels at inference: the long table cut into series, and a forecast for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from rnnkit.config import Config
from rnnkit.data.transforms import TargetTransform
from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR, read_json

PANEL_FILE = "panel.json"


def split_series(config: Config, frame: Any) -> list[tuple[str, Any]]:
    """The long table cut into (series id, rows) in order of the ids."""
    column = config.data.series_column
    if column not in frame.columns:
        available = ", ".join(map(str, frame.columns))
        raise DataError(f"data.series_column {column!r} is not a column; available: {available}")
    ids = frame[column]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(f"data.series_column {column!r}, row {row + 1}: the series id is blank")
    names = ids.astype(str)
    return [(name, frame[names == name]) for name in sorted(names.unique())]


def forecast_panel(
    run_dir: Path,
    config: Config,
    info: dict[str, Any],
    model: nn.Module,
    horizon: int,
    series: Any,
    future: Any,
) -> tuple[Any, Any]:
    """Forecast every series of a panel run (``series`` None: the end of the training
    data) or of a long table with the same series column (each id must be one the model
    was trained on: its scaler and transform are reused). Returns a
    :class:`~rnnkit.tasks.forecasting.predictor.Forecast` whose frames are indexed by
    time and carry the series id in the ``series_column`` column (after the targets).
    """
    import pandas as pd

    from rnnkit.data.timeseries import scaler_from_json
    from rnnkit.tasks.forecasting.inference import forecast_frames, read_table, split_ahead

    saved = read_json(Path(run_dir) / PREPROCESS_DIR / PANEL_FILE)
    column = info["series_column"]
    if series is None:
        inputs = {name: _saved_series(entry, info) for name, entry in saved.items()}
        aheads: dict[str, Any] = {}
    else:
        table, source = read_table(series, "the input")
        inputs, aheads = {}, {}
        for name, rows in split_series(config, table):
            if name not in saved:
                raise DataError(
                    f"{source}: series {name!r} is not one the model was trained on "
                    f"({', '.join(sorted(saved)[:10])})"
                )
            if info.get("future_size"):
                rows, aheads[name] = split_ahead(rows, info["target_columns"])
            inputs[name] = _input_series(config, info, rows, f"{source} [{column}={name}]")
    if future is not None:
        table, _ = read_table(future, "the future covariates")
        aheads.update(split_series(config, table))
    histories, forecasts = [], []
    for name, (index, values) in inputs.items():
        entry = saved[name]
        history, forecast = forecast_frames(
            config,
            info,
            model,
            index,
            values,
            TargetTransform.from_json(entry["transform"]),
            scaler_from_json(entry["scaler"]),
            horizon=horizon,
            future=aheads.get(name),
        )
        histories.append(history.assign(**{column: name}))
        forecasts.append(forecast.assign(**{column: name}))
    return pd.concat(histories), pd.concat(forecasts)


def _saved_series(entry: dict[str, Any], info: dict[str, Any]) -> tuple[Any, np.ndarray]:
    import pandas as pd

    index = entry["index"]
    index = pd.DatetimeIndex(index) if info.get("frequency") else pd.RangeIndex(len(index))
    return index, np.asarray(entry["values"], dtype=np.float32)


def _input_series(
    config: Config, info: dict[str, Any], rows: Any, source: str
) -> tuple[Any, np.ndarray]:
    """One series of an input table, filled, in the model's column order."""
    from rnnkit.data import timeseries
    from rnnkit.tasks.forecasting.inference import in_model_order

    data = config.data
    table = timeseries.load_series(
        rows,
        date_column=info.get("date_column"),
        target=list(info["target_columns"]),
        covariates=(*data.covariates, *data.future_covariates),
        categorical=tuple(data.categorical),
        source=source,
    )
    table = in_model_order(table, config)
    if table.columns != list(info["columns"]):
        raise DataError(
            f"{source} gives columns {', '.join(table.columns)}; the model needs "
            f"{', '.join(info['columns'])}"
        )
    values = np.asarray(timeseries.fill_missing(table.values, data.fill_missing), np.float32)
    return table.index, values
