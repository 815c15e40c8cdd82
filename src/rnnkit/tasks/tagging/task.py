"""The tagging task: tagged sentences -> word/character tagger -> per-token metrics.

Preparation (:mod:`rnnkit.tasks.tagging.prepare`) reads the sentences, carves missing
splits from train, fits the vocabulary on train and saves it as
``preprocess/vocab.json`` (a resumed run or ``rnnkit evaluate`` loads it instead).
Training minimises the mean per-token loss (cross-entropy, or the CRF's negative
log-likelihood divided by the number of tokens); validation logs ``val/loss`` and the
token ``val/accuracy``. Evaluation decodes whole sentences (Viterbi with a CRF) and
reports ``accuracy``, macro ``f1`` and, for BIO/BIOES tags, the entity scores; the most
confused tag pairs and the per-tag scores go to ``<split>_tags.json`` in the run
directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.config import Config
from rnnkit.errors import ConfigError
from rnnkit.rundir import PREPROCESS_DIR, write_json
from rnnkit.tasks import embeddings
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData
from rnnkit.tasks.tagging import metrics, prepare
from rnnkit.tasks.tagging.encoding import TaggingVocab
from rnnkit.tasks.tagging.model import Tagger
from rnnkit.tasks.tagging.predictor import VOCAB_FILE, predict_encoded

log = logging.getLogger(__name__)

Batch = dict[str, Tensor]


class TaggingModule(RecurrentModule):
    """Mean loss per real token; validation adds the token accuracy."""

    model: Tagger

    def _inputs(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        return batch["words"], batch["chars"], batch["lengths"]

    def step_loss(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.model.loss(*self._inputs(batch), batch["tags"])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs = self._inputs(batch)
        loss = self.model.loss(*inputs, batch["tags"])
        predicted = self.model.decode(*inputs)
        correct, tokens = metrics.masked_accuracy(predicted, batch["tags"], batch["lengths"])
        # Weighted by tokens, so the epoch value is the token accuracy of the split.
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=tokens)
        accuracy = torch.tensor(correct / tokens)
        self.log("val/accuracy", accuracy, prog_bar=True, on_epoch=True, batch_size=tokens)
        return loss


class TaggingTask:
    """The :class:`rnnkit.tasks.spec.Task` for ``task: tagging``."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        data = config.data
        vocab_path = Path(run_dir) / PREPROCESS_DIR / VOCAB_FILE
        vocab = TaggingVocab.load(vocab_path) if vocab_path.is_file() else None
        # Pretrained vectors are read when the vocabulary is fitted, never again: a
        # resumed run or an evaluation has the vocabulary and the weights.
        vectors = None
        if vocab is None:
            vectors = embeddings.read_vectors(config.model, config.model.embedding_size)
        prepared = prepare.prepare(data, seed=config.seed, vocab=vocab, vectors=vectors)
        if vocab is None:
            prepared.vocab.save(vocab_path)
        if config.model.crf and len(prepared.vocab.tags) < 2:
            raise ConfigError("model.crf=true needs at least 2 tags in the training split")
        eval_batch = data.eval_batch_size or data.batch_size

        def loader(split: str, shuffle: bool):
            encoded = prepared.encoded[split]
            if not encoded:
                return None
            return prepare.make_loader(
                encoded,
                data.batch_size if shuffle else eval_batch,
                shuffle=shuffle,
                seed=config.seed,
                bucket=data.bucket_by_length,
                num_workers=data.num_workers,
            )

        vocab = prepared.vocab
        info = {
            "num_words": len(vocab.words),
            "num_training_words": vocab.num_training_words,
            "num_chars": len(vocab.chars),
            "num_tags": len(vocab.tags),
            "tags": list(vocab.tags),
            "scheme": prepared.scheme,
            "sentences": {split: len(items) for split, items in prepared.sentences.items()},
            "unknown_word_rate": {
                split: prepare.unknown_rate(prepared.sentences, vocab, split)
                for split in ("val", "test")
            },
        }
        return PreparedData(
            train=loader("train", True),
            val=loader("val", False),
            test=loader("test", False),
            info=info,
            artifacts={"prepared": prepared, "run_dir": Path(run_dir), "vectors": vectors},
        )

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        vectors = prepared.artifacts.get("vectors")
        if vectors is not None:
            sentences: prepare.PreparedSentences = prepared.artifacts["prepared"]
            embeddings.load_and_record(
                model.words,  # type: ignore[arg-type]
                sentences.vocab.words,
                vectors,
                sentences.added_words,
                prepared.artifacts["run_dir"],
            )
        return TaggingModule(model, config.train)

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        sentences: prepare.PreparedSentences = prepared.artifacts["prepared"]
        batch_size = config.data.eval_batch_size or config.data.batch_size
        encoded = sentences.encoded[split]
        gold = [list(s.tags) for s in sentences.sentences[split]]
        predicted = predict_encoded(model, sentences.vocab, encoded, batch_size)  # type: ignore[arg-type]
        scores = {"loss": _mean_loss(model, prepared.val if split == "val" else prepared.test)}
        scores.update(metrics.evaluate(gold, predicted, sentences.scheme))
        write_json(
            prepared.artifacts["run_dir"] / f"{split}_tags.json",
            {
                "most_confused": [
                    {"gold": g, "predicted": p, "count": n}
                    for g, p, n in metrics.most_confused(gold, predicted, top=10)
                ],
                "per_tag": metrics.per_tag_scores(gold, predicted),
            },
        )
        return scores

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        sentences: prepare.PreparedSentences = prepared.artifacts["prepared"]
        return prepare.baselines(sentences.sentences, split, sentences.scheme)


@torch.no_grad()
def _mean_loss(model: nn.Module, loader) -> float:
    """The mean per-token loss over a split (each batch weighted by its tokens)."""
    model.eval()
    total, tokens = 0.0, 0
    for batch in loader:
        n = int(batch["lengths"].sum())
        total += (
            float(model.loss(batch["words"], batch["chars"], batch["lengths"], batch["tags"])) * n
        )
        tokens += n
    return total / tokens
