"""The data side of a forecasting run: one series from a config, its columns in model
order, its target transform, and the windows the forecaster reads.

Columns of the model's rows, in order:

    targets (K) | past covariates, one-hot categories | future covariates, calendar (C)

The last C columns are *known in advance* (``data.future_covariates``, ``data.calendar``,
``data.holidays``): a window of ``lookback`` rows is followed by ``horizon`` rows that
hold only those columns for the steps being forecast (the other columns are zero).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import Config
from rnnkit.data.transforms import TargetTransform
from rnnkit.errors import ConfigError, DataError
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json

log = logging.getLogger(__name__)

TRANSFORM_FILE = "transform.json"


@dataclass
class SeriesParts:
    """A filled series (original units) and where its parts end.

    ``values`` is (T, F) with the K target columns first and the ``future_size``
    known-future columns last; the training part is ``[0, train_end)``, validation
    ``[train_end, valid_end)``, test ``[valid_end, T)``.
    """

    index: Any  # pandas DatetimeIndex or RangeIndex, length T
    values: np.ndarray  # (T, F) float32
    columns: list[str]
    target_columns: list[str]
    frequency: str | None
    train_end: int
    valid_end: int
    categories: dict[str, list[str]] = field(default_factory=dict)  # one-hot levels
    date_column: str | list[str] | None = None
    future_size: int = 0  # the last columns, known for future steps

    @property
    def num_targets(self) -> int:
        return len(self.target_columns)


def season_length(config: Config, frequency: str | None) -> int:
    """``data.season_length`` if set, else the one the frequency implies (1 if none)."""
    if config.data.season_length:
        return config.data.season_length
    from rnnkit.data.timeseries import season_length_for

    return season_length_for(frequency) or 1


def load_frame(config: Config) -> tuple[Any, dict[str, Any]]:
    """The raw table a config names (a pandas DataFrame) and the catalog's defaults."""
    from rnnkit.data import sources

    data = config.data
    loaded = sources.load(data.dataset, cache_dir=data.cache_dir, offline=data.offline)
    if loaded.kind != "series":
        raise DataError(
            f"data.dataset = {data.dataset!r} is a {loaded.kind} dataset; forecasting needs "
            "a time series (a CSV with a date column, or a catalog series such as co2)"
        )
    return next(iter(loaded.splits.values())), dict(loaded.meta)


def target_names(config: Config, frame: Any, meta: dict[str, Any]) -> list[str]:
    target = config.data.target or meta.get("target")
    if not target:
        columns = ", ".join(map(str, frame.columns))
        raise ConfigError(f"data.target is required: name the column(s) to forecast ({columns})")
    return [target] if isinstance(target, str) else list(target)


def check_columns(config: Config, targets: list[str]) -> None:
    """Future covariates are numeric columns that are neither targets nor past covariates."""
    data = config.data
    for name in data.future_covariates:
        if name in targets or name in data.covariates or name in data.categorical:
            raise ConfigError(
                f"data.future_covariates: {name!r} is already a target or a past covariate; "
                "a column is one of the three"
            )


def known_columns(config: Config, targets: list[str]) -> list[str]:
    """Columns with a role other than the time axis."""
    data = config.data
    named = [*targets, *data.covariates, *data.future_covariates, *data.categorical]
    return [*named, data.series_column] if data.series_column else named


def load_parts(config: Config) -> SeriesParts:
    """Load, encode and fill the series a config names, and place the split points."""
    frame, meta = load_frame(config)
    return parts_from_frame(config, frame, meta, source=config.data.dataset)


def parts_from_frame(
    config: Config,
    frame: Any,
    meta: dict[str, Any],
    *,
    source: str,
    date_column: str | list[str] | None = None,
    resolved: bool = False,
) -> SeriesParts:
    """One series of a table: time axis found, columns in model order, gaps filled,
    calendar features added, split points placed. ``resolved`` says ``date_column`` is
    already the table's time axis (or None for none), so it is not searched for again."""
    from rnnkit.data import timeseries

    data = config.data
    targets = target_names(config, frame, meta)
    check_columns(config, targets)
    if not resolved:
        date_column = timeseries.resolve_date_column(
            frame,
            data.date_column or meta.get("date_column"),
            exclude=known_columns(config, targets),
            source=source,
        )
    future = list(data.future_covariates)
    table = timeseries.load_series(
        frame,
        date_column=date_column,
        target=targets,
        covariates=(*data.covariates, *future),
        categorical=tuple(data.categorical),
        frequency=data.frequency,
        source=source,
    )
    # fill_missing refuses "drop" here: it would break the series' regular spacing.
    values = np.asarray(timeseries.fill_missing(table.values, data.fill_missing), dtype=np.float32)
    timeseries.log_filled(table, data.fill_missing, source)
    columns, values = known_future_last(list(table.columns), values, future)
    calendar = calendar_block(table.index, config)
    if calendar.shape[1]:
        values = np.concatenate([values, calendar], axis=1)
        columns += calendar_names(config)
    split = timeseries.time_split(
        len(values),
        valid=data.split.val,
        test=data.split.test,
        lookback=data.lookback + data.difference,
        horizon=data.horizon,
    )
    return SeriesParts(
        index=table.index,
        values=values,
        columns=columns,
        target_columns=list(table.target_columns),
        frequency=table.frequency,
        train_end=split.train_end,
        valid_end=split.valid_end,
        categories=table.categories,
        date_column=date_column,
        future_size=len(future) + calendar.shape[1],
    )


