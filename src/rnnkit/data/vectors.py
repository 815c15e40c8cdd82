"""Pretrained word vectors from a text file, and their rows for a vocabulary.

Two text formats are read, plain or compressed (``.gz``, ``.xz``):

* word2vec / fastText ``.vec``: a header line ``COUNT DIM``, then one word per line
  followed by its DIM numbers, separated by spaces (``the 0.418 0.24968 ...``);
* GloVe: the same rows without the header; DIM is taken from the first row.

Rows are kept in file order, which for these files is most frequent first, so
``max_words`` keeps the commonest words. A word listed twice keeps its first vector.
Words cannot contain spaces (every published file of these formats but a few odd rows of
GloVe 840B obeys this); a row with the wrong number of fields is an error, as is a value
that is not a finite number: a damaged file is named with its line, not half-read.

:meth:`WordVectors.match` finds the vector of each vocabulary token: the token itself,
else its lowercased form (a cased vocabulary meeting an uncased file, or a capitalised
sentence-initial word), else the file's first word that lowercases to the token's
lowercased form (a lowercased vocabulary meeting a cased file).
"""

from __future__ import annotations

import logging
import lzma
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from rnnkit.data.files import open_text
from rnnkit.errors import DataError

log = logging.getLogger(__name__)

_DAMAGED = (EOFError, OSError, zlib.error, lzma.LZMAError, UnicodeDecodeError)


@dataclass(frozen=True)
class Match:
    """The vocabulary ids that found a vector, and those vectors (one row each)."""

    ids: np.ndarray  # (M,) int64, ids into the vocabulary
    vectors: np.ndarray  # (M, D) float32
    exact: int  # found as written
    lowercased: int  # found only when case is ignored

    @property
    def found(self) -> int:
        return self.exact + self.lowercased


@dataclass(frozen=True)
class WordVectors:
    """Words (file order) and their vectors (N, D) float32 from one file."""

    words: tuple[str, ...]
    vectors: np.ndarray  # (N, D)
    path: Path

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.words)}

    def match(self, tokens: Sequence[str], skip: Sequence[str] = ()) -> Match:
        """Vectors for ``tokens`` (a vocabulary's id order): exact lookup, then the
        lowercased token, then the first file word equal to it when both are lowercased.

        Tokens in ``skip`` (the vocabulary's specials: ``<pad>``, ``<unk>``) get none.
        """
        index, skipped = self.index(), set(skip)
        folded: dict[str, int] = {}
        for i, word in enumerate(self.words):
            folded.setdefault(word.lower(), i)
        ids, rows, exact, lowercased = [], [], 0, 0
        for i, token in enumerate(tokens):
            if token in skipped:
                continue
            row = index.get(token)
            if row is not None:
                exact += 1
            else:
                lower = token.lower()
                row = index.get(lower, folded.get(lower))
                if row is None:
                    continue
                lowercased += 1
            ids.append(i)
            rows.append(row)
        return Match(
            np.asarray(ids, dtype=np.int64),
            self.vectors[np.asarray(rows, dtype=np.int64)].reshape(len(rows), self.dim),
            exact,
            lowercased,
        )

    def new_words(self, tokens: Sequence[str], lowercase: bool = False) -> list[str]:
        """The file's words that ``tokens`` lacks, in file order (lowercased and merged
        when the vocabulary is lowercased): what a vocabulary takes in from the file."""
        seen = set(tokens)
        out = []
        for word in self.words:
            word = word.lower() if lowercase else word
            if word not in seen:
                seen.add(word)
                out.append(word)
        return out


def read_word_vectors(path: str | Path, max_words: int | None = None) -> WordVectors:
    """The words and vectors of a word2vec/fastText ``.vec`` or GloVe text file.

    ``max_words`` keeps the first rows only (the commonest words). Raises
    :class:`~rnnkit.errors.DataError` naming the file and line for a missing file, a
    row of the wrong length, a value that is not a finite number, or a file cut short
    of its header's count.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"word vectors file {path} does not exist (a .vec/.txt file, or .gz/.xz)")
    if max_words is not None and max_words < 1:
        raise DataError(f"max_words={max_words}: keep at least 1 word, or None for all")
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    duplicates = 0
    count: int | None = None
    dim: int | None = None
    number = 0
    with open_text(path) as handle:
        lines = _lines(handle, path)
        for number, line in lines:
            fields = line.split()
            if not fields:
                continue  # a blank line (some files end with one)
            if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                count, dim = int(fields[0]), int(fields[1])
                if dim < 1:
                    raise DataError(f"{path}, line 1: header gives dimension {dim}; need >= 1")
                continue
            if dim is None:
                dim = len(fields) - 1  # GloVe: no header, the first row sets the size
                if dim < 1:
                    raise DataError(f"{path}, line {number}: a word without numbers")
            if len(fields) != dim + 1:
                raise DataError(
                    f"{path}, line {number}: {len(fields) - 1} values after the word, "
                    f"expected {dim} (each row is: word then {dim} numbers, no spaces in words)"
                )
            word = fields[0]
            values = _numbers(fields[1:], path, number)
            if word in seen:
                duplicates += 1
                continue
            seen.add(word)
            words.append(word)
            rows.append(values)
            if max_words is not None and len(words) >= max_words:
                break
    if dim is None or not words:
        raise DataError(f"{path}: no word vectors in the file")
    if count is not None and max_words is None and len(words) + duplicates < count:
        raise DataError(
            f"{path}: the header promises {count} words but the file ends at line {number} "
            f"after {len(words) + duplicates} (a cut-short download?)"
        )
    if duplicates:
        log.warning("%s: %d repeated words kept their first vector", path, duplicates)
    return WordVectors(tuple(words), np.stack(rows), path)


def _numbers(fields: Sequence[str], path: Path, number: int) -> np.ndarray:
    try:
        values = np.array(fields, dtype=np.float32)
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        raise DataError(f"{path}, line {number}: {bad!r} is not a number") from None
    if not np.isfinite(values).all():
        bad = fields[int(np.flatnonzero(~np.isfinite(values))[0])]
        raise DataError(f"{path}, line {number}: {bad!r} is not a finite number")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lines(handle: TextIO, path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) pairs; a damaged compressed stream or bad UTF-8 is a DataError."""
    number = 0
    try:
        for number, line in enumerate(handle, start=1):
            yield number, line
    except _DAMAGED as error:
        raise DataError(
            f"{path}, line {number + 1}: cannot be read ({type(error).__name__}: {error})"
        ) from None
