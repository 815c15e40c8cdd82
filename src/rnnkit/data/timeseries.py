"""Time-series preprocessing: loading, missing values, scaling, windows, time splits.

A forecasting run goes through these steps, each fitted on the training part only:

    table = load_series(frame, date_column="Month", target="Passengers")
    values = fill_missing(table.values, "interpolate")            # (T, F)
    split = time_split(len(values), valid=0.1, test=0.1, lookback=24, horizon=1)
    scaler = make_scaler("standard").fit(values[split.slices()["train"]])
    X, Y = make_windows(scaler.transform(values[split.slices()["valid"]]), 24, 1,
                        target_columns=table.target_indices)

Rows are time steps; the last axis is features, target columns first.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from rnnkit.errors import ConfigError, DataError, UserError

log = logging.getLogger(__name__)

FILL_METHODS: tuple[str, ...] = ("interpolate", "ffill", "bfill", "mean", "median", "drop")
SCALERS: tuple[str, ...] = ("standard", "minmax", "none")

# Names pandas accepts when it builds timestamps from separate columns.
_DATE_PARTS = ("year", "month", "day", "hour", "minute", "second")
# Calendar frequencies whose steps differ in length, so a gap cannot be found from the
# most common step alone.
_CALENDAR_FREQUENCIES = ("MS", "ME", "QS", "QE", "YS", "YE")


# ----------------------------------------------------------------------------- loading


@dataclass
class SeriesTable:
    """A regular multivariate series: one row per time step, target columns first."""

    index: pd.DatetimeIndex | pd.RangeIndex
    values: np.ndarray  # (T, F) float32, NaN where missing
    columns: list[str]
    target_columns: list[str]
    frequency: str | None
    gaps: int  # timestamps missing from the source, inserted as NaN rows
    missing: dict[str, int] = field(default_factory=dict)  # NaN count per column
    categories: dict[str, list[str]] = field(default_factory=dict)  # one-hot levels

    @property
    def target_indices(self) -> list[int]:
        return list(range(len(self.target_columns)))

    def __len__(self) -> int:
        return len(self.values)


def read_series_csv(
    path: str | Path,
    *,
    date_column: str | list[str] | None,
    target: str | list[str],
    covariates: Sequence[str] = (),
    categorical: Sequence[str] = (),
    frequency: str | None = None,
) -> SeriesTable:
    """:func:`load_series` on a CSV file; error messages name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"time-series file not found: {path}")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from None
    return load_series(
        frame,
        date_column=date_column,
        target=target,
        covariates=covariates,
        categorical=categorical,
        frequency=frequency,
        source=str(path),
    )