def known_future_last(
    columns: list[str], values: np.ndarray, future: list[str]
) -> tuple[list[str], np.ndarray]:
    """Move the ``future`` columns to the end (after the one-hot categories)."""
    if not future:
        return columns, values
    order = [i for i, c in enumerate(columns) if c not in future] + [
        columns.index(name) for name in future
    ]
    return [columns[i] for i in order], values[:, order]


def calendar_names(config: Config) -> list[str]:
    from rnnkit.data.calendar import calendar_columns

    return calendar_columns(config.data.calendar, config.data.holidays)


def calendar_block(index: Any, config: Config) -> np.ndarray:
    """(T, C) calendar features of ``index`` that ``data.calendar``/``data.holidays`` ask for."""
    from rnnkit.data.calendar import calendar_features

    if not config.data.calendar and not config.data.holidays:
        return np.zeros((len(index), 0), np.float32)
    return calendar_features(index, config.data.calendar, config.data.holidays)


# ----------------------------------------------------------------------------- transform


def fitted_transform(run_dir: Path, config: Config, parts: SeriesParts) -> TargetTransform:
    """The target transform, fitted on the training part (or read back on resume)."""
    path = Path(run_dir) / PREPROCESS_DIR / TRANSFORM_FILE
    if path.is_file():
        return TargetTransform.from_json(read_json(path))
    transform = fit_transform(config, parts)
    write_json(path, transform.to_json())
    return transform


def fit_transform(config: Config, parts: SeriesParts) -> TargetTransform:
    """Fit ``data.transform``/``data.difference`` on the training rows; the whole series is
    checked too, so a log of a non-positive test value fails here, naming its row."""
    k = parts.num_targets
    transform = TargetTransform(
        config.data.transform, config.data.difference, columns=parts.target_columns
    )
    transform.fit(parts.values[: parts.train_end, :k], index=parts.index)
    transform.pointwise(parts.values[:, :k], index=parts.index)
    if not transform.is_identity:
        log.info("target transform: %s", transform)
    return transform


def model_values(parts: SeriesParts, transform: TargetTransform) -> np.ndarray:
    """(T, F) rows as the scaler sees them: targets transformed (the first ``lag`` rows NaN
    when differenced), other columns as they are."""
    if transform.is_identity:
        return parts.values
    # float64: a Box-Cox with a strongly negative lambda squeezes the series into a narrow
    # band, and float32 there loses digits that the inverse magnifies.
    values = parts.values.astype(np.float64)
    k = parts.num_targets
    values[:, :k] = transform.apply(parts.values[:, :k], index=parts.index)
    return values


def restore(
    transform: TargetTransform | None,
    unscaled: np.ndarray,
    values: np.ndarray,
    origins: np.ndarray,
) -> np.ndarray:
    """Unscaled model forecasts (N, H, K) from ``origins`` -> the data's units.

    ``values`` is the series (T, F) in the data's units; differencing reads the ``lag``
    rows before each origin from it.
    """
    if transform is None or transform.is_identity:
        return np.asarray(unscaled, dtype=np.float64)
    k = unscaled.shape[-1]
    before = None
    if transform.lag:
        rows = np.asarray(origins)[:, None] - transform.lag + np.arange(transform.lag)
        before = np.asarray(values, dtype=np.float64)[rows][..., :k]  # (N, lag, K)
    return transform.restore(unscaled, before)


def load_transform(run_dir: Path) -> TargetTransform | None:
    """The run's saved target transform; None for runs made before transforms existed."""
    path = Path(run_dir) / PREPROCESS_DIR / TRANSFORM_FILE
    return TargetTransform.from_json(read_json(path)) if path.is_file() else None


# ----------------------------------------------------------------------------- windows


def with_future_rows(inputs: np.ndarray, following: np.ndarray, future_size: int) -> np.ndarray:
    """Windows (N, L, F) followed by the ``horizon`` rows (N, H, F) after them, of which
    only the last ``future_size`` (known-future) columns are kept: (N, L + H, F)."""
    if future_size == 0:
        return inputs
    rows = np.zeros_like(following)
    rows[..., -future_size:] = following[..., -future_size:]
    return np.concatenate([inputs, rows], axis=1)


def model_window(
    scaled: np.ndarray, origin: int, lookback: int, horizon: int, future_size: int
) -> np.ndarray:
    """The model input for one origin: (1, L, F), or (1, L + H, F) with future rows."""
    window = scaled[origin - lookback : origin][None]
    if future_size == 0:
        return window
    following = scaled[origin : origin + horizon][None]
    if following.shape[1] < horizon:
        raise DataError(
            f"the known-future columns are given for {following.shape[1]} of the "
            f"{horizon} steps after the series"
        )
    return with_future_rows(window, following, future_size)
