"""A tiny translation config for the registry's contract test: German number words to
English, as aligned files per split."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

_WORDS = {"eins": "one", "zwei": "two", "drei": "three", "vier": "four", "fünf": "five"}


def tiny_config(folder: Path) -> dict[str, Any]:
    data = folder / "pairs"
    data.mkdir(parents=True, exist_ok=True)
    sources = [" ".join(words) for words in itertools.permutations(_WORDS, 2)]  # 20 pairs
    targets = [" ".join(_WORDS[w] for w in s.split()) + " ." for s in sources]
    for split, rows in (("train", slice(0, 14)), ("val", slice(14, 17)), ("test", slice(17, 20))):
        (data / f"{split}.de").write_text("\n".join(sources[rows]) + "\n", encoding="utf-8")
        (data / f"{split}.en").write_text("\n".join(targets[rows]) + "\n", encoding="utf-8")
    return {
        "name": "tiny-translation",
        "task": "translation",
        "data": {"dataset": str(data), "source_lang": "de", "target_lang": "en", "batch_size": 4},
        "model": {"cell": "gru", "hidden_size": 8, "embedding_size": 8, "beam_size": 2},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
