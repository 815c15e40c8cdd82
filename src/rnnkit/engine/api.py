"""Train, resume and evaluate runs: the engine behind ``rnnkit train`` and ``evaluate``.

One function per command. Each loads the config, asks the task's spec (see
:mod:`rnnkit.tasks.spec`) for data, a model and a LightningModule, and writes the run
directory described in :mod:`rnnkit.rundir`. No task is named here.

Distributed training goes through Lightning: ``train.strategy=ddp train.devices=N``
starts N processes on this machine (``accelerator=cpu`` uses gloo), and
``train.num_nodes`` with torchrun or SLURM spreads them over machines. Every process
runs this module; only the first writes weights and metrics.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
import torch

from rnnkit import rundir as checkpoint
from rnnkit.config import Config
from rnnkit.engine import frames
from rnnkit.engine.record import write_record
from rnnkit.engine.trainer import GracefulInterrupt, build_trainer, log_config, log_final
from rnnkit.errors import ConfigError, RunDirError
from rnnkit.report import write_report
from rnnkit.tasks import get_spec, load_run_config
from rnnkit.tasks import load_config as load_config
from rnnkit.tasks.spec import PreparedData, Task

log = logging.getLogger(__name__)

# Lightning's DDP launcher re-runs the command in child processes; they find the run
# directory the first process created here rather than naming a new one.
_RUN_DIR_ENV = "RNNKIT_DISTRIBUTED_RUN_DIR"

EVAL_SPLITS = {"val": "val", "valid": "val", "validation": "val", "test": "test"}


def train(
    config: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    run_dir: str | Path | None = None,
    *,
    callbacks: Sequence[L.Callback] = (),
    final_splits: Sequence[str] = ("val", "test"),
) -> Path:
    """Train the experiment ``config`` describes; returns the run directory.

    ``data.dataset`` may be a pandas DataFrame (in a mapping ``config`` or in a mapping of
    ``overrides``): it is written into the run directory as ``data/dataset.csv``, which
    the run's config.yaml names (see :mod:`rnnkit.engine.frames`).

    ``run_dir`` defaults to ``runs/<name>-<YYYYmmdd-HHMMSS>``. The run directory ends
    up holding the resolved config, ``model.safetensors``, the preprocessing as JSON,
    ``checkpoints/last.ckpt``, ``metrics.json`` and TensorBoard and CSV logs.
    ``callbacks`` are extra Lightning callbacks for this run (a hyperparameter search
    passes the one that reports each validation to its pruner). ``final_splits`` are
    the splits evaluated into ``metrics.json`` at the end: a search passes ``("val",)``
    so that choosing hyperparameters never looks at the test split.
    """
    unknown = [s for s in final_splits if s not in ("val", "test")]
    if unknown:
        raise ConfigError(f"final_splits {unknown!r}: each must be 'val' or 'test'")
    config, overrides, frame = frames.take_frame(config, overrides)
    resolved = load_config(config, overrides)
    if frame is not None:
        frames.check_task(resolved, frame)
    inherited = os.environ.get(_RUN_DIR_ENV)
    if inherited and os.environ.get("LOCAL_RANK", "0") != "0":
        target = Path(inherited)
        if frame is not None:
            resolved = frames.attach(resolved, frame, target, write=False)
        return _fit(resolved, target, None, callbacks=callbacks, final_splits=final_splits)
    check_settings(resolved)
    target = Path(run_dir) if run_dir is not None else checkpoint.new_run_dir(resolved.name)
    if target.exists() and not target.is_dir():
        raise RunDirError(f"--run-dir {target} is a file; give a folder (new or empty)")
    created = not target.exists()
    if not created and any(p.name != checkpoint.LOCK_FILE for p in target.iterdir()):
        # Training a new config into an old run would mix its preprocessing and metrics
        # with this one's.
        raise RunDirError(
            f"{target} already holds a run; continue it with --resume {target}, "
            "or train into an empty or new --run-dir"
        )
    try:
        if frame is not None:
            resolved = frames.attach(resolved, frame, target)
        return _fit(resolved, target, None, callbacks=callbacks, final_splits=final_splits)
    except BaseException:
        # A run that failed before its first checkpoint (bad data, a bad option found
        # while building) leaves nothing behind; one with a checkpoint can be resumed.
        if created and not checkpoint.last_checkpoint(target).is_file():
            shutil.rmtree(target, ignore_errors=True)
        raise


def resume(run_dir: str | Path, max_epochs: int | None = None) -> Path:
    """Continue a run from ``checkpoints/last.ckpt`` with its saved config.

    ``max_epochs`` extends a run that ended at its ``train.max_epochs`` (or early): the
    epoch count, optimizer, schedule and early-stopping state continue from the
    checkpoint, and the run's ``config.yaml`` records the new limit. Nothing else of the
    config can change on resume: that would be another experiment.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    ckpt = checkpoint.last_checkpoint(run_dir)
    if not ckpt.is_file():
        raise RunDirError(f"{run_dir} has no checkpoints/last.ckpt to resume from")
    if max_epochs is not None:
        config = load_config(config, {"train.max_epochs": max_epochs})
        trained, _ = checkpoint.checkpoint_progress(ckpt)
        if max_epochs <= trained:
            # Lightning would train nothing and quietly evaluate the old weights again.
            raise ConfigError(
                f"--max-epochs {max_epochs} would train nothing: {run_dir} has trained "
                f"{trained} epochs; give more than {trained}"
            )
        checkpoint.save_config(run_dir, config)
    return _fit(config, run_dir, resume_from=ckpt)


