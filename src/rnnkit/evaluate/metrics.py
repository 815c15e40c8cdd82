"""Metrics for classifiers and forecasters: point metrics computed with torchmetrics,
interval metrics (pinball loss, coverage, CRPS) with numpy and scipy.

The point and classification functions take plain arrays or tensors and return a dict
of lower-case names to Python floats (or nested lists for the confusion matrix), the shape
``metrics.json`` stores (see DESIGN.md, "Run directory"); the interval functions return one
float each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchmetrics.functional as tmf

from rnnkit.errors import DataError

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _tensor(values: ArrayLike, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", dtype)
    return torch.as_tensor(np.asarray(values), dtype=dtype)


# ----------------------------------------------------------------------------- classification


def classification_metrics(
    predictions: ArrayLike, targets: ArrayLike, num_classes: int
) -> dict[str, float | list[list[int]]]:
    """Accuracy, macro precision / recall / F1 and the confusion matrix.

    ``predictions`` are class indices (N,) or class scores (N, C); ``targets`` are class
    indices (N,). Macro averages weigh every class equally, so a classifier that ignores
    a rare class is not hidden behind a high accuracy. The confusion matrix has true
    classes in rows and predicted classes in columns.
    """
    preds = _tensor(predictions)
    target = _tensor(targets, torch.long)
    if preds.ndim == 2:
        preds = preds.argmax(dim=1)
    preds = preds.long()
    if preds.shape != target.shape or target.numel() == 0:
        raise DataError(
            f"classification metrics need as many predictions as targets (got "
            f"{tuple(preds.shape)} and {tuple(target.shape)}, at least one each)"
        )
    args = {"num_classes": num_classes}
    matrix = tmf.classification.multiclass_confusion_matrix(preds, target, **args)
    return {
        "accuracy": float(
            tmf.classification.multiclass_accuracy(preds, target, average="micro", **args)
        ),
        "precision": float(
            tmf.classification.multiclass_precision(preds, target, average="macro", **args)
        ),
        "recall": float(
            tmf.classification.multiclass_recall(preds, target, average="macro", **args)
        ),
        "f1": float(tmf.classification.multiclass_f1_score(preds, target, average="macro", **args)),
        "confusion_matrix": matrix.tolist(),
    }


# ----------------------------------------------------------------------------- forecasting


def mase_scale(train_values: ArrayLike, season_length: int = 1) -> float:
    """In-sample mean absolute error of the seasonal naive forecast on the training part.

    MASE divides a forecast's MAE by this scale (Hyndman & Koehler 2006, "Another look at
    measures of forecast accuracy", Int. J. Forecasting 22(4)), so MASE < 1 means better
    than the one-step seasonal naive forecast was in sample. ``train_values`` is (T,) or
    (T, K) for K target columns; the scale is averaged over columns.
    """
    values = _tensor(train_values)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[0] <= season_length:
        raise DataError(
            f"the training part has {values.shape[0]} rows; the MASE scale needs more than "
            f"season_length = {season_length}"
        )
    diffs = (values[season_length:] - values[:-season_length]).abs()
    scale = float(diffs.mean())
    # A constant training series has no scale; fall back to 1 rather than divide by 0.
    return scale if scale > 0 else 1.0


def forecast_metrics(forecasts: ArrayLike, actuals: ArrayLike, *, scale: float) -> dict[str, float]:
    """MAE, RMSE, MAPE, sMAPE and MASE over every forecast step, in the data's units.

    ``forecasts`` and ``actuals`` have the same shape, e.g. (windows, horizon, targets).

    - MAE = mean |y - ŷ|; RMSE = sqrt(mean (y - ŷ)²)
    - MAPE = 100 · mean |y - ŷ| / |y| (percent; undefined where y = 0)
    - sMAPE = 100 · mean 2 |y - ŷ| / (|y| + |ŷ|) (percent, between 0 and 200)
    - MASE = MAE / ``scale``, with ``scale`` from :func:`mase_scale` on the training part
    """
    preds = _tensor(forecasts).reshape(-1)
    target = _tensor(actuals).reshape(-1)
    if preds.shape != target.shape or target.numel() == 0:
        raise DataError(
            f"forecast metrics need forecasts and actuals of one shape (got "
            f"{tuple(_tensor(forecasts).shape)} and {tuple(_tensor(actuals).shape)})"
        )
    mae = float(tmf.mean_absolute_error(preds, target))
    return {
        "mae": mae,
        "rmse": float(tmf.mean_squared_error(preds, target, squared=False)),
        "mape": 100.0 * float(tmf.mean_absolute_percentage_error(preds, target)),
        "smape": 100.0 * float(tmf.symmetric_mean_absolute_percentage_error(preds, target)),
        "mase": mae / scale,
    }


# ----------------------------------------------------------------------------- intervals

#: Levels of the quantile grid that approximates the CRPS of any distribution given by
#: its quantiles (a parametric one, or a baseline's residual quantiles): 0.01 .. 0.99.
CRPS_GRID = tuple(round(i / 100, 2) for i in range(1, 100))


def _levels(levels: Sequence[float], count: int) -> np.ndarray:
    array = np.asarray(levels, dtype=np.float64)
    if array.ndim != 1 or array.size != count or np.any((array <= 0) | (array >= 1)):
        raise DataError(
            f"quantile levels {list(levels)} must be {count} numbers strictly between 0 and 1, "
            "one per quantile in the last axis"
        )
    return array


def pinball_loss(quantiles: ArrayLike, actuals: ArrayLike, levels: Sequence[float]) -> float:
    """Mean pinball (quantile) loss over every forecast step and level.

    ``quantiles`` is (..., Q), the forecast's quantiles at ``levels`` (Q,); ``actuals`` is
    (...). For a level τ and the error u = y - q_τ the loss is ρ_τ(u) = max(τ·u, (τ-1)·u):
    an observation above the quantile costs τ per unit, one below costs 1 - τ.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    y = np.asarray(actuals, dtype=np.float64)
    tau = _levels(levels, q.shape[-1])
    if q.shape[:-1] != y.shape or y.size == 0:
        raise DataError(
            f"pinball loss needs quantiles (..., Q) over actuals (...) (got {q.shape} and "
            f"{y.shape})"
        )
    error = y[..., None] - q  # (..., Q)
    return float(np.maximum(tau * error, (tau - 1) * error).mean())


