"""A pandas DataFrame as ``data.dataset`` from the Python API.

``rnnkit.train({"task": "forecasting", "data": {"dataset": frame, ...}})`` (or the
override ``{"data.dataset": frame}``) trains on the frame's rows. The frame is written
into the run directory as ``data/dataset.csv`` (atomically) and the run's config.yaml
names that file, so the run can be trained again, evaluated and diagnosed from its
directory alone. Until then the config calls it ``<DataFrame 730x3>``: no message ever
prints the frame itself.

A DataFrame is a table; the tasks that read tables (the dataset kinds a CSV file gives:
a series, or labelled text) take one. A non-default index (dates, say) is written as a
column, under its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rnnkit.config import Config
from rnnkit.errors import ConfigError

DATA_DIR = "data"
FRAME_FILE = "dataset.csv"
#: The dataset kinds a CSV table can be read as (rnnkit.data.local_files.table_dataset).
TABLE_KINDS = ("series", "labelled_text")


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame (without importing pandas)."""
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_csv")


def frame_name(frame: Any) -> str:
    """``<DataFrame 730x3>``: how messages and the config name a frame."""
    rows, columns = frame.shape
    return f"<DataFrame {rows}x{columns}>"


def take_frame(
    config: Any, overrides: Mapping[str, Any] | Iterable[str] | None
) -> tuple[Any, Any, Any]:
    """``(config, overrides, frame)`` with a DataFrame given as ``data.dataset`` taken out
    and its name put in its place; ``frame`` is None when there is none."""
    frame = None
    if isinstance(overrides, Mapping) and is_frame(overrides.get("data.dataset")):
        frame = overrides["data.dataset"]
        overrides = {**overrides, "data.dataset": frame_name(frame)}
    if isinstance(config, Mapping):
        data = config.get("data")
        if isinstance(data, Mapping) and is_frame(data.get("dataset")):
            if frame is None:
                frame = data["dataset"]
            config = {**config, "data": {**data, "dataset": frame_name(frame)}}
    # Anywhere else a frame would pass as a list of its column names (pydantic iterates it).
    found = _frames(config) + (_frames(dict(overrides)) if isinstance(overrides, Mapping) else [])
    if found:
        key, other = found[0]
        raise ConfigError(
            f"config key '{key}' = {frame_name(other)}: only data.dataset can be a DataFrame"
        )
    return config, overrides, frame


def _frames(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if is_frame(tree):
        return [(prefix, tree)]
    if not isinstance(tree, Mapping):
        return []
    found = []
    for key, value in tree.items():
        found.extend(_frames(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


def check_task(config: Config, frame: Any) -> None:
    """Refuse a frame for a task that reads no table, before anything is written."""
    from rnnkit.tasks import get_spec, specs

    if set(get_spec(config.task).dataset_kinds) & set(TABLE_KINDS):
        return
    readers = [s.name for s in specs() if set(s.dataset_kinds) & set(TABLE_KINDS)]
    raise ConfigError(
        f"config key 'data.dataset' = {frame_name(frame)}: a {config.task} run does not read "
        f"a table; a DataFrame works for task {', '.join(readers)} (give this task a "
        "dataset name or a path)"
    )


def frame_path(run_dir: Path) -> Path:
    return Path(run_dir).resolve() / DATA_DIR / FRAME_FILE


def attach(config: Config, frame: Any, run_dir: Path, *, write: bool = True) -> Config:
    """Write ``frame`` to ``run_dir/data/dataset.csv`` and return ``config`` reading it.

    ``write=False`` (the other processes of a distributed run) only names the file the
    first process wrote.
    """
    from rnnkit.rundir import write_text
    from rnnkit.tasks import load_config

    path = frame_path(run_dir)
    if write:
        if frame.shape[0] == 0:
            raise ConfigError(f"config key 'data.dataset' = {frame_name(frame)}: it has no rows")
        default_index = type(frame.index).__name__ == "RangeIndex"
        write_text(path, frame.to_csv(index=not default_index))
    return load_config(config, {"data.dataset": str(path)})
