"""Probabilistic forecasting: heads, losses against scipy, baseline intervals by hand,
and a run end to end (metrics, forecast CSV, plot band)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from rnnkit.errors import ConfigError
from rnnkit.evaluate.metrics import pinball_loss
from rnnkit.tasks import get_spec, load_config
from rnnkit.tasks.forecasting import probabilistic as prob
from rnnkit.tasks.forecasting.config import ForecastingModel
from rnnkit.tasks.forecasting.model import Forecaster

LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]


def _model(likelihood: str, strategy: str = "direct", quantiles=LEVELS) -> Forecaster:
    torch.manual_seed(0)
    config = ForecastingModel(
        hidden_size=8, strategy=strategy, likelihood=likelihood, quantiles=quantiles
    )
    return Forecaster(3, 2, 4, config).eval()


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
@pytest.mark.parametrize(("likelihood", "count"), [("gaussian", 2), ("student_t", 3)])
def test_distribution_heads_give_valid_parameters_and_the_location_as_point(
    likelihood: str, count: int, strategy: str
) -> None:
    model = _model(likelihood, strategy)
    window = torch.randn(5, 7, 3)
    params = model.distribution(window)
    assert params.shape == (5, 4, 2, count)
    assert (params[..., 1] > 0).all()  # scale
    if likelihood == "student_t":
        assert (params[..., 2] > 2).all()  # degrees of freedom
    torch.testing.assert_close(model(window), params[..., 0])


def test_quantile_head_never_crosses_and_a_zero_head_centres_on_the_last_value() -> None:
    model = _model("quantile")
    window = torch.randn(6, 7, 3)
    params = model.distribution(window)  # (B, H, K, Q)
    assert params.shape == (6, 4, 2, 5)
    assert (params.diff(dim=-1) > 0).all()
    torch.testing.assert_close(model(window), params[..., 2])  # the 0.5 level
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    params = model.distribution(window)
    last = window[:, -1, :2]
    step = float(np.log(2.0))  # softplus(0): each level is one step from its neighbour
    expected = last[:, None, :, None] + step * torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    torch.testing.assert_close(params, expected.expand(6, 4, 2, 5))


def test_gaussian_and_student_t_losses_are_the_negative_log_densities() -> None:
    rng = np.random.default_rng(1)
    loc, scale, df = rng.normal(size=20), rng.uniform(0.2, 2, 20), rng.uniform(2.5, 9, 20)
    y = rng.normal(size=20)
    params = torch.tensor(np.stack([loc, scale], -1))[None, :, None]  # (1, 20, 1, 2)
    target = torch.tensor(y)[None, :, None]
    nll = prob.loss(params, target, "gaussian", [0.5])
    assert float(nll) == pytest.approx(-stats.norm.logpdf(y, loc, scale).mean(), rel=1e-9)
    params = torch.tensor(np.stack([loc, scale, df], -1))[None, :, None]
    nll = prob.loss(params, target, "student_t", [0.5])
    assert float(nll) == pytest.approx(-stats.t.logpdf(y, df, loc, scale).mean(), rel=1e-9)


def test_quantile_loss_is_the_pinball_loss_and_none_is_the_squared_error() -> None:
    rng = np.random.default_rng(2)
    q = np.sort(rng.normal(size=(3, 4, 2, 5)), axis=-1)
    y = rng.normal(size=(3, 4, 2))
    got = prob.loss(torch.tensor(q), torch.tensor(y), "quantile", LEVELS)
    assert float(got) == pytest.approx(pinball_loss(q, y, LEVELS))
    got = prob.loss(torch.tensor(q[..., :1]), torch.tensor(y), "none", LEVELS)
    assert float(got) == pytest.approx(((q[..., 0] - y) ** 2).mean())


def test_quantiles_of_parameters_match_scipy() -> None:
    params = np.array([[[[1.0, 2.0, 4.0]]]])  # (1, 1, 1, 3)
    got = prob.quantiles_of(params[..., :2], "gaussian", LEVELS, [0.1, 0.9])
    np.testing.assert_allclose(got[0, 0, 0], stats.norm.ppf([0.1, 0.9], 1, 2))
    got = prob.quantiles_of(params, "student_t", LEVELS, [0.1, 0.9])
    np.testing.assert_allclose(got[0, 0, 0], stats.t.ppf([0.1, 0.9], 4, 1, 2))
    table = np.arange(5.0)[None, None, None]
    np.testing.assert_allclose(
        prob.quantiles_of(table, "quantile", LEVELS, [0.25, 0.9]), [[[[1, 4]]]]
    )
    with pytest.raises(ValueError, match=r"not \[0.3\]"):
        prob.quantiles_of(table, "quantile", LEVELS, [0.3])


def test_gaussian_crps_is_exact_only_through_an_affine_inverse() -> None:
    params = np.array([[[[0.0, 1.0]]]])
    actual = np.array([[[2.5]]])  # in the data's units: 3 · 0.5 + 1
    affine = prob.exact_gaussian_crps(lambda x: 3 * x + 1, params, actual)
    # N(1, 3²) against y = 2.5 is N(0, 1) against 0.5 in units three times larger.
    from rnnkit.evaluate.metrics import crps_gaussian

    assert affine == pytest.approx(3 * crps_gaussian([0.0], [1.0], [0.5]))
    assert prob.exact_gaussian_crps(np.exp, params, actual) is None


def test_residual_quantiles_of_the_naive_forecast_on_a_line() -> None:
    targets = np.arange(30.0)[:, None]  # y_t = t: the naive forecast is h + 1 too low
    spread = prob.residual_quantiles(
        targets,
        lambda o: np.repeat(targets[o - 1][:, None], 3, axis=1),
        3,
        [0.1, 0.9],
        start=1,
        end=20,
    )
    assert spread.shape == (3, 1, 2)
    np.testing.assert_allclose(spread[:, 0, 0], [1, 2, 3])
    assert prob.residual_quantiles(targets, None, 3, [0.5], start=18, end=20) is None


def test_baseline_intervals_are_counted_by_hand() -> None:
    # y_t = t with a bump after the training part: naive errors are h + 1 in training,
    # so the naive interval is a single point and covers exactly the unbumped steps.
    targets = np.arange(40.0)[:, None]
    targets[33] += 5.0
    origins = np.array([30, 31])
    metrics = prob.baseline_interval_metrics(
        targets, origins, 2, 4, 24, pinball_levels=[0.1, 0.5, 0.9], crps_grid=[0.5]
    )
    naive = metrics["naive"]
    # origin 30 predicts rows 30, 31 (both exact); origin 31 rows 31, 32 (exact): no bump.
    assert naive["coverage_80"] == pytest.approx(1.0)
    assert naive["pinball"] == pytest.approx(0.0, abs=1e-12)
    bumped = prob.baseline_interval_metrics(
        targets, np.array([32]), 2, 4, 24, pinball_levels=[0.5], crps_grid=[0.5]
    )["naive"]
    # origin 32: row 32 exact, row 33 five above the (point) interval: 1 of 2 covered;
    # the 0.5 pinball loss is half the absolute error averaged over 2 steps.
    assert bumped["coverage_80"] == pytest.approx(0.5)
    assert bumped["pinball"] == pytest.approx(0.5 * 5.0 / 2)
    assert bumped["crps"] == pytest.approx(2 * bumped["pinball"])


def test_a_quantile_head_needs_the_median_and_the_80_percent_bounds() -> None:
    with pytest.raises(ConfigError, match=r"lacks \[0.1, 0.9\]"):
        load_config(_config_dict(Path("x.csv"), likelihood="quantile", quantiles=[0.5]))
    with pytest.raises(ConfigError, match="increasing levels"):
        load_config(_config_dict(Path("x.csv"), quantiles=[0.9, 0.1]))


def test_a_gaussian_head_learns_calibrated_intervals_on_noise() -> None:
    """A random walk's next step is N(last, 1): the trained 80% interval covers ~80%."""
    torch.manual_seed(0)
    generator = np.random.default_rng(0)
    walks = np.cumsum(generator.normal(size=(4096, 9)), axis=1).astype(np.float32)
    window, target = torch.tensor(walks[:, :8, None]), torch.tensor(walks[:, 8:, None])
    config = ForecastingModel(hidden_size=8, likelihood="gaussian")
    model = Forecaster(1, 1, 1, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(150):
        batch = slice((step * 256) % 3072, (step * 256) % 3072 + 256)
        optimizer.zero_grad()
        prob.loss(model.distribution(window[batch]), target[batch], "gaussian", [0.5]).backward()
        optimizer.step()
    with torch.no_grad():
        params = model.distribution(window[3072:]).double().numpy()
    metrics = prob.model_interval_metrics(
        params, target[3072:].double().numpy(), lambda x: x, "gaussian", [0.1, 0.5, 0.9]
    )
    assert 0.72 <= metrics["coverage_80"] <= 0.88
    # Within 10% of the CRPS of the true next-step distribution N(last, 1).
    from rnnkit.evaluate.metrics import crps_gaussian

    truth = walks[3072:, 8]
    best = crps_gaussian(walks[3072:, 7], np.ones(1024), truth)
    assert metrics["crps"] == pytest.approx(best, rel=0.1)


# ----------------------------------------------------------------------------- end to end


def _config_dict(csv: Path, **model: object) -> dict:
    return {
        "name": "tiny-prob",
        "task": "forecasting",
        "data": {
            "dataset": str(csv),
            "date_column": "month",
            "target": "sales",
            "lookback": 12,
            "horizon": 3,
            "batch_size": 16,
        },
        "model": {"hidden_size": 6, **model},
        "train": {"max_epochs": 2, "progress_bar": False, "accelerator": "cpu"},
    }


@pytest.fixture(scope="module")
def quantile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rnnkit.engine.api import train

    folder = tmp_path_factory.mktemp("prob")
    t = np.arange(120)
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "month": pd.date_range("2000-01-01", periods=120, freq="MS").strftime("%Y-%m"),
            "sales": 10 + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 120),
        }
    ).to_csv(folder / "sales.csv", index=False)
    config = _config_dict(folder / "sales.csv", likelihood="quantile")
    return train(config, run_dir=folder / "run")


