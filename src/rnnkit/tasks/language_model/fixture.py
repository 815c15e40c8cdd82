"""A tiny word-level corpus for the registry's contract test, written as split files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any


def tiny_config(folder: Path) -> dict[str, Any]:
    generator = random.Random(0)
    words = [
        "the",
        "cat",
        "sat",
        "on",
        "a",
        "mat",
        "and",
        "dog",
        "ran",
        "to",
        "big",
        "red",
        "house",
    ]
    corpus = folder / "corpus"
    corpus.mkdir(exist_ok=True)
    for split, lines in (("train", 200), ("valid", 30), ("test", 30)):
        text = "\n".join(" ".join(generator.choices(words, k=8)) for _ in range(lines))
        (corpus / f"{split}.txt").write_text(text + "\n", encoding="utf-8")
    return {
        "name": "tiny-language-model",
        "task": "language_model",
        "data": {"dataset": str(corpus), "tokenizer": "word", "batch_size": 4, "bptt": 8},
        "model": {"hidden_size": 8, "embedding_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
