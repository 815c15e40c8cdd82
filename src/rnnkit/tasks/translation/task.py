"""The translation task: sentence pairs -> an attention encoder-decoder -> BLEU and chrF.

Data preparation (:mod:`rnnkit.tasks.translation.data`) cleans, filters and splits the
pairs and fits one text pipeline per side on the training pairs, saved under
``preprocess/source`` and ``preprocess/target``. Training minimises the label-smoothed
cross entropy per target token; validation logs the plain teacher-forced cross entropy
(``val/loss``) and its exponential (``val/perplexity``), so early stopping and schedules
watch the same quantity whatever the smoothing. BLEU needs decoding, which costs more
than an epoch's validation should: it is computed once training ends.

Evaluation decodes with the configured beam and reports sacreBLEU ``bleu`` (cased,
13a), ``bleu_lowercase``, ``chrf``, ``exact_match`` and the teacher-forced ``loss`` and
``perplexity``; the sacreBLEU signatures go to ``metrics.json`` under ``sacrebleu``, the
translations to ``translations_<split>.txt``, and attention heatmaps of the first
validation sentences to ``attention_<i>.png`` (report.html shows them). Baselines: the
source copied, and a word-by-word dictionary read from the training pairs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR, write_metrics, write_text
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData
from rnnkit.tasks.translation.config import TranslationConfig
from rnnkit.tasks.translation.data import Batch, PreparedPairs, make_loader, prepare_pairs
from rnnkit.tasks.translation.model import Seq2Seq, sequence_loss
from rnnkit.tasks.translation.translator import (
    Translator,
    baseline_scores,
    evaluate_split,
)

log = logging.getLogger(__name__)

HEATMAPS = 3  # validation sentences drawn with their attention


class TranslationModule(RecurrentModule):
    """Teacher-forced training of an encoder-decoder (see the module docstring)."""

    def __init__(self, model: Seq2Seq, config: TranslationConfig) -> None:
        super().__init__(model, config.train)
        self.label_smoothing = config.model.label_smoothing

    def step_loss(self, batch: Batch, batch_idx: int) -> Tensor:
        source, lengths, target_in, target_out = batch
        logits = self.model(source, lengths, target_in)  # (B, T, V)
        loss = sequence_loss(logits, target_out, self.model.pad_id, self.label_smoothing)
        # Summed on the device and logged once per epoch: a per-step log is a host sync
        # and a dictionary update, a few percent of a small model's step.
        tokens = (target_out != self.model.pad_id).sum().double()
        self.add_to_epoch("train/loss_sum", loss.detach().double() * tokens)
        self.add_to_epoch("train/tokens", tokens)
        if (self.global_step + 1) % self.train_config.log_every_n_steps == 0:
            self.log("train/loss", loss, prog_bar=True, batch_size=target_out.shape[0])
        return loss

    def on_train_epoch_end(self) -> None:
        sums = self.take_epoch_sums()
        self.log_epoch_sums(sums)
        if "train/tokens" in sums:
            loss = (sums["train/loss_sum"] / sums["train/tokens"]).float()
            self.log("train/loss_epoch", loss, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._val_loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._val_tokens = torch.zeros((), dtype=torch.float64, device=self.device)

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        source, lengths, target_in, target_out = batch
        logits = self.model(source, lengths, target_in)
        loss = sequence_loss(logits, target_out, self.model.pad_id)
        tokens = (target_out != self.model.pad_id).sum()
        # Weighted by tokens: the epoch's loss is the mean over every target token.
        self._val_loss_sum += loss.detach().double() * tokens
        self._val_tokens += tokens
        return loss

    def on_validation_epoch_end(self) -> None:
        loss = (self._val_loss_sum / self._val_tokens.clamp(min=1)).float()
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)
        self.log("val/perplexity", torch.exp(loss.clamp(max=50.0)), sync_dist=True)


class TranslationTask:
    """The :class:`rnnkit.tasks.spec.Task` for ``task: translation``."""

    def prepare(self, config: TranslationConfig, run_dir: Path) -> PreparedData:
        data = config.data
        pairs = prepare_pairs(data, seed=config.seed, preprocess_dir=Path(run_dir) / PREPROCESS_DIR)
        loaders = {
            name: make_loader(
                split, pairs.target_pipeline, data, train=name == "train", seed=config.seed
            )
            if len(split)
            else None
            for name, split in pairs.splits.items()
        }
        if loaders.get("train") is None:
            raise DataError(f"data.dataset = {data.dataset!r} has no training pairs")
        source_vocab, target_vocab = pairs.source_pipeline.vocab, pairs.target_pipeline.vocab
        assert source_vocab is not None and target_vocab is not None
        info = {
            "source_vocab_size": len(source_vocab),
            "target_vocab_size": len(target_vocab),
            "pad_id": target_vocab.pad_id,
            "bos_id": target_vocab.bos_id,
            "eos_id": target_vocab.eos_id,
            "cleaning": {
                "lowercase": data.lowercase,
                "unicode_normalization": data.unicode_normalization,
                "normalize": data.normalize,
            },
            "source_lang": pairs.source_lang,
            "target_lang": pairs.target_lang,
            "pairs": {name: len(split) for name, split in pairs.splits.items()},
        }
        log.info(
            "%s %s -> %s: train/val/test = %s pairs; vocabularies %d / %d",
            data.dataset,
            pairs.source_lang,
            pairs.target_lang,
            "/".join(
                str(len(pairs.splits[n])) if n in pairs.splits else "0"
                for n in ("train", "val", "test")
            ),
            len(source_vocab),
            len(target_vocab),
        )
        return PreparedData(
            train=loaders["train"],
            val=loaders.get("val"),
            test=loaders.get("test"),
            info=info,
            artifacts={"pairs": pairs, "run_dir": Path(run_dir)},
        )

    def build_module(
        self, config: TranslationConfig, model: Seq2Seq, prepared: PreparedData
    ) -> RecurrentModule:
        return TranslationModule(model, config)

    def _translator(
        self, model: Seq2Seq, config: TranslationConfig, pairs: PreparedPairs
    ) -> Translator:
        batch = config.data.eval_batch_size or config.data.batch_size
        return Translator(
            model, pairs.source_pipeline, pairs.target_pipeline, pairs.cleaning, batch
        )

    def evaluate(
        self, config: TranslationConfig, model: Seq2Seq, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        pairs: PreparedPairs = prepared.artifacts["pairs"]
        if split not in pairs.splits or not len(pairs.splits[split]):
            raise DataError(f"the {split} split is empty")
        translator = self._translator(model, config, pairs)
        metrics, signatures, hypotheses = evaluate_split(
            translator, pairs.splits[split], config.data
        )
        run_dir: Path = prepared.artifacts["run_dir"]
        write_metrics(run_dir, {"sacrebleu": {split: signatures}})
        write_text(run_dir / f"translations_{split}.txt", "\n".join(hypotheses) + "\n")
        if split == "val":
            draw_attention(translator, pairs, run_dir)
        log.info("%s: BLEU %.2f (%s)", split, metrics["bleu"], signatures["bleu"])
        return metrics

    def baselines(
        self, config: TranslationConfig, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        pairs: PreparedPairs = prepared.artifacts["pairs"]
        return baseline_scores(pairs.splits["train"], pairs.splits[split])


def draw_attention(translator: Translator, pairs: PreparedPairs, run_dir: Path) -> list[Path]:
    """Attention heatmaps of the first validation sentences (none without attention)."""
    from rnnkit.evaluate.plots import attention_png

    if translator.model.attention is None:
        return []
    split = pairs.splits["val"]
    ids = split.source_ids[:HEATMAPS]
    decoded = translator.decode_ids(ids, return_attention=True)
    source_vocab, target_vocab = pairs.source_pipeline.vocab, pairs.target_pipeline.vocab
    assert source_vocab is not None and target_vocab is not None
    paths = []
    for i, (source_ids, translation) in enumerate(zip(ids, decoded, strict=True)):
        if translation.attention is None:
            continue
        source_tokens = source_vocab.decode(source_ids)
        target_tokens = [*target_vocab.decode(translation.tokens), "<eos>"]
        paths.append(
            attention_png(
                translation.attention.numpy(),
                source_tokens,
                target_tokens,
                run_dir / f"attention_{i + 1}.png",
                title=f"{split.raw.source[i]}\n-> {translator.detokenize(translation)}",
            )
        )
    return paths
