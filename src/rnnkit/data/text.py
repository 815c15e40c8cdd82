"""Text preprocessing: cleaning, tokenizers, vocabulary, and token-id corpora.

Everything here is fitted on the training split only and saved as JSON, so that
inference applies exactly the same transform:

    pipeline = TextPipeline.from_config(config.data).fit(train_texts)
    ids = pipeline.encode("a fine film")          # list[int]
    pipeline.save(run_dir / "preprocess")         # text_pipeline.json + vocab.json
    pipeline = TextPipeline.load(run_dir / "preprocess")

Language-model corpora larger than memory are tokenized once into a numpy ``.npy``
file of token ids (:func:`encode_corpus`) that later runs open as a memory map.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from rnnkit.data.download import cache_root, file_sha256
from rnnkit.data.files import open_text, utf8_problem
from rnnkit.errors import DataError, UserError

log = logging.getLogger(__name__)

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
DEFAULT_SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
NUMBER_TOKEN = "<num>"  # what mask_numbers puts in place of every number

# A small English stop-word list (function words only: articles, pronouns, auxiliaries,
# prepositions, conjunctions). Negations ("not", "no", "nor") are left out on purpose:
# removing them flips the meaning of a sentiment sentence.
STOP_WORDS: frozenset[str] = frozenset(
    """
    a an the this that these those
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs
    themselves what which who whom whose
    am is are was were be been being have has had having do does did doing
    will would shall should can could may might must
    and but or if because as until while than so
    of at by for with about against between into through during before after above
    below to from up down in out on off over under again further then once
    here there when where why how all any both each few more most other some such
    only own same too very just also s t d ll m o re ve y
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

UnicodeForm = Literal["NFC", "NFKC", "NFD", "NFKD"]

_BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SPACES = re.compile(r"\s+")


# ----------------------------------------------------------------------------- cleaning


def clean_text(
    text: str,
    *,
    lowercase: bool = False,
    unicode_normalization: UnicodeForm | None = None,
    strip_html: bool = False,
    remove_stopwords: bool = False,
    mask_numbers: bool = False,
    collapse_whitespace: bool = True,
) -> str:
    """Normalise one text; the steps run in the order of the arguments.

    ``strip_html`` turns ``<br />`` and other tags into spaces and unescapes entities
    (``&amp;`` -> ``&``); ``remove_stopwords`` drops the words in :data:`STOP_WORDS`
    (case-insensitively); ``mask_numbers`` replaces every number with ``<num>``;
    ``collapse_whitespace`` turns runs of whitespace into one space and strips the ends
    (switch it off for character models, where the whitespace is part of the data).
    """
    if unicode_normalization is not None:
        if unicode_normalization not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise UserError(
                f"unicode normalization {unicode_normalization!r} is not one of NFC, NFKC, "
                "NFD, NFKD"
            )
        text = unicodedata.normalize(unicode_normalization, text)
    if strip_html:
        text = _HTML_TAG.sub(" ", _BR_TAG.sub(" ", text))
        text = html.unescape(text)
    if lowercase:
        text = text.lower()
    if mask_numbers:
        text = _NUMBER.sub(NUMBER_TOKEN, text)
    if remove_stopwords:
        text = _WORD.sub(lambda m: "" if m.group().lower() in STOP_WORDS else m.group(), text)
    if collapse_whitespace:
        text = _SPACES.sub(" ", text).strip()
    return text


@dataclass(frozen=True)
class CleaningOptions:
    """The arguments of :func:`clean_text`, as one saved setting."""

    lowercase: bool = False
    unicode_normalization: UnicodeForm | None = None
    strip_html: bool = False
    remove_stopwords: bool = False
    mask_numbers: bool = False
    collapse_whitespace: bool = True

    def apply(self, text: str) -> str:
        return clean_text(
            text,
            lowercase=self.lowercase,
            unicode_normalization=self.unicode_normalization,
            strip_html=self.strip_html,
            remove_stopwords=self.remove_stopwords,
            mask_numbers=self.mask_numbers,
            collapse_whitespace=self.collapse_whitespace,
        )


# ----------------------------------------------------------------------------- tokenizers


