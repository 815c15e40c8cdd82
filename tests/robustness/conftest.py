"""Fixtures of the bad-input corpus: tiny trained runs to damage (copies of them).

The cases assert what a user sees (see cli_contract.py); read-only folders come from the
``read_only`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.tasks import get_spec

TASKS = ("adding", "forecasting", "classification", "language_model")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny finished run per task (the registry's fixtures, one epoch each), and a
    recursive forecaster (``forecasting-recursive``) for long horizons."""
    from rnnkit.engine.api import train

    runs: dict[str, Path] = {}
    for name in (*TASKS, "forecasting-recursive"):
        folder = tmp_path_factory.mktemp(name)
        config = get_spec(name.split("-")[0]).tiny_config(folder)
        if name == "forecasting-recursive":
            config["model"]["strategy"] = "recursive"
        runs[name] = train(config, run_dir=folder / "run")
    return runs


@pytest.fixture
def run_copy(trained: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """``run_copy(task)``: a private copy of that task's trained run directory."""

    def copy(name: str) -> Path:
        target = tmp_path / f"copy-{name}"
        shutil.copytree(trained[name], target, ignore=shutil.ignore_patterns(".rnnkit.lock"))
        return target

    return copy
