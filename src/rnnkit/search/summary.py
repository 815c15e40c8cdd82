"""The study's summary: trials table, trials.csv, best.yaml and plots."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnkit import config as config_module
from rnnkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table


from rnnkit import tasks
from rnnkit.config import Config
from rnnkit.search.constants import ATTR_REASON, ATTR_RUN_DIR
from rnnkit.search.storage import open_storage

log = logging.getLogger(__name__)


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


def _point_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=str)


def _trial_config(base: dict[str, Any], params: Mapping[str, Any], number: int) -> Config:
    raw = dict(base)
    raw["tune"] = None  # a trial is a plain training run
    raw["name"] = f"{base.get('name', 'run')}-trial-{number:04d}"
    return tasks.load_config(raw, params)


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={_format_value(value)}" for key, value in params.items())


def _format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