class Tokenizer(Protocol):
    """What every tokenizer offers: text <-> tokens, and a JSON form."""

    kind: ClassVar[str]

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Sequence[str]) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


class CharTokenizer:
    """Every character is a token (whitespace and newlines included)."""

    kind: ClassVar[str] = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CharTokenizer:
        return cls()


class WhitespaceTokenizer:
    """Splits on whitespace: for pre-tokenized corpora such as PTB and WikiText."""

    kind: ClassVar[str] = "whitespace"

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WhitespaceTokenizer:
        return cls()


class WordTokenizer:
    """Words (with inner apostrophes: "don't"), numbers, and each punctuation mark.

    Special tokens written in angle brackets (``<unk>``, ``<num>``) stay whole.
    """

    kind: ClassVar[str] = "word"
    pattern: ClassVar[re.Pattern[str]] = re.compile(r"<[a-z]+>|\w+(?:'\w+)*|[^\w\s]")
    # detokenize: no space before closing punctuation, none after opening brackets.
    _space_before = re.compile(r" ([.,!?;:%)\]}])")
    _space_after = re.compile(r"([(\[{$]) ")

    def tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        text = " ".join(tokens)
        return self._space_after.sub(r"\1", self._space_before.sub(r"\1", text))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WordTokenizer:
        return cls()


class BPETokenizer:
    """Byte-level byte-pair encoding (Hugging Face ``tokenizers``).

    Byte-level means every input can be encoded (no unknown characters) and decoding
    gives back the text exactly. Train it on the training split only:
    ``BPETokenizer.train(texts, vocab_size=8000)``.
    """

    kind: ClassVar[str] = "bpe"

    def __init__(self, hf_tokenizer: Any) -> None:
        self.hf_tokenizer = hf_tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if vocab_size < 257:
            raise UserError(
                f"bpe vocab_size {vocab_size} is too small: byte-level BPE needs at least 257 "
                "(256 bytes + 1 merge)"
            )
        hf_tokenizer = HFTokenizer(models.BPE())
        hf_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf_tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        hf_tokenizer.train_from_iterator(texts, trainer)
        return cls(hf_tokenizer)

    def tokenize(self, text: str) -> list[str]:
        return self.hf_tokenizer.encode(text).tokens

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """Many texts at once, on all cores (much faster than one by one)."""
        return [encoding.tokens for encoding in self.hf_tokenizer.encode_batch(list(texts))]

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.hf_tokenizer.decoder.decode(list(tokens))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "tokenizer": json.loads(self.hf_tokenizer.to_str())}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_str(json.dumps(data["tokenizer"])))


_TOKENIZERS: dict[str, Any] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "whitespace": WhitespaceTokenizer,
    "bpe": BPETokenizer,
}


def tokenizer_from_json(data: dict[str, Any]) -> Tokenizer:
    """Rebuild any tokenizer from its ``to_json()`` form."""
    kind = data.get("type")
    if kind not in _TOKENIZERS:
        raise DataError(f"tokenizer type {kind!r} is not one of {', '.join(_TOKENIZERS)}")
    return _TOKENIZERS[kind].from_json(data)


# ----------------------------------------------------------------------------- vocabulary


