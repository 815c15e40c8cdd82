"""Text in, text out: a trained :class:`~.model.Seq2Seq` with its two text pipelines.

:class:`Translator` cleans each sentence as the training pairs were cleaned, encodes it
with the source pipeline (plus ``<eos>``), decodes greedily or with beam search in
batches sorted by length, and detokenizes with the target pipeline. It needs torch only
(no Lightning), so the predictor can use it; :func:`evaluate_split` adds the metrics.

Decoding is deterministic: evaluation mode (no dropout) and no sampling, so the same
input always gives the same translation, whatever the batch it is in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from rnnkit.data.pairs import PairCleaning
from rnnkit.data.text import TextPipeline
from rnnkit.errors import UserError
from rnnkit.tasks.translation.data import PairSplit, encode_sources, make_loader
from rnnkit.tasks.translation.decode import DecodeSettings, Translation, beam_search, greedy_decode
from rnnkit.tasks.translation.metrics import (
    WordDictionary,
    copy_source,
    corpus_bleu,
    translation_scores,
)
from rnnkit.tasks.translation.model import Seq2Seq, sequence_loss


def check_beam_size(beam_size: object) -> int:
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam size {beam_size!r} is not valid: use 1 (greedy) or more")
    return beam_size


@dataclass
class Translator:
    """A model, its pipelines and its cleaning; see the module docstring."""

    model: Seq2Seq
    source_pipeline: TextPipeline
    target_pipeline: TextPipeline
    cleaning: PairCleaning
    batch_size: int = 64

    @property
    def settings(self) -> DecodeSettings:
        vocab = self.target_pipeline.vocab
        assert vocab is not None
        config = self.model.config
        return DecodeSettings(
            bos_id=vocab.bos_id,
            eos_id=vocab.eos_id,
            banned=(vocab.pad_id, vocab.bos_id),
            max_length_ratio=config.max_length_ratio,
            max_length_offset=config.max_length_offset,
        )

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Source ids of raw sentences; an empty sentence is a one-line UserError."""
        for number, text in enumerate(texts, start=1):
            if not isinstance(text, str) or not text.strip():
                raise UserError(
                    f"source sentence {number} is empty ({text!r}); give one sentence per line"
                )
        cleaned = [self.cleaning.apply(text) for text in texts]
        return encode_sources(self.source_pipeline, cleaned)

    @torch.no_grad()
    def decode_ids(
        self,
        source_ids: Sequence[Sequence[int]],
        *,
        beam_size: int | None = None,
        return_attention: bool = False,
    ) -> list[Translation]:
        """Decode id sequences in batches of similar length; results in input order.

        With ``return_attention`` each translation's attention is (its tokens + 1,
        its source length): one row per generated token, ``<eos>`` included.
        """
        beam_size = check_beam_size(self.model.config.beam_size if beam_size is None else beam_size)
        self.model.eval()
        device = next(self.model.parameters()).device
        vocab = self.source_pipeline.vocab
        assert vocab is not None
        order = sorted(range(len(source_ids)), key=lambda i: len(source_ids[i]))
        results: list[Translation | None] = [None] * len(source_ids)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            rows = [torch.tensor(source_ids[i], dtype=torch.long) for i in chosen]
            lengths = torch.tensor([len(r) for r in rows])
            source = torch.nn.utils.rnn.pad_sequence(
                rows, batch_first=True, padding_value=vocab.pad_id
            ).to(device)
            if beam_size == 1:
                decoded = greedy_decode(
                    self.model, source, lengths, self.settings, return_attention=return_attention
                )
            else:
                decoded = beam_search(
                    self.model,
                    source,
                    lengths,
                    self.settings,
                    beam_size=beam_size,
                    alpha=self.model.config.length_penalty,
                    return_attention=return_attention,
                )
            for index, translation in zip(chosen, decoded, strict=True):
                if translation.attention is not None:
                    # Columns past this sentence's length belong to the batch's padding.
                    own = translation.attention[:, : len(source_ids[index])]
                    translation = replace(translation, attention=own)
                results[index] = translation
        return [r for r in results if r is not None]

    def detokenize(self, translation: Translation) -> str:
        return self.target_pipeline.decode(translation.tokens)

    def translate(self, texts: Sequence[str], *, beam_size: int | None = None) -> list[str]:
        """One translation per source sentence."""
        decoded = self.decode_ids(self.encode(texts), beam_size=beam_size)
        return [self.detokenize(t) for t in decoded]


@torch.no_grad()
def teacher_forced_loss(
    model: Seq2Seq, split: PairSplit, target_pipeline: TextPipeline, data, batch_size: int = 64
) -> float:
    """Mean cross entropy (nats) per target token, ``<eos>`` included, no smoothing."""
    model.eval()
    device = next(model.parameters()).device
    loader = make_loader(split, target_pipeline, data, train=False)
    total, count = 0.0, 0
    for source, lengths, target_in, target_out in loader:
        logits = model(source.to(device), lengths, target_in.to(device))
        tokens = int((target_out != model.pad_id).sum())
        total += float(sequence_loss(logits, target_out.to(device), model.pad_id)) * tokens
        count += tokens
    return total / max(count, 1)


def evaluate_split(
    translator: Translator, split: PairSplit, data, *, beam_size: int | None = None
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Metrics of the model on one split, its sacreBLEU signatures and its translations.

    ``bleu``/``chrf`` compare with the raw references (and ``bleu_clean_reference`` with
    the cleaned ones, where cleaning changed them); ``loss`` and ``perplexity`` are
    teacher-forced (cross entropy per target token, ``exp(loss)``).
    """
    hypotheses = [
        translator.detokenize(t)
        for t in translator.decode_ids(split.source_ids, beam_size=beam_size)
    ]
    metrics, signatures = translation_scores(hypotheses, split.raw.target)
    if split.clean.target != split.raw.target:
        # Cleaning changed the references (lower case, the tutorial's normalisation): the
        # model can only write cleaned text, so report BLEU against that too.
        cleaned, cleaned_signatures = translation_scores(hypotheses, split.clean.target)
        metrics["bleu_clean_reference"] = cleaned["bleu"]
        signatures["bleu_clean_reference"] = cleaned_signatures["bleu"]
    loss = teacher_forced_loss(translator.model, split, translator.target_pipeline, data)
    metrics["loss"] = loss
    metrics["perplexity"] = math.exp(min(loss, 50.0))
    return metrics, signatures, hypotheses


def baseline_scores(train: PairSplit, split: PairSplit) -> dict[str, dict[str, float]]:
    """The copy and word-dictionary baselines on ``split`` (dictionary read from ``train``).

    The copy baseline copies the raw source; the dictionary translates cleaned text.
    """
    dictionary = WordDictionary.fit(train.clean.source, train.clean.target)
    results = {}
    for name, hypotheses in (
        ("copy_source", copy_source(split.raw.source)),
        ("word_dictionary", dictionary.translate_all(split.clean.source)),
    ):
        metrics, _ = translation_scores(hypotheses, split.raw.target)
        if split.clean.target != split.raw.target:  # as for the model (evaluate_split)
            metrics["bleu_clean_reference"] = corpus_bleu(hypotheses, split.clean.target).score
        results[name] = metrics
    return results
