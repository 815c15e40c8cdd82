"""Target transforms: log, log1p, Box-Cox, lag differencing, and their inverses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from rnnkit.data.transforms import TargetTransform
from rnnkit.errors import DataError, UserError


def _series() -> np.ndarray:
    t = np.arange(60, dtype=np.float64)
    return np.stack([100 * np.exp(0.02 * t) * (1.2 + np.sin(t / 3)), 5 + t], axis=1)  # (T, 2)


@pytest.mark.parametrize(
    ("kind", "forward"),
    [("none", lambda y: y), ("log", np.log), ("log1p", np.log1p)],
)
def test_pointwise_transforms_match_numpy_and_invert(kind: str, forward: object) -> None:
    values = _series()
    transform = TargetTransform(kind, columns=["a", "b"]).fit(values[:40])
    np.testing.assert_allclose(transform.apply(values), forward(values))
    np.testing.assert_allclose(transform.inverse_pointwise(transform.apply(values)), values)


def test_box_cox_lambda_is_fitted_on_the_training_rows_only() -> None:
    values = _series()
    transform = TargetTransform("boxcox", columns=["a", "b"]).fit(values[:40])
    expected = [stats.boxcox(values[:40, j])[1] for j in range(2)]
    np.testing.assert_allclose(transform.lambdas, expected)
    # Fitting on the whole series would have chosen another lambda.
    assert abs(stats.boxcox(values[:, 0])[1] - expected[0]) > 1e-3
    np.testing.assert_allclose(
        transform.apply(values)[:, 0], special.boxcox(values[:, 0], expected[0])
    )
    np.testing.assert_allclose(transform.inverse_pointwise(transform.apply(values)), values)
    again = TargetTransform.from_json(transform.to_json())
    np.testing.assert_allclose(again.apply(values), transform.apply(values))


def test_box_cox_inverse_clips_forecasts_beyond_its_range() -> None:
    transform = TargetTransform("boxcox", lambdas=[0.5])
    # z = (y^0.5 - 1) / 0.5 >= -2 for every y >= 0: a forecast of -5 maps to (almost) 0.
    restored = transform.inverse_pointwise(np.array([[-5.0], [0.0]]))
    assert np.isfinite(restored).all()
    assert restored[0, 0] == pytest.approx(0.0, abs=1e-6) and restored[1, 0] == pytest.approx(1.0)


def test_differencing_leaves_the_first_lag_rows_empty() -> None:
    values = np.array([[1.0], [3.0], [6.0], [10.0], [15.0]])
    lagged = TargetTransform("none", lag=2).apply(values)
    assert np.isnan(lagged[:2]).all()
    np.testing.assert_allclose(lagged[2:, 0], [5.0, 7.0, 9.0])


def test_restore_undoes_a_lag_difference_step_by_step() -> None:
    # lag 2: y_t = d_t + y_{t-2}; the third step builds on the first forecast.
    transform = TargetTransform("none", lag=2)
    before = np.array([[[10.0], [20.0]]])  # (N=1, lag=2, K=1): y_{o-2}, y_{o-1}
    forecast = np.array([[[1.0], [2.0], [3.0], [4.0]]])  # differences d_o .. d_{o+3}
    restored = transform.restore(forecast, before)
    np.testing.assert_allclose(restored[0, :, 0], [11.0, 22.0, 14.0, 26.0])


def test_restore_of_log_and_difference_matches_a_hand_computation() -> None:
    values = _series()[:, :1]
    transform = TargetTransform("log", lag=1).fit(values[:40])
    applied = transform.apply(values)
    origin, horizon = 45, 3
    # Feeding the true differences back must give the true values.
    restored = transform.restore(
        applied[None, origin : origin + horizon], values[None, origin - 1 : origin]
    )
    np.testing.assert_allclose(restored[0], values[origin : origin + horizon])
    with pytest.raises(DataError, match="needs the 1 rows before"):
        transform.restore(applied[None, origin : origin + horizon])


def test_log_of_a_non_positive_value_names_the_column_and_row() -> None:
    values = np.array([[5.0, 1.0], [4.0, 0.0], [3.0, -1.0]])
    dates = pd.date_range("2024-01-01", periods=3, freq="D")
    transform = TargetTransform("log", columns=["sales", "visits"])
    with pytest.raises(
        DataError, match=r"log needs values > 0: column 'visits', row 2 \(2024-01-02"
    ):
        transform.fit(values, index=dates)
    with pytest.raises(DataError, match=r"log1p needs values > -1: column 'visits', row 3 is -1"):
        TargetTransform("log1p", columns=["sales", "visits"]).fit(values)
    # The training part may be fine and a later row not: pointwise checks every row given.
    with pytest.raises(DataError, match="row 2"):
        TargetTransform("boxcox", columns=["sales", "visits"]).pointwise(values)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError, match="'sqrt' is not one of none, log, log1p, boxcox"):
        TargetTransform("sqrt")
    with pytest.raises(UserError, match="lag >= 1"):
        TargetTransform("log", lag=-1)
    with pytest.raises(DataError, match="constant"):
        TargetTransform("boxcox", columns=["flat"]).fit(np.full((10, 1), 3.0))
    with pytest.raises(DataError, match="transform JSON of type 'exp'"):
        TargetTransform.from_json({"type": "exp"})