class Vocab:
    """Token <-> id mapping with fixed special ids and a deterministic order.

    With the default specials, ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2 and
    ``<eos>`` = 3; the other tokens follow by frequency (most frequent first), ties in
    order of first appearance. A corpus that already contains ``<unk>`` or ``<eos>``
    (PTB does) maps them to the specials.
    """

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = DEFAULT_SPECIALS) -> None:
        specials = tuple(specials)
        if UNK not in specials:
            raise UserError(f"specials {specials} must include {UNK!r} for unknown tokens")
        if tuple(tokens[: len(specials)]) != specials:
            raise DataError(f"a vocabulary starts with its specials {specials}")
        self.specials = specials
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            duplicates = sorted(t for t, n in Counter(self.itos).items() if n > 1)
            raise DataError(f"a vocabulary lists each token once; repeated: {duplicates[:5]}")
        self.unk_id = self.stoi[UNK]

    @classmethod
    def build(
        cls,
        token_sequences: Iterable[Iterable[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = DEFAULT_SPECIALS,
    ) -> Vocab:
        """Count tokens and keep those seen ``min_freq`` times or more.

        ``max_size`` caps the whole vocabulary, specials included.
        """
        if min_freq < 1:
            raise UserError(f"min_freq must be at least 1, got {min_freq}")
        specials = tuple(specials)
        if max_size is not None and max_size < len(specials):
            raise UserError(
                f"max_size {max_size} cannot hold the {len(specials)} special tokens {specials}"
            )
        counts: Counter[str] = Counter()
        for sequence in token_sequences:
            counts.update(sequence)
        if not counts:
            raise DataError("cannot build a vocabulary from an empty corpus (no tokens)")
        for special in specials:
            counts.pop(special, None)
        # Counter keeps first-appearance order and sorted() is stable, so equal counts
        # stay in the order they were first seen.
        ranked = [t for t, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= min_freq]
        if max_size is not None:
            ranked = ranked[: max_size - len(specials)]
        return cls([*specials, *ranked], specials)

    @property
    def pad_id(self) -> int:
        return self._special_id(PAD)

    @property
    def bos_id(self) -> int:
        return self._special_id(BOS)

    @property
    def eos_id(self) -> int:
        return self._special_id(EOS)

    def _special_id(self, token: str) -> int:
        if token not in self.stoi:
            raise UserError(f"this vocabulary has no {token!r}; its specials are {self.specials}")
        return self.stoi[token]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and (self.itos, self.specials) == (
            other.itos,
            other.specials,
        )

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={self.specials})"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids; unknown tokens become ``<unk>``."""
        lookup, unk = self.stoi.get, self.unk_id
        return [lookup(token, unk) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids; an id outside the vocabulary is a UserError."""
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise UserError(f"token id {i} is outside the vocabulary (0..{len(self) - 1})")
            tokens.append(self.itos[i])
        return tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "rnnkit.vocab",
            "version": 1,
            "specials": list(self.specials),
            "tokens": self.itos,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "vocabulary") -> Vocab:
        if not isinstance(data, dict) or data.get("format") != "rnnkit.vocab":
            raise DataError(f"{source}: not an rnnkit vocabulary (no 'format': 'rnnkit.vocab')")
        missing = [key for key in ("tokens", "specials") if key not in data]
        if missing:
            raise DataError(f"{source}: the vocabulary has no {missing[0]!r} list")
        for key in ("tokens", "specials"):
            value = data[key]
            if not isinstance(value, list):
                raise DataError(
                    f"{source}: {key!r} must be a list of strings, not a JSON "
                    f"{type(value).__name__}; the file is damaged"
                )
            odd = next((item for item in value if not isinstance(item, str)), None)
            if odd is not None:
                raise DataError(
                    f"{source}: {key!r} must hold strings only, not {str(odd)[:40]!r} "
                    f"({type(odd).__name__}); the file is damaged"
                )
        return cls(data["tokens"], data["specials"])

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        return cls.from_json(read_json(path), source=str(path))


# ----------------------------------------------------------------------------- pipeline


class TextPipeline:
    """Cleaning + tokenizer + vocabulary, fitted on the training split, saved as JSON."""

    FILE_NAME: ClassVar[str] = "text_pipeline.json"
    VOCAB_FILE: ClassVar[str] = "vocab.json"
    BPE_FILE: ClassVar[str] = "bpe_tokenizer.json"

    def __init__(
        self,
        tokenizer: str = "whitespace",
        cleaning: CleaningOptions | None = None,
        *,
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        bpe_vocab_size: int = 8000,
    ) -> None:
        if tokenizer not in _TOKENIZERS:
            raise UserError(f"tokenizer {tokenizer!r} is not one of {', '.join(_TOKENIZERS)}")
        if cleaning is None:
            # Whitespace is data for a character model; for the others it only separates.
            cleaning = CleaningOptions(collapse_whitespace=tokenizer != "char")
        self.tokenizer_kind = tokenizer
        self.cleaning = cleaning
        self.min_freq = min_freq
        self.max_vocab_size = max_vocab_size
        self.bpe_vocab_size = bpe_vocab_size
        self.tokenizer: Tokenizer | None = None if tokenizer == "bpe" else _TOKENIZERS[tokenizer]()
        self.vocab: Vocab | None = None

    @classmethod
    def from_config(cls, data: Any) -> TextPipeline:
        """An unfitted pipeline from a :class:`rnnkit.config.DataConfig`."""
        cleaning = CleaningOptions(
            lowercase=data.lowercase,
            unicode_normalization=data.unicode_normalization,
            strip_html=data.strip_html,
            remove_stopwords=data.remove_stopwords,
            mask_numbers=data.mask_numbers,
            collapse_whitespace=data.tokenizer != "char",
        )
        return cls(
            data.tokenizer,
            cleaning,
            min_freq=data.min_freq,
            max_vocab_size=data.max_vocab_size,
            bpe_vocab_size=data.bpe_vocab_size,
        )

    @property
    def is_fitted(self) -> bool:
        return self.vocab is not None

    def fit(self, texts: Iterable[str]) -> TextPipeline:
        """Train the tokenizer (BPE) and build the vocabulary on the training texts."""
        cleaned = [self.cleaning.apply(text) for text in texts]
        if not any(cleaned):
            raise DataError("cannot fit a text pipeline on an empty corpus (no text)")
        if self.tokenizer_kind == "bpe":
            self.tokenizer = BPETokenizer.train(cleaned, self.bpe_vocab_size)
        tokenizer = self._require_tokenizer()
        self.vocab = Vocab.build(
            (tokenizer.tokenize(text) for text in cleaned),
            min_freq=self.min_freq,
            max_size=self.max_vocab_size,
        )
        log.debug(
            "fitted %s pipeline: %d tokens in the vocabulary", self.tokenizer_kind, len(self.vocab)
        )
        return self

    def tokenize(self, text: str) -> list[str]:
        return self._require_tokenizer().tokenize(self.cleaning.apply(text))

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        vocab = self._require_vocab()
        ids = vocab.encode(self.tokenize(text))
        if add_bos:
            ids.insert(0, vocab.bos_id)
        if add_eos:
            ids.append(vocab.eos_id)
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` for many texts (BPE tokenizes them in parallel)."""
        vocab = self._require_vocab()
        tokenizer = self._require_tokenizer()
        cleaned = [self.cleaning.apply(text) for text in texts]
        if isinstance(tokenizer, BPETokenizer):
            return [vocab.encode(tokens) for tokens in tokenizer.tokenize_batch(cleaned)]
        return [vocab.encode(tokenizer.tokenize(text)) for text in cleaned]

    def decode(self, ids: Iterable[int]) -> str:
        """Text for ids: ``<eos>`` ends a line, ``<pad>`` and ``<bos>`` are dropped."""
        vocab = self._require_vocab()
        tokenizer = self._require_tokenizer()
        skipped = {vocab.stoi[t] for t in (PAD, BOS) if t in vocab}
        eos_id = vocab.stoi.get(EOS)
        lines: list[str] = []
        line: list[int] = []
        for i in ids:
            i = int(i)
            if i == eos_id:
                lines.append(tokenizer.detokenize(vocab.decode(line)))
                line = []
            elif i not in skipped:
                line.append(i)
        lines.append(tokenizer.detokenize(vocab.decode(line)))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "rnnkit.text_pipeline",
            "version": 1,
            "tokenizer": self.tokenizer_kind,
            "cleaning": asdict(self.cleaning),
            "min_freq": self.min_freq,
            "max_vocab_size": self.max_vocab_size,
            "bpe_vocab_size": self.bpe_vocab_size,
            "vocab_file": self.VOCAB_FILE,
            "tokenizer_file": self.BPE_FILE if self.tokenizer_kind == "bpe" else None,
            # How text becomes tokens, stated for users outside Python (an ONNX export).
            "tokenization": tokenization_rule(self.tokenizer_kind),
        }

    def fingerprint(self) -> str:
        """sha256 of everything that decides the ids (settings, tokenizer, vocabulary)."""
        state = {
            "settings": self.to_json(),
            "tokenizer": self._require_tokenizer().to_json(),
            "vocab": self._require_vocab().to_json(),
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    def save(self, directory: str | Path) -> Path:
        """Write ``text_pipeline.json``, ``vocab.json`` (and the BPE model) to a folder."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocab = self._require_vocab()
        if isinstance(self.tokenizer, BPETokenizer):
            write_json_atomic(directory / self.BPE_FILE, self.tokenizer.to_json()["tokenizer"])
        vocab.save(directory / self.VOCAB_FILE)
        path = directory / self.FILE_NAME
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TextPipeline:
        directory = Path(directory)
        path = directory / cls.FILE_NAME
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != "rnnkit.text_pipeline":
            raise DataError(f"{path}: not an rnnkit text pipeline")
        expected = {
            "tokenizer",
            "cleaning",
            "min_freq",
            "max_vocab_size",
            "bpe_vocab_size",
            "vocab_file",
            "tokenizer_file",
        }
        if missing := sorted(expected - set(data)):
            raise DataError(f"{path}: missing setting {missing[0]!r}")
        # A key rnnkit does not write would be ignored, so that the file says one thing
        # and the pipeline does another: refuse it.
        if unknown := sorted(set(data) - expected - {"format", "version", "tokenization"}):
            raise DataError(
                f"{path}: unknown setting {unknown[0]!r}; valid: {', '.join(sorted(expected))}"
            )
        cleaning_keys = {f.name for f in fields(CleaningOptions)}
        if not isinstance(data["cleaning"], dict) or set(data["cleaning"]) - cleaning_keys:
            raise DataError(
                f"{path}: 'cleaning' must map some of {', '.join(sorted(cleaning_keys))} to "
                f"values, not {str(data['cleaning'])[:80]}"
            )
        for key in ("vocab_file", "tokenizer_file"):
            name = data[key]
            # File names only, beside this file: never a path that leads elsewhere.
            if name is not None and (not isinstance(name, str) or Path(name).name != name):
                raise DataError(f"{path}: {key} = {name!r} must be a file name in {directory}")
            if name is not None and (directory / name).is_symlink():
                raise DataError(f"{path}: {key} {name!r} is a link; rnnkit reads plain files")
        pipeline = cls(
            data["tokenizer"],
            CleaningOptions(**data["cleaning"]),
            min_freq=data["min_freq"],
            max_vocab_size=data["max_vocab_size"],
            bpe_vocab_size=data["bpe_vocab_size"],
        )
        if data["tokenizer"] == "bpe":
            bpe_path = directory / data["tokenizer_file"]
            pipeline.tokenizer = BPETokenizer.from_json({"tokenizer": read_json(bpe_path)})
        pipeline.vocab = Vocab.load(directory / data["vocab_file"])
        return pipeline

    def _require_vocab(self) -> Vocab:
        if self.vocab is None:
            raise RuntimeError("the text pipeline is not fitted yet: call fit(train_texts)")
        return self.vocab

    def _require_tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise RuntimeError("the BPE tokenizer is not trained yet: call fit(train_texts)")
        return self.tokenizer

    def __repr__(self) -> str:
        size = len(self.vocab) if self.vocab is not None else "unfitted"
        return f"TextPipeline(tokenizer={self.tokenizer_kind!r}, vocab={size})"


# ----------------------------------------------------------------------------- corpora

_CORPUS_FORMAT_VERSION = 1
_LINES_PER_BLOCK = 4096
_ID_DTYPE = np.dtype(np.int32)


def encode_corpus(
    path: str | Path,
    pipeline: TextPipeline,
    *,
    add_eos: bool,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """Token ids of a whole corpus file, for language modelling, as a read-only memmap.

    Lines are read one at a time, so the text never has to fit in memory. Word,
    whitespace and BPE pipelines with ``add_eos`` end every line with ``<eos>`` (PTB
    train gives 929,589 ids). Character pipelines keep ``"\\n"`` as a character, or
    with ``add_eos`` write ``<eos>`` in its place. ``.gz`` and ``.xz`` files are read
    decompressed.

    The ids are cached in a ``.npy`` file keyed by the source's sha256 and the
    pipeline's fingerprint, so a second run opens them at once. The cache sits next
    to the source when the source is inside the cache folder, else in the cache
    folder's ``tokens/`` (the cache folder is ``cache_dir``, else ``$RNNKIT_CACHE``,
    else the user cache).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"corpus file not found: {path}")
    key = _corpus_key(path, pipeline, add_eos)
    target = _corpus_cache_path(path, key, cache_dir)
    if target.is_file():
        log.debug("token ids of %s from the cache: %s", path, target)
        return np.load(target, mmap_mode="r")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        count = _write_ids(path, pipeline, add_eos, target)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 corpus: {utf8_problem(path)}") from None
    if count == 0:
        target.unlink(missing_ok=True)
        raise DataError(f"{path}: the corpus is empty (no tokens)")
    log.info("tokenized %s: %d tokens, cached in %s", path, count, target)
    return np.load(target, mmap_mode="r")


