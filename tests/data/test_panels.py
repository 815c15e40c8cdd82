"""Panels derived from the mirror's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.panels import main, monthly_panel
from rnnkit.errors import DataError


@pytest.mark.data
def test_monthly_panel_stacks_the_five_series(mirror: Path, tmp_path: Path) -> None:
    panel = monthly_panel(mirror)
    counts = panel.groupby("series").size().to_dict()
    # Row counts as the mirror's MANIFEST gives them.
    assert counts == {
        "airline": 144,
        "car_sales": 108,
        "champagne": 105,
        "robberies": 118,
        "temperature": 240,
    }
    first = panel[panel["series"] == "airline"].iloc[0]
    assert (first["month"], first["value"]) == ("1949-01", 112)
    out = tmp_path / "panel.csv"
    assert main([str(out)]) == 0  # reads RNNKIT_MIRROR, as the `mirror` fixture does
    assert out.read_text().startswith("series,month,value\n")


def test_a_missing_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="set RNNKIT_MIRROR"):
        monthly_panel(tmp_path)
