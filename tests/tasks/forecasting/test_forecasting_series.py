"""The data side of forecasting: time axis, target transforms undone for metrics, calendar
and known-future covariates in the windows, forecasts with future covariates."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rnnkit
from rnnkit.engine.api import train
from rnnkit.errors import DataError
from rnnkit.tasks import load_config
from rnnkit.tasks.forecasting.model import build_model
from rnnkit.tasks.forecasting.task import ForecastingTask

DAYS = 140


def _visits(drop: tuple[int, ...] = (), blank: tuple[int, ...] = ()) -> pd.DataFrame:
    """Daily store visits: a trend, a weekly pattern and promotions (known in advance)."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    promo = (rng.random(DAYS) < 0.25).astype(float)
    visits = 50 + 0.1 * np.arange(DAYS) + 8 * (days.day_of_week >= 5) + 10 * promo
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "visits": visits, "promo": promo})
    frame.loc[list(blank), "visits"] = np.nan
    return frame.drop(index=list(drop)).reset_index(drop=True)


def _config(csv: Path, **data: object) -> dict:
    return {
        "name": "visits",
        "task": "forecasting",
        "data": {
            "dataset": str(csv),
            "target": "visits",
            "lookback": 14,
            "horizon": 7,
            "batch_size": 16,
            **data,
        },
        "model": {"hidden_size": 6},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("visits")
    _visits(drop=(20, 21, 60), blank=(5, 6)).to_csv(folder / "visits.csv", index=False)
    return folder


def _prepared(config: dict, run_dir: Path) -> tuple[object, object, ForecastingTask]:
    task = ForecastingTask()
    resolved = load_config(config)
    return resolved, task.prepare(resolved, run_dir), task


def test_the_date_column_is_found_and_gaps_are_inserted(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        _, prepared, _ = _prepared(_config(folder / "visits.csv"), tmp_path)
    assert "using 'day', which parses as dates" in caplog.text
    assert "3 missing timestamps inserted" in caplog.text
    assert "2 blank values filled by interpolate (visits 2" in caplog.text
    parts = prepared.artifacts["parts"]
    assert len(parts.values) == DAYS  # 137 rows read, 3 missing days inserted
    assert prepared.info["frequency"] == "D" and prepared.info["season_length"] == 7


@pytest.mark.parametrize("transform", ["log", "boxcox"])
def test_transforms_are_undone_for_the_metrics(
    folder: Path, tmp_path: Path, transform: str
) -> None:
    """With a zero head the model repeats the last transformed value: undone, that is the
    naive forecast, so its metrics must equal the naive baseline's."""
    config, prepared, task = _prepared(
        _config(folder / "visits.csv", transform=transform), tmp_path
    )
    model = build_model(config, prepared.info)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    metrics = task.evaluate(config, model, prepared, "test")
    naive = task.baselines(config, prepared, "test")["naive"]
    for name in ("mae", "rmse", "mase"):
        assert metrics[name] == pytest.approx(naive[name], rel=1e-4)
    saved = json.loads((tmp_path / "preprocess" / "transform.json").read_text())
    assert saved["type"] == transform
    if transform == "boxcox":
        from scipy import stats

        parts = prepared.artifacts["parts"]
        expected = stats.boxcox(parts.values[: parts.train_end, 0].astype(np.float64))[1]
        assert saved["lambdas"][0] == pytest.approx(expected, rel=1e-5)


def test_a_difference_is_undone_step_by_step(folder: Path, tmp_path: Path) -> None:
    """Zero head on first differences: each step repeats the last difference, so the
    forecast from origin o is y[o-1] + (h + 1) (y[o-1] - y[o-2])."""
    config, prepared, task = _prepared(_config(folder / "visits.csv", difference=1), tmp_path)
    model = build_model(config, prepared.info)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    predicted, actual = task.forecasts(config, model, prepared, "test")
    parts = prepared.artifacts["parts"]
    from rnnkit.tasks.forecasting.task import test_origins

    origins = test_origins(parts, 7, "test")
    y = parts.values[:, 0].astype(np.float64)
    drift = y[origins - 1] - y[origins - 2]
    expected = y[origins - 1, None] + (np.arange(7) + 1)[None] * drift[:, None]
    np.testing.assert_allclose(predicted[..., 0], expected, rtol=1e-4)
    np.testing.assert_allclose(actual[..., 0], y[origins[:, None] + np.arange(7)])


def test_log_of_a_zero_names_the_row(tmp_path: Path) -> None:
    frame = _visits()
    frame.loc[100, "visits"] = 0.0
    frame.to_csv(tmp_path / "zero.csv", index=False)
    with pytest.raises(DataError, match=r"column 'visits', row 101 \(2024-04-10"):
        _prepared(_config(tmp_path / "zero.csv", transform="log"), tmp_path / "run")


def test_windows_carry_the_known_future_columns_only(folder: Path, tmp_path: Path) -> None:
    config = _config(folder / "visits.csv", future_covariates=["promo"], calendar=["day_of_week"])
    _, prepared, _ = _prepared(config, tmp_path)
    info = prepared.info
    assert info["columns"] == ["visits", "promo", "day_of_week_sin", "day_of_week_cos"]
    assert info["future_size"] == 3
    scaled = prepared.artifacts["scaled"]
    inputs, targets = next(iter(prepared.test))
    assert inputs.shape[1:] == (14 + 7, 4) and targets.shape[1:] == (7, 1)
    from rnnkit.tasks.forecasting.task import test_origins

    origin = int(test_origins(prepared.artifacts["parts"], 7, "test")[0])
    np.testing.assert_allclose(inputs[0, :14], scaled[origin - 14 : origin])
    # The rows after the window: the future columns as scaled, nothing of the target.
    np.testing.assert_allclose(inputs[0, 14:, 1:], scaled[origin : origin + 7, 1:])
    assert torch.count_nonzero(inputs[0, 14:, 0]) == 0
    np.testing.assert_allclose(targets[0, :, 0], scaled[origin : origin + 7, 0])


def test_calendar_features_need_dates(tmp_path: Path) -> None:
    from rnnkit.errors import ConfigError

    _visits().drop(columns="day").to_csv(tmp_path / "plain.csv", index=False)
    with pytest.raises(ConfigError, match="calendar features need dates"):
        _prepared(_config(tmp_path / "plain.csv", calendar=["month"]), tmp_path / "run")


@pytest.fixture(scope="module")
def future_run(folder: Path) -> Path:
    config = _config(folder / "visits.csv", future_covariates=["promo"], calendar=["day_of_week"])
    config["data"]["transform"] = "log"
    return train(config, run_dir=folder / "future-run")


def test_forecast_takes_the_future_covariates(future_run: Path, tmp_path: Path) -> None:
    predictor = rnnkit.load(future_run)
    dates = pd.date_range("2024-05-20", periods=7, freq="D")  # the 7 days after the data
    future = pd.DataFrame({"day": dates.strftime("%Y-%m-%d"), "promo": [1, 0, 0, 1, 0, 0, 0]})
    forecast = predictor.forecast(future=future)
    assert list(forecast.index) == list(dates) and forecast["visits"].gt(0).all()
    # The same steps as trailing input rows with a blank target give the same forecast.
    history = _visits(drop=(20, 21, 60), blank=(5, 6))
    ahead = future.assign(visits=np.nan)
    combined = pd.concat([history, ahead[["day", "visits", "promo"]]], ignore_index=True)
    again = predictor.forecast(series=combined)
    np.testing.assert_allclose(again.to_numpy(), forecast.to_numpy(), rtol=1e-5)
    # Promotions matter to the forecast: another schedule gives another forecast.
    other = predictor.forecast(future=future.assign(promo=0))
    assert not np.allclose(other.to_numpy(), forecast.to_numpy())
    with pytest.raises(DataError, match="needs the future covariates promo for the 7 steps"):
        predictor.forecast()
    with pytest.raises(
        DataError, match="for 3 of the 7 forecast steps; the first missing one is 2024-05-23"
    ):
        predictor.forecast(future=future.iloc[:3])


def test_forecast_command_takes_a_future_csv(future_run: Path, tmp_path: Path) -> None:
    from rnnkit.cli import main

    dates = pd.date_range("2024-05-20", periods=7, freq="D").strftime("%Y-%m-%d")
    plan = tmp_path / "plan.csv"
    pd.DataFrame({"day": dates, "promo": [0, 1, 0, 0, 0, 0, 1]}).to_csv(plan, index=False)
    out = tmp_path / "out.csv"
    try:
        main(["forecast", str(future_run), "--future", str(plan), "--output", str(out)])
    except SystemExit as stop:
        assert not stop.code
    written = pd.read_csv(out)
    assert list(written["time"]) == [f"{d}" for d in dates] and len(written) == 7
    expected = rnnkit.load(future_run).forecast(future=plan)
    np.testing.assert_allclose(written["visits"], expected["visits"], rtol=1e-5)
