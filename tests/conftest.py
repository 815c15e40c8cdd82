"""Shared fixtures. Tests marked `data` need the offline mirror (RNNKIT_MIRROR)."""

from __future__ import annotations

import builtins
import errno
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

# Two test workers share two cores: one thread each keeps them from fighting.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RNNKIT_MIRROR"):
        return
    skip = pytest.mark.skip(reason="needs the data mirror: set RNNKIT_MIRROR")
    for item in items:
        if item.get_closest_marker("data") is not None:  # not item.keywords: it holds dir names
            item.add_marker(skip)


@pytest.fixture
def mirror() -> Path:
    """The offline data mirror (only in tests marked `data`)."""
    return Path(os.environ["RNNKIT_MIRROR"])


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One download cache per test process, so mirrored files are verified once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test writes into the user's cache; a test that needs an empty cache makes its own.
    monkeypatch.setenv("RNNKIT_CACHE", str(session_cache))


# ----------------------------------------------------------------------------- read-only


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _ReadOnlyFolders:
    """Makes folders read-only: chmod first; where that does not bind (root), Python's
    file-writing calls are refused with EACCES for paths inside them, as the kernel
    would. Writes from C libraries are not covered, so each case is one that rnnkit
    checks up front or that fails in Python first."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.folders: list[Path] = []
        self.simulated = False

    def __call__(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        self.folders.append(folder.resolve())
        if os.access(folder, os.W_OK) and not self.simulated:
            self._simulate()
        # The fixture must bite: a write inside is refused either way.
        with pytest.raises(PermissionError):
            (folder / ".write-probe").write_text("x")
        return folder

    def _inside(self, path: Any) -> bool:
        if isinstance(path, int):
            return False
        resolved = os.path.abspath(os.fsdecode(path))
        return any(resolved == str(f) or resolved.startswith(f"{f}{os.sep}") for f in self.folders)

    def _refuse(self, path: Any) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    def _simulate(self) -> None:
        self.simulated = True
        real_open, real_os_open = builtins.open, os.open
        real = {name: getattr(os, name) for name in ("mkdir", "unlink", "remove", "rmdir")}
        real_rename, real_replace = os.rename, os.replace

        def guarded_open(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+") and self._inside(file):
                self._refuse(file)
            return real_open(file, mode, *args, **kwargs)

        def guarded_os_open(path, flags, *args, **kwargs):
            if flags & _WRITE_FLAGS and self._inside(path):
                self._refuse(path)
            return real_os_open(path, flags, *args, **kwargs)

        def guard(name: str):
            def guarded(path, *args, **kwargs):
                # An existing path keeps its own error (mkdir of a folder that exists).
                if self._inside(path) and not (name == "mkdir" and os.path.exists(path)):
                    self._refuse(path)
                return real[name](path, *args, **kwargs)

            return guarded

        def guarded_move(real_move):
            def move(src, dst, *args, **kwargs):
                for path in (src, dst):
                    if self._inside(path):
                        self._refuse(path)
                return real_move(src, dst, *args, **kwargs)

            return move

        self.monkeypatch.setattr(builtins, "open", guarded_open)
        self.monkeypatch.setattr(io, "open", guarded_open)
        self.monkeypatch.setattr(os, "open", guarded_os_open)
        for name in real:
            self.monkeypatch.setattr(os, name, guard(name))
        self.monkeypatch.setattr(os, "rename", guarded_move(real_rename))
        self.monkeypatch.setattr(os, "replace", guarded_move(real_replace))

    def restore(self) -> None:
        for folder in self.folders:
            for path in [folder, *folder.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[_ReadOnlyFolders]:
    """``read_only(folder)``: that folder and the folders under it become read-only."""
    folders = _ReadOnlyFolders(monkeypatch)
    yield folders
    monkeypatch.undo()
    folders.restore()
