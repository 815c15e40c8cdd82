from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.errors import DataError
from rnnkit.evaluate.metrics import (
    CRPS_GRID,
    classification_metrics,
    crps_from_quantiles,
    crps_gaussian,
    forecast_metrics,
    interval_coverage,
    mase_scale,
    pinball_loss,
)


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


# ----------------------------------------------------------------------------- intervals


def test_pinball_loss_matches_a_hand_computation() -> None:
    # y = 2.5 against quantiles 1, 2, 3 at levels 0.1, 0.5, 0.9: errors 1.5, 0.5, -0.5
    # cost 0.1 * 1.5, 0.5 * 0.5 and (0.9 - 1) * -0.5 = 0.15, 0.25, 0.05.
    loss = pinball_loss([[1.0, 2.0, 3.0]], [2.5], [0.1, 0.5, 0.9])
    assert loss == pytest.approx((0.15 + 0.25 + 0.05) / 3)
    # At level 0.5 the pinball loss is half the absolute error.
    assert pinball_loss([[0.0], [4.0]], [1.0, 1.0], [0.5]) == pytest.approx((0.5 + 1.5) / 2)


def test_pinball_loss_refuses_levels_that_do_not_fit() -> None:
    with pytest.raises(DataError, match="strictly between 0 and 1"):
        pinball_loss([[1.0, 2.0]], [1.0], [0.5])
    with pytest.raises(DataError, match="strictly between 0 and 1"):
        pinball_loss([[1.0, 2.0]], [1.0], [0.0, 0.5])
    with pytest.raises(DataError, match="quantiles"):
        pinball_loss([[1.0, 2.0]], [1.0, 2.0], [0.1, 0.9])


def test_interval_coverage_counts_observations_inside_with_bounds_included() -> None:
    lower, upper = np.zeros(5), np.ones(5)
    actual = np.array([0.5, 1.0, 0.0, 1.5, -0.1])  # inside, on the upper, on the lower, out, out
    assert interval_coverage(lower, upper, actual) == pytest.approx(3 / 5)
    with pytest.raises(DataError, match="one shape"):
        interval_coverage(lower, upper, actual[:3])


@pytest.mark.parametrize(("mu", "sigma", "y"), [(0.0, 1.0, 0.3), (2.0, 0.5, -1.0), (5, 3, 5)])
def test_gaussian_crps_matches_numerical_integration(mu: float, sigma: float, y: float) -> None:
    from scipy import integrate
    from scipy.stats import norm

    # CRPS(F, y) = ∫ (F(x) - 1{x >= y})² dx, split at y where the step is.
    below, _ = integrate.quad(lambda x: norm.cdf(x, mu, sigma) ** 2, -np.inf, y)
    above, _ = integrate.quad(lambda x: (1 - norm.cdf(x, mu, sigma)) ** 2, y, np.inf)
    assert crps_gaussian([mu], [sigma], [y]) == pytest.approx(below + above, rel=1e-7)


def test_gaussian_crps_tends_to_the_absolute_error() -> None:
    assert crps_gaussian([1.0], [1e-9], [3.0]) == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(DataError, match="positive standard deviations"):
        crps_gaussian([1.0], [0.0], [3.0])


def test_crps_from_a_fine_quantile_grid_approximates_the_exact_one() -> None:
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    y = rng.normal(0.2, 1.3, size=2000)
    levels = np.array(CRPS_GRID)
    quantiles = np.broadcast_to(norm.ppf(levels), (len(y), len(levels)))
    exact = crps_gaussian(np.zeros_like(y), np.ones_like(y), y)
    assert crps_from_quantiles(quantiles, y, levels) == pytest.approx(exact, rel=0.02)