def load_series(
    frame: pd.DataFrame,
    *,
    date_column: str | list[str] | None,
    target: str | list[str],
    covariates: Sequence[str] = (),
    categorical: Sequence[str] = (),
    frequency: str | None = None,
    categories: dict[str, list[str]] | None = None,
    source: str = "the table",
) -> SeriesTable:
    """Turn a table into a :class:`SeriesTable`.

    ``date_column`` is one column of timestamps, several columns named like
    year/month/day/hour (Beijing PM2.5), or None for a plain step index. Rows are sorted
    by time; when the frequency is regular (given, or inferred from the timestamps),
    missing timestamps are inserted as NaN rows and counted in ``gaps``. ``categorical``
    columns are one-hot encoded (``cbwd`` becomes ``cbwd=NE``, ``cbwd=NW``, ...);
    pass the saved ``categories`` at inference so the columns come out the same.
    """
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise UserError("a series needs at least one target column")
    numeric = [*targets, *[c for c in covariates if c not in targets]]
    date_columns = [date_column] if isinstance(date_column, str) else list(date_column or [])
    _require_columns(frame, [*date_columns, *numeric, *categorical], source)
    if len(frame) == 0:
        raise DataError(f"{source} has no rows")

    frame = frame.reset_index(drop=True)
    parts = {name: _numeric_column(frame, name, source) for name in numeric}
    categories = dict(categories or {})
    for name in categorical:
        levels = categories.get(name) or sorted(frame[name].dropna().astype(str).unique())
        categories[name] = list(levels)
        cells = frame[name].astype("string")
        for level in levels:
            parts[f"{name}={level}"] = (cells == level).fillna(False).to_numpy(np.float32)
    table = pd.DataFrame(parts)
    if table.columns.duplicated().any():
        raise DataError(f"{source}: column names repeat after one-hot encoding")

    gaps = 0
    if date_columns:
        index = _parse_dates(frame, date_columns, source)
        table.index = index
        if not index.is_monotonic_increasing:
            table = table.sort_index(kind="stable")
        duplicated = table.index.duplicated()
        if duplicated.any():
            raise DataError(
                f"{source}: timestamp {table.index[duplicated][0]} appears more than once"
            )
        frequency = frequency or infer_frequency(table.index)
        if frequency is None:
            log.warning(
                "%s: the timestamps have no regular step, so no frequency was inferred: "
                "missing timestamps are not inserted and season_length is not inferred; "
                "set data.frequency (a pandas alias such as D, h, MS)",
                source,
            )
        else:
            full = _full_range(table.index, frequency, source)
            gaps = len(full) - len(table.index)
            if gaps:
                log.info("%s: %d missing timestamps inserted as NaN rows", source, gaps)
                table = table.reindex(full)
        index_out: pd.DatetimeIndex | pd.RangeIndex = pd.DatetimeIndex(table.index)
    else:
        index_out = pd.RangeIndex(len(table))

    values = table.to_numpy(dtype=np.float32, na_value=np.nan)
    missing = {name: int(n) for name, n in zip(table.columns, np.isnan(values).sum(0), strict=True)}
    return SeriesTable(
        index=index_out,
        values=values,
        columns=[str(c) for c in table.columns],
        target_columns=targets,
        frequency=frequency,
        gaps=gaps,
        missing=missing,
        categories=categories,
    )


def resolve_date_column(
    frame: pd.DataFrame,
    date_column: str | list[str] | None,
    *,
    exclude: Sequence[str] = (),
    source: str = "the table",
) -> str | list[str] | None:
    """The time axis of a table: ``date_column`` when given, else the one column whose
    every filled cell parses as a date (logged at INFO), else None (logged as a WARNING
    saying what a series without dates loses). Columns in ``exclude`` (targets,
    covariates) and numeric columns are never taken for dates; two candidates are a
    :class:`ConfigError` asking to choose.
    """
    if date_column:
        return date_column
    candidates = [
        str(name)
        for name in frame.columns
        if str(name) not in exclude and _parses_as_dates(frame[name])
    ]
    if len(candidates) > 1:
        raise ConfigError(
            f"{source}: columns {', '.join(map(repr, candidates))} all parse as dates; "
            "set data.date_column to the time axis"
        )
    if candidates:
        log.info(
            "%s: data.date_column not set; using %r, which parses as dates", source, candidates[0]
        )
        return candidates[0]
    log.warning(
        "%s: no date column (data.date_column is not set and no column parses as dates): the "
        "series is read as equally spaced steps without dates, so missing timestamps are not "
        "inserted, calendar features are off and season_length is not inferred from a "
        "frequency (1 unless data.season_length is set)",
        source,
    )
    return None


