"""Probabilistic forecasts: distribution heads, their losses, quantiles and interval metrics.

``model.likelihood`` chooses what the forecaster's head predicts for every step and target,
as P parameters in scaled units (the last axis of ``Forecaster.distribution``):

- ``none``      P = 1: the point forecast, trained on the squared error;
- ``gaussian``  P = 2: mean μ and standard deviation σ = softplus(·), trained on the
  Gaussian negative log-likelihood;
- ``student_t`` P = 3: location, scale = softplus(·) and degrees of freedom
  ν = 2 + softplus(·) (ν > 2 keeps the variance finite), trained on the Student-t negative
  log-likelihood: heavier tails than the Gaussian for series with bursts;
- ``quantile``  P = Q: the quantiles at ``model.quantiles``, trained on the mean pinball
  loss; they are the median plus cumulative softplus steps up and down, so they never
  cross.

Location parameters are relative to the last observed value like the point head (see
:mod:`rnnkit.tasks.forecasting.model`). The point forecast is the mean (Gaussian), the
location = median (Student-t) or the 0.5 quantile.

Evaluation turns every forecaster, the model and the baselines, into quantiles in the
data's units and scores them the same way: ``coverage_80`` (share of observations inside
the 10%-90% interval; 0.8 is calibrated), ``pinball`` (mean pinball loss at
``model.quantiles``) and ``crps`` (exact for a Gaussian head where the inverse scaling is
affine; otherwise twice the mean pinball loss over the levels of
``rnnkit.evaluate.metrics.CRPS_GRID``, or over the quantile head's own levels, for the
model and baselines alike).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

# rnnkit.evaluate.metrics (torchmetrics) is imported where metrics are computed: the
# model and the predictor use this module too and stay light to import.

log = logging.getLogger(__name__)

#: The prediction interval reported everywhere: central 80%, between these quantiles.
INTERVAL_LEVELS = (0.1, 0.9)
COVERAGE = "coverage_80"
LOWER, UPPER = "lower_80", "upper_80"
#: The smallest scale a distribution head predicts (scaled units): keeps the NLL finite.
MIN_SCALE = 1e-4


def param_count(likelihood: str, quantiles: Sequence[float]) -> int:
    """P, the parameters per step and target that a head of ``likelihood`` predicts."""
    counts = {"none": 1, "gaussian": 2, "student_t": 3}
    return counts[likelihood] if likelihood in counts else len(quantiles)


def to_params(
    raw: Tensor,
    last: Tensor,
    likelihood: str,
    quantiles: Sequence[float],
    unit: Tensor | None = None,
) -> Tensor:
    """Head outputs (B, S, K, P) to distribution parameters (B, S, K, P), scaled units.

    ``last`` (B, 1, K) is the value the location parameters are relative to; ``unit``
    (B, 1, K), default 1, multiplies every change and scale (the window's scale when the
    model normalises its window).
    """
    unit = torch.ones_like(last) if unit is None else unit
    if likelihood == "none":
        return (last + unit * raw[..., 0]).unsqueeze(-1)
    if likelihood in ("gaussian", "student_t"):
        loc = last + unit * raw[..., 0]  # (B, S, K)
        scale = unit * (F.softplus(raw[..., 1]) + MIN_SCALE)
        parts = [loc, scale]
        if likelihood == "student_t":
            parts.append(2.0 + F.softplus(raw[..., 2]))
        return torch.stack(parts, dim=-1)
    median = quantiles.index(0.5)
    centre = last + unit * raw[..., median]  # (B, S, K)
    # Cumulative positive steps away from the median: the quantiles are ordered by design.
    steps = unit.unsqueeze(-1) * F.softplus(raw)  # (B, S, K, Q)
    up = torch.cumsum(steps[..., median + 1 :], dim=-1)
    down = torch.flip(torch.cumsum(torch.flip(steps[..., :median], [-1]), -1), [-1])
    return torch.cat([centre[..., None] - down, centre[..., None], centre[..., None] + up], -1)


def point(params: Tensor, likelihood: str, quantiles: Sequence[float]) -> Tensor:
    """The point forecast (B, S, K) of parameters (B, S, K, P)."""
    if likelihood == "quantile":
        return params[..., quantiles.index(0.5)]
    return params[..., 0]


def loss(params: Tensor, targets: Tensor, likelihood: str, quantiles: Sequence[float]) -> Tensor:
    """The training loss of parameters (B, H, K, P) against targets (B, H, K), scaled."""
    if likelihood == "none":
        return F.mse_loss(params[..., 0], targets)
    if likelihood == "gaussian":
        return F.gaussian_nll_loss(params[..., 0], targets, params[..., 1] ** 2, full=True)
    if likelihood == "student_t":
        loc, scale, df = params.unbind(-1)
        return -torch.distributions.StudentT(df, loc, scale).log_prob(targets).mean()
    levels = torch.as_tensor(quantiles, dtype=params.dtype, device=params.device)
    error = targets.unsqueeze(-1) - params  # (B, H, K, Q)
    return torch.maximum(levels * error, (levels - 1) * error).mean()


def quantiles_of(
    params: np.ndarray, likelihood: str, quantiles: Sequence[float], levels: Sequence[float]
) -> np.ndarray:
    """Quantiles (N, H, K, Q) at ``levels`` of parameters (N, H, K, P), in the same units.

    A quantile head gives only its own levels; asking it for others is an error.
    """
    from scipy import stats

    levels_array = np.asarray(levels, dtype=np.float64)
    if likelihood == "gaussian":
        return params[..., :1] + params[..., 1:2] * stats.norm.ppf(levels_array)
    if likelihood == "student_t":
        ppf = stats.t.ppf(levels_array, params[..., 2:3])  # (N, H, K, Q)
        return params[..., :1] + params[..., 1:2] * ppf
    if likelihood == "quantile":
        missing = [q for q in levels if q not in quantiles]
        if missing:
            raise ValueError(f"a quantile head predicts levels {list(quantiles)}, not {missing}")
        return params[..., [list(quantiles).index(q) for q in levels]]
    raise ValueError(f"likelihood {likelihood!r} has no quantiles (a point forecaster)")


def crps_levels(likelihood: str, quantiles: Sequence[float]) -> tuple[float, ...]:
    """The levels the CRPS is approximated on: the quantile head's own, else a fine grid.

    The baselines of a run are scored on the same levels as its model.
    """
    from rnnkit.evaluate.metrics import CRPS_GRID

    return tuple(quantiles) if likelihood == "quantile" else CRPS_GRID


def interval_metrics(
    quantile_fn: Callable[[Sequence[float]], np.ndarray],
    actual: np.ndarray,
    *,
    pinball_levels: Sequence[float],
    crps_levels: Sequence[float],
    exact_crps: float | None = None,
) -> dict[str, float]:
    """``coverage_80``, ``pinball`` and ``crps`` of a forecaster given by its quantiles.

    ``quantile_fn(levels)`` returns the forecast's quantiles (N, H, K, Q) in the data's
    units; ``actual`` is (N, H, K). ``exact_crps`` replaces the quantile approximation.
    """
    from rnnkit.evaluate.metrics import crps_from_quantiles, interval_coverage, pinball_loss

    bounds = quantile_fn(INTERVAL_LEVELS)
    crps = exact_crps
    if crps is None:
        crps = crps_from_quantiles(quantile_fn(crps_levels), actual, crps_levels)
    return {
        COVERAGE: interval_coverage(bounds[..., 0], bounds[..., 1], actual),
        "pinball": pinball_loss(quantile_fn(pinball_levels), actual, pinball_levels),
        "crps": crps,
    }


# ----------------------------------------------------------------------------- the model


def inverse_quantiles(invert: Callable[[np.ndarray], np.ndarray], scaled: np.ndarray) -> np.ndarray:
    """Apply a monotone inverse transform (N, H, K) -> (N, H, K) to each of Q quantiles."""
    moved = np.moveaxis(scaled, -1, 0)  # (Q, N, H, K)
    return np.moveaxis(np.stack([invert(q) for q in moved]), 0, -1)


def exact_gaussian_crps(
    invert: Callable[[np.ndarray], np.ndarray], params: np.ndarray, actual: np.ndarray
) -> float | None:
    """The closed-form CRPS of Gaussian parameters (N, H, K, 2) in the data's units, or
    None where the inverse transform is not affine (then the Gaussian does not stay one)."""
    from rnnkit.evaluate.metrics import crps_gaussian

    mean, std = params[..., 0], params[..., 1]
    centre, above, below = invert(mean), invert(mean + std), invert(mean - std)
    if not np.allclose(above - centre, centre - below, rtol=1e-6, atol=1e-9):
        return None
    return crps_gaussian(centre, np.maximum(above - centre, 1e-12), actual)


def model_interval_metrics(
    params: np.ndarray,
    actual: np.ndarray,
    invert: Callable[[np.ndarray], np.ndarray],
    likelihood: str,
    quantiles: Sequence[float],
) -> dict[str, float]:
    """Interval metrics of a model's parameters (N, H, K, P), scaled, against ``actual``
    (N, H, K) in the data's units; ``invert`` undoes the target scaling. Empty for a point
    forecaster."""
    if likelihood == "none":
        return {}

    def quantile_fn(levels: Sequence[float]) -> np.ndarray:
        return inverse_quantiles(invert, quantiles_of(params, likelihood, quantiles, levels))

    exact = exact_gaussian_crps(invert, params, actual) if likelihood == "gaussian" else None
    return interval_metrics(
        quantile_fn,
        actual,
        pinball_levels=quantiles,
        crps_levels=crps_levels(likelihood, quantiles),
        exact_crps=exact,
    )


# ----------------------------------------------------------------------------- baselines


def residual_quantiles(
    targets: np.ndarray,
    forecast: Callable[[np.ndarray], np.ndarray],
    horizon: int,
    levels: Sequence[float],
    *,
    start: int,
    end: int,
) -> np.ndarray | None:
    """Empirical quantiles (H, K, Q) of a forecaster's h-step errors y - ŷ on ``[start, end)``.

    The forecaster is run from every origin whose ``horizon`` steps lie in the range (the
    training part): a baseline's interval is its point forecast plus these quantiles, one
    set per step ahead. None when the range holds no origin.
    """
    origins = np.arange(start, end - horizon + 1)
    if origins.size == 0:
        return None
    index = origins[:, None] + np.arange(horizon)[None, :]
    errors = targets[index] - forecast(origins)  # (N, H, K)
    return np.moveaxis(np.quantile(errors, np.asarray(levels), axis=0), 0, -1)


def baseline_forecasters(
    targets: np.ndarray, horizon: int, seasons: int, fit_end: int
) -> dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]]:
    """Each baseline's forecast function of origins -> (N, H, K) and its first origin.

    Holt-Winters' parameters are fitted on ``targets[:fit_end]``.
    """
    from rnnkit.evaluate import baselines as b

    hw_seasonal = seasons >= 2 and fit_end >= 2 * seasons
    return {
        "naive": (lambda o: b.naive_forecast(targets, o, horizon), 1),
        "seasonal_naive": (
            lambda o: b.seasonal_naive_forecast(targets, o, horizon, seasons),
            seasons,
        ),
        "holt_winters": (
            lambda o: b.holt_winters_forecast(targets, o, horizon, seasons, fit_end=fit_end),
            seasons if hw_seasonal else 2,
        ),
    }


def baseline_interval_metrics(
    targets: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    seasons: int,
    fit_end: int,
    *,
    pinball_levels: Sequence[float],
    crps_grid: Sequence[float],
    points: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Interval metrics of every baseline at ``origins``: point forecast plus the quantiles
    of its own errors on ``targets[:fit_end]`` (the training part), so the intervals are
    fitted where the model's are. ``points`` reuses point forecasts computed already."""
    index = origins[:, None] + np.arange(horizon)[None, :]
    actual = targets[index]  # (N, H, K)
    levels = sorted({*INTERVAL_LEVELS, *pinball_levels, *crps_grid})
    results: dict[str, dict[str, float]] = {}
    for name, (forecast, first) in baseline_forecasters(targets, horizon, seasons, fit_end).items():
        spread = residual_quantiles(targets, forecast, horizon, levels, start=first, end=fit_end)
        if spread is None:
            log.info("no interval for baseline %s: the training part is too short", name)
            continue
        centre = points[name] if points is not None and name in points else forecast(origins)
        table = centre[..., None] + spread[None]  # (N, H, K, Q)

        def quantile_fn(wanted: Sequence[float], table: np.ndarray = table) -> np.ndarray:
            return table[..., [levels.index(q) for q in wanted]]

        results[name] = interval_metrics(
            quantile_fn, actual, pinball_levels=pinball_levels, crps_levels=crps_grid
        )
    return results


def forecast_bands(
    params: np.ndarray,
    invert: Callable[[np.ndarray], np.ndarray],
    likelihood: str,
    quantiles: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """The 80% interval (lower, upper), each (N, H, K) in the data's units."""
    bounds = inverse_quantiles(invert, quantiles_of(params, likelihood, quantiles, INTERVAL_LEVELS))
    return bounds[..., 0], bounds[..., 1]


def band_columns(frame: Any, lower: np.ndarray, upper: np.ndarray) -> Any:
    """A forecast DataFrame (one column per target) with ``<target>_lower_80`` and
    ``<target>_upper_80`` columns after each target; ``lower``/``upper`` are (H, K)."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for k, name in enumerate(frame.columns):
        columns[name] = frame[name].to_numpy()
        columns[f"{name}_{LOWER}"] = lower[:, k]
        columns[f"{name}_{UPPER}"] = upper[:, k]
    return pd.DataFrame(columns, index=frame.index)