def evaluate(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Evaluate a trained run on ``split`` (val or test) and merge into metrics.json."""
    run_dir = Path(run_dir)
    if split not in EVAL_SPLITS:
        raise ConfigError(f"split {split!r} is not one of val, test")
    split = EVAL_SPLITS[split]
    config = load_run_config(run_dir)
    spec = get_spec(config.task)
    _, model = checkpoint.load_model(run_dir, config, spec.build_model)
    task = spec.load_training()
    prepared = task.prepare(config, run_dir)
    if (prepared.val if split == "val" else prepared.test) is None:
        raise ConfigError(f"{run_dir}: the dataset has no {split} split to evaluate on")
    update = {split: task.evaluate(config, model, prepared, split)}
    baselines = task.baselines(config, prepared, split)
    if baselines:
        update["baselines"] = baselines
    checkpoint.write_metrics(run_dir, update)
    return update


def check_settings(config: Config) -> None:
    """Settings that depend on the task or the machine, checked before any work: an
    early-stopping monitor the task never logs, a GPU asked for where there is none."""
    spec = get_spec(config.task)
    stopping = config.train.early_stopping
    if stopping is not None:
        valid = [f"val/{name}" for name in spec.logged] + ["train/loss"]
        if stopping.monitor not in valid:
            raise ConfigError(
                f"config key 'train.early_stopping.monitor' = {stopping.monitor!r}: a "
                f"{config.task} run does not log it; valid: {', '.join(valid)}"
            )
    if config.train.logger == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "config key 'train.logger' = 'mlflow' needs MLflow: pip install 'rnnkit[mlflow]' "
            "(or mlflow); or use 'tensorboard' or 'none'"
        )
    if config.train.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"config key 'train.accelerator' = {config.train.accelerator!r}: this machine has "
            "no CUDA GPU that torch can use; use 'cpu' or 'auto'"
        )


# --------------------------------------------------------------------------- internals


@dataclass
class Run:
    """Everything one training run is made of, ready for ``trainer.fit``."""

    config: Config
    run_dir: Path
    task: Task
    prepared: PreparedData
    model: torch.nn.Module
    module: L.LightningModule
    trainer: L.Trainer
    interrupt: GracefulInterrupt


def prepare_run(
    config: Config,
    run_dir: Path,
    *,
    resume_from: Path | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> Run:
    """Seed, write the config and preprocessing, build the data, model and Trainer.

    This is what ``rnnkit train`` does before fitting; benchmarks call it to time the
    same training loop the command runs.
    """
    # Lightning's `deterministic` flag (set from the config) picks deterministic kernels.
    L.seed_everything(config.seed, workers=True, verbose=False)
    spec = get_spec(config.task)
    task = spec.load_training()
    first_process = (
        os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    if first_process and resume_from is None:
        checkpoint.save_config(run_dir, config)
    prepared = task.prepare(config, run_dir)
    if first_process:
        checkpoint.save_info(run_dir, prepared.info)
    model = spec.build_model(config, prepared.info)
    module = task.build_module(config, model, prepared)
    trainer, interrupt = build_trainer(
        config, run_dir, has_validation=prepared.val is not None, resume_from=resume_from
    )
    trainer.callbacks.extend(callbacks)
    log_config(trainer, config)
    return Run(config, run_dir, task, prepared, model, module, trainer, interrupt)


def _fit(
    config: Config,
    run_dir: Path,
    resume_from: Path | None,
    callbacks: Sequence[L.Callback] = (),
    final_splits: Sequence[str] = ("val", "test"),
) -> Path:
    if os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return _fit_locked(config, run_dir, resume_from, callbacks, final_splits)
    with checkpoint.training_lock(run_dir):
        return _fit_locked(config, run_dir, resume_from, callbacks, final_splits)


def _fit_locked(
    config: Config,
    run_dir: Path,
    resume_from: Path | None,
    callbacks: Sequence[L.Callback],
    final_splits: Sequence[str],
) -> Path:
    started, started_at = time.perf_counter(), datetime.now()
    run = prepare_run(config, run_dir, resume_from=resume_from, callbacks=callbacks)
    trainer, model = run.trainer, run.model
    if trainer.is_global_zero:
        action = f"resuming {resume_from}" if resume_from else "training"
        log.info("%s %s into %s", action, config.name, run_dir)
    we_set_env = _RUN_DIR_ENV not in os.environ
    os.environ[_RUN_DIR_ENV] = str(run_dir.resolve())
    fit_started = time.perf_counter()
    try:
        trainer.fit(
            run.module,
            train_dataloaders=run.prepared.train,
            val_dataloaders=run.prepared.val,
            ckpt_path=str(resume_from) if resume_from else None,
        )
    finally:
        if we_set_env:
            os.environ.pop(_RUN_DIR_ENV, None)
    if run.interrupt.interrupted:
        if trainer.is_global_zero:
            log.warning(
                "interrupted: checkpoint saved; continue with: rnnkit train --resume %s", run_dir
            )
        raise KeyboardInterrupt
    if not trainer.is_global_zero:
        return run_dir
    fit_seconds = time.perf_counter() - fit_started
    model.cpu()
    checkpoint.save_weights(model, run_dir / checkpoint.WEIGHTS_FILE)
    evaluation_started = time.perf_counter()
    metrics = final_metrics(run.task, config, model, run.prepared, splits=final_splits)
    checkpoint.write_metrics(run_dir, metrics)
    log_final(trainer, config, metrics)
    write_record(
        run_dir,
        trainer,
        model,
        started=started_at,
        training_seconds=fit_seconds,
        evaluation_seconds=time.perf_counter() - evaluation_started,
    )
    write_report(run_dir)
    log.info(
        "finished in %.0f s: %s; run directory %s",
        time.perf_counter() - started,
        _summary(metrics),
        run_dir,
    )
    return run_dir


def final_metrics(
    task: Task,
    config: Config,
    model: torch.nn.Module,
    prepared: PreparedData,
    splits: Sequence[str] = ("val", "test"),
) -> dict[str, Any]:
    """Metrics on ``splits`` (where present) and the baselines on the last of them."""
    metrics: dict[str, Any] = {}
    last = None
    for split, data in (("val", prepared.val), ("test", prepared.test)):
        if split in splits and data is not None:
            metrics[split] = task.evaluate(config, model, prepared, split)
            last = split
    if last is not None:
        baselines = task.baselines(config, prepared, last)
        if baselines:
            metrics["baselines"] = baselines
    return metrics


def _summary(metrics: dict[str, Any]) -> str:
    parts = []
    for split in ("val", "test"):
        if split in metrics:
            values = ", ".join(f"{k} {v:.4g}" for k, v in metrics[split].items())
            parts.append(f"{split}: {values}")
    return "; ".join(parts) or "no evaluation split"
