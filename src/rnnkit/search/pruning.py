"""Reporting each validation to the trial's pruner, and running one trial."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import optuna
from lightning.pytorch import Callback, LightningModule, Trainer

from rnnkit.config import Config

if TYPE_CHECKING:  # pragma: no cover
    pass


from rnnkit.search.constants import LOGGED_NAMES

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- pruning


class TrialPruning(Callback):
    """Reports a trial's validation metric to Optuna after every validation.

    After each validation (not the sanity check) it reads ``val/<metric>`` from the
    trainer's logged metrics (``val/ppl`` for perplexity), reports it as the trial's
    intermediate value at step 1, 2, ... (the number of validations so far, which lines
    trials with equal schedules up for the pruner) and raises :class:`optuna.TrialPruned`
    when the pruner says the trial is worse than the others were at the same step, or at
    once when the metric or the validation loss is NaN or infinite. A metric that is
    computed only at the end of a run (f1, rmse) cannot be pruned on; the run is then
    still stopped if its loss diverges. A trial that is not Lightning-based (or a test)
    calls :meth:`report` directly.
    """

    def __init__(self, trial: optuna.Trial, metric: str, *, pruner_on: bool = True) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.step = 0
        self.pruned_reason: str | None = None
        # With `pruner: none` nothing is pruned on the metric: no warning that it cannot be.
        self._warned = not pruner_on

    @property
    def monitor(self) -> str:
        return f"val/{self.metric}"

    def report(self, value: float) -> None:
        """Report the next validation's value; raises optuna.TrialPruned to stop the trial."""
        self.step += 1
        if not math.isfinite(value):
            # Nothing to compare: a diverged trial is pruned at once whatever the pruner.
            self.pruned_reason = f"{self.monitor} = {value} at validation {self.step} (diverged)"
            raise optuna.TrialPruned(self.pruned_reason)
        self.trial.report(value, self.step)
        if self.trial.should_prune():
            self.pruned_reason = (
                f"pruned at validation {self.step}: {self.monitor} = {value:.6g} "
                "worse than the other trials at this step"
            )
            raise optuna.TrialPruned(self.pruned_reason)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        logged = trainer.callback_metrics
        for name in (self.monitor, f"val/{LOGGED_NAMES.get(self.metric, self.metric)}"):
            if name in logged:
                self.report(float(logged[name]))
                return
        loss = logged.get("val/loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.step += 1
            self.pruned_reason = f"val/loss = {float(loss)} at validation {self.step} (diverged)"
            raise optuna.TrialPruned(self.pruned_reason)
        if not self._warned:
            self._warned = True
            log.warning(
                "trial %d: '%s' is not logged during training (logged: %s); this trial "
                "cannot be pruned early",
                self.trial.number,
                self.monitor,
                ", ".join(sorted(n for n in logged if n.startswith("val/"))) or "nothing",
            )


class RunTrial(Protocol):
    """Train one trial's config into ``run_dir`` and return the run directory.

    The run directory holds ``metrics.json`` with ``{"val": {<metric>: value}}``; the
    function passes ``pruning`` to Lightning as a callback (or calls ``pruning.report``).
    """

    def __call__(self, config: Config, run_dir: Path, pruning: TrialPruning) -> Path: ...


def train_trial(config: Config, run_dir: Path, pruning: TrialPruning) -> Path:
    """The real trial: ``rnnkit.train`` with the pruning callback.

    A trial is evaluated on the validation split only: the test split stays unseen until
    the chosen config is trained for real, and skipping it saves a full pass per trial.
    """
    from rnnkit.engine.api import train

    return Path(train(config, run_dir=run_dir, callbacks=[pruning], final_splits=("val",)))
