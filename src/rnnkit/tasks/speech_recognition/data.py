"""Speech recognition data: transcribed clips -> normalised features and symbol targets.

    dataset (fsdd-connected, or a folder with transcripts.tsv)
    --sources.load--> {split: DataFrame(path, text)}
    --split_utterances: train / val / test (val carved from train when missing)-->
    --extract_features (cached .npy per clip)--> (T_i, F) arrays
    --FeatureNorm fitted on train (global) | per utterance--> model inputs
    --CTCTokens fitted on the train transcripts--> targets

Batches are ``(features (B, T, F), lengths (B,), targets (B, L), target_lengths (B,))``,
features zero-padded (after normalisation), targets padded with the blank (0), bucketed
by length so that little of each batch is padding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from rnnkit.data.audio import FeatureNorm, FeatureSettings, extract_features
from rnnkit.errors import ConfigError, DataError
from rnnkit.tasks.speech_recognition.config import SpeechData
from rnnkit.tasks.speech_recognition.tokens import CTCTokens

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def split_utterances(
    splits: dict[str, Any], valid: float, test: float, seed: int
) -> dict[str, Any]:
    """train / val / test DataFrames: the dataset's own splits, the missing ones carved
    (seeded) from train, or from its one unsplit table."""
    from rnnkit.data.batches import split_indices

    named = {("val" if k in ("valid", "validation", "dev") else k): v for k, v in splits.items()}
    if all(name in named for name in SPLITS):
        return {name: named[name].reset_index(drop=True) for name in SPLITS}
    source = named.get("train", next(iter(named.values()))).reset_index(drop=True)
    fractions = {"valid": valid, "test": 0.0 if "test" in named else test}
    indices = split_indices(len(source), **fractions, seed=seed)
    out = {
        "train": source.iloc[indices["train"]].reset_index(drop=True),
        "val": named.get("val", source.iloc[indices["valid"]]).reset_index(drop=True),
        "test": named.get("test", source.iloc[indices["test"]]).reset_index(drop=True),
    }
    for name in ("train", "val"):
        if out[name].empty:
            raise DataError(
                f"the {name} split is empty: {len(source)} clips with data.split.val="
                f"{valid:g}; use a larger dataset or fraction"
            )
    return out


class UtteranceDataset(Dataset):
    """Feature arrays ``(T_i, F)`` with their target symbol ids."""

    def __init__(self, features: Sequence[np.ndarray], targets: Sequence[Sequence[int]]) -> None:
        if len(features) != len(targets):
            raise DataError(f"{len(features)} clips but {len(targets)} transcripts")
        self.features = features
        self.targets = targets

    def __len__(self) -> int:
        return len(self.features)

    def lengths(self) -> list[int]:
        return [len(f) for f in self.features]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return (
            torch.as_tensor(self.features[index], dtype=torch.float32),
            torch.as_tensor(self.targets[index], dtype=torch.long),
        )


def collate_utterances(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, ...]:
    """``(features (B, T, F), lengths (B,), targets (B, L), target_lengths (B,))``."""
    features = [f for f, _ in batch]
    targets = [t for _, t in batch]
    return (
        pad_sequence(features, batch_first=True),
        torch.tensor([len(f) for f in features], dtype=torch.long),
        pad_sequence(targets, batch_first=True, padding_value=0),
        torch.tensor([len(t) for t in targets], dtype=torch.long),
    )


@dataclass
class PreparedSpeech:
    """Everything prepared from the data: features, texts and paths per split, and what was
    fitted on train (the symbols, the feature normalisation)."""

    settings: FeatureSettings
    tokens: CTCTokens
    norm: FeatureNorm
    features: dict[str, list[np.ndarray]]
    texts: dict[str, list[str]]
    paths: dict[str, list[str]]
    meta: dict[str, Any] = field(default_factory=dict)

    def dataset(self, split: str) -> UtteranceDataset:
        """Normalised features and encoded targets of ``split`` (global norm applied once)."""
        features = self.features[split]
        if self.norm.mode == "global":
            mean, std = self.norm.mean.numpy(), self.norm.std.numpy() + self.norm.eps
            features = [((f - mean) / std).astype(np.float32) for f in features]
        elif self.norm.mode == "utterance":
            features = [_utterance_normalised(f, self.norm.eps) for f in features]
        targets = [self.tokens.encode(text) for text in self.texts[split]]
        return UtteranceDataset(features, targets)


def _file_rate(path: str) -> int:
    import soundfile

    try:
        return int(soundfile.info(path).samplerate)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise DataError(f"{path}: corrupt or unreadable audio file ({err})") from None


def _utterance_normalised(features: np.ndarray, eps: float) -> np.ndarray:
    return ((features - features.mean(0)) / (features.std(0) + eps)).astype(np.float32)


def prepare_speech(
    config: SpeechData,
    seed: int,
    tokens: CTCTokens | None = None,
    norm: FeatureNorm | None = None,
) -> PreparedSpeech:
    """Load, split and featurise the data; fit symbols and normalisation on train unless
    given (a resumed run or an evaluation passes the saved ones)."""
    from rnnkit.data import sources

    loaded = sources.load(config.dataset, cache_dir=config.cache_dir, offline=config.offline)
    if loaded.kind != "transcribed_audio":
        raise ConfigError(
            f"data.dataset={config.dataset!r} is {loaded.kind.replace('_', ' ')}, not "
            "transcribed audio: speech_recognition reads a folder with transcripts.tsv "
            "(<file><TAB><text>) or a catalog entry such as fsdd-connected"
        )
    frames = split_utterances(loaded.splits, config.split.val, config.split.test, seed)
    # data.sample_rate, else the catalog's, else the first training clip's own rate.
    native = loaded.meta.get("sample_rate") or _file_rate(frames["train"]["path"].iloc[0])
    settings = config.feature_settings(native)
    features = {
        name: extract_features(
            list(frame["path"]),
            settings,
            cache_dir=config.cache_dir,
            use_cache=config.cache_features,
        )
        for name, frame in frames.items()
    }
    texts = {name: [str(t) for t in frame["text"]] for name, frame in frames.items()}
    if tokens is None:
        tokens = CTCTokens.fit(texts["train"], config.units)
    if norm is None:
        if config.normalize == "global":
            norm = FeatureNorm.fit(features["train"])
        else:
            norm = FeatureNorm(config.normalize, settings.size)
    log.info(
        "speech data: %s clips, %d symbols (%s)",
        ", ".join(f"{len(features[s])} {s}" for s in SPLITS),
        len(tokens),
        tokens.units,
    )
    return PreparedSpeech(
        settings=settings,
        tokens=tokens,
        norm=norm,
        features=features,
        texts=texts,
        paths={name: [str(p) for p in frame["path"]] for name, frame in frames.items()},
        meta=dict(loaded.meta),
    )


__all__ = [
    "PreparedSpeech",
    "UtteranceDataset",
    "collate_utterances",
    "prepare_speech",
    "split_utterances",
]
