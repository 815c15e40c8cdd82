"""``run.json``: what a run's metrics do not say about it.

Written at the end of every training session (and read by the report)::

    {
      "parameters": 1234,            # trainable parameters of the model
      "parameters_total": 1234,      # all of them (frozen ones included)
      "training_seconds": 41.2,      # wall time in trainer.fit, summed over resumed sessions
      "evaluation_seconds": 3.1,     # the final evaluation of the last session
      "sessions": 1,                 # 1 + the number of times the run was resumed
      "started": "2026-12-01T07:40:02", "finished": "2026-12-01T07:40:47",
      "epochs": 8, "max_epochs": 10, "stopped_early": true,
      "best": {"monitor": "val/loss", "mode": "min", "epoch": 5, "value": 0.731},
      "final_weights_epoch": 5,      # the epoch whose weights model.safetensors holds
      "versions": {"python": "3.11.9", "torch": "2.13.0", "lightning": "2.6.6",
                   "rnnkit": "0.1.0"},
      "logger": "tensorboard",       # and "mlflow_run_id" with train.logger=mlflow
      "weight_averaging": {"method": "ema", "decay": 0.999, "start_epoch": 1,
                           "averaged_steps": 3600}    # with train.weight_averaging only
    }

Epochs count from 1. ``best`` is the epoch with the best value of the early-stopping
monitor (``val/loss``, lowest, without early stopping), from the CSV log; it is null
for a run without a validation split.
"""

from __future__ import annotations

import csv
import math
import platform
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
from torch import nn

from rnnkit import rundir

RUN_FILE = rundir.RUN_FILE


def library_versions() -> dict[str, str]:
    """The versions of Python and the libraries a run's numbers depend on."""
    import torch

    from rnnkit import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "rnnkit": __version__,
    }


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameter counts; a tied weight is counted once."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique if p.requires_grad), sum(p.numel() for p in unique)


def best_epoch(run_dir: Path, monitor: str, mode: str) -> dict[str, Any] | None:
    """The epoch (from 1) whose validation had the best ``monitor``, from csv/metrics.csv."""
    path = Path(run_dir) / "csv" / "metrics.csv"
    if not path.is_file():
        return None
    best: dict[str, Any] | None = None
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            text, epoch = row.get(monitor), row.get("epoch")
            if not text or not epoch:
                continue
            value = float(text)
            if math.isnan(value):
                continue
            if best is None or (value < best["value"] if mode == "min" else value > best["value"]):
                best = {"monitor": monitor, "mode": mode, "epoch": int(epoch) + 1, "value": value}
    return best


def read_record(run_dir: Path) -> dict[str, Any]:
    """The run's ``run.json``, or {} where it has none (a run from an older rnnkit)."""
    path = Path(run_dir) / RUN_FILE
    return rundir.read_json(path, dict) if path.is_file() else {}


def write_record(
    run_dir: Path,
    trainer: L.Trainer,
    model: nn.Module,
    *,
    started: datetime,
    training_seconds: float,
    evaluation_seconds: float,
) -> dict[str, Any]:
    """Write ``run.json`` for the session that just ended; returns what was written."""
    from lightning.pytorch.callbacks import EarlyStopping

    from rnnkit.engine.averaging import StepAverage
    from rnnkit.engine.trainer import BestWeights

    previous = read_record(run_dir)
    trainable, total = count_parameters(model)
    config = trainer.lightning_module.train_config
    stopping = config.early_stopping
    monitor, mode = (stopping.monitor, stopping.mode) if stopping else ("val/loss", "min")
    epochs = int(trainer.fit_loop.epoch_progress.current.completed)
    restored = next((c for c in trainer.callbacks if isinstance(c, BestWeights)), None)
    final_epoch = epochs
    if restored is not None and restored.best_epoch is not None:
        final_epoch = restored.best_epoch + 1
    record = {
        "parameters": trainable,
        "parameters_total": total,
        "training_seconds": round(previous.get("training_seconds", 0.0) + training_seconds, 3),
        "evaluation_seconds": round(evaluation_seconds, 3),
        "sessions": int(previous.get("sessions", 0)) + 1,
        "started": previous.get("started", started.isoformat(timespec="seconds")),
        "finished": datetime.now().isoformat(timespec="seconds"),
        "epochs": epochs,
        "max_epochs": trainer.max_epochs,
        "stopped_early": any(
            isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks
        ),
        "best": best_epoch(run_dir, monitor, mode),
        "final_weights_epoch": final_epoch,
        "versions": library_versions(),
        "logger": config.logger,
    }
    averaging = next((c for c in trainer.callbacks if isinstance(c, StepAverage)), None)
    if averaging is not None:
        record["weight_averaging"] = averaging.summary()
    mlflow = [lg for lg in trainer.loggers if type(lg).__name__ == "MLFlowLogger"]
    if mlflow:
        record["mlflow_run_id"] = mlflow[0].run_id
    rundir.write_json(Path(run_dir) / RUN_FILE, record)
    return record
