"""A tiny corpus and config for end-to-end training tests (seconds on one core)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest


def write_corpus(path: Path, lines: int = 200, seed: int = 0) -> Path:
    """Sentences over eight words, with a pattern a small LSTM can pick up."""
    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]
    text = []
    for _ in range(lines):
        first = rng.choice(words)
        text.append(" ".join([first, "cat" if first == "the" else rng.choice(words)] * 4))
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def tiny_config(corpus: Path, **train: Any) -> dict[str, Any]:
    return {
        "name": "tiny",
        "seed": 3,
        "task": "language_model",
        "data": {
            "dataset": str(corpus),
            "tokenizer": "char",
            "batch_size": 4,
            "bptt": 12,
            "split": {"valid": 0.1, "test": 0.1},
        },
        "model": {"hidden_size": 16, "embedding_size": 8},
        "train": {
            "optimizer": {"name": "adam", "lr": 0.01},
            "max_epochs": 2,
            "progress_bar": False,
            "log_every_n_steps": 5,
            **train,
        },
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture
def make_config(corpus: Path):
    """``make_config(**train_overrides)``: the tiny config on the tiny corpus."""

    def make(**train: Any) -> dict[str, Any]:
        return tiny_config(corpus, **train)

    return make
