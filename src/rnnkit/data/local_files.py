"""Local files read as datasets: CSV/TSV/JSONL/Parquet tables and folders of text files.

Each reader refuses what would only fail later, with a one-line :class:`DataError`: a
binary or UTF-16 file given as CSV, a table without rows, a folder with a single class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.data.files import utf8_problem
from rnnkit.errors import DataError, MissingExtraError

SPLIT_NAMES = ("train", "val", "valid", "validation", "dev", "test")


def split_name(split: str) -> str:
    """rnnkit's name of a split: train, val or test (valid, validation and dev are val)."""
    return "val" if split in {"valid", "validation", "dev"} else split


def _check_text_file(path: Path, what: str) -> None:
    """Refuse a binary (or UTF-16) file before a parser turns it into garbage columns."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if b"\0" in head:
        raise DataError(
            f"{path} is not a UTF-8 {what}: it holds NUL bytes (a binary file, or UTF-16 "
            "text: save it as UTF-8)"
        )


def read_csv(path: Path, sep: str = ","):
    import pandas as pd

    kind = "TSV" if sep == chr(9) else "CSV"
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: a {kind} needs a header line and data rows")
    _check_text_file(path, kind)
    try:
        frame = pd.read_csv(path, sep=sep)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 {kind}: {utf8_problem(path)}") from None
    except ValueError as err:
        reason = " ".join(str(err).split())[:300]  # one line, never a page of data
        raise DataError(f"cannot parse {path} as {kind}: {reason}") from None
    if frame.empty:
        raise DataError(f"{path} has no data rows (columns: {_short_list(frame.columns)})")
    return frame


def _short_list(values, limit: int = 10) -> str:
    shown = [str(v)[:40] for v in list(values)[:limit]]
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(shown) + more if shown else "none"


def read_table(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".tsv":
        return read_csv(path, sep="\t")
    if suffix in {".jsonl", ".ndjson"}:
        try:
            return pd.read_json(path, lines=True)
        except ValueError as err:
            raise DataError(f"cannot parse {path} as JSON lines: {err}") from None
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise MissingExtraError("pyarrow", "hub", f"reading {path.name}") from None
    except (OSError, ValueError) as err:
        raise DataError(f"cannot parse {path} as Parquet: {err}") from None


def table_dataset(frame, path: Path, text_column: str | None, label_column: str | None):
    """A table is labelled text when columns are named (or called text/label), else a series."""
    columns = list(frame.columns)
    if text_column is None and label_column is None and not {"text", "label"} <= set(columns):
        return "series", {"all": frame}
    text_column = text_column or "text"
    label_column = label_column or "label"
    for role, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in columns:
            raise DataError(
                f"{role} {column!r} is not a column of {path.name}; its columns are "
                f"{', '.join(map(str, columns))}"
            )
    labelled = frame[[text_column, label_column]].dropna()
    labelled = labelled.astype(str).set_axis(["text", "label"], axis=1).reset_index(drop=True)
    return "labelled_text", {"all": labelled}


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def read_folder(folder: Path) -> tuple[str, dict[str, Any]]:
    """A folder of text files by label (``<label>/*``, or ``<split>/<label>/*``), or of
    split text files (``train.txt``, ``valid.txt``, ``test.txt``); a folder of audio files
    by label or with ``transcripts.tsv`` is read by :mod:`rnnkit.data.audio_datasets`."""
    given, entries = folder, _visible(folder)
    # An archive that unpacks to one top folder (aclImdb/): look inside it.
    while len(entries) == 1 and entries[0].is_dir():
        folder, entries = entries[0], _visible(entries[0])
    from rnnkit.data import audio_datasets  # imported on use: it needs torch

    if audio_datasets.is_audio_folder(folder):
        return audio_datasets.read_audio_folder(folder)
    subdirs = [p for p in entries if p.is_dir()]
    if not subdirs:
        splits = {split_name(p.stem): p for p in entries if p.is_file() and p.stem in SPLIT_NAMES}
        if splits:
            return "corpus", splits
        if folder != given and any(p.is_file() for p in entries):
            raise DataError(
                f"{given} holds only one class (one label subfolder, "
                f"{folder.relative_to(given)}): a classifier needs at least two "
                "(<folder>/<label>/*.txt, one subfolder per class)"
            )
        raise DataError(
            f"{folder} has no label subfolders and no train/valid/test text files; expected "
            "<folder>/<label>/*.txt or <folder>/<split>/<label>/*.txt"
        )
    if all(p.name in SPLIT_NAMES for p in subdirs):
        return "labelled_text", {split_name(p.name): _read_labelled_files(p) for p in subdirs}
    frame = _read_labelled_files(folder)
    if frame["label"].nunique() < 2:
        raise DataError(
            f"{folder} holds only one class (files in one label subfolder only, "
            f"{frame['label'].iloc[0]!r}): a classifier needs at least two "
            "(<folder>/<label>/*.txt, one subfolder per class)"
        )
    return "labelled_text", {"all": frame}


def _read_labelled_files(folder: Path):
    import pandas as pd

    texts, labels = [], []
    for label_dir in (p for p in _visible(folder) if p.is_dir()):
        for file in (p for p in _visible(label_dir) if p.is_file()):
            texts.append(file.read_text(encoding="utf-8", errors="replace"))
            labels.append(label_dir.name)
    if not texts:
        raise DataError(f"{folder} has label subfolders but no files in them")
    return pd.DataFrame({"text": texts, "label": labels})
