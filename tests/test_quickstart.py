"""The offline quickstart: packaged config, summary table, and a short end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit.quickstart import comparison_rows, packaged_config_text, run
from rnnkit.tasks import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_config_is_the_top_level_copy() -> None:
    top_level = (ROOT / "configs" / "co2-quickstart.yaml").read_text(encoding="utf-8")
    assert packaged_config_text() == top_level


def test_packaged_config_is_valid_and_offline() -> None:
    config = load_config(ROOT / "configs" / "co2-quickstart.yaml")
    assert config.task == "forecasting" and config.data.dataset == "co2"
    assert config.model.cell == "lstm"


def test_comparison_rows_put_the_model_first() -> None:
    metrics = {
        "test": {"rmse": 1.0},
        "baselines": {"holt_winters": {"rmse": 3.0}, "naive": {"rmse": 2.0}},
    }
    labels = [label for label, _ in comparison_rows(metrics)]
    assert labels == ["LSTM", "naive (last value)", "Holt-Winters"]


@pytest.mark.slow
def test_quickstart_runs_offline_and_prints_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No network: any socket connection attempt fails the test.
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the quickstart tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    short = {"train.max_epochs": 1, "model.hidden_size": 8, "train.progress_bar": False}
    run_dir = run(tmp_path / "demo", overrides=short)
    printed = capsys.readouterr().out
    for label in ("LSTM", "naive (last value)", "seasonal naive", "Holt-Winters"):
        assert label in printed
    assert str(run_dir) in printed and "test_forecast.png" in printed
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["baselines"]) == {"naive", "seasonal_naive", "holt_winters"}
    point, interval = {"mae", "rmse", "mape", "smape", "mase"}, {"coverage_80", "pinball", "crps"}
    assert set(metrics["test"]) == point | interval
    assert "80% coverage" in printed
    assert (run_dir / "test_forecast.png").is_file()
    assert (run_dir / "model.safetensors").is_file()
