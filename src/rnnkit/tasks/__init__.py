"""The task registry: ``config.task`` -> the task's :class:`rnnkit.tasks.spec.TaskSpec`.

Adding a task is one folder ``rnnkit/tasks/<name>/`` (its ``__init__.py`` defines the
spec; see :mod:`rnnkit.tasks.spec`) and one line in :data:`TASKS`. Everything else asks
the spec: config loading, the engine, ``rnnkit.load``, export, tuning and the CLI.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.errors import ConfigError, RunDirError

if TYPE_CHECKING:  # pragma: no cover
    from rnnkit.config import Config
    from rnnkit.tasks.spec import TaskSpec

log = logging.getLogger(__name__)

#: config.task -> "module:attribute" of the task's spec.
TASKS: dict[str, str] = {
    "language_model": "rnnkit.tasks.language_model:SPEC",
    "classification": "rnnkit.tasks.classification:SPEC",
    "forecasting": "rnnkit.tasks.forecasting:SPEC",
    "adding": "rnnkit.tasks.synthetic:ADDING",
    "copy": "rnnkit.tasks.synthetic:COPY",
    "tagging": "rnnkit.tasks.tagging:SPEC",
    "translation": "rnnkit.tasks.translation:SPEC",
    "speech_recognition": "rnnkit.tasks.speech_recognition:SPEC",
}

#: Older task names, still read (with a deprecation note in the log).
ALIASES: dict[str, str] = {"sequence_regression": "adding", "sequence_labeling": "copy"}


def names() -> list[str]:
    return list(TASKS)


@functools.cache
def get_spec(name: str) -> TaskSpec:
    """The spec of the task called ``name`` (a registered name or an older alias)."""
    from rnnkit.tasks.spec import resolve

    if name in ALIASES:
        log.warning("task %r is now called %r; the old name will go away", name, ALIASES[name])
        name = ALIASES[name]
    if not isinstance(name, str) or name not in TASKS:
        raise ConfigError(f"config key 'task' = {name!r}: not a task; valid: {', '.join(TASKS)}")
    return resolve(TASKS[name])


def specs() -> Iterable[TaskSpec]:
    return (get_spec(name) for name in TASKS)


def _schema(task: Any) -> type[Config]:
    if task is None:
        raise ConfigError(f"config key 'task' is required; valid: {', '.join(TASKS)}")
    if not isinstance(task, str):
        raise ConfigError(f"config key 'task' = {task!r}: not a task; valid: {', '.join(TASKS)}")
    return get_spec(task).config


def _owners(section: str, key: str) -> list[str]:
    """The tasks whose ``section`` (data or model) has a field ``key``."""
    found = []
    for spec in specs():
        model = spec.config.model_fields.get(section)
        fields = getattr(model.annotation, "model_fields", {}) if model else {}
        if key in fields:
            found.append(spec.name)
    return found


def load_config(
    source: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> Config:
    """Read a config (YAML path, mapping or config), apply dotted overrides, validate it
    against its task's sections."""
    from rnnkit.config.base import load

    return load(source, overrides, _schema, _owners)


def load_run_config(run_dir: str | Path) -> Config:
    """The resolved config a run directory was trained with."""
    from rnnkit.rundir import CONFIG_FILE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir} has no {CONFIG_FILE}; is it an rnnkit run directory?")
    try:
        return load_config(path)
    except ConfigError as err:
        raise RunDirError(f"{path}: {err}") from None
