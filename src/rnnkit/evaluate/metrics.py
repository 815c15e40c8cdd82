"""Metrics for classifiers and forecasters, computed with torchmetrics.

Every function takes plain arrays or tensors and returns a dict of lower-case names to
Python floats (or nested lists for the confusion matrix), the shape ``metrics.json``
stores (see DESIGN.md, "Run directory").
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
