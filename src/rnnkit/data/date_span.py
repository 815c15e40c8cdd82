"""How far a series' dates may spread: a mistyped year in a minute-by-minute series
would otherwise be laid out as millions of inserted gaps (and end in a crash).

A regular series spans at most :data:`MAX_SPAN_FACTOR` times as many of its own steps
as it has rows, plus :data:`SPAN_SLACK`; anything beyond that is refused, naming the row
whose date is out of place, before any date range is materialised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnkit.errors import DataError

#: A regular series is at most this many times as long, counted in its own steps, as it
#: has rows (plus :data:`SPAN_SLACK`): more would be mostly inserted gaps.
MAX_SPAN_FACTOR = 10
SPAN_SLACK = 1000


def span_steps(index: pd.DatetimeIndex) -> tuple[float, pd.Timedelta] | None:
    """(the span of a sorted index in units of its median step, that step)."""
    stamps = index.asi8
    steps = np.diff(stamps)
    positive = steps[steps > 0]
    if len(positive) == 0:
        return None
    step = float(np.median(positive))
    return (stamps[-1] - stamps[0]) / step, pd.Timedelta(int(step), unit=index.unit)


def check_outlying_dates(index: pd.DatetimeIndex, source: str) -> None:
    """Refuse a timestamp far from all the others (a mistyped year in a minute series),
    which would stretch the series over millions of inserted gaps, naming its row."""
    if len(index) < 3:
        return
    order = np.argsort(index.asi8, kind="stable")
    ordered = index[order]
    span = span_steps(ordered)
    if span is None or span[0] <= span_limit(len(index)):
        return
    steps = np.diff(ordered.asi8)
    jump = int(np.argmax(steps))
    if steps[jump] < 0.5 * (ordered.asi8[-1] - ordered.asi8[0]):
        return  # sparse throughout, not one date out of place: infer_frequency decides
    # The side of the largest jump with fewer rows holds the odd date.
    odd = jump + 1 if len(index) - jump - 1 <= jump + 1 else jump
    row = int(order[odd])
    raise DataError(
        f"{source}: the date in row {row + 1}, {ordered[odd]}, lies "
        f"{pd.Timedelta(int(steps[jump]), unit=ordered.unit)} from the rest of the series, whose "
        f"step is {span[1]}: the series would span {span[0]:,.0f} steps for {len(index)} "
        "rows; is that date mistyped?"
    )


def span_limit(rows: int) -> int:
    """The most steps a series of ``rows`` rows may span."""
    return MAX_SPAN_FACTOR * rows + SPAN_SLACK


def check_grid_size(
    index: pd.DatetimeIndex, offset: pd.offsets.Tick, frequency: str, source: str
) -> None:
    """Refuse a fixed-step grid from the first to the last date with far more
    timestamps than the series has rows (a frequency too fine, or a date far off)."""
    needed = (index[-1] - index[0]) / pd.Timedelta(offset) + 1
    limit = span_limit(len(index))
    if needed > limit:
        raise DataError(
            f"{source}: from {index[0]} to {index[-1]} at frequency {frequency!r} is "
            f"{needed:,.0f} timestamps for {len(index)} rows (more than {limit:,}); "
            "check the dates, or give the right data.frequency"
        )
