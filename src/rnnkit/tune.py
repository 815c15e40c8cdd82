"""Hyperparameter search with Optuna over the same config file a run uses.

The ``tune:`` section of a config names a search space of dotted config keys
(``train.optimizer.lr``, ``model.hidden_size``), a sampler (grid, random, TPE), a budget
of trials, the validation metric to optimise and a pruner. :func:`tune` runs the search
and writes a study directory::

    runs/<study>/
      study.journal      the Optuna storage, shared by every worker (unless --storage)
      config.yaml        the base config the trials start from
      trial-0000/ ...    one normal run directory per trial (rnnkit train's layout)
      trials.csv         every trial: parameters, metric, state, duration, reason
      best.yaml          the full config of the best trial, runnable with `rnnkit train`
      history.png        the metric of each trial and the best so far
      importances.png    parameter importances (once two trials completed with varied values)

How trials are shared. The study's storage holds a queue of trials: the launcher
tops the queue up to the budget (for a grid: one queued trial per grid point not run
yet; for random and TPE: empty trials the sampler fills in), and every worker claims
queued trials one at a time. Claiming a queued trial is atomic in the journal storage
and in server databases (PostgreSQL, MySQL), so K worker processes, or workers on other
machines pointed at the same storage, never run the same trial twice, a grid never runs
a point twice, and racing workers never overshoot the budget. (Two launchers topping up
the queue at the same instant can queue a grid point twice; the later copy stands down
when it is claimed.) Re-running the command tops up the same queue, so an interrupted
study continues where it stopped and a larger ``--trials`` adds trials.

Why a journal file and not SQLite by default: with several processes, SQLite lets two
workers claim the same queued trial (its SELECT ... FOR UPDATE is a plain SELECT) and
raises "database is locked" under contention (4 processes claiming 60 queued trials:
SQLite handed out 5 of them twice and raised 3 errors; the journal file none). The
journal serialises every write through a lock file. Any Optuna RDB URL
(``postgresql://...``, ``mysql://...``) works as ``--storage`` for workers on many
machines.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import math
import multiprocessing
import os
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import optuna
from lightning.pytorch import Callback, LightningModule, Trainer
from optuna.trial import FrozenTrial, TrialState

from rnnkit import config as config_module
from rnnkit.config import Config, RangeSpec, TuneConfig
from rnnkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

log = logging.getLogger(__name__)

# The validation metrics each task writes to metrics.json["val"].
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "language_model": ("loss", "perplexity", "bpc"),
    "classification": ("loss", "accuracy", "precision", "recall", "f1"),
    "forecasting": ("loss", "mae", "rmse", "mape", "smape", "mase"),
    "sequence_regression": ("loss", "mse", "rmse", "mae"),
    "sequence_labeling": ("loss", "accuracy"),
}
_HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1"}
# metrics.json name -> the shorter name the LightningModules log during training.
LOGGED_NAMES = {"perplexity": "ppl"}

# A worker refreshes the heartbeat of its running trial this often; a running trial whose
# heartbeat is older than the grace period belongs to a worker that died (killed, machine
# lost) and is marked failed-and-retryable when the study is next launched.
HEARTBEAT_SECONDS = 30.0
HEARTBEAT_GRACE_SECONDS = 180.0

# Trial user attributes: where a trial's story is kept in the storage.
ATTR_RUN_DIR = "run_dir"
ATTR_REASON = "fail_reason"
ATTR_RETRY = "retry"  # failed because it was interrupted, not because of its parameters
ATTR_HEARTBEAT = "heartbeat"


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table shows it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING
    params: dict[str, Any]
    value: float | None  # the final metric (COMPLETE) or the last reported one (PRUNED)
    duration_s: float | None
    run_dir: Path | None
    reason: str | None  # why it failed or was pruned


@dataclass(frozen=True)
class StudySummary:
    """What a search produced: the best trial and every trial's row."""

    study_name: str
    storage: str
    study_dir: Path
    metric: str
    direction: str
    best_trial: int | None  # the best completed trial's number
    best_params: dict[str, Any] | None
    best_value: float | None
    best_run_dir: Path | None
    best_config: Path | None  # best.yaml, runnable with `rnnkit train`
    trials: tuple[TrialRow, ...]
    plots: tuple[Path, ...]
    queued: int  # trials still waiting for a worker (a timeout stopped the search)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.trials:
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts


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

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.step = 0
        self.pruned_reason: str | None = None
        self._warned = False

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
    from rnnkit.train.api import train

    return Path(train(config, run_dir=run_dir, callbacks=[pruning], final_splits=("val",)))