def test_metrics_json_holds_interval_metrics_for_model_and_baselines(quantile_run: Path) -> None:
    metrics = json.loads((quantile_run / "metrics.json").read_text())
    interval = {"coverage_80", "pinball", "crps"}
    for split in ("val", "test"):
        assert interval <= set(metrics[split])
        assert 0.0 <= metrics[split]["coverage_80"] <= 1.0
    for name in ("naive", "seasonal_naive", "holt_winters"):
        assert interval <= set(metrics["baselines"][name])
    # CRPS of a quantile head is 2 × its pinball loss at its own levels.
    assert metrics["test"]["crps"] == pytest.approx(2 * metrics["test"]["pinball"])
    assert set(metrics["test"]) <= set(get_spec("forecasting").metrics)


def test_forecast_has_ordered_80_percent_bounds_and_the_plot_is_written(
    quantile_run: Path, tmp_path: Path
) -> None:
    from rnnkit.tasks.forecasting.predictor import write_forecast

    frame, csv_path, png_path = write_forecast(quantile_run, output=tmp_path / "f.csv")
    assert list(frame.columns) == ["sales", "sales_lower_80", "sales_upper_80"]
    assert (frame["sales_lower_80"] <= frame["sales"]).all()
    assert (frame["sales"] <= frame["sales_upper_80"]).all()
    read = pd.read_csv(csv_path, index_col=0)
    np.testing.assert_allclose(read.to_numpy(), frame.to_numpy(), rtol=1e-6)
    assert png_path.is_file() and (quantile_run / "test_forecast.png").is_file()