def interval_coverage(lower: ArrayLike, upper: ArrayLike, actuals: ArrayLike) -> float:
    """Fraction of observations inside their interval, ``lower <= y <= upper``."""
    lo, hi, y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, actuals))
    if not lo.shape == hi.shape == y.shape or y.size == 0:
        raise DataError(
            f"interval coverage needs lower, upper and actuals of one shape (got {lo.shape}, "
            f"{hi.shape} and {y.shape})"
        )
    return float(((lo <= y) & (y <= hi)).mean())


def crps_gaussian(mean: ArrayLike, std: ArrayLike, actuals: ArrayLike) -> float:
    """Mean continuous ranked probability score of Gaussian forecasts N(μ, σ²), exact.

    CRPS(N(μ, σ²), y) = σ·[z·(2Φ(z) - 1) + 2φ(z) - 1/√π] with z = (y - μ)/σ (Gneiting,
    Raftery, Westveld & Goldman 2005, "Calibrated probabilistic forecasting using ensemble
    model output statistics", Monthly Weather Review 133(5), eq. 5). It is in the data's
    units and reduces to the absolute error for σ → 0.
    """
    from scipy.stats import norm

    mu, sigma, y = (np.asarray(a, dtype=np.float64) for a in (mean, std, actuals))
    if not mu.shape == sigma.shape == y.shape or y.size == 0 or np.any(sigma <= 0):
        raise DataError(
            f"Gaussian CRPS needs means, positive standard deviations and actuals of one "
            f"shape (got {mu.shape}, {sigma.shape} and {y.shape})"
        )
    z = (y - mu) / sigma
    score = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    return float(score.mean())


def crps_from_quantiles(quantiles: ArrayLike, actuals: ArrayLike, levels: Sequence[float]) -> float:
    """Mean CRPS approximated from quantiles: 2 × the pinball loss averaged over levels.

    The CRPS is the integral of twice the pinball loss over all levels, CRPS(F, y) =
    2 ∫₀¹ ρ_τ(y - F⁻¹(τ)) dτ (Gneiting & Ranjan 2011, "Comparing density forecasts using
    threshold- and quantile-weighted scoring rules", J. Business & Economic Statistics
    29(3), eq. 8); an even grid of levels (such as :data:`CRPS_GRID`) is a midpoint rule
    for it. With only a few levels (0.1, 0.5, 0.9) it is a coarse approximation, the same
    for every forecaster scored at those levels.
    """
    return 2.0 * pinball_loss(quantiles, actuals, levels)
