"""A tiny text-classification config for the registry's contract test: two classes of
short texts that differ by their words, written as CSV."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any


def tiny_config(folder: Path) -> dict[str, Any]:
    words = {"pos": ["fine", "great", "lovely", "good"], "neg": ["dull", "bad", "awful", "poor"]}
    generator = random.Random(0)
    rows = ["text,label"]
    for n in range(120):
        label = "pos" if n % 2 else "neg"
        text = " ".join(generator.choice(words[label] + ["film", "the"]) for _ in range(6))
        rows.append(f"{text},{label}")
    path = folder / "texts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {
        "name": "tiny-classification",
        "task": "classification",
        "data": {"dataset": str(path), "tokenizer": "word", "batch_size": 16},
        "model": {"hidden_size": 8, "embedding_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