def iter_corpus_ids(path: Path, pipeline: TextPipeline, add_eos: bool) -> Iterator[list[int]]:
    """Token ids line by line (what :func:`encode_corpus` writes)."""
    vocab = pipeline._require_vocab()
    char_model = pipeline.tokenizer_kind == "char"
    newline_ids = [vocab.eos_id] if add_eos else vocab.encode(["\n"])
    with open_text(path, newline="") as handle:
        while block := list(itertools.islice(handle, _LINES_PER_BLOCK)):
            encoded = pipeline.encode_batch([line.rstrip("\r\n") for line in block])
            for line, ids in zip(block, encoded, strict=True):
                ended = line.endswith("\n")
                if char_model:
                    if ended:
                        ids.extend(newline_ids)
                elif add_eos and (ended or ids):
                    ids.append(vocab.eos_id)
                yield ids


def _write_ids(path: Path, pipeline: TextPipeline, add_eos: bool, target: Path) -> int:
    # Ids stream to a raw temporary file; the .npy header, which needs the final
    # length, is written afterwards, and the result is renamed into place atomically.
    count = 0
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".ids", delete=False) as raw:
        raw_path = Path(raw.name)
        try:
            block: list[int] = []
            for ids in iter_corpus_ids(path, pipeline, add_eos):
                block.extend(ids)
                if len(block) >= 1 << 20:
                    raw.write(np.asarray(block, dtype=_ID_DTYPE).tobytes())
                    count += len(block)
                    block = []
            raw.write(np.asarray(block, dtype=_ID_DTYPE).tobytes())
            count += len(block)
        except BaseException:
            raw_path.unlink(missing_ok=True)
            raise
    try:
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".npy", delete=False) as out:
            out_path = Path(out.name)
            header = {
                "descr": np.lib.format.dtype_to_descr(_ID_DTYPE),
                "fortran_order": False,
                "shape": (count,),
            }
            np.lib.format.write_array_header_1_0(out, header)
            with raw_path.open("rb") as source:
                while chunk := source.read(1 << 24):
                    out.write(chunk)
        os.replace(out_path, target)
    finally:
        raw_path.unlink(missing_ok=True)
    return count


