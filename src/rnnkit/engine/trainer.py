"""The Lightning Trainer a config describes, and the callbacks every run uses."""

from __future__ import annotations

import logging
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    RichProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from rnnkit.config import Config
from rnnkit.config import dump as dump_config
from rnnkit.engine.averaging import StepAverage
from rnnkit.errors import RunDirError, environment_error
from rnnkit.rundir import checkpoint_progress, last_checkpoint

log = logging.getLogger(__name__)


class LastCheckpoint(Callback):
    """Keeps ``checkpoints/last.ckpt`` current, atomically.

    Saved every ``every_n_steps`` optimizer steps (when set), at the end of every
    epoch, and when Ctrl-C stops training. Before each save the loss is checked for
    NaN/inf, so a diverged model never replaces the last good checkpoint.
    """

    def __init__(self, path: Path, every_n_steps: int | None) -> None:
        self.path = path
        self.every_n_steps = every_n_steps
        # Set once Ctrl-C saved mid-epoch: the epoch-end hooks Lightning still runs on
        # the way out must not overwrite that checkpoint with one that says "epoch done"
        # (the resumed run would skip the rest of the epoch).
        self.frozen = False

    def save(self, trainer: L.Trainer) -> None:
        if self.frozen:
            return
        module = trainer.lightning_module
        if hasattr(module, "check_finite"):
            module.check_finite()
        temporary = self.path.with_name(self.path.name + ".tmp")
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Every process takes part (the call synchronises them); rank 0 writes.
            trainer.save_checkpoint(temporary)
            if trainer.is_global_zero:
                os.replace(temporary, self.path)
        except OSError as err:
            # A full disk or a folder made read-only mid-run: no half-written file is
            # left beside the last complete checkpoint, and the user gets one line.
            if trainer.is_global_zero:
                temporary.unlink(missing_ok=True)
            problem = environment_error(err)
            if problem is None:
                raise
            kept = (
                f"the previous checkpoint is kept ({self.path})"
                if self.path.is_file()
                else "no checkpoint was saved"
            )
            raise RunDirError(f"saving the checkpoint failed: {problem} ({kept})") from None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if not self.every_n_steps or trainer.global_step % self.every_n_steps:
            return
        # Not after an epoch's last batch: the epoch's end saves once validation has run.
        # A run resumed from a checkpoint taken before it would skip that validation.
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.save(trainer)


