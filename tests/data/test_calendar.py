"""Calendar features: sin/cos of the position in each period, holidays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.calendar import calendar_columns, calendar_features
from rnnkit.errors import ConfigError, UserError


def test_day_of_week_and_month_by_hand() -> None:
    # 2024-01-01 is a Monday; 2024-12-29 a Sunday.
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-04", "2024-12-29"])
    features = calendar_features(index, ["day_of_week", "month"])
    assert calendar_columns(["day_of_week", "month"]) == [
        "day_of_week_sin",
        "day_of_week_cos",
        "month_sin",
        "month_cos",
    ]
    weekday = np.array([0, 3, 6]) * 2 * np.pi / 7
    month = np.array([0, 0, 11]) * 2 * np.pi / 12
    expected = np.stack([np.sin(weekday), np.cos(weekday), np.sin(month), np.cos(month)], 1)
    np.testing.assert_allclose(features, expected, atol=1e-6)
    assert features.dtype == np.float32


def test_hour_day_of_year_and_leap_years() -> None:
    index = pd.DatetimeIndex(["2023-12-31 18:00", "2024-12-31 06:30"])
    features = calendar_features(index, ["hour", "day_of_year"])
    hour = np.array([18.0, 6.5]) * 2 * np.pi / 24
    day = np.array([364 / 365, 365 / 366]) * 2 * np.pi  # the last day of each year
    np.testing.assert_allclose(features[:, 0], np.sin(hour), atol=1e-6)
    np.testing.assert_allclose(features[:, 2], np.sin(day), atol=1e-6)


def test_holidays_flag_public_holidays() -> None:
    pytest.importorskip("holidays")
    index = pd.date_range("2024-07-03", periods=3, freq="D")
    features = calendar_features(index, [], holidays="US")
    assert calendar_columns([], "US") == ["holiday"]
    assert features[:, 0].tolist() == [0.0, 1.0, 0.0]  # Independence Day
    with pytest.raises(ConfigError, match="'XX' is not a country code"):
        calendar_features(index, [], holidays="XX")


def test_bad_requests_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="calendar features need dates"):
        calendar_features(pd.RangeIndex(3), ["month"])
    with pytest.raises(UserError, match="'weekday' is not one of hour, day_of_week"):
        calendar_features(pd.date_range("2024-01-01", periods=2), ["weekday"])
    with pytest.raises(ConfigError, match="repeats"):
        calendar_features(pd.date_range("2024-01-01", periods=2), ["month", "month"])
