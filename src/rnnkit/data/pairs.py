"""Sentence pairs for translation: reading, cleaning, filtering and leak-free splits.

Where pairs come from (``data.dataset`` of a translation config)::

    multi30k | eng-fra              catalog datasets (rnnkit data info NAME)
    pairs.tsv | pairs.csv | x.txt   one pair per line, source and target columns
                                    (``source_column``/``target_column``: a header name,
                                    or a 0-based index for files without a header)
    data/corpus                     a prefix: corpus.<source_lang> and corpus.<target_lang>
                                    are two aligned text files (line i pairs with line i)
    data/                           a folder of aligned files per split:
                                    {train,val|valid|dev,test}.<lang> (.gz/.xz too)

:func:`load_pairs` returns :class:`LoadedPairs`: raw :class:`SentencePairs` by split
(``train``/``val``/``test``, or ``all`` for a source that ships unsplit). Cleaning
(:class:`PairCleaning`), the length and prefix filters (:func:`filter_pairs`) and the
split of unsplit sources (:func:`split_pairs`) are separate steps, so that preprocessing
decides what applies to which split: filters thin the training data but never the test
set of a source that ships one.
"""

from __future__ import annotations

import csv
import io
import logging
import lzma
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rnnkit.data import catalog, download
from rnnkit.data.files import open_text
from rnnkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: The English prefixes of the PyTorch seq2seq tutorial's filter, in the spelling its
#: normalisation produces ("i'm" becomes "i m"), plus the forms with the apostrophe kept
#: for text cleaned without it.
ENGLISH_PREFIXES: tuple[str, ...] = (
    "i am ", "i m ", "i'm ",
    "he is", "he s ", "he's ",
    "she is", "she s ", "she's ",
    "you are", "you re ", "you're ",
    "we are", "we re ", "we're ",
    "they are", "they re ", "they're ",
)  # fmt: skip

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "dev": "val", "test": "test"}
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]+)?$")
_TABLE_SUFFIXES = (".tsv", ".csv", ".txt", ".tab")


@dataclass(frozen=True)
class SentencePairs:
    """Aligned source and target sentences: ``source[i]`` translates to ``target[i]``."""

    source: list[str]
    target: list[str]

    def __post_init__(self) -> None:
        if len(self.source) != len(self.target):
            raise DataError(f"{len(self.source)} source sentences but {len(self.target)} targets")

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(zip(self.source, self.target, strict=True))

    def subset(self, indices: Sequence[int]) -> SentencePairs:
        return SentencePairs([self.source[i] for i in indices], [self.target[i] for i in indices])

    def map(self, source: Callable[[str], str], target: Callable[[str], str]) -> SentencePairs:
        return SentencePairs([source(s) for s in self.source], [target(t) for t in self.target])


@dataclass(frozen=True)
class LoadedPairs:
    """Raw pairs by split, as the source ships them, with the two languages' codes."""

    name: str
    splits: dict[str, SentencePairs]
    source_lang: str | None
    target_lang: str | None
    meta: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- reading


def read_lines(path: Path) -> list[str]:
    """The lines of a text file without their line endings (no final empty line)."""
    try:
        with open_text(path, newline="") as handle:
            return [line.rstrip("\r\n") for line in handle]
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}); convert it first") from None
    except (OSError, EOFError, lzma.LZMAError) as err:
        raise DataError(f"cannot read {path}: {err}") from None


def _check_not_empty(path: Path, line_number: int, source: str, target: str) -> None:
    if not source.strip():
        raise DataError(
            f"line {line_number} of {path.name}: the source sentence is empty; every pair needs "
            "a source and a target"
        )
    if not target.strip():
        raise DataError(
            f"line {line_number} of {path.name}: the target sentence is empty; every pair needs "
            "a source and a target"
        )


def read_aligned_files(source_path: str | Path, target_path: str | Path) -> SentencePairs:
    """Pairs from two aligned text files: line i of one translates line i of the other."""
    source_path, target_path = Path(source_path), Path(target_path)
    sources, targets = read_lines(source_path), read_lines(target_path)
    if len(sources) != len(targets):
        raise DataError(
            f"aligned files differ in length: {source_path.name} has {len(sources)} lines, "
            f"{target_path.name} has {len(targets)}; line i of one must translate line i of "
            "the other"
        )
    for number, (source, target) in enumerate(zip(sources, targets, strict=True), start=1):
        _check_not_empty(source_path if not source.strip() else target_path, number, source, target)
    return SentencePairs(sources, targets)


def _delimiter(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".xz")]
    return "," if suffixes and suffixes[-1] == ".csv" else "\t"


