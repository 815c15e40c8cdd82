"""Many series in one long table: one global model, per-series scaling and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnnkit
from rnnkit.engine.api import train
from rnnkit.errors import DataError

DAYS = 120
LEVELS = {"north": 10.0, "south": 1000.0, "west": 100.0}


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    days = pd.date_range("2024-01-01", periods=DAYS, freq="D").strftime("%Y-%m-%d")
    t = np.arange(DAYS)
    frames = []
    for name, level in LEVELS.items():
        values = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7)) + rng.normal(0, level / 100, DAYS)
        frames.append(pd.DataFrame({"store": name, "day": days, "visits": values}))
    return pd.concat(frames[::-1], ignore_index=True)  # ids out of order on purpose


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("panel")
    _panel().to_csv(folder / "panel.csv", index=False)
    config = {
        "name": "panel",
        "task": "forecasting",
        "data": {
            "dataset": str(folder / "panel.csv"),
            "series_column": "store",
            "target": "visits",
            "lookback": 14,
            "horizon": 7,
            "batch_size": 32,
        },
        "model": {"hidden_size": 6},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
    return train(config, run_dir=folder / "run")


def test_each_series_is_scaled_on_its_own_training_part(panel_run: Path) -> None:
    saved = json.loads((panel_run / "preprocess" / "panel.json").read_text())
    assert sorted(saved) == sorted(LEVELS)
    frame = _panel()
    for name, entry in saved.items():
        values = frame.loc[frame["store"] == name, "visits"].to_numpy()
        train_end = DAYS - 12 - 12  # 10% validation, 10% test of 120 rows
        assert entry["scaler"]["offset"][0] == pytest.approx(values[:train_end].mean(), rel=1e-5)


def test_metrics_overall_and_per_series(panel_run: Path) -> None:
    metrics = json.loads((panel_run / "metrics.json").read_text())
    table = json.loads((panel_run / "test_series.json").read_text())
    assert set(table["model"]) == set(LEVELS)
    assert set(table["baselines"]) == {"naive", "seasonal_naive", "holt_winters"}
    per_series = table["model"].values()
    # Every series has as many test windows, so the pooled MAE and MASE are the means of
    # the per-series ones (MASE: of the errors each scaled by its own series' scale).
    assert metrics["test"]["mae"] == pytest.approx(np.mean([m["mae"] for m in per_series]))
    assert metrics["test"]["mase"] == pytest.approx(np.mean([m["mase"] for m in per_series]))
    naive = table["baselines"]["naive"].values()
    assert metrics["baselines"]["naive"]["mase"] == pytest.approx(
        np.mean([m["mase"] for m in naive])
    )


def test_forecast_every_series(panel_run: Path, tmp_path: Path) -> None:
    predictor = rnnkit.load(panel_run)
    forecast = predictor.forecast()
    assert sorted(forecast["store"].unique()) == sorted(LEVELS)
    assert len(forecast) == 3 * 7
    south = forecast.loc[forecast["store"] == "south", "visits"]
    north = forecast.loc[forecast["store"] == "north", "visits"]
    assert south.mean() > 30 * north.mean()  # each series back in its own units
    unknown = _panel().assign(store="east").iloc[:40]
    with pytest.raises(DataError, match="series 'east' is not one the model was trained on"):
        predictor.forecast(series=unknown)
    again = predictor.forecast(series=_panel())
    np.testing.assert_allclose(
        again.sort_values(["store"]).visits.to_numpy(),
        forecast.sort_values(["store"]).visits.to_numpy(),
        rtol=1e-5,
    )


def test_a_panel_with_known_future_covariates(tmp_path: Path) -> None:
    frame = _panel()
    frame["promo"] = (np.arange(len(frame)) % 5 == 0).astype(float)
    frame.to_csv(tmp_path / "panel.csv", index=False)
    config = {
        "name": "panel-future",
        "task": "forecasting",
        "data": {
            "dataset": str(tmp_path / "panel.csv"),
            "series_column": "store",
            "target": "visits",
            "future_covariates": ["promo"],
            "calendar": ["day_of_week"],
            "lookback": 14,
            "horizon": 7,
            "batch_size": 32,
        },
        "model": {"hidden_size": 6},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
    run = train(config, run_dir=tmp_path / "run")
    info = json.loads((run / "preprocess" / "info.json").read_text())
    assert info["future_size"] == 3 and info["series"] == sorted(LEVELS)
    predictor = rnnkit.load(run)
    days = pd.date_range("2024-04-30", periods=7, freq="D").strftime("%Y-%m-%d")
    plan = pd.concat([pd.DataFrame({"store": name, "day": days, "promo": 1.0}) for name in LEVELS])
    forecast = predictor.forecast(future=plan)
    assert len(forecast) == 21 and forecast.index[0] == pd.Timestamp("2024-04-30")
    with pytest.raises(DataError, match="needs the future covariates promo"):
        predictor.forecast(future=plan[plan["store"] != "west"])


def test_a_panel_with_a_quantile_head_scores_and_forecasts_intervals(tmp_path: Path) -> None:
    from rnnkit.errors import ConfigError
    from rnnkit.tasks.forecasting.backtest import backtest

    _panel().to_csv(tmp_path / "panel.csv", index=False)
    config = {
        "name": "panel-quantile",
        "task": "forecasting",
        "data": {
            "dataset": str(tmp_path / "panel.csv"),
            "series_column": "store",
            "target": "visits",
            "transform": "log",
            "lookback": 14,
            "horizon": 7,
            "batch_size": 32,
        },
        "model": {"hidden_size": 6, "likelihood": "quantile"},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
    run = train(config, run_dir=tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    table = json.loads((run / "test_series.json").read_text())["model"]
    # Every series has as many test windows: the overall figures are the series' means.
    for key in ("coverage_80", "pinball", "crps"):
        assert metrics["test"][key] == pytest.approx(np.mean([m[key] for m in table.values()]))
    forecast = rnnkit.load(run).forecast()
    assert list(forecast.columns) == ["visits", "visits_lower_80", "visits_upper_80", "store"]
    assert (forecast["visits_lower_80"] <= forecast["visits"]).all()
    assert (forecast["visits"] <= forecast["visits_upper_80"]).all()
    south = forecast[forecast["store"] == "south"]
    north = forecast[forecast["store"] == "north"]
    # Each series' band is in its own units (south is 100 times north).
    width = south["visits_upper_80"] - south["visits_lower_80"]
    assert width.mean() > 30 * (north["visits_upper_80"] - north["visits_lower_80"]).mean()
    with pytest.raises(ConfigError, match=r"is a panel run .*'store'.*runs of one series"):
        backtest(run)
