"""A tiny forecasting config for the registry's contract test: a seasonal series with a
trend, written as CSV."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def tiny_config(folder: Path) -> dict[str, Any]:
    path = folder / "series.csv"
    rows = ["date,value"]
    for day in range(120):
        value = 10 + 0.05 * day + 2 * math.sin(2 * math.pi * day / 7)
        rows.append(f"{_date(day)},{value:.4f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {
        "name": "tiny-forecasting",
        "task": "forecasting",
        "data": {
            "dataset": str(path),
            "date_column": "date",
            "target": "value",
            "lookback": 14,
            "horizon": 3,
            "batch_size": 16,
        },
        "model": {"hidden_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }


def _date(day: int) -> str:
    import datetime

    return (datetime.date(2024, 1, 1) + datetime.timedelta(days=day)).isoformat()