# ----------------------------------------------------------------------------- with the data side


def _growing_sales(folder: Path) -> Path:
    """Monthly sales whose seasonal swings grow with the level, and a known promotion."""
    t = np.arange(120)
    rng = np.random.default_rng(3)
    promo = (t % 4 == 0).astype(float)
    sales = np.exp(2 + 0.02 * t + 0.2 * np.sin(2 * np.pi * t / 12) + 0.1 * promo)
    pd.DataFrame(
        {
            "month": pd.date_range("2000-01-01", periods=120, freq="MS").strftime("%Y-%m"),
            "sales": sales * np.exp(rng.normal(0, 0.02, 120)),
            "promo": promo,
        }
    ).to_csv(folder / "sales.csv", index=False)
    return folder / "sales.csv"


def test_a_log_quantile_forecast_is_in_the_data_units_and_brackets_the_point(
    tmp_path: Path,
) -> None:
    """The band is the head's quantiles unscaled and exponentiated, one by one."""
    import rnnkit
    from rnnkit.data.timeseries import scaler_from_json
    from rnnkit.engine.api import train

    config = _config_dict(_growing_sales(tmp_path), likelihood="quantile")
    config["data"]["transform"] = "log"
    run = train(config, run_dir=tmp_path / "run")
    predictor = rnnkit.load(run)
    frame = predictor.forecast()
    assert list(frame.columns) == ["sales", "sales_lower_80", "sales_upper_80"]
    assert (frame["sales_lower_80"] < frame["sales"]).all()
    assert (frame["sales"] < frame["sales_upper_80"]).all()
    # By hand: log of the last 12 months, scaled; quantiles unscaled, then exp.
    preprocess = run / "preprocess"
    history = json.loads((preprocess / "history.json").read_text())
    scaler = scaler_from_json(json.loads((preprocess / "scaler.json").read_text()))
    last = np.log(np.asarray(history["values"], dtype=np.float64)[-12:, :1])
    window = torch.tensor(np.asarray(scaler.transform(last)), dtype=torch.float32)[None]
    with torch.no_grad():
        params = predictor.model.distribution(window)[0, :, 0].double().numpy()  # (H, Q)
    logs = np.asarray(scaler.inverse_transform(params.reshape(-1, 1), columns=[0]))
    expected = np.exp(logs.reshape(3, 3))  # levels 0.1, 0.5, 0.9
    got = frame[["sales_lower_80", "sales", "sales_upper_80"]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # The data's units, not log units: the forecast is near the last observed level.
    assert 0.5 < frame["sales"].iloc[0] / history["values"][-1][0] < 2.0


def test_a_likelihood_with_differencing_is_refused() -> None:
    config = _config_dict(Path("x.csv"), likelihood="gaussian")
    config["data"]["difference"] = 1
    with pytest.raises(ConfigError, match=r"'gaussian' with data\.difference = 1: intervals"):
        load_config(config)
    config["model"]["likelihood"] = "none"
    assert load_config(config).data.difference == 1


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_known_future_covariates_with_a_gaussian_head_train_and_forecast(
    tmp_path: Path, strategy: str
) -> None:
    import rnnkit
    from rnnkit.engine.api import train

    config = _config_dict(_growing_sales(tmp_path), likelihood="gaussian", strategy=strategy)
    config["data"].update(future_covariates=["promo"], calendar=["month"], transform="log")
    run = train(config, run_dir=tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["coverage_80"] <= 1.0 and metrics["test"]["crps"] > 0
    predictor = rnnkit.load(run)
    assert predictor.model.future_size == 3  # promo and the month's sin/cos
    months = pd.date_range("2010-01-01", periods=3, freq="MS")
    plan = pd.DataFrame({"month": months.strftime("%Y-%m"), "promo": [1.0, 0.0, 0.0]})
    frame = predictor.forecast(future=plan)
    assert list(frame.index) == list(months)
    assert list(frame.columns) == ["sales", "sales_lower_80", "sales_upper_80"]
    assert (frame["sales_lower_80"] < frame["sales"]).all()
    assert (frame["sales"] < frame["sales_upper_80"]).all()
    other = predictor.forecast(future=plan.assign(promo=[0.0, 0.0, 1.0]))
    assert not np.allclose(other.to_numpy(), frame.to_numpy())
