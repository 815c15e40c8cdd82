"""Shared fixtures. Tests marked `data` need the offline mirror (RNNKIT_MIRROR)."""

from __future__ import annotations

import os
from pathlib import Path

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
