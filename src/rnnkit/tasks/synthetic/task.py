"""Long-range synthetic tasks: the adding problem and the copy memory task.

Two tasks over the generated datasets of :mod:`rnnkit.data.synthetic`:

* ``adding`` (many-to-one, MSE): the adding problem. The model reads the
  whole sequence and a linear head maps the last output to one number. Metrics ``mse``
  (also ``loss``), ``rmse`` and ``mae``, beside the input-blind predictor that always
  answers the target's mean 1 (expected MSE exactly 1/6).
* ``copy`` (many-to-many classification, cross-entropy): the copy task. A
  linear head maps the output at every step to class logits. Metrics ``loss`` (mean
  cross-entropy over all T + 20 steps, the unit of Arjovsky et al. 2016) and ``accuracy``
  on the 10 recalled symbols, beside the memoryless baseline 10·log(8)/(T+20).

``data.length`` is T, ``data.train_samples`` and ``data.eval_samples`` the split sizes,
and ``seed`` the generator's seed: the same config always sees the same sequences.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.config import Config
from rnnkit.data import synthetic
from rnnkit.data.batches import shuffled_loader
from rnnkit.errors import ConfigError
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData

log = logging.getLogger(__name__)

PREDICTIONS_PLOT = "predictions.png"


class RegressionModule(RecurrentModule):
    """Mean squared error of one prediction per sequence."""

    def step_loss(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch  # (B, T, F), (B,)
        loss = nn.functional.mse_loss(self.model(inputs).squeeze(-1), targets)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        loss = nn.functional.mse_loss(self.model(inputs).squeeze(-1), targets)
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=inputs.shape[0])
        return loss


class LabelingModule(RecurrentModule):
    """Cross-entropy of the class at every step, averaged over all steps."""

    def step_loss(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch  # (B, T, F), (B, T)
        logits = self.model(inputs)  # (B, T, C)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        logits = self.model(inputs)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        recalled = (
            logits[:, -synthetic.COPY_LENGTH :].argmax(-1) == targets[:, -synthetic.COPY_LENGTH :]
        )
        size = inputs.shape[0]
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=size)
        self.log("val/accuracy", recalled.float().mean(), on_epoch=True, batch_size=size)
        return loss


class _SyntheticTask:
    """Generation, loaders and model building shared by the two synthetic tasks."""

    task_name: str

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        data = config.data
        expected = self.task_name  # each task runs on the dataset of its name
        if data.dataset != expected:
            raise ConfigError(
                f"task {self.task_name} runs on data.dataset={expected!r}, got {data.dataset!r}"
            )
        splits = synthetic.generate_splits(
            expected, data.length, data.train_samples, data.eval_samples, config.seed
        )
        eval_batch = data.eval_batch_size or data.batch_size

        def loader(split: str, shuffle: bool) -> DataLoader:
            generated = splits[split]
            dataset = TensorDataset(generated.inputs, generated.targets)
            if shuffle:
                return shuffled_loader(
                    dataset, data.batch_size, config.seed, num_workers=data.num_workers
                )
            return DataLoader(dataset, batch_size=eval_batch, num_workers=data.num_workers)

        train = splits["train"]
        info = {
            "dataset": expected,
            "input_size": int(train.inputs.shape[-1]),
            "output_size": 1 if expected == "adding" else synthetic.COPY_VOCAB,
            "length": data.length,
            "steps": int(train.inputs.shape[1]),
        }
        log.info(
            "%s: T=%d, train/valid/test = %d/%d/%d sequences",
            expected,
            data.length,
            len(train),
            len(splits["val"]),
            len(splits["test"]),
        )
        return PreparedData(
            train=loader("train", True),
            val=loader("val", False),
            test=loader("test", False),
            info=info,
            artifacts={"splits": splits, "run_dir": Path(run_dir)},
        )

    def _outputs(self, model: nn.Module, loader: Any) -> tuple[Tensor, Tensor]:
        model.eval()
        outputs, targets = [], []
        with torch.no_grad():
            for inputs, target in loader:
                outputs.append(model(inputs))
                targets.append(target)
        return torch.cat(outputs), torch.cat(targets)


class AddingTask(_SyntheticTask):
    """:class:`rnnkit.tasks.spec.Task` for ``task: adding``."""

    task_name = "adding"

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        return RegressionModule(model, config.train)

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        predicted, truth = self._outputs(model, prepared.val if split == "val" else prepared.test)
        predicted = predicted.squeeze(-1)
        if split == "test":
            _plot_adding(predicted.numpy(), truth.numpy(), prepared.artifacts["run_dir"])
        return regression_metrics(predicted, truth)

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        truth = prepared.artifacts["splits"][split].targets
        # The best input-blind prediction is the target's mean, 1; its expected MSE is 1/6.
        measured = regression_metrics(torch.ones_like(truth), truth)
        return {
            "predict_mean": measured,
            "predict_mean_expected": {"mse": synthetic.ADDING_BASELINE_MSE},
        }


class CopyTask(_SyntheticTask):
    """:class:`rnnkit.tasks.spec.Task` for ``task: copy``."""

    task_name = "copy"

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        return LabelingModule(model, config.train)

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        logits, targets = self._outputs(model, prepared.val if split == "val" else prepared.test)
        metrics = copy_metrics(logits, targets)
        if split == "test":
            _plot_copy(logits, targets, prepared.artifacts["run_dir"])
        return metrics

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        return {
            "memoryless": {
                "loss": synthetic.copy_baseline_loss(config.data.length),
                "accuracy": 1.0 / synthetic.COPY_SYMBOLS,
            }
        }


def regression_metrics(predicted: Tensor, truth: Tensor) -> dict[str, float]:
    """``loss`` (= ``mse``), ``mse``, ``rmse`` and ``mae`` of predictions (N,)."""
    errors = predicted.double() - truth.double()
    mse = float((errors**2).mean())
    return {"loss": mse, "mse": mse, "rmse": math.sqrt(mse), "mae": float(errors.abs().mean())}


def copy_metrics(logits: Tensor, targets: Tensor) -> dict[str, float]:
    """Mean cross-entropy over every step and accuracy on the recalled symbols."""
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    tail = slice(-synthetic.COPY_LENGTH, None)
    accuracy = (logits[:, tail].argmax(-1) == targets[:, tail]).double().mean()
    return {"loss": float(loss), "accuracy": float(accuracy)}


def _plot_adding(predicted: np.ndarray, truth: np.ndarray, run_dir: Path) -> None:
    from rnnkit.evaluate.plots import _figure, _save

    figure = _figure(4.5, 4.5)
    axes = figure.add_subplot()
    axes.scatter(truth, predicted, s=4, alpha=0.5, color="tab:blue", label="model")
    axes.plot([0, 2], [0, 2], color="black", lw=0.8, label="perfect")
    axes.axhline(1.0, color="tab:red", lw=0.8, ls="--", label="predict the mean (1)")
    axes.set_xlabel("true sum")
    axes.set_ylabel("predicted sum")
    axes.set_title("adding problem, test set")
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    _save(figure, run_dir / PREDICTIONS_PLOT)


def _plot_copy(logits: Tensor, targets: Tensor, run_dir: Path) -> None:
    from rnnkit.evaluate.plots import _figure, _save

    tail = slice(-synthetic.COPY_LENGTH, None)
    per_position = (logits[:, tail].argmax(-1) == targets[:, tail]).double().mean(0).numpy()
    figure = _figure(5.5, 3.5)
    axes = figure.add_subplot()
    positions = np.arange(1, synthetic.COPY_LENGTH + 1)
    axes.bar(positions, per_position, color="tab:blue", label="model")
    axes.axhline(1 / synthetic.COPY_SYMBOLS, color="tab:red", ls="--", label="chance (1/8)")
    axes.set_xlabel("position of the recalled symbol")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1)
    axes.set_title("copy task, test set")
    axes.legend(loc="upper right", fontsize="small")
    _save(figure, run_dir / PREDICTIONS_PLOT)