def _resolve_column(column: str | int, header: list[str] | None, path: Path, role: str) -> int:
    if isinstance(column, int):
        if column < 0:
            raise ConfigError(f"data.{role} = {column} is negative; use a 0-based column index")
        return column
    if header is None or column not in header:
        shown = ", ".join(repr(h) for h in header) if header else "none"
        raise DataError(
            f"data.{role} {column!r} is not a column of {path.name}; its header names {shown} "
            "(or give a 0-based index for a file without a header)"
        )
    return header.index(column)


def read_pair_table(
    path: str | Path, source_column: str | int = 0, target_column: str | int = 1
) -> SentencePairs:
    """Pairs from a TSV (``.tsv``, ``.txt``, ``.tab``) or CSV (``.csv``) file.

    A column given by name means the first row is a header; given by 0-based index
    (both), the file has no header. TSV fields are split on TAB with no quoting (quotes
    are part of a sentence); CSV follows the csv module's quoting rules.
    """
    path = Path(path)
    delimiter = _delimiter(path)
    text = "\n".join(read_lines(path))
    if delimiter == "\t":
        rows = [line.split("\t") for line in text.split("\n")] if text else []
    else:
        rows = list(csv.reader(io.StringIO(text)))
    has_header = isinstance(source_column, str) or isinstance(target_column, str)
    header = [h.strip() for h in rows[0]] if has_header and rows else None
    body = rows[1:] if has_header else rows
    first = 2 if has_header else 1
    if not body:
        raise DataError(f"{path.name} holds no sentence pairs")
    if len(rows[0]) < 2:
        separator = "TAB" if delimiter == "\t" else "comma"
        raise DataError(
            f"{path.name} has one column (line 1: {rows[0][0][:40]!r}); a pairs file needs a "
            f"source and a target column separated by {separator}"
        )
    source_index = _resolve_column(source_column, header, path, "source_column")
    target_index = _resolve_column(target_column, header, path, "target_column")
    if source_index == target_index:
        raise ConfigError(
            f"data.source_column and data.target_column are the same column ({source_index})"
        )
    needed = max(source_index, target_index) + 1
    sources: list[str] = []
    targets: list[str] = []
    for number, row in enumerate(body, start=first):
        if len(row) < needed:
            raise DataError(
                f"line {number} of {path.name} has {len(row)} column(s); columns "
                f"{source_index} and {target_index} (0-based) need at least {needed}"
            )
        source, target = row[source_index], row[target_index]
        _check_not_empty(path, number, source, target)
        sources.append(source)
        targets.append(target)
    return SentencePairs(sources, targets)


# ----------------------------------------------------------------------------- sources


def check_language_code(code: str | None, role: str) -> None:
    if code is not None and not _LANGUAGE_CODE.match(code):
        raise ConfigError(
            f"data.{role} = {code!r} is not a language code (two or three lower-case "
            "letters such as de, en, fr)"
        )


def load_pairs(
    dataset: str,
    *,
    source_lang: str | None = None,
    target_lang: str | None = None,
    source_column: str | int = 0,
    target_column: str | int = 1,
    cache_dir: str | Path | None = None,
    offline: bool = False,
) -> LoadedPairs:
    """Raw sentence pairs from a catalog name, a pairs table, a prefix or a folder.

    For a catalog dataset the languages default to the dataset's direction
    (``multi30k`` de -> en, ``eng-fra`` fr -> en, the tutorial's); either may be swapped.
    """
    check_language_code(source_lang, "source_lang")
    check_language_code(target_lang, "target_lang")
    if source_lang is not None and source_lang == target_lang:
        raise ConfigError(f"data.source_lang and data.target_lang are both {source_lang!r}")
    if catalog.is_catalog_name(dataset):
        return _load_catalog(dataset, source_lang, target_lang, cache_dir, offline)
    path = Path(dataset).expanduser()
    if path.is_dir():
        langs = _require_langs(source_lang, target_lang, f"the folder {path}")
        return LoadedPairs(path.name, _read_split_folder(path, *langs), *langs)
    if path.is_file():
        if not path.name.lower().removesuffix(".gz").removesuffix(".xz").endswith(_TABLE_SUFFIXES):
            raise DataError(
                f"cannot read {path.name} as sentence pairs: use a .tsv, .csv or .txt table, "
                "a prefix of two aligned files (PREFIX.<lang>), or a folder of them"
            )
        pairs = read_pair_table(path, source_column, target_column)
        return LoadedPairs(path.stem, {"all": pairs}, source_lang, target_lang)
    langs = _require_langs(source_lang, target_lang, f"the prefix {dataset}")
    files = [_language_file(path, lang) for lang in langs]
    return LoadedPairs(path.name, {"all": read_aligned_files(*files)}, *langs)


