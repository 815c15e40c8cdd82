"""Optuna storages: a journal file by default, or any RDB URL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from rnnkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    pass


log = logging.getLogger(__name__)


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
