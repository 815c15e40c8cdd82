"""Time-series preprocessing: loading, missing values, scalers, windows, time splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnkit.data.timeseries import (
    MinMaxScaler,
    SplitPoints,
    StandardScaler,
    fill_missing,
    load_series,
    make_scaler,
    make_windows,
    read_series_csv,
    scaler_from_json,
    season_length_for,
    time_split,
)
from rnnkit.errors import DataError, UserError

# ----------------------------------------------------------------------------- loading


def test_load_series_inserts_missing_timestamps_and_orders_columns() -> None:
    frame = pd.DataFrame(
        {
            "when": ["2020-01-03", "2020-01-01", "2020-01-02", "2020-01-05"],
            "temp": [3.0, 1.0, 2.0, 5.0],
            "load": [30, 10, 20, 50],
        }
    )
    table = load_series(frame, date_column="when", target="load", covariates=["temp"])
    assert table.columns == ["load", "temp"]  # the target first
    assert table.target_columns == ["load"] and table.target_indices == [0]
    assert table.frequency == "D" and table.gaps == 1
    assert list(table.index.strftime("%d")) == ["01", "02", "03", "04", "05"]
    np.testing.assert_array_equal(
        table.values, np.array([[10, 1], [20, 2], [30, 3], [np.nan, np.nan], [50, 5]], np.float32)
    )
    assert table.values.dtype == np.float32
    assert table.missing == {"load": 1, "temp": 1}


def test_load_series_multi_column_dates_and_one_hot() -> None:
    frame = pd.DataFrame(
        {
            "year": [2010] * 4,
            "month": [1] * 4,
            "day": [1] * 4,
            "hour": [0, 1, 2, 3],
            "pm2.5": [None, 5.0, 7.0, 9.0],
            "cbwd": ["NW", "cv", "NW", "SE"],
        }
    )
    table = load_series(
        frame, date_column=["year", "month", "day", "hour"], target="pm2.5", categorical=["cbwd"]
    )
    assert table.frequency == "h" and table.gaps == 0
    assert table.columns == ["pm2.5", "cbwd=NW", "cbwd=SE", "cbwd=cv"]
    np.testing.assert_array_equal(table.values[:, 1:], [[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert table.categories == {"cbwd": ["NW", "SE", "cv"]}
    # At inference the saved levels give the same columns, even if one never occurs.
    later = load_series(
        frame.iloc[1:2],
        date_column=["year", "month", "day", "hour"],
        target="pm2.5",
        categorical=["cbwd"],
        categories=table.categories,
    )
    assert later.columns == table.columns


def test_load_series_monthly_gap_is_found() -> None:
    months = ["1949-01", "1949-02", "1949-04", "1949-05", "1949-06"]
    frame = pd.DataFrame({"Month": months, "Passengers": [1, 2, 4, 5, 6]})
    table = load_series(frame, date_column="Month", target="Passengers")
    assert table.frequency == "MS" and table.gaps == 1
    assert np.isnan(table.values[2, 0])


def test_weekly_frequency_with_gaps_is_named_like_a_complete_series() -> None:
    saturdays = pd.date_range("1958-03-29", periods=10, freq="W-SAT")
    frame = pd.DataFrame({"date": saturdays.delete([3, 4]), "co2": np.arange(8.0)})
    table = load_series(frame, date_column="date", target="co2")
    complete = load_series(
        pd.DataFrame({"date": saturdays, "co2": np.arange(10.0)}), date_column="date", target="co2"
    )
    assert table.frequency == complete.frequency == "W-SAT"
    assert table.gaps == 2 and season_length_for(table.frequency) == 52


def test_load_series_without_dates_uses_a_step_index() -> None:
    table = load_series(pd.DataFrame({"y": [1, 2, 3]}), date_column=None, target="y")
    assert isinstance(table.index, pd.RangeIndex) and table.frequency is None and len(table) == 3


def test_load_series_errors_name_the_file_column_row_and_value(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("Month,Sales\n2020-01,1\n2020-02,n/a?\n2020-03,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sales\.csv: column 'Sales', row 2: 'n/a\?' is not a"):
        read_series_csv(path, date_column="Month", target="Sales")
    with pytest.raises(
        DataError, match=r"sales\.csv has no column 'Date'; available: Month, Sales"
    ):
        read_series_csv(path, date_column="Date", target="Sales")
    path.write_text("Month,Sales\n2020-01,\n2020-02,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"column 'Sales' has no values \(every cell is missing\)"):
        read_series_csv(path, date_column="Month", target="Sales")
    path.write_text("Month,Sales\n2020-01,1\nsoon,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"date Month, row 2: 'soon' is not a date"):
        read_series_csv(path, date_column="Month", target="Sales")
    path.write_text("Month,Sales\n2020-01,1\n2020-01,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="timestamp 2020-01-01 00:00:00 appears more than once"):
        read_series_csv(path, date_column="Month", target="Sales")
    with pytest.raises(DataError, match=r"time-series file not found: .*nothing\.csv"):
        read_series_csv(tmp_path / "nothing.csv", date_column="Month", target="Sales")


# ----------------------------------------------------------------------------- missing values


VALUES = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, 3.0], [8.0, np.nan]])


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("interpolate", [[2, 1], [2, 2], [5, 3], [8, 3]]),
        ("ffill", [[2, 1], [2, 1], [2, 3], [8, 3]]),
        ("bfill", [[2, 1], [2, 3], [8, 3], [8, 3]]),
        ("mean", [[5, 1], [2, 2], [5, 3], [8, 2]]),
        ("median", [[5, 1], [2, 2], [5, 3], [8, 2]]),
    ],
)
def test_fill_missing_methods(method: str, expected: list[list[float]]) -> None:
    filled = fill_missing(VALUES, method)
    np.testing.assert_allclose(filled, expected)
    assert not np.isnan(VALUES[1, 0])  # the input is left alone
    assert np.isnan(VALUES[0, 0])


def test_fill_missing_1d_keeps_shape_and_dtype() -> None:
    filled = fill_missing(np.array([1, np.nan, np.nan, 4], dtype=np.float32), "interpolate")
    assert filled.dtype == np.float32
    np.testing.assert_allclose(filled, [1, 2, 3, 4])


def test_fill_missing_drop_only_where_allowed() -> None:
    with pytest.raises(UserError, match="'drop' removes time steps"):
        fill_missing(VALUES, "drop")
    kept = fill_missing(np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0]]), "drop", allow_drop=True)
    np.testing.assert_array_equal(kept, [[1, 2], [3, 4]])


def test_fill_missing_errors() -> None:
    with pytest.raises(
        UserError,
        match="fill method 'zero' is not one of interpolate, ffill, bfill, mean, median, drop",
    ):
        fill_missing(VALUES, "zero")
    with pytest.raises(DataError, match=r"column 1 has no values to fill from \(all missing\)"):
        fill_missing(np.array([[1.0, np.nan], [np.nan, np.nan]]), "ffill")


# ----------------------------------------------------------------------------- scaling


def test_standard_and_minmax_scalers_by_hand() -> None:
    train = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    standard = StandardScaler().fit(train)
    # mean 3, population std sqrt(8/3); a constant column is left unscaled around its mean.
    np.testing.assert_allclose(
        standard.transform(np.array([[3.0, 12.0], [7.0, 10.0]])),
        [[0.0, 2.0], [4 / np.sqrt(8 / 3), 0.0]],
    )
    minmax = MinMaxScaler().fit(train)
    np.testing.assert_allclose(minmax.transform(train)[:, 0], [0.0, 0.5, 1.0])
    # Only target column 0 back to the original units: e.g. forecasts (N, horizon, 1).
    np.testing.assert_allclose(minmax.inverse_transform(np.array([[0.25]]), columns=[0]), [[2.0]])


def test_scalers_fit_on_training_part_and_save_as_json() -> None:
    values = np.arange(20, dtype=np.float32).reshape(10, 2)
    for name in ("standard", "minmax", "none"):
        scaler = make_scaler(name).fit(values[:6])
        again = scaler_from_json(scaler.to_json())
        np.testing.assert_allclose(again.transform(values), scaler.transform(values), rtol=1e-6)
    assert make_scaler("minmax").fit(values[:6]).transform(values)[9, 0] > 1.0  # not refit
    with pytest.raises(UserError, match="scaler 'robust' is not one of standard, minmax, none"):
        make_scaler("robust")
    with pytest.raises(DataError, match="values have 3 features; the scaler was fitted on 2"):
        make_scaler("standard").fit(values).transform(np.zeros((2, 3)))


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(2, 12), st.integers(1, 4)),
        elements=st.floats(-1e4, 1e4, allow_nan=False),
    ),
    st.sampled_from(["standard", "minmax", "none"]),
)
def test_scaler_inverse_property(values: np.ndarray, name: str) -> None:
    scaler = make_scaler(name).fit(values)
    restored = scaler.inverse_transform(scaler.transform(values))
    np.testing.assert_allclose(restored, values, rtol=1e-9, atol=1e-6)


# ----------------------------------------------------------------------------- windows


def test_make_windows_by_hand() -> None:
    series = np.arange(7, dtype=np.float32)  # 0..6
    x, y = make_windows(series, lookback=3, horizon=2, stride=2)
    # N = (7 - 3 - 2) // 2 + 1 = 2
    np.testing.assert_array_equal(x[..., 0], [[0, 1, 2], [2, 3, 4]])
    np.testing.assert_array_equal(y, [[3, 4], [5, 6]])
    assert x.shape == (2, 3, 1) and y.shape == (2, 2)


def test_make_windows_target_columns_shapes() -> None:
    values = np.stack([np.arange(10), 100 + np.arange(10), 200 + np.arange(10)], axis=1)
    x, y = make_windows(values, 4, 3)
    assert x.shape == (4, 4, 3) and y.shape == (4, 3, 3)
    _, y0 = make_windows(values, 4, 3, target_columns=0)
    assert y0.shape == (4, 3)
    _, y2 = make_windows(values, 4, 3, target_columns=[2, 0])
    np.testing.assert_array_equal(y2[0], [[204, 4], [205, 5], [206, 6]])


def test_make_windows_too_short_gives_the_numbers() -> None:
    with pytest.raises(
        UserError,
        match=r"a series of 5 steps is too short for lookback=4 \+ horizon=2: it needs at least 6",
    ):
        make_windows(np.zeros(5), 4, 2)
    with pytest.raises(UserError, match="stride must be at least 1, got 0"):
        make_windows(np.zeros(5), 2, 1, stride=0)


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 60),
    features=st.integers(1, 3),
    lookback=st.integers(1, 10),
    horizon=st.integers(1, 5),
    stride=st.integers(1, 4),
)
def test_make_windows_count_and_alignment(
    length: int, features: int, lookback: int, horizon: int, stride: int
) -> None:
    # Cell (t, f) holds t * 10 + f, so every value says where it came from.
    values = np.arange(length)[:, None] * 10.0 + np.arange(features)[None, :]
    if length < lookback + horizon:
        with pytest.raises(UserError, match="too short"):
            make_windows(values, lookback, horizon, stride)
        return
    x, y = make_windows(values, lookback, horizon, stride)
    count = (length - lookback - horizon) // stride + 1
    assert x.shape == (count, lookback, features) and y.shape == (count, horizon, features)
    for i in range(count):
        start = i * stride
        np.testing.assert_array_equal(x[i], values[start : start + lookback])
        np.testing.assert_array_equal(y[i], values[start + lookback : start + lookback + horizon])


# ----------------------------------------------------------------------------- splits


def test_time_split_points_and_json() -> None:
    split = time_split(100, valid=0.1, test=0.2, lookback=5, horizon=2)
    assert (split.train_end, split.valid_end) == (70, 80)
    assert SplitPoints.from_json(split.to_json()) == split
    assert split.slices() == {"train": slice(0, 70), "valid": slice(65, 80), "test": slice(75, 100)}


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(20, 200),
    lookback=st.integers(1, 8),
    horizon=st.integers(1, 4),
    valid=st.floats(0.05, 0.3),
    test=st.floats(0.05, 0.3),
)
def test_time_split_windows_never_predict_across_a_cut(
    length: int, lookback: int, horizon: int, valid: float, test: float
) -> None:
    try:
        split = time_split(length, valid=valid, test=test, lookback=lookback, horizon=horizon)
    except UserError:
        return
    rows = np.arange(length, dtype=np.float64)
    bounds = {
        "train": (0, split.train_end),
        "valid": (split.train_end, split.valid_end),
        "test": (split.valid_end, length),
    }
    for name, part in split.slices().items():
        x, y = make_windows(rows[part], lookback, horizon)
        low, high = bounds[name]
        assert y.min() >= low and y.max() < high  # targets inside the part
        assert x.min() >= max(0, low - lookback)  # inputs at most lookback rows before
        # Every row of the part is predicted by some window (train: after its first inputs).
        first = low + lookback if name == "train" else low
        assert set(y.ravel()) == set(range(first, high))


def test_time_split_too_short() -> None:
    with pytest.raises(
        UserError, match=r"the training part has 8 of 10 steps; lookback=8 \+ horizon=1 needs"
    ):
        time_split(10, valid=0.1, test=0.1, lookback=8)
    with pytest.raises(UserError, match="the valid part has 1 of 10 steps, fewer than horizon=2"):
        time_split(10, valid=0.1, test=0.1, lookback=2, horizon=2)


def test_season_length_for() -> None:
    assert [season_length_for(f) for f in ("h", "D", "W", "W-SUN", "MS", "ME", "QS")] == [
        24,
        7,
        52,
        52,
        12,
        12,
        4,
    ]
    assert season_length_for("2h") == 12 and season_length_for("30min") == 48
    assert season_length_for("YS") is None and season_length_for(None) is None
    with pytest.raises(UserError, match="frequency 'fortnightly' is not a pandas offset alias"):
        season_length_for("fortnightly")


# ----------------------------------------------------------------------------- real data


@pytest.mark.data
def test_pollution_csv(mirror: Path) -> None:
    table = read_series_csv(
        mirror / "timeseries" / "pollution.csv",
        date_column=["year", "month", "day", "hour"],
        target="pm2.5",
        covariates=["DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"],
        categorical=["cbwd"],
    )
    assert table.values.shape == (43_824, 11)
    assert table.frequency == "h" and table.gaps == 0  # every hour of 2010-2014 is there
    assert table.missing["pm2.5"] == 2_067
    assert table.columns[-4:] == ["cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv"]
    assert (table.values[:, -4:].sum(axis=1) == 1).all()
    assert str(table.index[0]) == "2010-01-01 00:00:00"
    assert season_length_for(table.frequency) == 24


@pytest.mark.data
def test_daily_temperatures_report_the_missing_leap_days(mirror: Path) -> None:
    table = read_series_csv(
        mirror / "timeseries" / "daily-min-temperatures.csv", date_column="Date", target="Temp"
    )
    # 3,650 rows over 1981-1990 (3,652 days): the two 31 Decembers of leap years are absent.
    assert (len(table), table.gaps, table.frequency) == (3_652, 2, "D")
    missing_days = table.index[np.isnan(table.values[:, 0])].strftime("%Y-%m-%d").tolist()
    assert missing_days == ["1984-12-31", "1988-12-31"]


# ----------------------------------------------------------------------------- time axis


def test_the_one_column_that_parses_as_dates_is_the_time_axis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from rnnkit.data.timeseries import resolve_date_column

    frame = pd.DataFrame(
        {
            "store": ["a", "b", "c"],
            "day": ["2024-01-01", "2024-01-02", "2024-01-04"],
            "n": [1, 2, 3],
        }
    )
    with caplog.at_level("INFO", logger="rnnkit.data.timeseries"):
        assert resolve_date_column(frame, None, exclude=["n"], source="visits.csv") == "day"
    assert "data.date_column not set; using 'day'" in caplog.text
    # An explicit column is taken as it is, without a search.
    assert resolve_date_column(frame, "store", exclude=[]) == "store"


def test_no_date_column_is_one_warning_saying_what_it_turns_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from rnnkit.data.timeseries import resolve_date_column

    # Numbers (even as text) are not dates: they would parse as offsets from 1970.
    frame = pd.DataFrame({"step": ["1", "2", "3"], "year": [2001, 2002, 2003], "y": [1.0, 2, 3]})
    with caplog.at_level("INFO", logger="rnnkit.data.timeseries"):
        assert resolve_date_column(frame, None, exclude=["y"], source="s.csv") is None
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    for turned_off in (
        "missing timestamps are not inserted",
        "calendar features are off",
        "season_length is not inferred",
    ):
        assert turned_off in message


def test_two_date_columns_ask_for_a_choice() -> None:
    from rnnkit.data.timeseries import resolve_date_column
    from rnnkit.errors import ConfigError

    frame = pd.DataFrame({"opened": ["2024-01-01"], "closed": ["2024-02-01"], "y": [1.0]})
    with pytest.raises(ConfigError, match="'opened', 'closed' all parse as dates"):
        resolve_date_column(frame, None, exclude=["y"])


def test_blank_values_are_counted_apart_from_missing_timestamps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from rnnkit.data.timeseries import log_filled

    frame = pd.DataFrame(
        {
            "day": ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06"],
            "y": [1.0, None, 4.0, 5.0],
            "x": [None, None, 1.0, 2.0],
        }
    )
    table = load_series(frame, date_column="day", target="y", covariates=["x"], source="v.csv")
    assert table.gaps == 2 and table.missing == {"y": 3, "x": 4}
    with caplog.at_level("INFO", logger="rnnkit.data.timeseries"):
        assert log_filled(table, "interpolate", "v.csv") == 3
    assert "v.csv: 3 blank values filled by interpolate (y 1, x 2)" in caplog.text
    assert "the 2 inserted rows (missing timestamps) filled by interpolate" in caplog.text