def _require_langs(source: str | None, target: str | None, what: str) -> tuple[str, str]:
    if source is None or target is None:
        raise ConfigError(
            f"{what} holds aligned files named by language: set data.source_lang and "
            "data.target_lang (e.g. de and en)"
        )
    return source, target


def _language_file(prefix: Path, lang: str) -> Path:
    for suffix in ("", ".gz", ".xz"):
        candidate = prefix.with_name(f"{prefix.name}.{lang}{suffix}")
        if candidate.is_file():
            return candidate
    found = _languages_beside(prefix)
    if not found and not prefix.parent.is_dir():
        raise DataError(f"dataset {str(prefix)!r} not found: no such file, folder or prefix")
    have = ", ".join(found) if found else "no PREFIX.<lang> files"
    raise DataError(f"unknown language code {lang!r} for {prefix}: it has {have}")


def _languages_beside(prefix: Path) -> list[str]:
    if not prefix.parent.is_dir():
        return []
    langs = set()
    for file in prefix.parent.glob(f"{prefix.name}.*"):
        rest = file.name[len(prefix.name) + 1 :].removesuffix(".gz").removesuffix(".xz")
        if _LANGUAGE_CODE.match(rest):
            langs.add(rest)
    return sorted(langs)


def _read_split_folder(
    folder: Path, source_lang: str, target_lang: str
) -> dict[str, SentencePairs]:
    splits: dict[str, SentencePairs] = {}
    for name, split in SPLIT_ALIASES.items():
        prefix = folder / name
        if split in splits or not _languages_beside(prefix):
            continue
        files = [_language_file(prefix, lang) for lang in (source_lang, target_lang)]
        splits[split] = read_aligned_files(*files)
    if "train" not in splits:
        raise DataError(
            f"the folder {folder} has no train.{source_lang} and train.{target_lang}: a folder "
            "of aligned files holds {train,val,test}.<lang>"
        )
    return splits


def _load_catalog(
    name: str, source_lang: str | None, target_lang: str | None, cache_dir, offline: bool
) -> LoadedPairs:
    entry = catalog.lookup(name)
    if entry.kind != "pairs":
        raise DataError(
            f"dataset {name!r} holds {entry.kind}, not sentence pairs; translation datasets: "
            + ", ".join(e.name for e in catalog.entries() if e.kind == "pairs")
        )
    languages = tuple(entry.defaults["languages"])
    source_lang = source_lang or entry.defaults["source_lang"]
    target_lang = target_lang or next(lang for lang in languages if lang != source_lang)
    for role, lang in (("source_lang", source_lang), ("target_lang", target_lang)):
        if lang not in languages:
            raise ConfigError(
                f"data.{role} = {lang!r} is not a language of {name}: use one of "
                f"{', '.join(languages)}"
            )
    if source_lang == target_lang:
        raise ConfigError(f"data.source_lang and data.target_lang are both {source_lang!r}")
    paths = download.fetch_all(entry.files, cache_dir=cache_dir, offline=offline)
    meta = {"description": entry.description, "licence": entry.licence, "citation": entry.citation}
    if name == "eng-fra":
        # English<TAB>French on every line, no header.
        pairs = read_pair_table(paths[0], 0, 1)
        if source_lang == "fr":
            pairs = SentencePairs(pairs.target, pairs.source)
        return LoadedPairs(name, {"all": pairs}, source_lang, target_lang, meta)
    by_split: dict[str, dict[str, Path]] = {}
    for file, path in zip(entry.files, paths, strict=True):
        lang = file.name.removesuffix(".gz").rsplit(".", 1)[1]
        by_split.setdefault(str(file.split), {})[lang] = path
    splits = {
        split: read_aligned_files(files[source_lang], files[target_lang])
        for split, files in by_split.items()
    }
    return LoadedPairs(name, splits, source_lang, target_lang, meta)


# ----------------------------------------------------------------------------- cleaning

_PUNCTUATION_SPLIT = re.compile(r"([.!?])")
_NOT_LETTERS = re.compile(r"[^a-zA-Z!?]+")
_SPACES = re.compile(r"\s+")


