"""The adding and copy tasks: data from the config, metrics against hand computations,
baselines, and the dataset/task pairing."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.data import synthetic
from rnnkit.errors import ConfigError
from rnnkit.tasks import get_spec
from rnnkit.tasks import load_config as load
from rnnkit.tasks.synthetic.task import AddingTask, CopyTask, copy_metrics, regression_metrics


def config(task: str, dataset: str, **data):
    return load(
        {
            "task": task,
            "seed": 4,
            "data": {"dataset": dataset, "train_samples": 40, "eval_samples": 20, **data},
            "model": {"hidden_size": 6},
        }
    )


def test_adding_task_prepares_the_configured_sequences(tmp_path) -> None:
    prepared = AddingTask().prepare(config("adding", "adding", length=15), tmp_path)
    assert prepared.info == {
        "dataset": "adding",
        "input_size": 2,
        "output_size": 1,
        "length": 15,
        "steps": 15,
    }
    inputs, targets = next(iter(prepared.test))
    expected = synthetic.generate_splits("adding", 15, 40, 20, seed=4)["test"]
    assert torch.equal(inputs, expected.inputs[: len(inputs)])
    assert torch.equal(targets, expected.targets[: len(targets)])


def test_adding_metrics_and_baselines(tmp_path) -> None:
    cfg = config("adding", "adding", length=10)
    task = AddingTask()
    prepared = task.prepare(cfg, tmp_path)
    model = get_spec(cfg.task).build_model(cfg, prepared.info)
    metrics = task.evaluate(cfg, model, prepared, "test")
    assert set(metrics) == {"loss", "mse", "rmse", "mae"}
    assert (tmp_path / "predictions.png").is_file()
    baselines = task.baselines(cfg, prepared, "test")
    truth = prepared.artifacts["splits"]["test"].targets.double()
    assert baselines["predict_mean"]["mse"] == pytest.approx(float(((truth - 1) ** 2).mean()))
    assert baselines["predict_mean_expected"] == {"mse": pytest.approx(1 / 6)}


def test_regression_metrics_by_hand() -> None:
    metrics = regression_metrics(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 1.0, 1.0]))
    assert metrics["mse"] == metrics["loss"] == pytest.approx((0 + 1 + 9) / 3)
    assert metrics["rmse"] == pytest.approx(math.sqrt(10 / 3))
    assert metrics["mae"] == pytest.approx(4 / 3)


def test_copy_metrics_of_a_perfect_and_a_memoryless_model() -> None:
    targets = synthetic.copy_task(8, 5, seed=0).targets  # (8, 25)
    perfect = torch.nn.functional.one_hot(targets, synthetic.COPY_VOCAB).float() * 50.0
    metrics = copy_metrics(perfect, targets)
    assert metrics["accuracy"] == 1.0 and metrics["loss"] < 1e-12
    memoryless = torch.full((8, 25, synthetic.COPY_VOCAB), -50.0)
    memoryless[:, :15, synthetic.COPY_BLANK] = 50.0
    memoryless[:, 15:, :8] = 0.0  # uniform over the 8 symbols
    assert copy_metrics(memoryless, targets)["loss"] == pytest.approx(
        synthetic.copy_baseline_loss(5), rel=1e-6
    )


def test_copy_task_builds_a_per_step_model(tmp_path) -> None:
    cfg = config("copy", "copy", length=4)
    task = CopyTask()
    prepared = task.prepare(cfg, tmp_path)
    model = get_spec(cfg.task).build_model(cfg, prepared.info)
    inputs, targets = next(iter(prepared.train))
    assert model(inputs).shape == (*targets.shape, synthetic.COPY_VOCAB)
    assert task.baselines(cfg, prepared, "test") == {
        "memoryless": {"loss": pytest.approx(10 * math.log(8) / 24), "accuracy": 0.125}
    }


def test_a_task_refuses_the_other_dataset(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"task adding runs on data.dataset='adding', got 'copy'"):
        AddingTask().prepare(config("adding", "copy"), tmp_path)
