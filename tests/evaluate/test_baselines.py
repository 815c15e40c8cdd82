from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from rnnkit.errors import DataError
from rnnkit.evaluate.baselines import (
    BagOfWordsLogistic,
    holt_winters_forecast,
    majority_class,
    naive_forecast,
    seasonal_naive_forecast,
)

SERIES = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0])


def test_majority_class_breaks_ties_towards_the_lowest_label() -> None:
    assert majority_class([2, 1, 2, 0], 3).tolist() == [2, 2, 2]
    assert majority_class([1, 0], 2).tolist() == [0, 0]
    with pytest.raises(DataError, match="at least one training label"):
        majority_class([], 1)


def test_naive_repeats_the_last_observed_value() -> None:
    forecast = naive_forecast(SERIES, origins=[3, 5], horizon=2)
    assert forecast.shape == (2, 2, 1)
    assert forecast[..., 0].tolist() == [[12.0, 12.0], [14.0, 14.0]]


def test_seasonal_naive_takes_the_same_season_of_the_last_cycle() -> None:
    # season 3, origin 4 (observed y[0..3] = 10, 11, 12, 13): steps 4, 5, 6, 7, 8
    # map to 1, 2, 3, 1, 2 -> 11, 12, 13, 11, 12
    forecast = seasonal_naive_forecast(SERIES, origins=[4], horizon=5, season_length=3)
    assert forecast[0, :, 0].tolist() == [11.0, 12.0, 13.0, 11.0, 12.0]


def test_seasonal_naive_needs_one_full_season_before_the_origin() -> None:
    with pytest.raises(DataError, match="between 3 and 8"):
        seasonal_naive_forecast(SERIES, origins=[2], horizon=1, season_length=3)


def test_forecast_baselines_keep_columns_apart() -> None:
    two = np.stack([SERIES, -SERIES], axis=1)
    forecast = naive_forecast(two, origins=[2], horizon=1)
    assert forecast[0, 0].tolist() == [11.0, -11.0]


def test_holt_winters_at_the_end_of_the_fit_equals_statsmodels() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(60)
    series = 5 + 0.2 * t + 2 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 0.1, t.size)
    ours = holt_winters_forecast(series, origins=[48], horizon=6, season_length=6, fit_end=48)
    reference = (
        ExponentialSmoothing(
            series[:48],
            trend="add",
            seasonal="add",
            seasonal_periods=6,
            initialization_method="estimated",
        )
        .fit()
        .forecast(6)
    )
    np.testing.assert_allclose(ours[0, :, 0], reference, rtol=1e-6)
    # later origins see the new observations: close to the truth on a clean series
    later = holt_winters_forecast(series, origins=[54], horizon=6, season_length=6, fit_end=48)
    assert np.abs(later[0, :, 0] - series[54:]).max() < 0.6


def test_bag_of_words_logistic_learns_word_polarity() -> None:
    texts = ["good fine great", "great good", "bad awful", "awful bad poor", "fine good"] * 4
    labels = [1, 1, 0, 0, 1] * 4
    model = BagOfWordsLogistic(min_df=1).fit(texts, labels, num_classes=2)
    assert model.predict(["a great film", "an awful<br />film"]).tolist() == [1, 0]
    probabilities = model.predict_proba(["good"])
    assert probabilities.shape == (1, 2)
    assert probabilities.sum() == pytest.approx(1.0)


def test_holt_winters_at_later_origins_equals_refitting_statsmodels() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(80)
    series = 5 + 0.2 * t + 2 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 0.3, t.size)
    origins = [48, 53, 70]
    ours = holt_winters_forecast(series, origins, horizon=8, season_length=6, fit_end=48)
    params = (
        ExponentialSmoothing(
            series[:48],
            trend="add",
            seasonal="add",
            seasonal_periods=6,
            initialization_method="estimated",
        )
        .fit()
        .params
    )
    for row, origin in enumerate(origins):
        # The reference: statsmodels run on series[:origin] with the same parameters.
        reference = (
            ExponentialSmoothing(
                series[:origin],
                trend="add",
                seasonal="add",
                seasonal_periods=6,
                initialization_method="known",
                initial_level=params["initial_level"],
                initial_trend=params["initial_trend"],
                initial_seasonal=params["initial_seasons"],
            )
            .fit(
                smoothing_level=params["smoothing_level"],
                smoothing_trend=params["smoothing_trend"],
                smoothing_seasonal=params["smoothing_seasonal"],
                optimized=False,
            )
            .forecast(8)
        )
        np.testing.assert_allclose(ours[row, :, 0], reference, rtol=1e-9)


def test_holt_winters_without_enough_seasons_is_holt_linear() -> None:
    series = np.arange(10.0) * 2 + 1  # a straight line: Holt's method follows it
    forecast = holt_winters_forecast(series, [8], horizon=2, season_length=12, fit_end=8)
    np.testing.assert_allclose(forecast[0, :, 0], [17.0, 19.0], atol=1e-3)


def test_summary_logistic_separates_classes_by_mean_and_by_spread():
    from rnnkit.evaluate.baselines import SummaryLogistic

    rng = np.random.default_rng(0)

    def make(label: int, n: int) -> list[np.ndarray]:
        # Class 0 and 1 differ in mean, 1 and 2 only in spread: both summaries are needed.
        mean, std = [(0.0, 1.0), (2.0, 1.0), (2.0, 3.0)][label]
        return [rng.normal(mean, std, (int(rng.integers(20, 40)), 3)) for _ in range(n)]

    train = [s for label in range(3) for s in make(label, 30)]
    test = [s for label in range(3) for s in make(label, 10)]
    train_y = np.repeat(np.arange(3), 30)
    model = SummaryLogistic().fit(train, train_y, 3)
    summary = SummaryLogistic.summary(train[:1]).numpy()[0]
    np.testing.assert_allclose(summary, np.r_[train[0].mean(0), train[0].std(0)], rtol=1e-5)
    assert (model.predict(test) == np.repeat(np.arange(3), 10)).mean() >= 0.9
    proba = model.predict_proba(test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(RuntimeError, match="fit the baseline"):
        SummaryLogistic().predict(test)
