"""The classification task: labelled text or multichannel sequences -> one label each.

Data preparation (fitted on the training split only, saved under ``preprocess/``):

- text (``labelled_text`` datasets such as IMDB): the text pipeline (cleaning,
  tokenizer, vocabulary) from ``config.data``, saved by
  :class:`rnnkit.data.text.TextPipeline`;
- numeric sequences (``sequences`` datasets such as indoor-movement): a per-channel
  scaler (``scaler.json``);
- labels: the sorted training class names (``labels.json``).

Datasets that ship without splits are split with ``data.split`` (stratified by label, or
by ``data.split.group_column`` so that no group lands in two splits); a dataset with a
train and a test split keeps its test split and carves validation from train.

Evaluation reports accuracy and macro precision, recall and F1, writes the confusion
matrix into ``metrics.json`` and as ``<split>_confusion.png``, and compares with the
majority class and, for text, a bag-of-words logistic regression on the same split.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from rnnkit.config import Config
from rnnkit.errors import ConfigError, DataError
from rnnkit.evaluate.baselines import BagOfWordsLogistic, SummaryLogistic, majority_class
from rnnkit.evaluate.metrics import classification_metrics
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json, write_metrics
from rnnkit.tasks import embeddings
from rnnkit.tasks.classification.audio import audio_sequences, speaker_frames
from rnnkit.tasks.classification.predictor import LABELS_FILE, SCALER_FILE
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def split_frames(config: Config, splits: dict[str, Any]) -> dict[str, Any]:
    """train / val / test DataFrames from the splits a dataset ships with."""
    from rnnkit.data.batches import split_indices

    split = config.data.split
    named = {("val" if k in ("valid", "validation", "dev") else k): v for k, v in splits.items()}
    if "train" in named and "test" in named and "val" in named:
        return {name: named[name].reset_index(drop=True) for name in SPLITS}
    if "train" in named:
        source, fractions = named["train"], {"valid": split.val, "test": 0.0}
        if "test" not in named:
            fractions["test"] = split.test
    else:
        source, fractions = next(iter(named.values())), {"valid": split.val, "test": split.test}
    source = source.reset_index(drop=True)
    groups = None
    if split.group_column:
        if split.group_column not in source.columns:
            raise ConfigError(
                f"data.split.group_column = {split.group_column!r} is not a column of the "
                f"dataset; its columns are {', '.join(map(str, source.columns))}"
            )
        groups = source[split.group_column].to_numpy()
    stratify = source["label"].astype(str).to_numpy() if split.stratify and groups is None else None
    indices = split_indices(
        len(source), **fractions, seed=config.seed, stratify=stratify, groups=groups
    )
    frames = {
        "train": source.iloc[indices["train"]].reset_index(drop=True),
        "val": source.iloc[indices["valid"]].reset_index(drop=True),
    }
    if "test" in named and "train" in named:
        frames["test"] = named["test"].reset_index(drop=True)
    else:
        frames["test"] = source.iloc[indices["test"]].reset_index(drop=True)
    return frames


def _check_longest_text(config: Config, sequences: dict[str, list[list[int]]]) -> None:
    """Refuse a text so long that a batch holding it cannot be trained in memory (one
    50 MB review without data.max_length), before the model sees it."""
    from rnnkit.resources import check_batch_memory

    data, model = config.data, config.model
    longest_split, longest_row, longest = "train", 0, 0
    for split, texts in sequences.items():
        for row, ids in enumerate(texts):
            if len(ids) > longest:
                longest_split, longest_row, longest = split, row, len(ids)
    steps = min(longest, data.max_length or longest)
    check_batch_memory(
        batch_size=max(data.batch_size, data.eval_batch_size or 0),
        steps=steps,
        input_size=model.embedding_size or model.hidden_size,
        hidden_size=model.hidden_size,
        layers=model.num_layers,
        directions=2 if model.bidirectional else 1,
        what=f"the longest text ({longest:,} tokens, text {longest_row + 1} of the "
        f"{longest_split} split)",
        advice="set data.max_length (e.g. data.max_length=512) to cut long texts",
    )


def class_weights(config: Config, train_labels: np.ndarray, num_classes: int) -> Tensor | None:
    """Loss weights per class: ``balanced`` is N / (C · count), or the configured list."""
    setting = config.model.class_weights
    if setting is None:
        return None
    if setting == "balanced":
        counts = np.bincount(train_labels, minlength=num_classes).astype(np.float64)
        counts[counts == 0] = 1.0
        return torch.tensor(len(train_labels) / (num_classes * counts), dtype=torch.float32)
    if len(setting) != num_classes:
        raise ConfigError(
            f"model.class_weights has {len(setting)} values; the data has {num_classes} classes"
        )
    return torch.tensor(setting, dtype=torch.float32)


class ClassificationModule(RecurrentModule):
    """Cross-entropy (optionally class-weighted) on padded batches with lengths."""

    def __init__(
        self, model: nn.Module, config: Config, weights: Tensor | None, audio: bool = False
    ) -> None:
        super().__init__(model, config.train)
        self.register_buffer("class_weights", weights, persistent=False)
        masks = config.data.spec_augment if audio else None
        # SpecAugment on audio features, in training only (Park et al. 2019).
        self.augment = None
        if masks is not None:
            from rnnkit.data.audio import SpecAugment

            self.augment = SpecAugment(
                masks.freq_masks,
                masks.freq_width,
                masks.time_masks,
                masks.time_width,
                masks.max_time_fraction,
            )

    def _loss(
        self, batch: tuple[Tensor, Tensor, Tensor], augment: bool = False
    ) -> tuple[Tensor, Tensor]:
        inputs, lengths, labels = batch  # (B, T[, F]), (B,), (B,)
        if augment and self.augment is not None:
            inputs = self.augment(inputs, lengths)
        logits = self.model(inputs, lengths)  # (B, C)
        loss = nn.functional.cross_entropy(logits, labels, weight=self.class_weights)
        return loss, logits

    def step_loss(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        loss, _ = self._loss(batch, augment=True)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        loss, logits = self._loss(batch)
        labels = batch[2]
        accuracy = (logits.argmax(1) == labels).float().mean()
        size = labels.shape[0]
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=size)
        self.log("val/accuracy", accuracy, prog_bar=True, on_epoch=True, batch_size=size)
        return loss


class ClassificationTask:
    """The :class:`rnnkit.tasks.spec.Task` for ``task: classification``."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        from rnnkit.data import sources
        from rnnkit.data.batches import LabelEncoder

        data = config.data
        loaded = sources.load(
            data.dataset,
            cache_dir=data.cache_dir,
            offline=data.offline,
            text_column=data.text_column,
            label_column=data.label_column,
        )
        if loaded.kind not in ("labelled_text", "sequences", "audio_classes"):
            raise DataError(
                f"data.dataset = {data.dataset!r} is a {loaded.kind} dataset; classification "
                "needs labelled text, labelled sequences or audio clips by label"
            )
        splits = loaded.splits
        if data.split_by == "speaker":
            splits = speaker_frames(config, splits)
        frames = split_frames(config, splits)
        preprocess = Path(run_dir) / PREPROCESS_DIR
        labels_path = preprocess / LABELS_FILE
        if labels_path.is_file():
            encoder = LabelEncoder.from_json(read_json(labels_path), source=str(labels_path))
        else:
            encoder = LabelEncoder.fit(frames["train"]["label"].tolist())
            write_json(labels_path, encoder.to_json())
        labels = {
            name: np.asarray(encoder.encode(f["label"].tolist())) for name, f in frames.items()
        }
        vectors = None
        if loaded.kind == "labelled_text":
            sequences, info, vectors = self._encode_text(config, frames, preprocess)
        elif loaded.kind == "audio_classes":
            sequences, info = audio_sequences(config, frames, preprocess)
        else:
            sequences, info = self._scale_sequences(config, frames, preprocess)
        info.update({"num_classes": len(encoder), "classes": encoder.classes})
        loaders = {
            name: self._loader(config, sequences[name], labels[name], shuffle=name == "train")
            for name in SPLITS
        }
        log.info(
            "%s: %d classes; train/val/test = %d/%d/%d",
            loaded.name,
            len(encoder),
            *(len(frames[name]) for name in SPLITS),
        )
        return PreparedData(
            train=loaders["train"],
            val=loaders["val"],
            test=loaders["test"],
            info=info,
            artifacts={
                "frames": frames,
                "labels": labels,
                "sequences": sequences,
                "run_dir": Path(run_dir),
                "vectors": vectors,
            },
        )

    def _encode_text(
        self, config: Config, frames: dict[str, Any], preprocess: Path
    ) -> tuple[dict[str, list[list[int]]], dict[str, Any], Any]:
        from rnnkit.data.text import TextPipeline

        vectors, added = None, 0
        if (preprocess / TextPipeline.FILE_NAME).is_file():
            pipeline = TextPipeline.load(preprocess)
        else:
            pipeline = TextPipeline.from_config(config.data).fit(frames["train"]["text"].tolist())
            vectors = self._read_vectors(config)
            if vectors is not None:
                # The file's words join after the training words (see rnnkit.tasks.embeddings).
                trained = len(pipeline.vocab)
                pipeline.vocab = embeddings.extend_vocab(
                    pipeline.vocab, vectors, lowercase=config.data.lowercase
                )
                added = len(pipeline.vocab) - trained
            pipeline.save(preprocess)
        sequences = {}
        for name in SPLITS:
            encoded = pipeline.encode_batch(frames[name]["text"].tolist())
            # An empty review after cleaning still needs one step: the padding token.
            sequences[name] = [ids or [pipeline.vocab.pad_id] for ids in encoded]
        _check_longest_text(config, sequences)
        info = {"input": "text", "vocab_size": len(pipeline.vocab)}
        loaded = (vectors, pipeline.vocab, added) if vectors is not None else None
        return sequences, info, loaded

    def _read_vectors(self, config: Config) -> Any:
        model = config.model
        if model.pretrained_embeddings and config.data.tokenizer not in ("word", "whitespace"):
            raise ConfigError(
                f"model.pretrained_embeddings gives word vectors but data.tokenizer = "
                f"{config.data.tokenizer!r} makes {config.data.tokenizer} tokens: use "
                "data.tokenizer=word or whitespace"
            )
        return embeddings.read_vectors(model, model.embedding_size or model.hidden_size)

    def _scale_sequences(
        self, config: Config, frames: dict[str, Any], preprocess: Path
    ) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
        from rnnkit.data.batches import fit_sequence_scaler, scale_sequences
        from rnnkit.data.timeseries import scaler_from_json

        scaler_path = preprocess / SCALER_FILE
        if scaler_path.is_file():
            scaler = scaler_from_json(read_json(scaler_path), source=str(scaler_path))
        else:
            scaler = fit_sequence_scaler(list(frames["train"]["sequence"]), config.data.scaler)
            write_json(scaler_path, scaler.to_json())
        sequences = {
            name: scale_sequences(list(frames[name]["sequence"]), scaler) for name in SPLITS
        }
        width = int(np.shape(sequences["train"][0])[1])
        return sequences, {"input": "numeric", "input_size": width}

    def _loader(
        self, config: Config, sequences: list[Any], labels: np.ndarray, *, shuffle: bool
    ) -> DataLoader | None:
        from rnnkit.data.batches import (
            BucketBatchSampler,
            SequenceDataset,
            pad_collate,
            shuffled_loader,
        )

        if len(sequences) == 0:
            return None
        data = config.data
        dataset = SequenceDataset(
            sequences, labels, max_length=data.max_length, truncate=data.truncate
        )
        batch_size = data.batch_size if shuffle else (data.eval_batch_size or data.batch_size)
        collate = functools.partial(pad_collate, padding_value=0)
        if data.bucket_by_length:
            sampler = BucketBatchSampler(
                dataset.lengths(), batch_size, shuffle=shuffle, seed=config.seed
            )
            return DataLoader(
                dataset, batch_sampler=sampler, collate_fn=collate, num_workers=data.num_workers
            )
        if shuffle:
            return shuffled_loader(
                dataset, batch_size, config.seed, collate_fn=collate, num_workers=data.num_workers
            )
        return DataLoader(
            dataset, batch_size=batch_size, collate_fn=collate, num_workers=data.num_workers
        )

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        train_labels = prepared.artifacts["labels"]["train"]
        weights = class_weights(config, train_labels, prepared.info["num_classes"])
        audio = prepared.info.get("input") == "audio"
        if prepared.artifacts.get("vectors") is not None:
            vectors, vocab, added = prepared.artifacts["vectors"]
            run_dir = prepared.artifacts["run_dir"]
            embeddings.load_and_record(model.inputs, vocab, vectors, added, run_dir)  # type: ignore[arg-type]
        return ClassificationModule(model, config, weights, audio=audio)

    def predictions(self, model: nn.Module, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (N, C) and true labels (N,) over a loader."""
        model.eval()
        probabilities, labels = [], []
        with torch.no_grad():
            for inputs, lengths, targets in loader:
                probabilities.append(torch.softmax(model(inputs, lengths), dim=1))
                labels.append(targets)
        return torch.cat(probabilities).numpy(), torch.cat(labels).numpy()

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        from rnnkit.evaluate.plots import confusion_matrix_png

        loader = prepared.val if split == "val" else prepared.test
        if loader is None:
            raise DataError(f"the {split} split is empty")
        probabilities, labels = self.predictions(model, loader)
        result = classification_metrics(probabilities, labels, prepared.info["num_classes"])
        matrix = result.pop("confusion_matrix")
        run_dir = prepared.artifacts["run_dir"]
        classes = prepared.info["classes"]
        write_metrics(run_dir, {"confusion_matrix": {split: matrix, "classes": classes}})
        confusion_matrix_png(matrix, classes, run_dir / f"{split}_confusion.png")
        return result  # type: ignore[return-value]

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        labels = prepared.artifacts["labels"]
        frames = prepared.artifacts["frames"]
        num_classes = prepared.info["num_classes"]
        truth = labels[split]

        def scores(predicted: np.ndarray) -> dict[str, float]:
            result = classification_metrics(predicted, truth, num_classes)
            result.pop("confusion_matrix")
            return result  # type: ignore[return-value]

        out = {"majority_class": scores(majority_class(labels["train"], len(truth)))}
        if prepared.info["input"] == "text":
            bag = BagOfWordsLogistic().fit(
                frames["train"]["text"].tolist(), labels["train"], num_classes
            )
            out["bag_of_words_logistic"] = scores(bag.predict(frames[split]["text"].tolist()))
        else:
            sequences = prepared.artifacts["sequences"]
            summary = SummaryLogistic().fit(sequences["train"], labels["train"], num_classes)
            out["mean_std_logistic"] = scores(summary.predict(sequences[split]))
        return out