def _parses_as_dates(column: pd.Series) -> bool:
    """Text cells that all parse as timestamps (numbers would parse as epoch offsets)."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    cells = column.dropna()
    if len(cells) == 0:
        return False
    if pd.to_numeric(cells, errors="coerce").notna().all():
        return False  # numbers stored as text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(cells.astype(str), errors="coerce")
    return bool(parsed.notna().all())


def log_filled(table: SeriesTable, method: str, source: str) -> int:
    """Log how many blank cells of the source (not counting the inserted rows) are filled
    by ``method``, per column; returns their total."""
    blanks = {name: count - table.gaps for name, count in table.missing.items()}
    blanks = {name: count for name, count in blanks.items() if count > 0}
    total = sum(blanks.values())
    if total:
        detail = ", ".join(f"{name} {count}" for name, count in blanks.items())
        log.info("%s: %d blank values filled by %s (%s)", source, total, method, detail)
    if table.gaps:
        log.info(
            "%s: the %d inserted rows (missing timestamps) filled by %s", source, table.gaps, method
        )
    return total


def _require_columns(frame: pd.DataFrame, names: Sequence[str], source: str) -> None:
    available = [str(c) for c in frame.columns]
    for name in names:
        if name not in frame.columns:
            raise DataError(f"{source} has no column {name!r}; available: {', '.join(available)}")


def _numeric_column(frame: pd.DataFrame, name: str, source: str) -> np.ndarray:
    """A column as float32; a cell that is not a number is a DataError naming it."""
    column = frame[name]
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: column {name!r}, row {row + 1}: {column.iloc[row]!r} is not a number"
        )
    if numbers.isna().all():
        raise DataError(f"{source}: column {name!r} has no values (every cell is missing)")
    return numbers.to_numpy(dtype=np.float32, na_value=np.nan)


def _parse_dates(frame: pd.DataFrame, columns: list[str], source: str) -> pd.DatetimeIndex:
    if len(columns) == 1:
        with warnings.catch_warnings():
            # Without a format pandas parses cell by cell and says so; that is fine here.
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(frame[columns[0]], errors="coerce")
    else:
        unknown = [name for name in columns if name.lower() not in _DATE_PARTS]
        if unknown:
            raise DataError(
                f"{source}: date columns {unknown} are not among {', '.join(_DATE_PARTS)}"
            )
        parts = frame[columns].rename(columns={name: name.lower() for name in columns})
        parsed = pd.to_datetime(parts, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        cell = "-".join(str(frame[name].iloc[row]) for name in columns)
        raise DataError(
            f"{source}: date {', '.join(columns)}, row {row + 1}: {cell!r} is not a date"
        )
    return pd.DatetimeIndex(parsed)


def infer_frequency(index: pd.DatetimeIndex) -> str | None:
    """The regular step of a timestamp index, tolerating gaps; None when irregular."""
    if len(index) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas announces a change of return type
        inferred = pd.infer_freq(index)
    if inferred is not None:
        return pd.tseries.frequencies.to_offset(inferred).freqstr
    # With gaps, try calendar frequencies first, then the most common fixed step.
    for alias in _CALENDAR_FREQUENCIES:
        full = pd.date_range(index[0], index[-1], freq=alias)
        if len(full) and index.isin(full).all():
            return alias
    steps = pd.Series(index[1:] - index[:-1])
    step = steps.mode().iloc[0]
    if step <= pd.Timedelta(0):
        return None
    # Name the step as pandas would for a series without gaps ("D", "W-SAT", "h"), so
    # that a later, complete stretch of the same series reports the same frequency.
    if step == pd.Timedelta(weeks=1):
        alias = f"W-{index[0].day_name()[:3].upper()}"
    elif step % pd.Timedelta(days=1) == pd.Timedelta(0):
        alias = f"{step.days}D"
    else:
        alias = step
    offset = pd.tseries.frequencies.to_offset(alias)
    full = pd.date_range(index[0], index[-1], freq=offset)
    return offset.freqstr if index.isin(full).all() else None


def _full_range(index: pd.DatetimeIndex, frequency: str, source: str) -> pd.DatetimeIndex:
    try:
        full = pd.date_range(index[0], index[-1], freq=frequency)
    except ValueError:
        raise UserError(
            f"frequency {frequency!r} is not a pandas offset alias (e.g. h, D, MS)"
        ) from None
    off_grid = ~index.isin(full)
    if off_grid.any():
        raise DataError(
            f"{source}: timestamp {index[off_grid][0]} is not on the {frequency!r} grid "
            f"starting at {index[0]}"
        )
    return full


def season_length_for(frequency: str | None) -> int | None:
    """Steps per season for seasonal-naive baselines: hourly 24, daily 7, weekly 52,
    monthly 12, quarterly 4; sub-daily steps use a day. None when there is none."""
    if frequency is None:
        return None
    try:
        offset = pd.tseries.frequencies.to_offset(frequency)
    except ValueError:
        raise UserError(
            f"frequency {frequency!r} is not a pandas offset alias (e.g. h, D, W, MS)"
        ) from None
    code = offset.rule_code.split("-")[0]
    per_base = {"h": 24, "min": 24 * 60, "s": 24 * 3600, "D": 7, "B": 5, "W": 52}
    per_base.update(dict.fromkeys(("MS", "ME", "M", "BMS", "BME", "SMS", "SME"), 12))
    per_base.update(dict.fromkeys(("QS", "QE", "Q", "BQS", "BQE"), 4))
    season = per_base.get(code)
    if season is None or season % offset.n:
        return None
    return season // offset.n


# ----------------------------------------------------------------------------- missing


def fill_missing(values: np.ndarray, method: str, *, allow_drop: bool = False) -> np.ndarray:
    """Fill the NaNs of a (T,) or (T, F) array column by column.

    ``interpolate`` is linear in the row position and holds the first/last value at
    the ends; ``ffill`` carries the last value forward (leading NaNs take the first
    value), ``bfill`` the other way round; ``mean``/``median`` use each column's
    statistic. ``drop`` removes every row with a NaN, which breaks the regular spacing
    of a series, so it must be allowed explicitly (``allow_drop=True``).
    """
    if method not in FILL_METHODS:
        raise UserError(f"fill method {method!r} is not one of {', '.join(FILL_METHODS)}")
    array = np.asarray(values, dtype=np.float32 if _is_float32(values) else np.float64)
    matrix = array.reshape(len(array), -1)
    missing = np.isnan(matrix)
    if not missing.any():
        return array.copy()
    if method == "drop":
        if not allow_drop:
            raise UserError(
                "fill method 'drop' removes time steps, which breaks a regular series; "
                "use interpolate, ffill, bfill, mean or median (or pass allow_drop=True)"
            )
        kept = matrix[~missing.any(axis=1)]
        return kept.reshape(len(kept), *array.shape[1:])
    empty = np.flatnonzero(missing.all(axis=0))
    if empty.size:
        raise DataError(f"column {int(empty[0])} has no values to fill from (all missing)")
    if method == "interpolate":
        filled = matrix.copy()
        rows = np.arange(len(matrix))
        for j in np.flatnonzero(missing.any(axis=0)):
            known = ~missing[:, j]
            filled[~known, j] = np.interp(rows[~known], rows[known], matrix[known, j])
    elif method in ("ffill", "bfill"):
        frame = pd.DataFrame(matrix)
        frame = frame.ffill().bfill() if method == "ffill" else frame.bfill().ffill()
        filled = frame.to_numpy(dtype=matrix.dtype)
    else:
        statistic = np.nanmean if method == "mean" else np.nanmedian
        filled = np.where(missing, statistic(matrix, axis=0), matrix).astype(matrix.dtype)
    return filled.reshape(array.shape)


def _is_float32(values: Any) -> bool:
    return getattr(values, "dtype", None) == np.float32


# ----------------------------------------------------------------------------- scaling


class Scaler(Protocol):
    """Per-feature scaling fitted on the training part; the last axis is features."""

    kind: ClassVar[str]

    def fit(self, values: np.ndarray) -> Scaler: ...

    def transform(self, values: np.ndarray, columns: Sequence[int] | None = None) -> np.ndarray: ...

    def inverse_transform(
        self, values: np.ndarray, columns: Sequence[int] | None = None
    ) -> np.ndarray: ...

    def to_json(self) -> dict[str, Any]: ...


class _AffineScaler:
    """``(x - offset) / scale`` per feature; subclasses choose offset and scale.

    ``columns`` in transform/inverse_transform says which fitted features the last axis
    holds, e.g. ``inverse_transform(predictions, columns=[0])`` for target 0 alone.
    Missing values (NaN) are ignored when fitting and stay NaN.
    """

    kind: ClassVar[str] = ""

    def __init__(self, offset: Sequence[float] | None = None, scale: Sequence[float] | None = None):
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)

    def fit(self, values: np.ndarray) -> _AffineScaler:
        matrix = np.asarray(values, dtype=np.float64)
        matrix = matrix.reshape(-1, 1) if matrix.ndim == 1 else matrix.reshape(-1, matrix.shape[-1])
        if len(matrix) == 0:
            raise DataError("cannot fit a scaler on no rows")
        empty = np.flatnonzero(np.isnan(matrix).all(axis=0))
        if empty.size:
            raise DataError(f"cannot fit a scaler: feature {int(empty[0])} is all missing")
        offset, scale = self._statistics(matrix)
        # A constant feature would divide by zero; leave it unscaled instead.
        self.offset, self.scale = offset, np.where(scale > 0, scale, 1.0)
        return self

    def _statistics(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _parameters(
        self, values: np.ndarray, columns: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.offset is None or self.scale is None:
            raise RuntimeError("the scaler is not fitted yet: call fit(train_values)")
        offset, scale = self.offset, self.scale
        if columns is not None:
            offset, scale = offset[list(columns)], scale[list(columns)]
        width = 1 if np.ndim(values) == 1 else np.shape(values)[-1]
        if np.ndim(values) == 1 and len(offset) != 1:
            raise DataError(
                f"values of shape {np.shape(values)} need a feature axis of {len(offset)}"
            )
        if width != len(offset):
            raise DataError(f"values have {width} features; the scaler was fitted on {len(offset)}")
        return offset, scale

    def transform(self, values: np.ndarray, columns: Sequence[int] | None = None) -> np.ndarray:
        offset, scale = self._parameters(values, columns)
        array = np.asarray(values)
        dtype = array.dtype if array.dtype.kind == "f" else np.float64
        return ((array - offset) / scale).astype(dtype)

    def inverse_transform(
        self, values: np.ndarray, columns: Sequence[int] | None = None
    ) -> np.ndarray:
        offset, scale = self._parameters(values, columns)
        array = np.asarray(values)
        dtype = array.dtype if array.dtype.kind == "f" else np.float64
        return (array * scale + offset).astype(dtype)

    def to_json(self) -> dict[str, Any]:
        if self.offset is None or self.scale is None:
            raise RuntimeError("the scaler is not fitted yet: call fit(train_values)")
        return {"type": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _AffineScaler:
        if data.get("type") != cls.kind:
            raise DataError(f"scaler JSON of type {data.get('type')!r} is not {cls.kind!r}")
        return cls(data["offset"], data["scale"])

    def __repr__(self) -> str:
        fitted = "unfitted" if self.offset is None else f"features={len(self.offset)}"
        return f"{type(self).__name__}({fitted})"


class StandardScaler(_AffineScaler):
    """Zero mean, unit variance per feature (population standard deviation)."""

    kind: ClassVar[str] = "standard"

    def _statistics(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.nanmean(matrix, axis=0), np.nanstd(matrix, axis=0)


class MinMaxScaler(_AffineScaler):
    """Maps each feature's training range to [0, 1]."""

    kind: ClassVar[str] = "minmax"

    def _statistics(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.nanmin(matrix, axis=0), np.nanmax(matrix, axis=0)
        return low, high - low


class IdentityScaler:
    """The ``none`` scaler: same interface, values unchanged."""

    kind: ClassVar[str] = "none"

    def fit(self, values: np.ndarray) -> IdentityScaler:
        return self

    def transform(self, values: np.ndarray, columns: Sequence[int] | None = None) -> np.ndarray:
        return np.array(values, copy=True)

    def inverse_transform(
        self, values: np.ndarray, columns: Sequence[int] | None = None
    ) -> np.ndarray:
        return np.array(values, copy=True)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdentityScaler:
        return cls()


_SCALER_TYPES: dict[str, Any] = {
    "standard": StandardScaler,
    "minmax": MinMaxScaler,
    "none": IdentityScaler,
}


def make_scaler(name: str) -> Scaler:
    """An unfitted scaler: ``standard``, ``minmax`` or ``none``."""
    if name not in _SCALER_TYPES:
        raise UserError(f"scaler {name!r} is not one of {', '.join(SCALERS)}")
    return _SCALER_TYPES[name]()


def scaler_from_json(data: dict[str, Any]) -> Scaler:
    """Rebuild a fitted scaler from its ``to_json()`` form."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in _SCALER_TYPES:
        raise DataError(f"scaler type {kind!r} is not one of {', '.join(SCALERS)}")
    return _SCALER_TYPES[kind].from_json(data)


# ----------------------------------------------------------------------------- windows


def window_count(length: int, lookback: int, horizon: int, stride: int = 1) -> int:
    """N = (T - lookback - horizon) // stride + 1, or a UserError when T is too short."""
    for name, number in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        if number < 1:
            raise UserError(f"{name} must be at least 1, got {number}")
    if length < lookback + horizon:
        raise UserError(
            f"a series of {length} steps is too short for lookback={lookback} + "
            f"horizon={horizon}: it needs at least {lookback + horizon}"
        )
    return (length - lookback - horizon) // stride + 1


def make_windows(
    values: np.ndarray,
    lookback: int,
    horizon: int,
    stride: int = 1,
    target_columns: int | Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (input, target) windows for direct multi-step forecasting.

    ``values`` is (T,) or (T, F). Window i reads rows ``[i*stride, i*stride+lookback)``
    as input X[i] with shape (lookback, F) (F = 1 for a 1-D series) and predicts rows
    ``[i*stride+lookback, i*stride+lookback+horizon)``. Y is (N, horizon, F) for all
    features of a 2-D series, (N, horizon) for a 1-D series or one target column (an
    int), and (N, horizon, len(target_columns)) for a list of them. N = (T - lookback -
    horizon) // stride + 1.
    """
    array = np.asarray(values)
    if array.ndim not in (1, 2):
        raise UserError(f"values must have shape (T,) or (T, F), got {array.shape}")
    count = window_count(len(array), lookback, horizon, stride)
    matrix = array.reshape(len(array), -1)  # (T, F)
    starts = np.arange(count) * stride  # (N,)
    inputs = matrix[starts[:, None] + np.arange(lookback)]  # (N, lookback, F)
    targets = matrix[starts[:, None] + lookback + np.arange(horizon)]  # (N, horizon, F)
    if target_columns is None:
        targets = targets[..., 0] if array.ndim == 1 else targets
    elif isinstance(target_columns, (int, np.integer)):
        targets = targets[..., int(target_columns)]
    else:
        targets = targets[..., list(target_columns)]
    return inputs, targets


# ----------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class SplitPoints:
    """Where a series is cut in time: rows [0, train_end) train, [train_end, valid_end)
    validation, [valid_end, length) test. Validation and test windows may read the
    ``lookback`` rows before their part as input, but predict only rows inside it."""

    length: int
    train_end: int
    valid_end: int
    lookback: int

    def slices(self) -> dict[str, slice]:
        """Row ranges to window, each part with the input context it may read."""
        return {
            "train": slice(0, self.train_end),
            "valid": slice(self.train_end - self.lookback, self.valid_end),
            "test": slice(self.valid_end - self.lookback, self.length),
        }

    def to_json(self) -> dict[str, int]:
        return {
            "length": self.length,
            "train_end": self.train_end,
            "valid_end": self.valid_end,
            "lookback": self.lookback,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SplitPoints:
        return cls(
            int(data["length"]),
            int(data["train_end"]),
            int(data["valid_end"]),
            int(data["lookback"]),
        )


def time_split(
    length: int, *, valid: float, test: float, lookback: int, horizon: int = 1
) -> SplitPoints:
    """Split by time: the last ``test`` fraction is test, the ``valid`` before it valid.

    Every non-empty part must hold at least one window; the error says how many rows
    each part got and how many it needs.
    """
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise UserError(
            f"split fractions valid={valid:g}, test={test:g} must be in [0, 1) "
            "and sum to less than 1"
        )
    test_rows = math.floor(length * test + 0.5)
    valid_rows = math.floor(length * valid + 0.5)
    train_end = length - valid_rows - test_rows
    if train_end < lookback + horizon:
        raise UserError(
            f"the training part has {train_end} of {length} steps; lookback={lookback} + "
            f"horizon={horizon} needs at least {lookback + horizon}"
        )
    for name, rows, fraction in (("valid", valid_rows, valid), ("test", test_rows, test)):
        if fraction > 0 and rows < horizon:
            raise UserError(
                f"the {name} part has {rows} of {length} steps, fewer than horizon={horizon}; "
                f"raise data.split.{name} or shorten the horizon"
            )
    return SplitPoints(length, train_end, train_end + valid_rows, lookback)