def _corpus_key(path: Path, pipeline: TextPipeline, add_eos: bool) -> str:
    state = {
        "version": _CORPUS_FORMAT_VERSION,
        "source_sha256": file_sha256(path),
        "pipeline": pipeline.fingerprint(),
        "add_eos": add_eos,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def _corpus_cache_path(path: Path, key: str, cache_dir: str | Path | None) -> Path:
    root = cache_root(cache_dir).resolve()
    source = path.resolve()
    folder = source.parent if source.is_relative_to(root) else root / "tokens"
    name = path.name.removesuffix(".gz").removesuffix(".xz")
    return folder / f"{name}.{key}.ids.npy"


# ----------------------------------------------------------------------------- JSON files


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
    ) as handle:
        try:
            json.dump(data, handle, ensure_ascii=False, indent=1)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    os.replace(handle.name, path)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None


def tokenization_rule(kind: str) -> str:
    """How a tokenizer turns cleaned text into tokens, in words a non-Python user can follow."""
    rules = {
        "char": "each character is a token",
        "whitespace": "tokens are the runs of non-whitespace characters",
        "word": (
            "tokens are the matches, left to right, of the regular expression "
            f"{WordTokenizer.pattern.pattern} (Python re syntax, Unicode \\w)"
        ),
        "bpe": "byte-pair encoding with the model in the tokenizer_file (Hugging Face tokenizers)",
    }
    return rules[kind]
