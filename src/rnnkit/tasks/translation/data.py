"""Sentence pairs -> cleaned, filtered, split, tokenized pairs -> padded batches.

Steps (:func:`prepare_pairs`), each fitted on training pairs only:

1. read the raw pairs (:func:`rnnkit.data.pairs.load_pairs`);
2. clean both sides (:class:`~rnnkit.data.pairs.PairCleaning`);
3. filter (``max_length``, ``prefix_filter``): a source that ships splits has only its
   training pairs filtered, so its validation and test sets stay whole and comparable;
   a source that ships unsplit is filtered first and then split
   (:func:`~rnnkit.data.pairs.split_pairs`, no sentence in two splits), as the PyTorch
   tutorial filters eng-fra before using it;
4. fit one :class:`~rnnkit.data.text.TextPipeline` per side on the training pairs (or one
   on both sides with ``shared_vocab``), saved as ``source/`` and ``target/`` under the
   preprocess folder; a saved pair of pipelines is loaded instead of fitted again;
5. encode: source ids end with ``<eos>`` (so no source is empty), targets become
   ``<bos> y`` (decoder input) and ``y <eos>`` (what it must predict).

Metrics compare translations with the *raw* target sentences (sacreBLEU's practice), so
each split keeps its raw sources and references beside the ids.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from rnnkit.data.pairs import (
    ENGLISH_PREFIXES,
    LoadedPairs,
    PairCleaning,
    SentencePairs,
    filter_pairs,
    load_pairs,
    split_pair_indices,
)
from rnnkit.data.text import CleaningOptions, TextPipeline
from rnnkit.errors import ConfigError, DataError
from rnnkit.tasks.translation.config import TranslationData

log = logging.getLogger(__name__)

SOURCE_DIR, TARGET_DIR = "source", "target"
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # source (B, S), lengths (B,), in (B, T), out


@dataclass(frozen=True)
class PairSplit:
    """One split: raw text (for metrics and baselines), cleaned text, token ids."""

    raw: SentencePairs
    clean: SentencePairs
    source_ids: list[list[int]]
    target_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class PreparedPairs:
    splits: dict[str, PairSplit]  # train, val, test (val/test may be missing)
    source_pipeline: TextPipeline
    target_pipeline: TextPipeline
    cleaning: PairCleaning
    source_lang: str | None
    target_lang: str | None


def cleaning_of(data: TranslationData) -> PairCleaning:
    return PairCleaning(data.lowercase, data.unicode_normalization, data.normalize)


def _prefix_side(data: TranslationData, loaded: LoadedPairs) -> str:
    if loaded.target_lang == "en":
        return "target"
    if loaded.source_lang == "en":
        return "source"
    raise ConfigError(
        "data.prefix_filter keeps pairs whose English side starts with 'i am', 'he is', ...: "
        "set data.source_lang or data.target_lang to en"
    )


def _filter(data: TranslationData, loaded: LoadedPairs, clean: SentencePairs) -> list[int]:
    prefixes = ENGLISH_PREFIXES if data.prefix_filter else None
    side = _prefix_side(data, loaded) if data.prefix_filter else "target"
    return filter_pairs(clean, max_length=data.max_length, prefixes=prefixes, prefix_side=side)  # type: ignore[arg-type]


def split_and_filter(
    data: TranslationData, loaded: LoadedPairs, seed: int
) -> dict[str, tuple[SentencePairs, SentencePairs]]:
    """(raw, cleaned) pairs for train / val / test, filtered and split as the docstring says."""
    cleaning = cleaning_of(data)
    if "all" in loaded.splits:
        raw = loaded.splits["all"]
        clean = cleaning.apply_pairs(raw)
        kept = _filter(data, loaded, clean)
        if not kept:
            raise DataError(
                f"no pair of {loaded.name} passes data.max_length={data.max_length} and "
                f"data.prefix_filter={data.prefix_filter}"
            )
        raw, clean = raw.subset(kept), clean.subset(kept)
        log.info("%s: %d pairs after cleaning and filters", loaded.name, len(kept))
        # Split on cleaned text, so that pairs equal after cleaning share a split.
        indices = split_pair_indices(clean, val=data.split.val, test=data.split.test, seed=seed)
        return {name: (raw.subset(i), clean.subset(i)) for name, i in indices.items()}
    out = {}
    for name, raw in loaded.splits.items():
        clean = cleaning.apply_pairs(raw)
        if name == "train":
            kept = _filter(data, loaded, clean)
            raw, clean = raw.subset(kept), clean.subset(kept)
        out[name] = (raw, clean)
    if "train" not in out or not len(out["train"][0]):
        raise DataError(f"{loaded.name}: no training pairs left after data.max_length")
    return out


def _new_pipeline(data: TranslationData) -> TextPipeline:
    # Cleaning already happened on the pairs; the pipeline only collapses whitespace.
    cleaning = CleaningOptions(collapse_whitespace=data.tokenizer != "char")
    return TextPipeline(
        data.tokenizer,
        cleaning,
        min_freq=data.min_freq,
        max_vocab_size=data.max_vocab_size,
        bpe_vocab_size=data.bpe_vocab_size,
    )


def fit_pipelines(
    data: TranslationData, train: SentencePairs, folder: Path | None
) -> tuple[TextPipeline, TextPipeline]:
    """Source and target pipelines: loaded from ``folder`` if saved there, else fitted."""
    if folder is not None and (folder / SOURCE_DIR / TextPipeline.FILE_NAME).is_file():
        return load_pipelines(folder)
    if data.shared_vocab:
        shared = _new_pipeline(data).fit([*train.source, *train.target])
        source, target = shared, shared
    else:
        source = _new_pipeline(data).fit(train.source)
        target = _new_pipeline(data).fit(train.target)
    if folder is not None:
        source.save(folder / SOURCE_DIR)
        target.save(folder / TARGET_DIR)
    return source, target


def load_pipelines(folder: Path) -> tuple[TextPipeline, TextPipeline]:
    return TextPipeline.load(folder / SOURCE_DIR), TextPipeline.load(folder / TARGET_DIR)


def encode_sources(pipeline: TextPipeline, texts: list[str]) -> list[list[int]]:
    eos = pipeline.vocab.eos_id  # type: ignore[union-attr]
    return [[*ids, eos] for ids in pipeline.encode_batch(texts)]


def prepare_pairs(
    data: TranslationData, *, seed: int = 0, preprocess_dir: Path | None = None
) -> PreparedPairs:
    """Everything up to token ids (see the module docstring)."""
    loaded = load_pairs(
        data.dataset,
        source_lang=data.source_lang,
        target_lang=data.target_lang,
        source_column=data.source_column,
        target_column=data.target_column,
        cache_dir=data.cache_dir,
        offline=data.offline,
    )
    parts = split_and_filter(data, loaded, seed)
    source_pipeline, target_pipeline = fit_pipelines(data, parts["train"][1], preprocess_dir)
    splits = {}
    for name, (raw, clean) in parts.items():
        splits[name] = PairSplit(
            raw,
            clean,
            encode_sources(source_pipeline, clean.source),
            target_pipeline.encode_batch(clean.target),
        )
    return PreparedPairs(
        splits,
        source_pipeline,
        target_pipeline,
        cleaning_of(data),
        loaded.source_lang,
        loaded.target_lang,
    )


# ----------------------------------------------------------------------------- batches


class PairDataset(Dataset):
    """(source ids, target ids) pairs as tensors; targets without ``<bos>``/``<eos>``."""

    def __init__(self, source_ids: list[list[int]], target_ids: list[list[int]]) -> None:
        self.source_ids = source_ids
        self.target_ids = target_ids

    def __len__(self) -> int:
        return len(self.source_ids)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return (
            torch.tensor(self.source_ids[index], dtype=torch.long),
            torch.tensor(self.target_ids[index], dtype=torch.long),
        )


def pair_collate(
    batch: list[tuple[Tensor, Tensor]], *, pad_id: int, bos_id: int, eos_id: int
) -> Batch:
    """Padded source (B, S), source lengths (B,), decoder input and output (B, T + 1)."""
    sources = [source for source, _ in batch]
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    bos, eos = torch.tensor([bos_id]), torch.tensor([eos_id])
    target_in = [torch.cat([bos, target]) for _, target in batch]
    target_out = [torch.cat([target, eos]) for _, target in batch]
    return (
        pad_sequence(sources, batch_first=True, padding_value=pad_id),
        lengths,
        pad_sequence(target_in, batch_first=True, padding_value=pad_id),
        pad_sequence(target_out, batch_first=True, padding_value=pad_id),
    )


def make_loader(
    split: PairSplit,
    target_pipeline: TextPipeline,
    data: TranslationData,
    *,
    train: bool,
    seed: int = 0,
) -> DataLoader:
    """Batches of a split; training batches group similar source lengths when asked."""
    from rnnkit.data.batches import BucketBatchSampler, shuffled_loader

    vocab = target_pipeline.vocab
    assert vocab is not None
    collate = functools.partial(
        pair_collate, pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id
    )
    dataset = PairDataset(split.source_ids, split.target_ids)
    batch_size = data.batch_size if train else (data.eval_batch_size or data.batch_size)
    lengths = [len(ids) for ids in split.source_ids]
    if train and data.bucket_by_length:
        sampler = BucketBatchSampler(lengths, batch_size, shuffle=True, seed=seed)
    elif train:
        return shuffled_loader(
            dataset, batch_size, seed, collate_fn=collate, num_workers=data.num_workers
        )
    else:
        # Evaluation order is fixed and sorted by length: less padding, same results.
        sampler = BucketBatchSampler(lengths, batch_size, shuffle=False)
    return DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=data.num_workers
    )