# ----------------------------------------------------------------------------- search space


def check_space(config: Config, tune_config: TuneConfig) -> dict[str, list[Any] | RangeSpec]:
    """Validate ``tune.space`` against the config before anything runs.

    Every key must be a config key; every choice, and both ends of every range, must be
    a valid value for its key on its own. Combinations are checked per trial: a bad one
    is a failed trial, not a failed study.
    """
    space = tune_config.space
    if not space:
        raise ConfigError(
            "tune.space is empty; map dotted config keys to choices or ranges, e.g. "
            "tune.space: {train.optimizer.lr: {low: 0.0001, high: 0.01, log: true}}"
        )
    valid_keys = [k for k in config_module.dotted_keys() if not k.startswith("tune.")]
    for key, spec in space.items():
        if key not in valid_keys:
            raise ConfigError(
                f"tune.space: unknown config key '{key}'; {_key_hint(key, valid_keys)}"
            )
        if isinstance(spec, RangeSpec):
            _check_range(key, spec, tune_config.sampler)
            ends: list[Any] = [spec.low, spec.high]
            if spec.integer:
                ends = [int(spec.low), int(spec.high)]
        else:
            if not spec:
                raise ConfigError(f"tune.space['{key}'] has no choices; give at least one value")
            for choice in spec:
                if choice is not None and not isinstance(choice, bool | int | float | str):
                    raise ConfigError(
                        f"tune.space['{key}'] choice {choice!r} is a {type(choice).__name__}; "
                        "choices are numbers, strings, booleans or null"
                    )
            ends = list(spec)
        for value in ends:
            try:
                config_module.load(config, {key: value})
            except ConfigError as err:
                raise ConfigError(f"tune.space: {err}") from None
    return dict(space)


