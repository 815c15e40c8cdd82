"""Audio datasets: folders of labelled clips, transcribed clips, FSDD and connected digits.

Two kinds of :class:`rnnkit.data.sources.LoadedDataset` come from here, each a DataFrame
per split (paths are absolute strings; the audio is read later, by the features):

- ``audio_classes``: ``path``, ``label``, ``speaker`` (``""`` when unknown) -- spoken-word
  classification. Read from a folder of ``<label>/*.wav`` or ``<split>/<label>/*.wav``
  (:func:`read_audio_classes`), or from the Free Spoken Digit Dataset (:func:`read_fsdd`);
- ``transcribed_audio``: ``path``, ``text`` -- speech recognition. Read from a folder with
  a ``transcripts.tsv`` of ``<file><TAB><text>`` lines, or with one such folder per split
  (:func:`read_transcribed_folder`). ``fsdd-connected`` is made in that layout from FSDD
  (:func:`make_connected_digits`).

Nothing here imports :mod:`rnnkit.data.sources` (which calls into this module).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.audio import AUDIO_SUFFIXES, load_audio, write_wav
from rnnkit.errors import DataError

log = logging.getLogger(__name__)

TRANSCRIPT_FILE = "transcripts.tsv"
SOURCES_FILE = "sources.tsv"  # fsdd-connected: the recordings each utterance joins
# Split folder names (as rnnkit.data.local_files reads them; not imported from there, which
# imports this module).
SPLIT_NAMES = ("train", "val", "valid", "validation", "dev", "test")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_RATE = 8000
FSDD_TEST_INDICES = range(0, 5)  # the dataset README: recordings 0-4 are the test set
_FSDD_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[a-z]+)_(?P<index>\d+)\.wav$")


def _frame(rows: list[dict[str, Any]], columns: list[str]):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def split_name(split: str) -> str:
    return "val" if split in {"valid", "validation", "dev"} else split


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


# ----------------------------------------------------------------------------- class folders


def is_audio_folder(folder: Path) -> bool:
    """Whether ``folder`` holds audio by label (``<label>/*.wav``, ``<split>/<label>/*.wav``)
    or transcribed audio (a ``transcripts.tsv``, at the top or in split folders).

    Looks at a few files per folder: a large folder of text files is not listed in full.
    """
    if is_transcribed_folder(folder):
        return True
    for level_one in (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for item in itertools.islice(level_one.iterdir(), 50):
            if item.is_file() and item.suffix.lower() in AUDIO_SUFFIXES:
                return True
            # A few files of each label folder tell: label folders hold one kind of file.
            if item.is_dir() and any(
                p.suffix.lower() in AUDIO_SUFFIXES for p in itertools.islice(item.iterdir(), 20)
            ):
                return True
    return False


def is_transcribed_folder(folder: Path) -> bool:
    if (folder / TRANSCRIPT_FILE).is_file():
        return True
    return any((p / TRANSCRIPT_FILE).is_file() for p in _visible(folder) if p.is_dir())


def read_audio_classes(folder: str | Path) -> dict[str, Any]:
    """Clips by label: ``<folder>/<label>/*.wav`` -> ``{"all": df}``, or
    ``<folder>/<split>/<label>/*.wav`` -> one DataFrame per split (``valid``/``dev`` are
    called ``val``). A label folder with no audio, or a file that is not audio, is an error
    naming it."""
    folder = Path(folder)
    subdirs = [p for p in _visible(folder) if p.is_dir()]
    if not subdirs:
        raise DataError(
            f"{folder} has no label folders: expected <folder>/<label>/*.wav or "
            "<folder>/<split>/<label>/*.wav"
        )
    if all(p.name in SPLIT_NAMES for p in subdirs):
        return {split_name(p.name): _read_label_folders(p) for p in subdirs}
    return {"all": _read_label_folders(folder)}


def _read_label_folders(folder: Path):
    rows = []
    for label_dir in (p for p in _visible(folder) if p.is_dir()):
        files = [p for p in _visible(label_dir) if p.is_file()]
        if not files:
            raise DataError(
                f"{label_dir}: label folder {label_dir.name!r} has no audio files "
                f"({', '.join(AUDIO_SUFFIXES)})"
            )
        for file in files:
            if file.suffix.lower() not in AUDIO_SUFFIXES:
                raise DataError(
                    f"{file}: not an audio file in the label folder {label_dir.name!r}; "
                    f"expected {', '.join(AUDIO_SUFFIXES)}"
                )
            rows.append({"path": str(file.resolve()), "label": label_dir.name, "speaker": ""})
    return _frame(rows, ["path", "label", "speaker"])


# ----------------------------------------------------------------------------- transcripts


def read_transcripts(path: str | Path):
    """A ``<file><TAB><text>`` file -> DataFrame ``path`` (resolved beside it), ``text``.

    Empty lines and lines starting with ``#`` are skipped. A line without a TAB, with no
    text, or naming a file that does not exist is an error naming the file and line.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, tab, text = line.partition("\t")
        where = f"{path}:{number}"
        if not tab:
            raise DataError(f"{where}: expected <file><TAB><text>, got {line[:60]!r}")
        if not text.strip():
            raise DataError(f"{where}: {name!r} has an empty transcript")
        clip = (path.parent / name.strip()).resolve()
        if not clip.is_file():
            raise DataError(f"{where}: no audio file {name.strip()!r} beside {path.name}")
        if clip.suffix.lower() not in AUDIO_SUFFIXES:
            raise DataError(
                f"{where}: {name.strip()!r} is not an audio file ({', '.join(AUDIO_SUFFIXES)})"
            )
        rows.append({"path": str(clip), "text": " ".join(text.split())})
    if not rows:
        raise DataError(f"{path}: no transcribed clips (expected <file><TAB><text> lines)")
    return _frame(rows, ["path", "text"])


def read_transcribed_folder(folder: str | Path) -> dict[str, Any]:
    """``<folder>/transcripts.tsv`` -> ``{"all": df}``; ``<folder>/<split>/transcripts.tsv``
    -> one DataFrame per split (``valid``/``dev`` are called ``val``)."""
    folder = Path(folder)
    if (folder / TRANSCRIPT_FILE).is_file():
        return {"all": read_transcripts(folder / TRANSCRIPT_FILE)}
    splits = {
        split_name(p.name): read_transcripts(p / TRANSCRIPT_FILE)
        for p in _visible(folder)
        if p.is_dir() and p.name in SPLIT_NAMES and (p / TRANSCRIPT_FILE).is_file()
    }
    if not splits:
        raise DataError(
            f"{folder} has no {TRANSCRIPT_FILE}: expected <folder>/{TRANSCRIPT_FILE} or "
            f"<folder>/<split>/{TRANSCRIPT_FILE} with <file><TAB><text> lines"
        )
    return splits


def read_audio_folder(folder: str | Path) -> tuple[str, dict[str, Any]]:
    """``(kind, splits)`` of an audio folder: transcribed audio or audio classes."""
    folder = Path(folder)
    if is_transcribed_folder(folder):
        return "transcribed_audio", read_transcribed_folder(folder)
    return "audio_classes", read_audio_classes(folder)


# ----------------------------------------------------------------------------- FSDD


def read_fsdd(folder: str | Path):
    """The FSDD recordings under ``folder`` (searched recursively): DataFrame ``path``,
    ``label`` (the digit, a string), ``speaker``, ``index`` (0-49), sorted by file name."""
    folder = Path(folder)
    rows = []
    for file in sorted(folder.rglob("*.wav"), key=lambda p: p.name):
        match = _FSDD_NAME.match(file.name)
        if match is None:
            continue
        rows.append(
            {
                "path": str(file.resolve()),
                "label": match["digit"],
                "speaker": match["speaker"],
                "index": int(match["index"]),
            }
        )
    if not rows:
        raise DataError(f"{folder} holds no FSDD recordings <digit>_<speaker>_<index>.wav")
    return _frame(rows, ["path", "label", "speaker", "index"])


def fsdd_official_split(recordings) -> dict[str, Any]:
    """The README's split: recordings 0-4 of every speaker and digit are test, 5-49 train."""
    is_test = recordings["index"].isin(list(FSDD_TEST_INDICES))
    columns = ["path", "label", "speaker"]
    return {
        "train": recordings.loc[~is_test, columns].reset_index(drop=True),
        "test": recordings.loc[is_test, columns].reset_index(drop=True),
    }


def speaker_split(frame, speaker: str) -> dict[str, Any]:
    """Leave one speaker out: ``{"train": every other speaker, "test": speaker}``."""
    speakers = sorted(set(frame["speaker"]) - {""})
    if speaker not in speakers:
        raise DataError(
            f"unknown speaker {speaker!r}: the dataset's speakers are {', '.join(speakers) or 'none'}"
        )
    held_out = frame["speaker"] == speaker
    return {
        "train": frame.loc[~held_out].reset_index(drop=True),
        "test": frame.loc[held_out].reset_index(drop=True),
    }


# ----------------------------------------------------------------------------- connected digits


@dataclass(frozen=True)
class ConnectedDigits:
    """How ``fsdd-connected`` utterances are made from one speaker's FSDD clips.

    Each utterance: a speaker drawn uniformly, ``min_digits``-``max_digits`` digits drawn
    uniformly, for each digit one of that speaker's recordings of it from the split's
    indices (train 5-49, test 0-4: no recording is in both), joined with pauses of
    ``pause_s`` seconds (uniform) and ``edge_s`` of silence at both ends, plus white noise
    at ``snr_db`` below the utterance's speech power. All draws come from ``seed``.
    """

    train_utterances: int = 3000
    test_utterances: int = 500
    min_digits: int = 2
    max_digits: int = 6
    pause_s: tuple[float, float] = (0.05, 0.3)
    edge_s: tuple[float, float] = (0.05, 0.2)
    snr_db: float = 30.0
    seed: int = 20

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def counts(self) -> dict[str, int]:
        return {"train": self.train_utterances, "test": self.test_utterances}


def _silence(rng: np.random.Generator, bounds: tuple[float, float]) -> np.ndarray:
    return np.zeros(round(rng.uniform(*bounds) * FSDD_RATE), dtype=np.float32)


Clips = dict[tuple[str, str], list[tuple[str, np.ndarray]]]  # (speaker, digit) -> (name, wave)


def _utterance(
    rng: np.random.Generator, clips: Clips, speaker: str, spec: ConnectedDigits
) -> tuple[np.ndarray, str, list[str]]:
    """One utterance: its wave, its transcript and the recordings it joins."""
    count = int(rng.integers(spec.min_digits, spec.max_digits + 1))
    digits = [str(d) for d in rng.integers(0, 10, count)]
    parts = [_silence(rng, spec.edge_s)]
    used = []
    speech_power, speech_samples = 0.0, 0
    for position, digit in enumerate(digits):
        choices = clips[(speaker, digit)]
        name, clip = choices[int(rng.integers(len(choices)))]
        used.append(name)
        speech_power += float(np.square(clip, dtype=np.float64).sum())
        speech_samples += len(clip)
        parts.append(clip)
        parts.append(_silence(rng, spec.pause_s if position < count - 1 else spec.edge_s))
    wave = np.concatenate(parts)
    noise_std = np.sqrt(speech_power / speech_samples) * 10.0 ** (-spec.snr_db / 20.0)
    wave = wave + rng.standard_normal(len(wave)).astype(np.float32) * np.float32(noise_std)
    return wave, " ".join(DIGIT_WORDS[int(d)] for d in digits), used


def make_connected_digits(recordings, folder: str | Path, spec: ConnectedDigits) -> Path:
    """Write ``<folder>/<split>/<n>.wav``, ``<split>/transcripts.tsv`` and
    ``<split>/sources.tsv`` (the recordings each utterance joins) for train and test.

    Deterministic: the same recordings and ``spec`` give the same files. The folder is
    written beside itself and renamed into place when complete, and reused afterwards.
    """
    folder = Path(folder)
    marker = folder / ".complete"
    if marker.is_file() and marker.read_text(encoding="utf-8") == spec.key():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        _write_connected(recordings, staging, spec)
        marker_text = spec.key()
        (staging / ".complete").write_text(marker_text, encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _write_connected(recordings, out: Path, spec: ConnectedDigits) -> None:
    rng = np.random.default_rng(spec.seed)
    speakers = sorted(set(recordings["speaker"]))
    for split, count in spec.counts().items():
        in_test = recordings["index"].isin(list(FSDD_TEST_INDICES))
        part = recordings.loc[in_test if split == "test" else ~in_test]
        clips: Clips = {}
        for row in part.itertuples(index=False):
            wave = load_audio(row.path, FSDD_RATE)
            clips.setdefault((row.speaker, row.label), []).append((Path(row.path).name, wave))
        lines, provenance = [], []
        for number in range(count):
            speaker = speakers[int(rng.integers(len(speakers)))]
            wave, text, used = _utterance(rng, clips, speaker, spec)
            name = f"{split}-{number:05d}-{speaker}.wav"
            write_wav(out / split / name, wave, FSDD_RATE)
            lines.append(f"{name}\t{text}\n")
            provenance.append(f"{name}\t{' '.join(used)}\n")
        (out / split / TRANSCRIPT_FILE).write_text("".join(lines), encoding="utf-8")
        # Which FSDD recordings each utterance joins, in order (for checks and listening).
        (out / split / SOURCES_FILE).write_text("".join(provenance), encoding="utf-8")
        log.info("made %d connected-digit utterances for %s in %s", count, split, out / split)


__all__ = [
    "DIGIT_WORDS",
    "TRANSCRIPT_FILE",
    "ConnectedDigits",
    "fsdd_official_split",
    "is_audio_folder",
    "make_connected_digits",
    "read_audio_classes",
    "read_audio_folder",
    "read_fsdd",
    "read_transcribed_folder",
    "read_transcripts",
    "speaker_split",
]
