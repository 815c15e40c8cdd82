"""The search itself: the study, its queue of trials and the workers."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnkit import config as config_module
from rnnkit import tasks
from rnnkit.config import Config, RangeSpec, TuneConfig
from rnnkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    pass


from rnnkit.search.constants import (
    ATTR_HEARTBEAT,
    ATTR_REASON,
    ATTR_RETRY,
    ATTR_RUN_DIR,
    HEARTBEAT_GRACE_SECONDS,
    HEARTBEAT_SECONDS,
)
from rnnkit.search.pruning import RunTrial, TrialPruning, train_trial
from rnnkit.search.space import check_space, grid_points, suggest
from rnnkit.search.storage import open_storage
from rnnkit.search.summary import (
    StudySummary,
    _format_params,
    _point_key,
    _trial_config,
    summarize,
)

log = logging.getLogger(__name__)


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
    base = tasks.load_config(config, overrides)
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
    metrics = tasks.get_spec(config.task).metrics
    valid = tuple(metrics)
    if tune_config.metric not in valid:
        raise ConfigError(
            f"tune.metric = {tune_config.metric!r} is not a validation metric of a "
            f"{config.task} run; valid: {', '.join(valid)}"
        )
    if metrics[tune_config.metric] == "near":
        raise ConfigError(
            f"tune.metric = {tune_config.metric!r} should be near a nominal value, not minimised "
            "or maximised; tune on a scoring rule instead (crps or pinball for intervals)"
        )
    if (metrics[tune_config.metric] == "max") != (tune_config.direction == "maximize"):
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


def _run_workers(plan: _Plan, workers: int) -> None:
    # Not fork: a child forked from a process that has run torch inherits its thread
    # pools and locks mid-state. A fork server that imported rnnkit.search.study (and so torch and
    # Lightning) but ran nothing starts each worker in milliseconds instead of seconds.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["rnnkit.search.study"])
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
    pruning = TrialPruning(trial, tune_config.metric, pruner_on=tune_config.pruner != "none")
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
