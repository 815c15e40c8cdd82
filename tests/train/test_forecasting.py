"""The forecasting task end to end on a tiny synthetic monthly series (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.engine.api import train
from rnnkit.errors import ConfigError, DataError, UserError


def _cli(args: list[str]) -> int:
    """Run the command line as the console script does; return its exit code."""
    try:
        main(args)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


LENGTH = 120  # months; 12 test rows, 12 validation rows, 96 training rows
TREND = 0.1


def _series(length: int = LENGTH) -> pd.DataFrame:
    t = np.arange(length)
    return pd.DataFrame(
        {
            "month": pd.date_range("2000-01-01", periods=length, freq="MS").strftime("%Y-%m"),
            "sales": 10 + TREND * t + 3 * np.sin(2 * np.pi * t / 12),
        }
    )


def _config(csv: Path, **model: object) -> dict:
    return {
        "name": "tiny",
        "task": "forecasting",
        "data": {
            "dataset": str(csv),
            "date_column": "month",
            "target": "sales",
            "lookback": 12,
            "horizon": 4,
            "batch_size": 16,
        },
        "model": {"hidden_size": 6, **model},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("series")
    _series().to_csv(folder / "sales.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def direct_run(data_dir: Path) -> Path:
    return train(_config(data_dir / "sales.csv"), run_dir=data_dir / "direct")


@pytest.fixture(scope="module")
def recursive_run(data_dir: Path) -> Path:
    config = _config(data_dir / "sales.csv", strategy="recursive", cell="gru")
    return train(config, run_dir=data_dir / "recursive")


def test_metrics_json_holds_the_model_and_three_baselines(direct_run: Path) -> None:
    metrics = json.loads((direct_run / "metrics.json").read_text())
    keys = {"mae", "rmse", "mape", "smape", "mase"}
    assert set(metrics["val"]) == keys and set(metrics["test"]) == keys
    assert set(metrics["baselines"]) == {"naive", "seasonal_naive", "holt_winters"}
    # Seasonal naive on trend + period-12 sine misses by exactly one year of trend.
    assert metrics["baselines"]["seasonal_naive"]["mae"] == pytest.approx(12 * TREND, rel=1e-4)
    # MASE scale: the in-sample seasonal naive error is the same 12 * TREND.
    assert metrics["baselines"]["seasonal_naive"]["mase"] == pytest.approx(1.0, rel=1e-4)
    # Holt-Winters models trend + season exactly.
    assert metrics["baselines"]["holt_winters"]["rmse"] < 0.05
    assert (direct_run / "test_forecast.png").read_bytes()[:4] == b"\x89PNG"


def test_scaler_is_fitted_on_the_training_part_only(direct_run: Path) -> None:
    scaler = json.loads((direct_run / "preprocess" / "scaler.json").read_text())
    train = _series()["sales"].to_numpy()[: LENGTH - 24]
    assert scaler["offset"][0] == pytest.approx(train.mean(), rel=1e-5)
    assert scaler["scale"][0] == pytest.approx(train.std(), rel=1e-5)


def test_forecast_round_trip_is_identical(direct_run: Path, data_dir: Path) -> None:
    first = rnnkit.load(direct_run).forecast()
    again = rnnkit.load(direct_run).forecast()
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == ["sales"] and len(first) == 4
    assert first.index[0] == pd.Timestamp("2010-01-01")  # the month after the data
    # The same series given as a file forecasts the same values.
    from_file = rnnkit.load(direct_run).forecast(series=data_dir / "sales.csv")
    pd.testing.assert_frame_equal(first, from_file)
    shorter = rnnkit.load(direct_run).forecast(horizon=2)
    np.testing.assert_allclose(shorter.to_numpy(), first.to_numpy()[:2])


def test_forecast_inputs_are_validated(direct_run: Path, tmp_path: Path) -> None:
    predictor = rnnkit.load(direct_run)
    with pytest.raises(DataError, match="has 8 rows; the model needs at least lookback = 12"):
        predictor.forecast(series=_series(8))
    with pytest.raises(UserError, match="sales"):
        predictor.forecast(series=_series().rename(columns={"sales": "revenue"}))
    weekly = _series(30).assign(month=pd.date_range("2000-01-01", periods=30, freq="W-SUN"))
    with pytest.raises(DataError, match="frequency 'W-SUN'; the model was trained on 'MS'"):
        predictor.forecast(series=weekly)
    with pytest.raises(ConfigError, match=r"horizon=5 is beyond the 4 steps .* at most 4, or"):
        predictor.forecast(horizon=5)
    with pytest.raises(DataError, match="not found"):
        predictor.forecast(series=tmp_path / "missing.csv")


def test_recursive_forecaster_forecasts_any_horizon(recursive_run: Path) -> None:
    predictor = rnnkit.load(recursive_run)
    long = predictor.forecast(horizon=10)
    assert long.shape == (10, 1) and np.isfinite(long.to_numpy()).all()
    # The first steps do not depend on how far the forecast goes.
    np.testing.assert_allclose(predictor.forecast(horizon=4).to_numpy(), long.to_numpy()[:4])


def test_forecast_command_prints_and_writes_csv_and_png(
    direct_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "f.csv"
    assert _cli(["forecast", str(direct_run), "--horizon", "3", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    written = pd.read_csv(out, index_col=0)
    assert list(written.columns) == ["sales"] and len(written) == 3
    assert f"{written['sales'].iloc[0]:.4f}"[:5] in printed
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_forecast_command_without_the_plot_imports_no_matplotlib(
    direct_run: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    out = tmp_path / "f.csv"
    script = (
        "import sys\n"
        "from rnnkit.cli import main\n"
        "try:\n"
        f"    main(['forecast', {str(direct_run)!r}, '--output', {str(out)!r}, '--no-plot'])\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"
    assert f"wrote {out}" in done.stdout and ".png" not in done.stdout
    assert out.is_file() and not out.with_suffix(".png").exists()


def test_forecast_command_errors_exit_2(direct_run: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    _series(5).to_csv(short, index=False)
    assert _cli(["forecast", str(direct_run), "--input", str(short)]) == 2


def test_a_horizon_longer_than_the_test_part_is_a_clear_error(data_dir: Path) -> None:
    config = _config(data_dir / "sales.csv")
    config["data"]["horizon"] = 20
    with pytest.raises(UserError, match="fewer than horizon=20"):
        train(config, run_dir=data_dir / "too-long")


def test_evaluation_origins_are_thinned_evenly() -> None:
    from rnnkit.tasks.forecasting.task import MAX_EVAL_ORIGINS, SeriesParts, test_origins

    length = 10_000
    parts = SeriesParts(
        index=pd.RangeIndex(length),
        values=np.zeros((length, 1), np.float32),
        columns=["y"],
        target_columns=["y"],
        frequency=None,
        train_end=8000,
        valid_end=9000,
    )
    origins = test_origins(parts, 5, "test")
    assert origins[0] == 9000 and origins[-1] <= length - 5
    assert len(origins) <= MAX_EVAL_ORIGINS and set(np.diff(origins)) == {3}
    assert test_origins(parts, 5, "val").tolist() == list(range(8000, 8996, 3))


def test_a_missing_target_is_a_clear_error(data_dir: Path) -> None:
    config = _config(data_dir / "sales.csv")
    del config["data"]["target"]
    with pytest.raises(UserError, match=r"data.target is required: .*\(month, sales\)"):
        train(config, run_dir=data_dir / "no-target")


def test_evaluate_reloads_the_run_and_gives_the_same_metrics(direct_run: Path) -> None:
    from rnnkit.engine.api import evaluate

    saved = json.loads((direct_run / "metrics.json").read_text())
    again = evaluate(direct_run, "test")
    for name, value in saved["test"].items():
        assert again["test"][name] == pytest.approx(value, rel=1e-6)
    assert again["baselines"]["holt_winters"] == pytest.approx(saved["baselines"]["holt_winters"])
