"""Words, characters and tags to ids and back; padded batches.

:class:`TaggingVocab` is fitted on the training sentences and saved as one JSON file, all
inference needs besides the weights. Word and character vocabularies use the project's
:class:`rnnkit.data.text.Vocab` with the specials ``<pad>`` = 0 and ``<unk>`` = 1; tags
are a plain list (every tag is known: a tag the training split never shows is an error
at encoding time, not a silent ``<unk>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.conll import Sentence
from rnnkit.data.text import PAD, UNK, Vocab, read_json, write_json_atomic
from rnnkit.errors import DataError

SPECIALS = (PAD, UNK)
FORMAT = "rnnkit.tagging_vocab"


@dataclass(frozen=True)
class TaggingVocab:
    """Word, character and tag vocabularies plus the options that shaped them."""

    words: Vocab
    chars: Vocab
    tags: tuple[str, ...]
    lowercase: bool = False
    max_word_length: int = 30
    # Word ids below this came from the training split (specials included); those from
    # pretrained vectors follow them. None: every word is a training word.
    training_words: int | None = None

    @property
    def num_training_words(self) -> int:
        return len(self.words) if self.training_words is None else self.training_words

    @classmethod
    def fit(
        cls,
        sentences: Sequence[Sentence],
        *,
        lowercase: bool = False,
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        char_min_freq: int = 1,
        max_word_length: int = 30,
    ) -> TaggingVocab:
        """Vocabularies of the training sentences; tags sorted by name (stable ids)."""
        words = Vocab.build(
            ([_word(t, lowercase) for t in s.tokens] for s in sentences),
            min_freq=min_freq,
            max_size=max_vocab_size,
            specials=SPECIALS,
        )
        # Characters keep their case: capitalisation is a strong cue for the tag.
        chars = Vocab.build(
            ([ch for token in s.tokens for ch in token[:max_word_length]] for s in sentences),
            min_freq=char_min_freq,
            specials=SPECIALS,
        )
        tags = tuple(sorted({tag for s in sentences for tag in s.tags}))
        return cls(words, chars, tags, lowercase, max_word_length)

    @property
    def tag_ids(self) -> dict[str, int]:
        return {tag: i for i, tag in enumerate(self.tags)}

    def encode_tokens(self, tokens: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        """Word ids (T,) and character ids (T, <=max_word_length) of one sentence."""
        word_ids = self.words.encode(_word(t, self.lowercase) for t in tokens)
        char_ids = [self.chars.encode(t[: self.max_word_length]) for t in tokens]
        return word_ids, char_ids

    def encode_tags(self, tags: Sequence[str], where: str = "") -> list[int]:
        ids = self.tag_ids
        try:
            return [ids[tag] for tag in tags]
        except KeyError as error:
            raise DataError(
                f"{where or 'a sentence'}: tag {error.args[0]!r} does not occur in the "
                f"training split (its tags: {', '.join(self.tags)})"
            ) from None

    def decode_tags(self, ids: Iterable[int]) -> list[str]:
        return [self.tags[int(i)] for i in ids]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "words": self.words.to_json(),
            "chars": self.chars.to_json(),
            "tags": list(self.tags),
            "lowercase": self.lowercase,
            "max_word_length": self.max_word_length,
            "training_words": self.training_words,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "tagging vocabulary") -> TaggingVocab:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{source}: not an rnnkit tagging vocabulary ('format': {FORMAT!r})")
        return cls(
            Vocab.from_json(data["words"], source),
            Vocab.from_json(data["chars"], source),
            tuple(data["tags"]),
            bool(data["lowercase"]),
            int(data["max_word_length"]),
            data.get("training_words"),  # absent in vocabularies saved before it
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> TaggingVocab:
        return cls.from_json(read_json(Path(path)), source=str(path))


def _word(token: str, lowercase: bool) -> str:
    return token.lower() if lowercase else token


@dataclass(frozen=True)
class EncodedSentence:
    """One sentence as ids: words (T,), characters (T, <=W) and, for training, tags (T,)."""

    words: list[int]
    chars: list[list[int]]
    tags: list[int] | None = None


def encode_sentences(
    vocab: TaggingVocab, sentences: Sequence[Sentence], where: str = ""
) -> list[EncodedSentence]:
    out = []
    for sentence in sentences:
        words, chars = vocab.encode_tokens(sentence.tokens)
        place = f"{where}, line {sentence.line}" if where else ""
        out.append(EncodedSentence(words, chars, vocab.encode_tags(sentence.tags, place)))
    return out


def collate(batch: Sequence[EncodedSentence], tag_pad: int = 0) -> dict[str, Tensor]:
    """A padded batch: words (B, T), chars (B, T, W), lengths (B,) and tags (B, T).

    T is the longest sentence and W the longest word of the batch; padding is 0 (tags:
    ``tag_pad``; padded tags never count, the lengths say where each sentence ends).
    """
    lengths = [len(s.words) for s in batch]
    steps = max(lengths)
    width = max(len(c) for s in batch for c in s.chars)
    # Padded Python lists first, then one tensor each: far cheaper than per-word copies.
    blank_word = [0] * width
    words = [s.words + [0] * (steps - len(s.words)) for s in batch]
    chars = [
        [c + [0] * (width - len(c)) for c in s.chars] + [blank_word] * (steps - len(s.words))
        for s in batch
    ]
    tags = [
        (s.tags if s.tags is not None else [tag_pad] * len(s.words))
        + [tag_pad] * (steps - len(s.words))
        for s in batch
    ]
    return {
        "words": torch.tensor(words, dtype=torch.long),  # (B, T)
        "chars": torch.tensor(chars, dtype=torch.long),  # (B, T, W)
        "lengths": torch.tensor(lengths, dtype=torch.long),  # (B,)
        "tags": torch.tensor(tags, dtype=torch.long),  # (B, T)
    }
