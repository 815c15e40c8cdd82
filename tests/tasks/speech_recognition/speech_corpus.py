"""A tiny transcribed corpus of tones ("low", "high") for the speech tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

WORDS = {"low": 300.0, "high": 1200.0}


def make_utterance(path: Path, words: list[str], rate: int = 8000) -> None:
    """50 ms silence, then per word a 200 ms tone and 50 ms silence."""
    pieces = [np.zeros(400)]
    for word in words:
        t = np.arange(1600) / rate
        pieces += [0.4 * np.sin(2 * np.pi * WORDS[word] * t), np.zeros(400)]
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.concatenate(pieces), rate, subtype="PCM_16")


def make_corpus(folder: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """``<folder>/<split>/<i>.wav`` with ``transcripts.tsv`` per split."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        lines = []
        for i in range(count):
            words = list(rng.choice(list(WORDS), size=int(rng.integers(1, 4))))
            make_utterance(folder / split / f"{i}.wav", words)
            lines.append(f"{i}.wav\t{' '.join(words)}\n")
        (folder / split / "transcripts.tsv").write_text("".join(lines), encoding="utf-8")
    return folder
