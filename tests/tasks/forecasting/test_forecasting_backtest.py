"""Rolling-origin backtests: the same numbers as evaluation at the same origins, no
retraining unless asked, a refit per origin when asked, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.errors import ConfigError
from rnnkit.tasks import get_spec
from rnnkit.tasks.forecasting import backtest as backtest_module
from rnnkit.tasks.forecasting.backtest import BACKTEST_FILE, backtest


def _cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rnnkit.engine.api import train

    folder = tmp_path_factory.mktemp("backtest")
    config = get_spec("forecasting").tiny_config(folder)
    config["model"]["likelihood"] = "gaussian"
    return train(config, run_dir=folder / "run")


def test_every_origin_without_refit_reproduces_the_test_evaluation(run: Path, monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("a backtest without --refit must not train")

    monkeypatch.setattr(backtest_module, "refit_model", no_training)
    weights = (run / "model.safetensors").read_bytes()
    result = backtest(run, stride=1)
    metrics = json.loads((run / "metrics.json").read_text())
    # The test part is the last 12 rows of 120 (0.1): 10 origins of 3 steps, one row apart.
    assert len(result["origins"]) == 10 and result["refit"] is False
    aggregate = result["aggregate"]
    for key, value in metrics["test"].items():
        assert aggregate["model"][key] == pytest.approx(value, rel=1e-5), key
    for name, values in metrics["baselines"].items():
        for key, value in values.items():
            assert aggregate[name][key] == pytest.approx(value, rel=1e-5, abs=1e-9), (name, key)
    assert (run / "model.safetensors").read_bytes() == weights
    written = json.loads((run / BACKTEST_FILE).read_text())
    assert written["aggregate"] == aggregate and written["stride"] == 1


def test_per_origin_metrics_are_each_origins_own(run: Path) -> None:
    result = backtest(run, stride=5, horizon=2)
    indices = [o["index"] for o in result["origins"]]
    assert indices == [108, 113, 118]  # 118 + 2 steps reach the end (120 rows)
    first = result["origins"][0]
    assert set(first) >= {"origin", "index", "model", "naive", "seasonal_naive", "holt_winters"}
    # Pooled MAE over origins of equal length is the mean of the per-origin MAEs.
    mean = sum(o["model"]["mae"] for o in result["origins"]) / 3
    assert result["aggregate"]["model"]["mae"] == pytest.approx(mean)


def test_refit_trains_one_model_per_origin_and_refits_the_baselines(run: Path, monkeypatch) -> None:
    calls: list[tuple[int, int]] = []
    original = backtest_module.refit_model

    def counting(config, info, scaled, fit_end, origin, first=0):
        calls.append((fit_end, origin))
        return original(config, info, scaled, fit_end, origin, first)

    monkeypatch.setattr(backtest_module, "refit_model", counting)
    refit = backtest(run, stride=9, refit=True)
    plain = backtest(run, stride=9)
    # Validation is 12 rows (0.1 of 120): each refit trains up to 12 rows before its origin.
    assert calls == [(96, 108), (105, 117)]
    # At the first origin the refitted baselines are fitted where the run's were.
    for name in ("naive", "seasonal_naive", "holt_winters"):
        assert refit["origins"][0][name] == pytest.approx(plain["origins"][0][name])
    assert refit["origins"][1]["holt_winters"] != plain["origins"][1]["holt_winters"]


def test_a_direct_forecaster_cannot_backtest_beyond_its_horizon(run: Path) -> None:
    with pytest.raises(ConfigError, match=r"--horizon 5 is beyond the 3 steps .* at most 3, or"):
        backtest(run, horizon=5)
    with pytest.raises(ConfigError, match="--stride 0 must be at least 1"):
        backtest(run, stride=0)


def test_backtest_command_prints_the_table_and_writes_json(run: Path, capsys) -> None:
    assert _cli(["backtest", str(run), "--stride", "6"]) == 0
    out = capsys.readouterr().out
    assert "2 origins, horizon 3, stride 6, no retraining" in out
    for name in ("rnnkit", "naive", "seasonal_naive", "holt_winters", "coverage_80", "crps"):
        assert name in out
    assert f"wrote {run / BACKTEST_FILE}" in out
    assert _cli(["backtest", str(run), "--horizon", "9"]) == 2


def test_a_log_run_with_known_future_covariates_backtests_as_it_evaluates(
    tmp_path: Path,
) -> None:
    """The windows carry the calendar rows after each origin and the quantiles go back
    through the log: at every test origin the backtest gives metrics.json's numbers."""
    from rnnkit.engine.api import train

    config = get_spec("forecasting").tiny_config(tmp_path)
    config["data"].update(transform="log", calendar=["day_of_week"])
    config["model"]["likelihood"] = "quantile"
    run = train(config, run_dir=tmp_path / "run")
    result = backtest(run, stride=1)
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(result["origins"]) == 10
    for key, value in metrics["test"].items():
        assert result["aggregate"]["model"][key] == pytest.approx(value, rel=1e-5), key