def _key_hint(key: str, valid_keys: list[str]) -> str:
    close = difflib.get_close_matches(key, valid_keys, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    section = key.split(".", 1)[0] + "."
    siblings = [k for k in valid_keys if k.startswith(section)]
    if siblings:
        return f"valid keys under '{section[:-1]}': {', '.join(siblings)}"
    sections = sorted({k.split(".", 1)[0] for k in valid_keys})
    return f"keys start with one of: {', '.join(sections)}"


def _check_range(key: str, spec: RangeSpec, sampler: str) -> None:
    if spec.integer and (spec.low != int(spec.low) or spec.high != int(spec.high)):
        raise ConfigError(
            f"tune.space['{key}'] is an integer range but low={spec.low:g}, "
            f"high={spec.high:g}; use whole numbers or drop int: true"
        )
    if spec.step is not None and spec.step <= 0:
        raise ConfigError(f"tune.space['{key}'] step = {spec.step:g}; use a step above 0")
    if spec.log and spec.step is not None and not spec.integer:
        raise ConfigError(f"tune.space['{key}'] has both log and step; use one of them")
    if spec.log and spec.step not in (None, 1):
        raise ConfigError(f"tune.space['{key}'] has both log and step; use one of them")
    if sampler == "grid" and spec.step is None and not spec.integer:
        raise ConfigError(
            f"tune.space['{key}'] is a continuous range, which a grid cannot enumerate; "
            "give a list of choices or a step"
        )


def grid_points(space: Mapping[str, list[Any] | RangeSpec]) -> list[dict[str, Any]]:
    """Every combination of the space's values, in a fixed order (first key slowest)."""
    axes = [(key, _grid_values(spec)) for key, spec in space.items()]
    points: list[dict[str, Any]] = [{}]
    for key, values in axes:
        points = [{**point, key: value} for point in points for value in values]
    return points


def _grid_values(spec: list[Any] | RangeSpec) -> list[Any]:
    if not isinstance(spec, RangeSpec):
        return list(spec)
    step = spec.step if spec.step is not None else 1
    count = math.floor((spec.high - spec.low) / step + 1e-9) + 1
    values = [spec.low + i * step for i in range(count)]
    if spec.integer:
        return [round(v) for v in values]
    # Round away the float noise of low + i * step (0.30000000000000004).
    return [float(f"{v:.12g}") for v in values]


def suggest(
    trial: optuna.Trial, space: Mapping[str, list[Any] | RangeSpec], sampler: str
) -> dict[str, Any]:
    """Draw (or, for a queued grid point, read) the trial's value for every space key."""
    params: dict[str, Any] = {}
    for key, spec in space.items():
        if not isinstance(spec, RangeSpec):
            params[key] = trial.suggest_categorical(key, list(spec))
        elif sampler == "grid":
            params[key] = trial.suggest_categorical(key, _grid_values(spec))
        elif spec.integer:
            params[key] = trial.suggest_int(
                key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log
            )
        else:
            params[key] = trial.suggest_float(
                key, spec.low, spec.high, step=spec.step, log=spec.log
            )
    return params


# ----------------------------------------------------------------------------- storage


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL (RDB: sqlite, postgresql, mysql) or a journal file path."""
    if "://" in spec:
        engine_kwargs: dict[str, Any] = {}
        if spec.startswith("sqlite"):
            # Wait for the write lock instead of failing at once when workers collide.
            engine_kwargs = {"connect_args": {"timeout": 60}}
        try:
            return optuna.storages.RDBStorage(spec, engine_kwargs=engine_kwargs)
        except Exception as err:  # sqlalchemy's errors: bad URL, missing driver, refused
            raise ConfigError(f"storage {spec!r} cannot be opened: {err}") from None
    path = Path(spec)
    if path.is_dir():
        raise ConfigError(f"storage {spec!r} is a folder; give a journal file path or a URL")
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    return optuna.storages.JournalStorage(backend)


# ----------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class _Plan:
    """Everything a worker process needs (picklable: it crosses a process boundary)."""

    study_name: str
    storage: str
    study_dir: Path
    base_config: dict[str, Any]
    tune_config: dict[str, Any]
    deadline: float | None  # time.time() after which no new trial starts
    run_trial: RunTrial
    threads: int | None  # torch threads per worker process
    cwd: Path  # relative data paths in the config are relative to it
    log_level: int


def tune(
    config: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    trials: int | None = None,
    workers: int = 1,
    storage: str | None = None,
    study_dir: str | Path | None = None,
    run_trial: RunTrial | None = None,
) -> StudySummary:
    """Run (or continue) the hyperparameter search a config's ``tune:`` section describes.

    ``trials`` is the study's total budget (default ``tune.trials``): re-running a
    finished study runs nothing new, a larger budget adds trials, an interrupted study
    continues. A grid runs each point once, in order, up to the budget. ``workers``
    processes share the study through ``storage`` (default: a journal file in the
    study directory ``runs/<study_name>``). ``run_trial`` trains one trial (default
    :func:`train_trial`); it must be a module-level function when ``workers > 1``.
    Returns the study summary; writes best.yaml, trials.csv and the plots.
    """
    base = config_module.load(config, overrides)
    if base.tune is None:
        raise ConfigError(
            "the config has no 'tune' section; add one with tune.space (dotted keys mapped "
            "to choices or ranges), e.g. tune: {space: {model.hidden_size: [128, 256]}}"
        )
    tune_config = base.tune
    if trials is not None:
        if trials < 1:
            raise ConfigError(f"trials = {trials}; use at least 1")
        tune_config = tune_config.model_copy(update={"trials": trials})
    if workers < 1:
        raise ConfigError(f"workers = {workers}; use at least 1")
    check_space(base, tune_config)
    _check_metric(base, tune_config)
    _check_single_process(base)

    study_name = tune_config.study_name or base.name
    if not study_name or any(sep in study_name for sep in ("/", "\\")) or study_name in {".", ".."}:
        raise ConfigError(f"study name {study_name!r} cannot name a folder; use letters and dashes")
    folder = Path(study_dir) if study_dir is not None else Path("runs") / study_name
    # Absolute: workers on a fork server or another machine start in another directory.
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    storage_spec = storage or tune_config.storage or str(folder / "study.journal")
    if workers > 1 and storage_spec.startswith("sqlite"):
        log.warning(
            "SQLite can hand the same trial to two workers; prefer the default journal "
            "file or a PostgreSQL/MySQL URL for %d workers",
            workers,
        )

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # rnnkit logs each trial itself
    study = _open_study(study_name, storage_spec, tune_config, base)
    config_module.save(base, folder / "config.yaml")
    _fail_abandoned(study)
    queued = _fill_queue(study, tune_config)
    log.info(
        "study '%s' (%s): %d trial(s) queued for %d worker(s); storage %s",
        study_name,
        tune_config.sampler,
        queued,
        workers,
        storage_spec,
    )

    processes = min(workers, queued)
    plan = _Plan(
        study_name=study_name,
        storage=storage_spec,
        study_dir=folder,
        base_config=base.model_dump(mode="json", by_alias=True),
        tune_config=tune_config.model_dump(mode="json", by_alias=True),
        deadline=time.time() + tune_config.timeout if tune_config.timeout else None,
        run_trial=run_trial or train_trial,
        threads=max(1, (os.cpu_count() or 1) // processes) if processes > 1 else None,
        cwd=Path.cwd(),
        log_level=logging.getLogger("rnnkit").getEffectiveLevel(),
    )
    if processes == 1:
        _work(plan)
    elif processes > 1:
        _run_workers(plan, processes)
    return summarize(study_name, storage_spec, folder)


def _check_single_process(config: Config) -> None:
    # Distributed training relaunches the command in more processes, and each would
    # report to the pruner; parallel trials (--workers) are the way to use more cores.
    train = config.train
    devices = train.devices
    many = (isinstance(devices, int) and devices > 1) or (
        isinstance(devices, list) and len(devices) > 1
    )
    if many or train.num_nodes > 1 or "ddp" in train.strategy:
        raise ConfigError(
            f"tuning runs each trial in one process, but train.devices={devices!r}, "
            f"train.num_nodes={train.num_nodes}, train.strategy={train.strategy!r}; "
            "use one device per trial and --workers for parallel trials"
        )


def _check_metric(config: Config, tune_config: TuneConfig) -> None:
    # Tasks not listed here are checked by their first trial (metrics.json names them).
    valid = TASK_METRICS.get(config.task, (tune_config.metric,))
    if tune_config.metric not in valid:
        raise ConfigError(
            f"tune.metric = {tune_config.metric!r} is not a validation metric of a "
            f"{config.task} run; valid: {', '.join(valid)}"
        )
    if (tune_config.metric in _HIGHER_IS_BETTER) != (tune_config.direction == "maximize"):
        log.warning(
            "tune.metric '%s' with direction '%s': is that the way you want it to go?",
            tune_config.metric,
            tune_config.direction,
        )


def _open_study(
    name: str, storage_spec: str, tune_config: TuneConfig, base: Config | None = None
) -> optuna.Study:
    """Create the study, or load it and check it is the same search (space, metric, base)."""
    search = {
        "sampler": tune_config.sampler,
        "space": _space_json(tune_config),
        "metric": tune_config.metric,
    }
    fixed = _fixed_settings(base, tune_config) if base is not None else None
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(storage_spec),
        direction=tune_config.direction,
        load_if_exists=True,
    )
    if not study.user_attrs:
        for key, value in search.items():
            study.set_user_attr(key, value)
        if fixed is not None:
            study.set_user_attr("fixed", fixed)
        return study
    for key, value in search.items():
        stored = study.user_attrs.get(key)
        if stored != value:
            raise ConfigError(
                f"study '{name}' in {storage_spec} was started with tune.{key} = "
                f"{json.dumps(stored)}, not {json.dumps(value)}; set tune.study_name to "
                "start a new study"
            )
    if study.direction.name.lower() != tune_config.direction:
        raise ConfigError(
            f"study '{name}' in {storage_spec} was started to {study.direction.name.lower()}, "
            f"not {tune_config.direction}; set tune.study_name to start a new study"
        )
    stored_fixed = study.user_attrs.get("fixed")
    if fixed is not None and stored_fixed is not None and stored_fixed != fixed:
        changed = [
            k for k in sorted(set(fixed) | set(stored_fixed)) if fixed.get(k) != stored_fixed.get(k)
        ]
        shown = ", ".join(
            f"{k}: {json.dumps(stored_fixed.get(k))} -> {json.dumps(fixed.get(k))}"
            for k in changed[:3]
        )
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise ConfigError(
            f"study '{name}' in {storage_spec} was started from another config ({shown}{more}); "
            "its trials would not compare: set tune.study_name to start a new study"
        )
    return study


# Keys that change how a run is carried out or shown, not what it computes: a resumed
# study may change them. Every other key outside the search space is fixed for a study.
_INCIDENTAL_KEYS = frozenset(
    {
        "name",
        "data.cache_dir",
        "data.offline",
        "data.num_workers",
        "train.progress_bar",
        "train.log_every_n_steps",
        "train.checkpoint_every_n_steps",
    }
)


def _fixed_settings(base: Config, tune_config: TuneConfig) -> dict[str, Any]:
    """The base config's dotted values that every trial shares (the space's keys excluded)."""
    raw = base.model_dump(mode="json", by_alias=True)
    raw.pop("tune", None)
    flat = _flatten(raw)
    return {
        key: value
        for key, value in flat.items()
        if key not in _INCIDENTAL_KEYS and key not in tune_config.space
    }


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _space_json(tune_config: TuneConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in tune_config.space.items():
        out[key] = spec.model_dump(by_alias=True) if isinstance(spec, RangeSpec) else list(spec)
    return out


def _retryable(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(ATTR_RETRY))


def _fail_abandoned(study: optuna.Study) -> None:
    """Mark running trials whose worker stopped sending heartbeats as failed (retryable)."""
    now = time.time()
    storage = study._storage  # the storage Optuna opened for this study
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = trial.user_attrs.get(ATTR_HEARTBEAT)
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        if now - float(beat if beat is not None else started) < HEARTBEAT_GRACE_SECONDS:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, ATTR_RETRY, True)
            storage.set_trial_user_attr(trial_id, ATTR_REASON, "abandoned: its worker stopped")
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            log.warning("trial %d was abandoned by its worker; marked failed", trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished meanwhile


def _fill_queue(study: optuna.Study, tune_config: TuneConfig) -> int:
    """Queue the trials still to run; returns how many are queued now."""
    trials = study.get_trials(deepcopy=False)
    # Interrupted trials do not count: their points (or budget) are queued again.
    room = tune_config.trials - sum(1 for t in trials if not _retryable(t))
    if tune_config.sampler == "grid":
        taken = {
            _point_key(t.system_attrs.get("fixed_params", t.params))
            for t in trials
            if not _retryable(t)
        }
        missing = [p for p in grid_points(tune_config.space) if _point_key(p) not in taken]
        if len(missing) > room:
            log.warning(
                "the grid has %d point(s) not run yet; the budget of %d trial(s) leaves "
                "room for %d: raise --trials (tune.trials) for the rest",
                len(missing),
                tune_config.trials,
                max(room, 0),
            )
        for point in missing[: max(room, 0)]:
            study.enqueue_trial(point)
    else:
        for _ in range(room):
            study.enqueue_trial({})
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return len(waiting)


def _point_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=str)


def _run_workers(plan: _Plan, workers: int) -> None:
    # Not fork: a child forked from a process that has run torch inherits its thread
    # pools and locks mid-state. A fork server that imported rnnkit.tune (and so torch and
    # Lightning) but ran nothing starts each worker in milliseconds instead of seconds.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["rnnkit.tune"])
    else:
        context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_process, args=(plan, index), name=f"rnnkit-tune-{index}")
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        # The workers got the same Ctrl-C: give them a moment to record their trials.
        for process in processes:
            process.join(timeout=30)
        raise
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    for index, process in enumerate(processes):
        if process.exitcode:
            log.error("worker %d exited with code %s", index, process.exitcode)


def _worker_process(plan: _Plan, worker_index: int) -> None:
    """Entry point of a worker process: the launcher's directory, logging and threads."""
    os.chdir(plan.cwd)  # a fork server's children start in the server's directory
    logging.basicConfig(
        level=plan.log_level, format=f"[worker {worker_index}] %(levelname)s %(message)s"
    )
    if plan.threads is not None:
        import torch

        torch.set_num_threads(plan.threads)
    try:
        _work(plan)
    except KeyboardInterrupt:
        # Ctrl-C reaches every worker; the trial is recorded as interrupted already.
        raise SystemExit(130) from None


