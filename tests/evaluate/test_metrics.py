from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.errors import DataError
from rnnkit.evaluate.metrics import classification_metrics, forecast_metrics, mase_scale


def test_classification_metrics_match_a_hand_count() -> None:
    targets = [0, 0, 0, 1, 1, 2]
    predictions = [0, 0, 1, 1, 2, 2]
    result = classification_metrics(predictions, targets, num_classes=3)
    assert result["accuracy"] == pytest.approx(4 / 6)
    # per class precision: 2/2, 1/2, 1/2; recall: 2/3, 1/2, 1/1
    assert result["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert result["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    f1 = [2 * p * r / (p + r) for p, r in [(1, 2 / 3), (0.5, 0.5), (0.5, 1)]]
    assert result["f1"] == pytest.approx(sum(f1) / 3)
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_classification_metrics_take_scores() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    result = classification_metrics(scores, [0, 1, 1], num_classes=2)
    assert result["accuracy"] == pytest.approx(2 / 3)


def test_classification_metrics_reject_mismatched_lengths() -> None:
    with pytest.raises(DataError, match="as many predictions as targets"):
        classification_metrics([0, 1], [0, 1, 1], num_classes=2)


def test_forecast_metrics_match_a_hand_computation() -> None:
    actuals = np.array([2.0, 4.0, 5.0, 10.0])
    forecasts = np.array([3.0, 4.0, 3.0, 8.0])
    errors = np.abs(actuals - forecasts)  # 1, 0, 2, 2
    result = forecast_metrics(forecasts, actuals, scale=2.0)
    assert result["mae"] == pytest.approx(1.25)
    assert result["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4 + 4) / 4))
    assert result["mape"] == pytest.approx(100 * np.mean(errors / actuals))
    smape = 100 * np.mean(2 * errors / (np.abs(actuals) + np.abs(forecasts)))
    assert result["smape"] == pytest.approx(smape)
    assert result["mase"] == pytest.approx(1.25 / 2.0)


def test_mase_scale_is_the_in_sample_seasonal_naive_error() -> None:
    train = np.array([1.0, 2.0, 3.0, 5.0, 4.0, 8.0])
    # season 2: |3-1|, |5-2|, |4-3|, |8-5| -> mean 9/4
    assert mase_scale(train, season_length=2) == pytest.approx(9 / 4)
    assert mase_scale(train, season_length=1) == pytest.approx((1 + 1 + 2 + 1 + 4) / 5)
    with pytest.raises(DataError, match="season_length = 6"):
        mase_scale(train, season_length=6)
