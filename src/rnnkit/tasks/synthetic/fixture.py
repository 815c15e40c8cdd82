"""Tiny configs of the synthetic tasks for the registry's contract test."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _tiny(task: str) -> dict[str, Any]:
    return {
        "name": f"tiny-{task}",
        "task": task,
        "data": {"dataset": task, "length": 8, "train_samples": 64, "eval_samples": 32},
        "model": {"hidden_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }


def adding_config(folder: Path) -> dict[str, Any]:
    return _tiny("adding")


def copy_config(folder: Path) -> dict[str, Any]:
    return _tiny("copy")
