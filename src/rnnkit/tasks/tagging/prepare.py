"""From ``data:`` to encoded splits, a fitted vocabulary, batches and baselines.

Sources: a catalog entry of kind ``tagged`` (``ud-english-ewt``), a CoNLL-U or column
file, or a folder of train/dev/test files (:func:`rnnkit.data.conll.read_splits`). A
split the source lacks (``val``, ``test``) is carved from the training sentences with the
``data.split`` fractions and the run's seed. The vocabulary is fitted on ``train`` only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from rnnkit.data import catalog, conll, sources
from rnnkit.data.batches import BucketBatchSampler, shuffled_loader, split_indices
from rnnkit.data.conll import Sentence
from rnnkit.data.vectors import WordVectors
from rnnkit.errors import DataError
from rnnkit.tasks.embeddings import extend_vocab
from rnnkit.tasks.tagging import metrics
from rnnkit.tasks.tagging.config import TaggingData
from rnnkit.tasks.tagging.encoding import EncodedSentence, TaggingVocab, collate, encode_sentences

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PreparedSentences:
    """Sentences and their ids per split, the vocabulary, and the chunk scheme if any."""

    sentences: dict[str, list[Sentence]]
    encoded: dict[str, list[EncodedSentence]]
    vocab: TaggingVocab
    scheme: str | None  # BIO | BIOES when the tags are chunk tags (entity metrics apply)
    added_words: int = 0  # words the vocabulary took in from pretrained vectors


def load_sentences(data: TaggingData, seed: int = 0) -> dict[str, list[Sentence]]:
    """Sentences per split (train, val, test) for ``data.dataset``."""
    options = {"tag_column": data.tag_column, "token_column": data.token_column}
    spec = data.dataset
    if catalog.is_catalog_name(spec):
        loaded = sources.load(spec, cache_dir=data.cache_dir, offline=data.offline)
        if loaded.kind != "tagged":
            raise DataError(
                f"data.dataset={spec!r} is a {loaded.kind} dataset; tagging needs tagged "
                "sentences: ud-english-ewt, a CoNLL-U or CoNLL column file, or a folder of them"
            )
        splits = {
            split: conll.read_tagged(path, **options) for split, path in loaded.splits.items()
        }
    elif Path(spec).exists():
        splits = conll.read_splits(spec, **options)
    else:
        raise catalog.unknown_name_error(spec)
    return _carve_missing(splits, data, seed)


def _carve_missing(
    splits: dict[str, list[Sentence]], data: TaggingData, seed: int
) -> dict[str, list[Sentence]]:
    missing = {"val": data.split.val, "test": data.split.test}
    fractions = {name: f for name, f in missing.items() if name not in splits}
    if not fractions:
        return {name: splits[name] for name in SPLITS}
    train = splits["train"]
    parts = split_indices(
        len(train), valid=fractions.get("val", 0.0), test=fractions.get("test", 0.0), seed=seed
    )
    out = {"train": [train[i] for i in parts["train"]]}
    for name in ("val", "test"):
        chosen = parts[name] if name in parts else parts[_older_name(name)]
        out[name] = splits[name] if name in splits else [train[i] for i in chosen]
        if not out[name]:
            raise DataError(
                f"{data.dataset}: the {name} split is empty; raise data.split.{name} or "
                f"provide a {name} file"
            )
    log.info("split %s: %s", data.dataset, ", ".join(f"{k} {len(v)}" for k, v in out.items()))
    return out


def _older_name(split: str) -> str:
    # split_indices may still name the validation part "valid".
    return "valid" if split == "val" else split


def prepare(
    data: TaggingData,
    seed: int = 0,
    vocab: TaggingVocab | None = None,
    vectors: WordVectors | None = None,
) -> PreparedSentences:
    """Read and split; fit the vocabulary on train (unless given); encode every split.

    A fitted vocabulary takes in the words of ``vectors`` (pretrained word vectors) that
    the training split lacks, after the training words.
    """
    sentences = load_sentences(data, seed)
    added = 0
    if vocab is None:
        vocab = TaggingVocab.fit(
            sentences["train"],
            lowercase=data.lowercase,
            min_freq=data.min_freq,
            max_vocab_size=data.max_vocab_size,
            char_min_freq=data.char_min_freq,
            max_word_length=data.max_word_length,
        )
        if vectors is not None:
            words = extend_vocab(vocab.words, vectors, lowercase=data.lowercase)
            added = len(words) - len(vocab.words)
            vocab = dataclasses.replace(vocab, words=words, training_words=len(vocab.words))
    encoded = {
        split: encode_sentences(vocab, items, f"{data.dataset} ({split})")
        for split, items in sentences.items()
    }
    scheme = conll.tag_scheme(vocab.tags)
    log.info(
        "tagging data: %d words, %d characters, %d tags%s",
        len(vocab.words),
        len(vocab.chars),
        len(vocab.tags),
        f" ({scheme})" if scheme else "",
    )
    return PreparedSentences(sentences, encoded, vocab, scheme, added)


def make_loader(
    encoded: Sequence[EncodedSentence],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    bucket: bool = True,
    num_workers: int = 0,
) -> DataLoader:
    """Batches of padded sentences (:func:`collate`); bucketed by length when asked."""
    if bucket or not shuffle:
        lengths = [len(s.words) for s in encoded]
        sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
        return DataLoader(
            list(encoded), batch_sampler=sampler, collate_fn=collate, num_workers=num_workers
        )
    return shuffled_loader(
        list(encoded), batch_size, seed, collate_fn=collate, num_workers=num_workers
    )


def baselines(
    sentences: dict[str, list[Sentence]], split: str = "test", scheme: str | None = None
) -> dict[str, dict[str, float]]:
    """The baselines' metrics on ``split``, fitted on ``train``."""
    train = sentences["train"]
    target = sentences[split]
    tokens = [s.tokens for s in train]
    tags = [s.tags for s in train]
    gold = [s.tags for s in target]
    out = {}
    for name, baseline in (
        ("most_frequent_tag", metrics.MostFrequentTag()),
        ("suffix_shape", metrics.SuffixShapeTag()),
    ):
        predicted = baseline.fit(tokens, tags).predict([s.tokens for s in target])
        out[name] = metrics.evaluate(gold, predicted, scheme)
    return out


def unknown_rate(sentences: dict[str, list[Sentence]], vocab: TaggingVocab, split: str) -> float:
    """The share of ``split``'s tokens that are ``<unk>`` for the word vocabulary."""
    ids = np.array([i for s in sentences[split] for i in vocab.encode_tokens(s.tokens)[0]])
    return float((ids == vocab.words.unk_id).mean()) if len(ids) else 0.0