class BestWeights(Callback):
    """Keeps the weights of the best validation so far and puts them back at the end.

    Early stopping ends a run ``patience`` validations after its best one; without this
    the run would keep the weights of its last, worse epoch. The best weights travel in
    the checkpoint (this callback's state), so a resumed run still restores them.
    """

    def __init__(
        self, monitor: str, mode: str, min_delta: float = 0.0, averaging: StepAverage | None = None
    ) -> None:
        self.monitor = monitor
        # With weight averaging, validation scored the average (swapped back into its own
        # copy by the time this runs): that is what to keep.
        self.averaging = averaging
        self.mode = mode
        self.min_delta = min_delta
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.weights: dict[str, Any] | None = None

    def _improves(self, score: float) -> bool:
        if self.best_score is None:
            return True
        if self.mode == "min":
            return score < self.best_score - self.min_delta
        return score > self.best_score + self.min_delta

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if score != score or not self._improves(score):  # NaN never improves
            return
        self.best_score, self.best_epoch = score, trainer.current_epoch
        # A copy on the CPU: the live tensors keep changing as training goes on.
        state = (
            module.state_dict() if self.averaging is None else self.averaging.averaged_state(module)
        )
        self.weights = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.weights is None:
            return
        # (An interrupted run saved its checkpoint already; what it holds is unchanged.)
        module.load_state_dict(self.weights)
        if trainer.is_global_zero:
            log.info(
                "final weights: epoch %d, the best %s (%.4g)",
                self.best_epoch + 1,
                self.monitor,
                self.best_score,
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "weights": self.weights,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict["best_score"]
        self.best_epoch = state_dict["best_epoch"]
        self.weights = state_dict["weights"]


class BatchSamplerEpoch(Callback):
    """Tells the training loader's batch sampler which epoch begins.

    Lightning tells a loader's ``sampler`` (and ``batch_sampler.sampler``) the epoch, but
    not a batch sampler itself. rnnkit's length-bucketing batch sampler draws each
    epoch's batches from its seed and the epoch: without this it would serve epoch 1's
    batches, in epoch 1's order, every epoch. The count is Lightning's own (epochs
    processed), so a resumed run continues the same sequence of orders.
    """

    def _tell(self, trainer: L.Trainer) -> None:
        batches = getattr(trainer.train_dataloader, "batch_sampler", None)
        if callable(getattr(batches, "set_epoch", None)):
            batches.set_epoch(trainer.fit_loop.epoch_progress.current.processed)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._tell(trainer)  # a run resumed mid-epoch skips on_train_epoch_start

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._tell(trainer)


class GracefulInterrupt(Callback):
    """The first Ctrl-C finishes the current step, saves a checkpoint and stops.

    A second Ctrl-C interrupts at once (the default handler is back in place).
    """

    def __init__(self, checkpoint: LastCheckpoint) -> None:
        self.checkpoint = checkpoint
        self.requested = False
        self.interrupted = False
        self._previous: Any = None

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.requested and not self.interrupted:
            self.interrupted = True
            self.checkpoint.save(trainer)
            self.checkpoint.frozen = True
            trainer.should_stop = True

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.restore()

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, error: BaseException):
        self.restore()

    def restore(self) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class ProgressBar(RichProgressBar):
    """Rich progress bar without Lightning's version number, counting epochs from 1
    ("Epoch 1/1" for a one-epoch run, where Lightning shows "Epoch 0/0")."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        return f"{description:{len(self.validation_description)}}"

    def get_metrics(self, trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, module)
        metrics.pop("v_num", None)
        return metrics


def build_trainer(
    config: Config, run_dir: Path, *, has_validation: bool, resume_from: Path | None = None
) -> tuple[L.Trainer, GracefulInterrupt]:
    """A Trainer for ``config.train`` writing logs and checkpoints under ``run_dir``.

    With ``resume_from`` (a checkpoint of this run), the CSV log keeps the rows the run
    logged up to that checkpoint and continues after them.
    """
    quiet_lightning()
    train = config.train
    checkpoint = LastCheckpoint(last_checkpoint(run_dir), train.checkpoint_every_n_steps)
    interrupt = GracefulInterrupt(checkpoint)
    callbacks: list[Callback] = [checkpoint, interrupt, BatchSamplerEpoch()]
    if train.progress_bar:
        # Redrawing the bar costs time on every refresh: a few per second is plenty.
        callbacks.append(ProgressBar(refresh_rate=max(1, train.log_every_n_steps // 5)))
    averaging = None
    if train.weight_averaging is not None:
        averaging = StepAverage(train.weight_averaging)
        callbacks.append(averaging)
    if train.early_stopping is not None and has_validation:
        stopping = train.early_stopping
        callbacks.append(
            EarlyStopping(
                monitor=stopping.monitor,
                patience=stopping.patience,
                mode=stopping.mode,
                min_delta=stopping.min_delta,
            )
        )
        if stopping.restore_best:
            callbacks.append(
                BestWeights(stopping.monitor, stopping.mode, stopping.min_delta, averaging)
            )
    # The learning rate of every optimizer step Lightning logs (lr-Adam, lr-SGD...), with
    # a schedule or without: it goes to every logger, the CSV log included.
    callbacks.append(LearningRateMonitor())
    csv_logger = CSVLogger(save_dir=run_dir, name="csv", version="")
    loggers = [*tracking_loggers(config, run_dir), csv_logger]
    validation: dict[str, Any] = {"val_check_interval": train.val_check_interval}
    if not has_validation:
        validation = {"limit_val_batches": 0}
    elif train.limit_val_batches is not None:
        validation["limit_val_batches"] = train.limit_val_batches
    trainer = L.Trainer(
        default_root_dir=run_dir,
        max_epochs=train.max_epochs,
        max_steps=train.max_steps,
        limit_train_batches=train.limit_train_batches,
        gradient_clip_val=train.gradient_clip,
        gradient_clip_algorithm=train.gradient_clip_algorithm,
        precision=train.precision,
        accelerator=train.accelerator,
        devices=train.devices,
        strategy=train.strategy,
        num_nodes=train.num_nodes,
        deterministic=train.deterministic,
        log_every_n_steps=train.log_every_n_steps,
        enable_progress_bar=train.progress_bar,
        enable_checkpointing=False,  # LastCheckpoint does it, atomically
        enable_model_summary=False,
        num_sanity_val_steps=0,
        logger=loggers,
        callbacks=callbacks,
        **validation,
    )
    if resume_from is not None and trainer.is_global_zero:
        keep_csv_history(csv_logger, resume_from)
    return trainer, interrupt


def tracking_loggers(config: Config, run_dir: Path) -> list[Logger]:
    """The logger ``train.logger`` names (the CSV log the report reads is always kept)."""
    train = config.train
    if train.logger == "tensorboard":
        return [
            TensorBoardLogger(
                save_dir=run_dir, name="tensorboard", version="", default_hp_metric=False
            )
        ]
    if train.logger == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        uri = train.mlflow_uri or f"file:{Path(run_dir).resolve() / 'mlruns'}"
        if uri.startswith("file:"):
            # MLflow 3 refuses its file store unless asked: it keeps one for local use.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return [MLFlowLogger(experiment_name=config.name, run_name=run_dir.name, tracking_uri=uri)]
    return []


def keep_csv_history(logger: CSVLogger, resume_from: Path) -> int:
    """Keep the rows of ``metrics.csv`` logged up to the checkpoint a run resumes from.

    Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts, so a
    resumed run would lose its curves up to the checkpoint (and the report with them).
    The rows are read first, the writer is created (which deletes the file), and they
    are written back under the same header, which the writer is told about so that it
    appends. Rows logged after the checkpoint (a run killed between checkpoints) are
    dropped: the resumed run logs those steps again. Returns the number of rows kept.
    """
    import csv
    import warnings

    path = Path(logger.log_dir) / "metrics.csv"
    if not path.is_file():
        return 0
    # A row's step is the number of optimizer steps before the batch that wrote it, so
    # the rows of a checkpoint taken after G steps are those below G (an epoch's summary
    # included); a row at G came from the next batch, which the resumed run trains again.
    _, checkpoint_steps = checkpoint_progress(resume_from)
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            header = list(reader.fieldnames or [])
            rows = [row for row in reader if _step(row) < checkpoint_steps]
    except (UnicodeDecodeError, csv.Error, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        raise RunDirError(
            f"{path} is damaged ({reason}); move it away to resume without the curves logged so far"
        ) from None
    with warnings.catch_warnings():
        # Its warning that previous logs will be deleted is untrue from here on.
        warnings.filterwarnings("ignore", message="Experiment logs directory")
        writer = logger.experiment  # created now: this deletes the file
    with path.open("w", newline="", encoding="utf-8") as file:
        table = csv.DictWriter(file, fieldnames=header)
        table.writeheader()
        table.writerows(rows)
    writer.metrics_keys = sorted(header)
    return len(rows)


def _step(row: dict[str, str | None]) -> float:
    """The step of a metrics.csv row (infinite for a row without one: it is dropped)."""
    step = row.get("step")
    if not step:
        return float("inf")
    if not step.isdigit():
        raise ValueError(f"step {step[:40]!r} is not a whole number")
    return int(step)


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter and hints out of a user's terminal.

    Lightning logs at INFO on its own handlers (GPU/TPU availability, tips, checkpoint
    loading) and warns about loop settings rnnkit chose on purpose. They are shown only
    when rnnkit's logger is at DEBUG (``rnnkit --verbose``); warnings and errors always are.
    """
    verbose = logging.getLogger("rnnkit").getEffectiveLevel() <= logging.DEBUG
    for name in ("lightning.pytorch", "lightning.fabric"):
        lightning_log = logging.getLogger(name)
        lightning_log.setLevel(logging.INFO if verbose else logging.WARNING)
        if logging.getLogger().hasHandlers():
            # One place prints: the root handler the CLI installed.
            for handler in list(lightning_log.handlers):
                lightning_log.removeHandler(handler)
            lightning_log.propagate = True
    if not verbose:
        from lightning.fabric.utilities.warnings import disable_possible_user_warnings

        disable_possible_user_warnings()
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def log_config(trainer: L.Trainer, config: Config) -> None:
    """The resolved config, as hyperparameters of every logger and as text.

    TensorBoard gets them at the end instead (:func:`log_final`), with the final metrics
    beside them: its hparams view keeps one record per run.
    """
    flat = _flatten(config.model_dump(mode="json", by_alias=True))
    for logger in trainer.loggers:
        if not isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat)
    log.debug("resolved config:\n%s", dump_config(config))


def final_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """``metrics.json``'s model metrics as logger tags: ``test/<name>`` for the test
    split and ``final_val/<name>`` for validation (``val/<name>`` holds the curve)."""
    scalars: dict[str, float] = {}
    for split, prefix in (("val", "final_val"), ("test", "test")):
        for name, value in (metrics.get(split) or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                scalars[f"{prefix}/{name}"] = float(value)
    return scalars


def log_final(trainer: L.Trainer, config: Config, metrics: dict[str, Any]) -> None:
    """The final metrics into every tracking logger (not the CSV log: metrics.json has
    them): TensorBoard as scalars and as the hparams record (the flattened config with
    these metrics), MLflow as metrics at the last step."""
    scalars = final_scalars(metrics)
    flat = _flatten(config.model_dump(mode="json", by_alias=True))
    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            continue
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat, metrics=scalars)
        elif scalars:
            logger.log_metrics(scalars, step=trainer.global_step)
        logger.finalize("success")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = (
                value if isinstance(value, int | float | str | bool) else str(value)
            )
    return flat
