"""A tiny speech recognition config for the registry's contract test: utterances of two
tone "words" (low, high) written as WAV files with a transcripts.tsv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RATE = 8000
TONES = {"low": 300.0, "high": 1200.0}


def write_corpus(folder: Path, count: int = 24, seed: int = 0) -> Path:
    """``<folder>/<i>.wav`` (1-3 words: 100 ms tones between 50 ms pauses) and
    ``<folder>/transcripts.tsv``."""
    from rnnkit.data.audio import write_wav

    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        words = [str(w) for w in rng.choice(list(TONES), size=int(rng.integers(1, 4)))]
        pieces = [np.zeros(400, dtype=np.float32)]
        for word in words:
            t = np.arange(800) / RATE
            pieces += [0.4 * np.sin(2 * np.pi * TONES[word] * t), np.zeros(400)]
        write_wav(folder / f"{i:03d}.wav", np.concatenate(pieces).astype(np.float32), RATE)
        lines.append(f"{i:03d}.wav\t{' '.join(words)}\n")
    (folder / "transcripts.tsv").write_text("".join(lines), encoding="utf-8")
    return folder


def tiny_config(folder: Path) -> dict[str, Any]:
    corpus = write_corpus(folder / "speech")
    return {
        "name": "tiny-speech",
        "task": "speech_recognition",
        "data": {
            "dataset": str(corpus),
            "units": "word",
            "n_mels": 16,
            "batch_size": 8,
            "split": {"val": 0.2, "test": 0.2},
            "cache_dir": str(folder / "cache"),
        },
        "model": {"hidden_size": 8, "num_layers": 1, "conv_channels": 8, "beam_size": 2},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
