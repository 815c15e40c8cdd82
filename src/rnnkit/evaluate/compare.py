"""Model against baselines: which baseline does better than the model, on what."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_split(metrics: Mapping[str, Any]) -> str | None:
    """The split the baselines were measured on: test when present, else val."""
    for split in ("test", "val"):
        if isinstance(metrics.get(split), dict):
            return split
    return None


def beaten_by(
    metrics: Mapping[str, Any],
    directions: Mapping[str, str],
    nominal: Mapping[str, float] | None = None,
) -> dict[str, list[str]]:
    """Baseline -> the metrics on which it does better than the model.

    Compares each baseline with the model's test metrics (val when there is no test
    split), on the metrics both report and whose direction ("min" or "max") is known; a
    "near" metric (interval coverage) is better the closer it is to its ``nominal`` value.
    """
    nominal = nominal or {}
    split = model_split(metrics)
    if split is None:
        return {}
    model = metrics[split]
    beaten: dict[str, list[str]] = {}
    for name, values in (metrics.get("baselines") or {}).items():
        if not isinstance(values, dict):
            continue
        better = []
        for metric, value in values.items():
            own = model.get(metric)
            direction = directions.get(metric)
            if own is None or direction is None or value is None:
                continue
            if direction == "near":
                # Equal gaps (up to rounding, 0.6 and 1.0 around 0.8) are a tie, not a win.
                target = nominal.get(metric)
                if target is not None and abs(value - target) < abs(own - target) - 1e-9:
                    better.append(metric)
            elif (value < own) if direction == "min" else (value > own):
                better.append(metric)
        if better:
            beaten[name] = better
    return beaten
