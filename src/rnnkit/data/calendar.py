"""Calendar features of a time axis, known for every future step.

Each periodic feature becomes two columns on the unit circle, so that the end of a
period sits next to its start (December next to January, Sunday next to Monday):

    name_sin = sin(2 pi p / P),  name_cos = cos(2 pi p / P)

with p the position in the period counted from 0 and P the period length: hour of the
day (24), day of the week (7), day of the month (the month's length), day of the year
(365 or 366), week of the year (52), month of the year (12), quarter (4). ``holiday``
is one column, 1 on a public holiday of a country (the optional ``holidays`` package:
``pip install rnnkit[holidays]``), else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnkit.errors import ConfigError, UserError

CALENDAR_FEATURES: tuple[str, ...] = (
    "hour",
    "day_of_week",
    "day_of_month",
    "day_of_year",
    "week_of_year",
    "month",
    "quarter",
)


def _position(index: pd.DatetimeIndex, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Position in the period (from 0) and the period length, per timestamp."""
    ones = np.ones(len(index))
    if name == "hour":
        return index.hour + index.minute / 60.0, 24 * ones
    if name == "day_of_week":
        return index.day_of_week.to_numpy(float), 7 * ones
    if name == "day_of_month":
        return index.day - 1.0, index.days_in_month.to_numpy(float)
    if name == "day_of_year":
        return index.day_of_year - 1.0, np.where(index.is_leap_year, 366.0, 365.0)
    if name == "week_of_year":
        return index.isocalendar().week.to_numpy(float) - 1.0, 52 * ones
    if name == "month":
        return index.month - 1.0, 12 * ones
    if name == "quarter":
        return index.quarter - 1.0, 4 * ones
    raise UserError(
        f"calendar feature {name!r} is not one of {', '.join(CALENDAR_FEATURES)} (or holiday)"
    )


def calendar_columns(names: Sequence[str], holidays: str | None = None) -> list[str]:
    """The column names :func:`calendar_features` returns, in order."""
    columns = [f"{name}_{part}" for name in names for part in ("sin", "cos")]
    return [*columns, "holiday"] if holidays else columns


def calendar_features(
    index: pd.DatetimeIndex, names: Sequence[str], holidays: str | None = None
) -> np.ndarray:
    """(T, C) float32 calendar features of ``index``; columns as :func:`calendar_columns`.

    ``holidays`` is a country code of the ``holidays`` package (``US``, ``GB``, ``DE``,
    ...) or None for no holiday column.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise ConfigError(
            "calendar features need dates: set data.date_column (the series has no time axis)"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"data.calendar repeats a feature: {list(names)}")
    columns = []
    for name in names:
        position, period = _position(index, name)
        angle = 2 * np.pi * np.asarray(position, dtype=np.float64) / period
        columns += [np.sin(angle), np.cos(angle)]
    if holidays:
        columns.append(holiday_flags(index, holidays))
    if not columns:
        return np.zeros((len(index), 0), np.float32)
    return np.stack(columns, axis=1).astype(np.float32)


def holiday_flags(index: pd.DatetimeIndex, country: str) -> np.ndarray:
    """1.0 where the date is a public holiday of ``country``, else 0.0."""
    try:
        import holidays as holiday_calendars
    except ImportError:
        raise ConfigError(
            "data.holidays needs the holidays package: pip install 'rnnkit[holidays]'"
        ) from None
    years = sorted(set(index.year))
    try:
        calendar = holiday_calendars.country_holidays(country, years=years)
    except NotImplementedError:
        raise ConfigError(
            f"data.holidays {country!r} is not a country code the holidays package knows "
            "(e.g. US, GB, DE, FR, CN)"
        ) from None
    days = set(calendar.keys())
    return np.fromiter((day in days for day in index.date), dtype=np.float64, count=len(index))