def _work(plan: _Plan) -> None:
    """A worker: claim queued trials one at a time and run them until the queue is empty."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune_config = TuneConfig.model_validate(plan.tune_config)
    storage = open_storage(plan.storage)
    study = optuna.load_study(study_name=plan.study_name, storage=storage)
    study.pruner = _pruner(tune_config)
    failures: list[str] = []  # this worker's failures since its last success
    with _quiet_lightning():
        while plan.deadline is None or time.time() < plan.deadline:
            trial = _claim(study)
            if trial is None:
                return
            study.sampler = _sampler(tune_config, trial.number)
            reason = _run_one(study, trial, plan, tune_config)
            failures = [*failures, reason] if reason is not None else []
            if _hopeless(study, failures):
                log.error(
                    "stopping: %d trials in a row failed the same way and none has completed: %s",
                    len(failures),
                    failures[-1],
                )
                return


# A failure that every trial meets (a missing dataset, a broken install) is not worth
# repeating for the whole budget: a worker stops after this many identical failures in a
# row while no trial of the study has completed. The queue keeps the rest.
_SAME_FAILURES_TO_STOP = 3


def _hopeless(study: optuna.Study, failures: list[str]) -> bool:
    recent = failures[-_SAME_FAILURES_TO_STOP:]
    if len(recent) < _SAME_FAILURES_TO_STOP or len(set(recent)) != 1:
        return False
    return not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's per-run notices (accelerators, tips), repeated for every trial, hidden."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _sampler(tune_config: TuneConfig, trial_number: int) -> optuna.samplers.BaseSampler:
    # One random stream per trial number, whichever worker or launch runs the trial: a
    # seed per worker would make workers started alike (on other machines, or by a later
    # `rnnkit tune` on the same study) propose the same points; per trial they cannot,
    # and a seeded search gives each trial number the same draw every time.
    seed = None
    if tune_config.seed is not None:
        entropy = [tune_config.seed, trial_number]
        seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    if tune_config.sampler == "tpe":
        # TPE models the trials seen so far; it starts once a few random ones exist.
        startup = max(1, min(10, tune_config.trials // 3))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    return optuna.samplers.RandomSampler(seed=seed)  # grid points come from the queue


def _pruner(tune_config: TuneConfig) -> optuna.pruners.BasePruner:
    if tune_config.pruner == "median":
        # Judge a trial only after 3 trials finished, and from its second validation on
        # (steps count validations from 1; optuna skips steps below n_warmup_steps).
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if tune_config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _claim(study: optuna.Study) -> optuna.Trial | None:
    """Atomically take a queued trial; None when the queue is empty."""
    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, frozen.number)
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                return optuna.Trial(study, trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _run_one(
    study: optuna.Study, trial: optuna.Trial, plan: _Plan, tune_config: TuneConfig
) -> str | None:
    """Run a claimed trial and record its outcome; returns why it failed, if it did."""
    run_dir = plan.study_dir / f"trial-{trial.number:04d}"
    trial.set_user_attr(ATTR_RUN_DIR, str(run_dir))
    heartbeat = _Heartbeat(trial)
    heartbeat.start()
    pruning = TrialPruning(trial, tune_config.metric)
    try:
        params = suggest(trial, tune_config.space, tune_config.sampler)
        duplicate = _earlier_duplicate(study, trial, params)
        if duplicate is not None:
            _fail(study, trial, f"grid point already run by trial {duplicate}")
            return None  # not a failure of the trial's settings
        log.info("trial %d: %s", trial.number, _format_params(params))
        trial_config = _trial_config(plan.base_config, params, trial.number)
        # Progress bars of several workers would overwrite each other; the log says enough.
        trial_config.train.progress_bar = False
        finished_dir = plan.run_trial(trial_config, run_dir, pruning)
        value = _read_metric(Path(finished_dir), tune_config.metric)
    except optuna.TrialPruned as err:
        _prune(study, trial, pruning.pruned_reason or str(err) or "pruned")
        return None
    except KeyboardInterrupt:
        trial.set_user_attr(ATTR_RETRY, True)
        _fail(study, trial, "interrupted")
        raise
    except Exception as err:  # a failed trial is a result; the study goes on
        if pruning.pruned_reason is not None:  # the engine wrapped optuna.TrialPruned
            _prune(study, trial, pruning.pruned_reason)
            return None
        log.debug("trial %d failed", trial.number, exc_info=True)
        return _fail(study, trial, _one_line(err))
    finally:
        heartbeat.stop()
    if not math.isfinite(value):
        return _fail(study, trial, f"val/{tune_config.metric} = {value}")
    study.tell(trial, value)
    log.info("trial %d: val/%s = %.6g", trial.number, tune_config.metric, value)
    return None


def _earlier_duplicate(
    study: optuna.Study, trial: optuna.Trial, params: dict[str, Any]
) -> int | None:
    """For a grid: the lower-numbered trial that owns the same point, if any.

    Two launchers topping the queue up at the same moment can queue one point twice;
    the lowest-numbered trial of a point runs it and the others stand down.
    """
    if study.user_attrs.get("sampler") != "grid":
        return None
    key = _point_key(params)
    for other in study.get_trials(deepcopy=False):
        if other.number >= trial.number or _retryable(other):
            continue
        if _point_key(other.system_attrs.get("fixed_params", other.params)) == key:
            return other.number
    return None


def _trial_config(base: dict[str, Any], params: Mapping[str, Any], number: int) -> Config:
    raw = dict(base)
    raw["tune"] = None  # a trial is a plain training run
    raw["name"] = f"{base.get('name', 'run')}-trial-{number:04d}"
    return config_module.load(raw, params)


def _read_metric(run_dir: Path, metric: str) -> float:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"the run wrote no metrics.json in {run_dir}")
    val = json.loads(path.read_text(encoding="utf-8")).get("val", {})
    if metric not in val:
        raise KeyError(f"metrics.json has no val metric '{metric}' (has: {', '.join(val)})")
    value = val[metric]
    return float("nan") if value is None else float(value)


def _prune(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr(ATTR_REASON, reason)
    study.tell(trial, state=TrialState.PRUNED)
    log.info("trial %d: %s", trial.number, reason)


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> str:
    trial.set_user_attr(ATTR_REASON, reason)
    study.tell(trial, state=TrialState.FAIL)
    log.warning("trial %d failed: %s", trial.number, reason)
    return reason


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "(no message)"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(err).__name__}: {text}"


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={_format_value(value)}" for key, value in params.items())


def _format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _Heartbeat:
    """Stamps the running trial every HEARTBEAT_SECONDS so a dead worker can be told apart."""

    def __init__(self, trial: optuna.Trial) -> None:
        self._trial = trial
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="tune-heartbeat")

    def start(self) -> None:
        self._trial.set_user_attr(ATTR_HEARTBEAT, time.time())
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                self._trial.set_user_attr(ATTR_HEARTBEAT, time.time())
            except Exception:  # the trial finished between the wait and the write
                return


# ----------------------------------------------------------------------------- summary


def summarize(study_name: str, storage: str, study_dir: str | Path) -> StudySummary:
    """Read a study back: rows, best trial, and write best.yaml, trials.csv and plots."""
    folder = Path(study_dir)
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise ConfigError(f"no study '{study_name}' in {storage}") from None
    metric = str(study.user_attrs.get("metric", "loss"))
    trials = study.get_trials(deepcopy=False)
    rows = tuple(_row(t) for t in trials if t.state != TrialState.WAITING)
    queued = sum(1 for t in trials if t.state == TrialState.WAITING)
    completed = [t for t in trials if t.state == TrialState.COMPLETE]

    best_number = best_params = best_value = best_run_dir = best_config = None
    if completed:
        best = study.best_trial
        best_number = best.number
        best_params, best_value = dict(best.params), best.value
        best_run_dir = (
            Path(best.user_attrs[ATTR_RUN_DIR]) if ATTR_RUN_DIR in best.user_attrs else None
        )
        best_config = _write_best_config(folder, best, metric, study.direction.name.lower())
    _write_trials_csv(folder / "trials.csv", rows, metric)
    plots = _write_plots(study, folder, metric)
    return StudySummary(
        study_name=study_name,
        storage=storage,
        study_dir=folder,
        metric=metric,
        direction=study.direction.name.lower(),
        best_trial=best_number,
        best_params=best_params,
        best_value=best_value,
        best_run_dir=best_run_dir,
        best_config=best_config,
        trials=rows,
        plots=tuple(plots),
        queued=queued,
    )


def _row(trial: FrozenTrial) -> TrialRow:
    value = trial.value
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    run_dir = trial.user_attrs.get(ATTR_RUN_DIR)
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        params=dict(trial.params),
        value=value,
        duration_s=duration,
        run_dir=Path(run_dir) if run_dir else None,
        reason=trial.user_attrs.get(ATTR_REASON),
    )


def _write_best_config(folder: Path, best: FrozenTrial, metric: str, direction: str) -> Path | None:
    base_path = folder / "config.yaml"
    if not base_path.is_file():
        return None
    base = config_module.read_yaml(base_path)
    best_config = _trial_config(base, best.params, best.number)
    best_config = best_config.model_copy(update={"name": base.get("name", "run")})
    header = (
        f"# Best trial {best.number} of this study ({direction} val/{metric}): "
        f"val/{metric} = {best.value:.6g}\n"
        f"# Parameters: {_format_params(best.params)}\n"
        f"# Train it: rnnkit train {folder / 'best.yaml'}\n"
    )
    path = folder / "best.yaml"
    _write_atomic(path, (header + config_module.dump(best_config)).encode("utf-8"))
    return path


def _write_trials_csv(path: Path, rows: Sequence[TrialRow], metric: str) -> None:
    import csv
    import io

    keys = sorted({key for row in rows for key in row.params})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["number", "state", *keys, f"val_{metric}", "duration_s", "run_dir", "reason"])
    for row in rows:
        writer.writerow(
            [
                row.number,
                row.state,
                *(row.params.get(key, "") for key in keys),
                "" if row.value is None else row.value,
                "" if row.duration_s is None else f"{row.duration_s:.3f}",
                row.run_dir or "",
                row.reason or "",
            ]
        )
    _write_atomic(path, buffer.getvalue().encode("utf-8"))


def _write_plots(study: optuna.Study, folder: Path, metric: str) -> list[Path]:
    """history.png always (once a trial completed); importances.png when it means something."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        return []
    # No matplotlib.use(): the figures are only saved, and switching the backend would
    # take a notebook's inline plotting away from its user.
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    plots: list[Path] = []
    target_name = f"val/{metric}"
    varied = [
        key
        for key in study.user_attrs.get("space", {})
        if len({_point_key({key: t.params.get(key)}) for t in completed}) > 1
    ]
    jobs: list[tuple[str, Callable[[], Any]]] = [
        (
            "history.png",
            lambda: optuna_plots.plot_optimization_history(study, target_name=target_name),
        )
    ]
    if len(completed) >= 2 and varied:
        jobs.append(
            (
                "importances.png",
                lambda: optuna_plots.plot_param_importances(
                    study, params=varied, target_name=target_name
                ),
            )
        )
    else:
        log.info("no importances plot: it needs 2 completed trials with varied parameters")
    for name, draw in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna's matplotlib plots are "experimental"
                axes = draw()
            figure = axes.figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            path = folder / name
            tmp = path.with_name(f".{name}.tmp.png")
            figure.savefig(tmp, dpi=100)
            os.replace(tmp, path)
            plt.close(figure)
            plots.append(path)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            log.warning("could not draw %s: %s", name, err)
            plt.close("all")
    return plots


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- display


