"""Tagged sentences from CoNLL-U treebanks and plain CoNLL column files.

Two formats, chosen by the file name (``.conllu``, optionally ``.xz``/``.gz``, is
CoNLL-U; anything else is a column file):

* **CoNLL-U** (Universal Dependencies): read with the ``conllu`` package. A sentence's
  tokens are its *syntactic words*, the lines whose ID is an integer: multi-word token
  ranges (``1-2 don't``, the surface form of ``do`` + ``n't``) and empty nodes (``8.1``,
  used only by enhanced dependencies) are skipped, because UPOS and XPOS tags belong to
  the words. ``tag_column`` is ``upos`` or ``xpos``.
* **Column files** (CoNLL-2000/2003 style): one token per line, columns separated by
  tabs (or, in a line without tabs, by runs of spaces), a blank line between sentences,
  ``-DOCSTART-`` lines skipped. ``token_column`` and ``tag_column`` are 0-based column
  indices (negative counts from the end: -1 is the last column).

Every line of a file must have the same number of columns; a ragged line, a tag column
the file does not have, a word without a tag or a sentence of zero words is a
:class:`~rnnkit.errors.DataError` that names the file and the line.

:func:`tag_scheme` recognises BIO (IOB2) and BIOES chunk tags, which entity-level
metrics need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnnkit.data.files import open_text
from rnnkit.errors import ConfigError, DataError

CONLLU_TAG_COLUMNS = ("upos", "xpos")
CONLLU_FIELDS = 10  # ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC
DOCSTART = "-DOCSTART-"
# File-name parts that mark a split in a folder of files (``en_ewt-ud-dev.conllu``).
SPLIT_ALIASES = {"train": "train", "dev": "val", "valid": "val", "val": "val", "test": "test"}

TagColumn = str | int | None


@dataclass(frozen=True)
class Sentence:
    """One sentence: its tokens, one tag per token, and the file line it starts on."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    line: int = 0


def is_conllu(path: str | Path) -> bool:
    """Whether ``path`` names a CoNLL-U file (``.conllu``, ``.conllu.xz``, ``.conllu.gz``)."""
    name = Path(path).name.lower()
    return name.endswith((".conllu", ".conllu.xz", ".conllu.gz"))


def read_tagged(
    path: str | Path, *, tag_column: TagColumn = None, token_column: int = 0
) -> list[Sentence]:
    """The sentences of one file, in order (see the module docstring for the formats).

    ``tag_column`` defaults to ``upos`` for CoNLL-U and to the last column (-1) for
    column files; ``token_column`` applies to column files only (CoNLL-U reads FORM).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if is_conllu(path):
        return read_conllu(path, "upos" if tag_column is None else tag_column)
    return read_columns(
        path, token_column=token_column, tag_column=-1 if tag_column is None else tag_column
    )


def read_splits(
    path: str | Path, *, tag_column: TagColumn = None, token_column: int = 0
) -> dict[str, list[Sentence]]:
    """Sentences by split: a folder of train/dev/test files, or one file as ``train``.

    In a folder, a file belongs to the split whose name (``train``, ``dev``/``valid``/
    ``val``, ``test``) is a part of its name separated by ``-``, ``_`` or ``.``;
    ``dev`` and ``valid`` become ``val``. A folder without a training file is an error.
    """
    path = Path(path)
    options = {"tag_column": tag_column, "token_column": token_column}
    if path.is_file():
        return {"train": read_tagged(path, **options)}
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    files: dict[str, Path] = {}
    for file in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        parts = set(re.split(r"[-_.]", file.name.lower()))
        splits = {SPLIT_ALIASES[part] for part in parts if part in SPLIT_ALIASES}
        if len(splits) != 1:
            continue
        (split,) = splits
        if split in files:
            raise DataError(
                f"{path}: two files for the {split} split ({files[split].name}, {file.name})"
            )
        files[split] = file
    if "train" not in files:
        raise DataError(
            f"{path}: no training file; name the files with train, dev (or valid) and test, "
            "e.g. train.txt, dev.txt, test.txt"
        )
    order = ("train", "val", "test")
    return {split: read_tagged(files[split], **options) for split in order if split in files}


# ----------------------------------------------------------------------------- CoNLL-U


def read_conllu(path: str | Path, tag_column: str | int = "upos") -> list[Sentence]:
    """Sentences of a CoNLL-U file with their ``upos`` or ``xpos`` tags."""
    import conllu  # imported on use: only tagging needs it

    path = Path(path)
    if tag_column not in CONLLU_TAG_COLUMNS:
        raise ConfigError(
            f"data.tag_column={tag_column!r} is not a tag column of the CoNLL-U file {path}: "
            f"use {' or '.join(CONLLU_TAG_COLUMNS)}"
        )
    sentences = []
    for start, lines in _blocks(path):
        for offset, line in enumerate(lines):
            if line.startswith("#"):
                continue
            columns = line.count("\t") + 1
            if columns != CONLLU_FIELDS:
                raise DataError(
                    f"{path}, line {start + offset}: {columns} tab-separated columns; "
                    f"CoNLL-U has {CONLLU_FIELDS} (ID FORM LEMMA UPOS XPOS ...)"
                )
        try:
            parsed = conllu.parse_token_and_metadata("\n".join(lines))
        except conllu.parser.ParseException as error:
            raise DataError(f"{path}, sentence at line {start}: {error}") from None
        tokens, tags = [], []
        word_lines = (start + i for i, line in enumerate(lines) if not line.startswith("#"))
        for token, line_number in zip(parsed, word_lines, strict=True):
            if not isinstance(token["id"], int):  # a multi-word range or an empty node
                continue
            tag = token[tag_column]
            if tag is None:
                raise DataError(
                    f"{path}, line {line_number}: the word {token['form']!r} has no "
                    f"{tag_column} tag ('_'); choose the other data.tag_column"
                )
            tokens.append(token["form"])
            tags.append(tag)
        if not tokens:
            raise DataError(f"{path}, line {start}: a sentence of zero words")
        sentences.append(Sentence(tuple(tokens), tuple(tags), start))
    return sentences


def _blocks(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line separated block, 1-based."""
    block: list[str] = []
    start = 0
    with open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if line.strip():
                if not block:
                    start = number
                block.append(line)
            elif block:
                yield start, block
                block = []
    if block:
        yield start, block


