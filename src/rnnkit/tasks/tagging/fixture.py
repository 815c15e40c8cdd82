"""A tiny tagging config for the registry's contract test: BIO-tagged sentences written
as CoNLL column files (train/dev/test), so entity metrics run too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_NAMES = ["Anna", "Ben", "Cleo", "Dev"]
_PLACES = ["Paris", "Oslo", "Rome", "Lima"]


def _sentences(offset: int, count: int) -> str:
    blocks = []
    for i in range(offset, offset + count):
        name, place = _NAMES[i % 4], _PLACES[(i // 4) % 4]
        rows = [f"{name} B-PER", "visited O", f"{place} B-LOC", "New B-LOC", "York I-LOC", ". O"]
        blocks.append("\n".join(rows[: 3 + i % 4]))
    return "\n\n".join(blocks) + "\n"


def tiny_config(folder: Path) -> dict[str, Any]:
    data = folder / "ner"
    data.mkdir(parents=True, exist_ok=True)
    (data / "train.txt").write_text(_sentences(0, 24), encoding="utf-8")
    (data / "dev.txt").write_text(_sentences(24, 6), encoding="utf-8")
    (data / "test.txt").write_text(_sentences(30, 6), encoding="utf-8")
    return {
        "name": "tiny-tagging",
        "task": "tagging",
        "data": {"dataset": str(data), "batch_size": 8},
        "model": {
            "hidden_size": 8,
            "num_layers": 1,
            "embedding_size": 8,
            "char_embedding_size": 4,
            "char_hidden_size": 4,
            "crf": True,
        },
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
