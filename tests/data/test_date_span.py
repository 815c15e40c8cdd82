"""How far a series' dates may spread before they are taken for a mistyped date."""

from __future__ import annotations

import pandas as pd
import pytest

from rnnkit.data.date_span import check_outlying_dates, span_limit, span_steps
from rnnkit.errors import DataError


def test_one_far_date_is_named_by_its_row_in_the_file() -> None:
    minutes = pd.date_range("2024-01-01", periods=300, freq="min")
    stamps = minutes.tolist()
    stamps[7] = pd.Timestamp("2204-01-01 00:07")  # 2024 typed as 2204, row 8
    index = pd.DatetimeIndex(stamps)
    with pytest.raises(DataError, match=r"s.csv: the date in row 8, 2204-01-01 00:07:00, lies"):
        check_outlying_dates(index, "s.csv")


def test_a_sparse_irregular_series_is_not_taken_for_a_typo() -> None:
    # 500 events spread over a year, a median minute apart in bursts: a long span in its
    # own steps, but no single jump holds most of it.
    bursts = pd.date_range("2024-01-01", periods=50, freq="7D")
    stamps = [b + pd.Timedelta(minutes=int(m)) for b in bursts for m in range(10)]
    index = pd.DatetimeIndex(sorted(stamps))
    assert span_steps(index)[0] > span_limit(len(index))
    check_outlying_dates(index, "events.csv")


def test_span_in_steps_of_the_median_step() -> None:
    index = pd.date_range("2024-01-01", periods=11, freq="h")
    span, step = span_steps(index)
    assert span == 10 and step == pd.Timedelta(hours=1)
    assert span_limit(100) == 2000