# ----------------------------------------------------------------------------- columns


def read_columns(
    path: str | Path, *, token_column: int = 0, tag_column: str | int = -1
) -> list[Sentence]:
    """Sentences of a column file: tokens from ``token_column``, tags from ``tag_column``."""
    path = Path(path)
    for name, value in (("token_column", token_column), ("tag_column", tag_column)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"data.{name}={value!r}: a column file takes a 0-based column number "
                "(negative counts from the end, -1 is the last)"
            )
    width: int | None = None
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0

    def close() -> None:
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags), start))
            tokens.clear()
            tags.clear()

    with open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                close()
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if columns[0] == DOCSTART:
                close()
                continue
            if width is None:
                width = len(columns)
                for name, value in (("token_column", token_column), ("tag_column", tag_column)):
                    if not -width <= value < width:
                        raise ConfigError(
                            f"{path}, line {number}: data.{name}={value} is out of range; the "
                            f"file has {width} columns (use 0..{width - 1} or -{width}..-1)"
                        )
            elif len(columns) != width:
                raise DataError(
                    f"{path}, line {number}: {len(columns)} columns where the file's first "
                    f"token line has {width}"
                )
            if not tokens:
                start = number
            tokens.append(columns[token_column])
            tags.append(columns[tag_column])
    close()
    if not sentences:
        raise DataError(f"{path}: no sentences (one token per line, blank lines between them)")
    return sentences


# ----------------------------------------------------------------------------- schemes

_CHUNK = re.compile(r"^(?P<prefix>[BIES])-(?P<type>.+)$")


def tag_scheme(tags: Iterable[str]) -> Literal["BIO", "BIOES"] | None:
    """``BIOES`` or ``BIO`` when every tag is ``O`` or a prefixed chunk tag, else None.

    BIO (IOB2) tags are ``B-TYPE``, ``I-TYPE`` and ``O``; BIOES adds ``E-TYPE`` (last
    word of a chunk) and ``S-TYPE`` (a one-word chunk). A set with no ``B-``/``S-`` tag
    (only ``O``, or IOB1's ``I-`` starts) is not recognised.
    """
    prefixes = set()
    for tag in set(tags):
        if tag == "O":
            continue
        match = _CHUNK.match(tag)
        if match is None:
            return None
        prefixes.add(match["prefix"])
    if prefixes & {"E", "S"}:
        return "BIOES"
    if "B" in prefixes:
        return "BIO"
    return None