def trials_table(summary: StudySummary) -> Table:
    """A rich table of the trials: parameters, metric, state, duration, reason.

    Parameter columns are headed by the last part of their key (``lr`` for
    ``train.optimizer.lr``) where that is unambiguous; the best trial is starred.
    """
    from rich.table import Table

    keys = sorted({key for row in summary.trials for key in row.params})
    last_parts = [key.rsplit(".", 1)[-1] for key in keys]
    headers = [
        part if last_parts.count(part) == 1 else key
        for key, part in zip(keys, last_parts, strict=True)
    ]
    best_number = summary.best_trial
    table = Table(title=f"study {summary.study_name}: {summary.direction} val/{summary.metric}")
    table.add_column("trial", justify="right")
    for header in headers:
        table.add_column(header, justify="right")
    table.add_column(f"val/{summary.metric}", justify="right")
    table.add_column("state")
    table.add_column("time", justify="right")
    table.add_column("note", overflow="fold")
    for row in summary.trials:
        table.add_row(
            f"{row.number}*" if row.number == best_number else str(row.number),
            *(_format_value(row.params[key]) if key in row.params else "" for key in keys),
            "" if row.value is None else f"{row.value:.4g}",
            row.state.lower(),
            "" if row.duration_s is None else f"{row.duration_s:.1f}s",
            row.reason or "",
            style="bold" if row.number == best_number else None,
        )
    return table


__all__ = [
    "RunTrial",
    "StudySummary",
    "TrialPruning",
    "TrialRow",
    "check_space",
    "grid_points",
    "open_storage",
    "summarize",
    "train_trial",
    "trials_table",
    "tune",
]


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`tune`.

    ``rnnkit.tune`` is the public function, but importing this submodule binds the module
    to the same attribute of the package; calling the module calls the function, so
    ``rnnkit.tune(config)`` works whichever of the two the name holds.
    """

    def __call__(
        self,
        config: str | Path | Mapping[str, Any] | Config,
        overrides: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        trials: int | None = None,
        workers: int = 1,
        storage: str | None = None,
    ) -> StudySummary:
        return tune(config, overrides, trials=trials, workers=workers, storage=storage)


sys.modules[__name__].__class__ = _CallableModule