def tutorial_normalize(text: str) -> str:
    """The PyTorch seq2seq tutorial's normalisation of a sentence.

    Accents are folded to ASCII (NFD, combining marks dropped), the text lower-cased,
    ``.``, ``!`` and ``?`` separated from the word before them, and every run of
    characters other than ASCII letters, ``!`` and ``?`` replaced by one space. On
    ``eng-fra`` with the tutorial's filter (both sides under 10 words, English side
    starting with one of :data:`ENGLISH_PREFIXES`) this keeps the 11,445 pairs the
    tutorial reports.
    """
    decomposed = unicodedata.normalize("NFD", text)
    folded = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    spaced = _PUNCTUATION_SPLIT.sub(r" \1", folded.lower().strip())
    return _NOT_LETTERS.sub(" ", spaced).strip()


@dataclass(frozen=True)
class PairCleaning:
    """How a sentence is cleaned before tokenisation (the same on both sides).

    ``normalize="tutorial"`` is :func:`tutorial_normalize` (it lower-cases and folds
    accents itself); otherwise Unicode normalisation, then lower-casing, then runs of
    whitespace become one space (U+00A0 and U+202F, common in French and in Multi30k's
    German, included).
    """

    lowercase: bool = False
    unicode_normalization: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = None
    normalize: Literal["none", "tutorial"] = "none"

    def apply(self, text: str) -> str:
        if self.normalize == "tutorial":
            return tutorial_normalize(text)
        if self.unicode_normalization is not None:
            text = unicodedata.normalize(self.unicode_normalization, text)
        if self.lowercase:
            text = text.lower()
        return _SPACES.sub(" ", text).strip()

    def apply_pairs(self, pairs: SentencePairs) -> SentencePairs:
        return pairs.map(self.apply, self.apply)


def filter_pairs(
    pairs: SentencePairs,
    *,
    max_length: int | None = None,
    prefixes: Sequence[str] | None = None,
    prefix_side: Literal["source", "target"] = "target",
) -> list[int]:
    """Indices of the pairs that pass the filters (apply them to cleaned pairs).

    ``max_length`` keeps pairs whose sides both have at most that many whitespace-
    separated words (the tutorial's ``MAX_LENGTH = 10`` with ``<`` is ``max_length=9``);
    ``prefixes`` keeps pairs whose ``prefix_side`` sentence starts with one of them.
    """
    if max_length is not None and max_length < 1:
        raise ConfigError(f"data.max_length must be at least 1, got {max_length}")
    prefix_tuple = tuple(prefixes) if prefixes else None
    kept = []
    for index, (source, target) in enumerate(pairs):
        if max_length is not None and (
            len(source.split()) > max_length or len(target.split()) > max_length
        ):
            continue
        if prefix_tuple is not None:
            checked = target if prefix_side == "target" else source
            if not checked.startswith(prefix_tuple):
                continue
        kept.append(index)
    return kept


# ----------------------------------------------------------------------------- splits


def sentence_groups(pairs: SentencePairs) -> list[int]:
    """A group id per pair: pairs that share a source or a target sentence share a group.

    Sentences that recur with other translations (``eng-fra`` has 93,549 distinct
    English sentences in 135,842 pairs) would otherwise sit in training and test at
    once. Groups are the connected components of the graph whose edges are pairs (union-
    find with path halving).
    """
    parent: list[int] = list(range(len(pairs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[tuple[int, str], int] = {}
    for index, (source, target) in enumerate(pairs):
        for key in ((0, source), (1, target)):
            other = first_seen.setdefault(key, index)
            if other != index:
                parent[find(index)] = find(other)
    return [find(i) for i in range(len(pairs))]


def split_pair_indices(
    pairs: SentencePairs, *, val: float = 0.1, test: float = 0.1, seed: int = 0
) -> dict[str, list[int]]:
    """Seeded train/val/test indices of unsplit pairs, with no sentence in two splits.

    Whole groups of :func:`sentence_groups` go to one split, sized by pairs as closely
    as whole groups allow.
    """
    from rnnkit.data.batches import split_indices  # torch: imported on use

    groups = sentence_groups(pairs)
    if len(set(groups)) < 2:
        raise DataError(
            f"cannot split {len(pairs)} pairs: they all share sentences (one group); give "
            "separate validation and test files"
        )
    indices = split_indices(len(pairs), valid=val, test=test, seed=seed, groups=groups)
    names = {"train": "train", "valid": "val", "test": "test"}
    return {names[name]: chosen.tolist() for name, chosen in indices.items()}


def split_pairs(
    pairs: SentencePairs, *, val: float = 0.1, test: float = 0.1, seed: int = 0
) -> dict[str, SentencePairs]:
    """:func:`split_pair_indices` applied: the pairs of each split."""
    indices = split_pair_indices(pairs, val=val, test=test, seed=seed)
    return {name: pairs.subset(chosen) for name, chosen in indices.items()}
