"""What a run records besides its metrics: run.json (parameters, time, epochs, versions),
and what TensorBoard and MLflow receive (learning rate, final metrics, hparams), read
back from their own files."""

from __future__ import annotations

import importlib.util
import json
import platform
import warnings
from pathlib import Path

import lightning
import pytest
import torch

import rnnkit
from rnnkit.engine.api import check_settings, train
from rnnkit.engine.record import RUN_FILE, best_epoch, read_record
from rnnkit.engine.trainer import final_scalars
from rnnkit.errors import ConfigError
from rnnkit.tasks import get_spec, load_config


def _train(folder: Path, overrides: dict) -> Path:
    config = get_spec("forecasting").tiny_config(folder)
    config["train"]["max_epochs"] = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(config, overrides=overrides, run_dir=folder / "run")


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("tb"), {})


def test_run_json_is_written_and_read_back(tensorboard_run: Path) -> None:
    record = read_record(tensorboard_run)
    assert record == json.loads((tensorboard_run / RUN_FILE).read_text())
    model = rnnkit.load(tensorboard_run).model
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert record["parameters_total"] == record["parameters"]
    assert record["epochs"] == 3 and record["max_epochs"] == 3
    assert record["stopped_early"] is False and record["sessions"] == 1
    assert record["training_seconds"] > 0 and record["evaluation_seconds"] > 0
    assert record["versions"] == {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "rnnkit": rnnkit.__version__,
    }
    # The best epoch is the one with the lowest val/loss in the CSV log.
    rows = [
        line.split(",")
        for line in (tensorboard_run / "csv" / "metrics.csv").read_text().splitlines()
    ]
    header = rows[0]
    losses = {
        int(row[header.index("epoch")]) + 1: float(row[header.index("val/loss")])
        for row in rows[1:]
        if row[header.index("val/loss")]
    }
    assert sorted(losses) == [1, 2, 3]
    best = min(losses, key=losses.get)
    assert record["best"] == {
        "monitor": "val/loss",
        "mode": "min",
        "epoch": best,
        "value": pytest.approx(losses[best]),
    }
    assert record["final_weights_epoch"] == 3  # no early stopping: the last epoch's weights


def test_best_epoch_follows_the_mode(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,val/accuracy,train/loss_epoch\n0,4,0.5,\n0,4,,1.0\n1,9,0.8,\n2,14,0.7,\n"
    )
    assert best_epoch(tmp_path, "val/accuracy", "max")["epoch"] == 2
    assert best_epoch(tmp_path, "val/accuracy", "min")["epoch"] == 1
    assert best_epoch(tmp_path, "val/loss", "min") is None
    assert best_epoch(tmp_path / "nowhere", "val/loss", "min") is None


def _tensorboard(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_has_learning_rate_test_metrics_and_hparams(tensorboard_run: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = _tensorboard(tensorboard_run)
    tags = accumulator.Tags()["scalars"]
    rates = [event.value for event in accumulator.Scalars("lr-Adam")]
    assert rates and all(rate == pytest.approx(1e-3) for rate in rates)  # the configured lr
    metrics = json.loads((tensorboard_run / "metrics.json").read_text())
    for name, value in metrics["test"].items():
        assert f"test/{name}" in tags
        assert accumulator.Scalars(f"test/{name}")[-1].value == pytest.approx(value, rel=1e-6)
    assert accumulator.Scalars("final_val/rmse")[-1].value == pytest.approx(
        metrics["val"]["rmse"], rel=1e-6
    )
    content = accumulator.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    declared = {info.name.tag for info in experiment.experiment.metric_infos}
    assert {f"test/{name}" for name in metrics["test"]} <= declared
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = session.session_start_info.hparams
    assert hparams["model.hidden_size"].number_value == 8
    assert hparams["data.lookback"].number_value == 14
    assert hparams["train.optimizer.name"].string_value == "adam"


def test_final_scalars_name_the_split() -> None:
    scalars = final_scalars(
        {"val": {"loss": 1.5}, "test": {"rmse": 0.25, "n": 3}, "baselines": {"naive": {"x": 1}}}
    )
    assert scalars == {"final_val/loss": 1.5, "test/rmse": 0.25, "test/n": 3.0}


def test_logger_none_writes_no_tensorboard_but_the_csv_log(tmp_path: Path) -> None:
    run_dir = _train(tmp_path, {"train.logger": "none", "train.max_epochs": 1})
    assert not (run_dir / "tensorboard").exists()
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "lr-Adam" in header and "val/loss" in header
    assert read_record(run_dir)["logger"] == "none"


def test_mlflow_without_mlflow_installed_is_a_config_error(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    config = load_config({"task": "adding", "data": {"dataset": "adding"}}, ["train.logger=mlflow"])
    with pytest.raises(ConfigError, match=r"'train.logger' = 'mlflow' needs MLflow: pip install"):
        check_settings(config)


@pytest.mark.slow  # importing MLflow takes several seconds
def test_mlflow_logger_writes_params_and_metrics_to_a_local_store(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    run_dir = _train(tmp_path, {"train.logger": "mlflow"})
    assert not (run_dir / "tensorboard").exists()
    store = run_dir / "mlruns"
    assert store.is_dir()  # the default: a file store inside the run directory
    client = MlflowClient(f"file:{store.resolve()}")
    record = read_record(run_dir)
    run = client.get_run(record["mlflow_run_id"])
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "tiny-forecasting"
    assert run.data.params["model.hidden_size"] == "8"
    assert run.data.params["data.lookback"] == "14"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name, value in metrics["test"].items():
        assert run.data.metrics[f"test/{name}"] == pytest.approx(value, rel=1e-6)
    rates = client.get_metric_history(run.info.run_id, "lr-Adam")
    assert rates and all(point.value == pytest.approx(1e-3) for point in rates)
    assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 3
