"""The speech recognition task: transcribed clips -> a CTC acoustic model.

Preparation (fitted on the training split only, saved as ``preprocess/speech.json``): the
feature settings, the global feature normalisation and the output symbols
(:mod:`rnnkit.tasks.speech_recognition.data`). Training minimises torch's CTC loss, with
SpecAugment masks when ``data.spec_augment`` is set; validation logs ``val/loss`` and
``val/wer`` (greedy decoding). Evaluation decodes with ``model.decoder`` and reports
``wer``, ``cer``, ``sentence_accuracy`` and ``loss``, and draws the features and frame-wise
CTC outputs of a few clips (``<split>_ctc.png``). The baseline is the most frequent training
transcript said for every clip.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from rnnkit.data.audio import FeatureNorm, SpecAugment
from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData
from rnnkit.tasks.speech_recognition.config import SpeechRecognitionConfig
from rnnkit.tasks.speech_recognition.data import (
    PreparedSpeech,
    UtteranceDataset,
    collate_utterances,
    prepare_speech,
)
from rnnkit.tasks.speech_recognition.decode import beam_decode, greedy_decode
from rnnkit.tasks.speech_recognition.metrics import transcription_metrics
from rnnkit.tasks.speech_recognition.model import ctc_loss
from rnnkit.tasks.speech_recognition.predictor import SPEECH_FILE, speech_info
from rnnkit.tasks.speech_recognition.tokens import CTCTokens

log = logging.getLogger(__name__)

PLOTTED_CLIPS = 3


class SpeechModule(RecurrentModule):
    """CTC loss on padded feature batches; greedy word error rate on validation."""

    def __init__(self, model: nn.Module, config: SpeechRecognitionConfig, tokens: CTCTokens):
        super().__init__(model, config.train)
        masks = config.data.spec_augment
        self.augment = (
            SpecAugment(
                masks.freq_masks,
                masks.freq_width,
                masks.time_masks,
                masks.time_width,
                masks.max_time_fraction,
            )
            if masks is not None
            else None
        )
        self.tokens = tokens
        self._val_counts = [0, 0]  # word edits, reference words

    def _loss(self, batch: tuple[Tensor, ...], augment: bool) -> tuple[Tensor, Tensor, Tensor]:
        features, lengths, targets, target_lengths = batch  # (B, T, F), (B,), (B, L), (B,)
        if augment and self.augment is not None:
            features = self.augment(features, lengths)
        log_probs, out_lengths = self.model(features, lengths)  # (B, T', S), (B,)
        loss = ctc_loss(log_probs, out_lengths, targets, target_lengths, self.tokens.blank)
        return loss, log_probs, out_lengths

    def step_loss(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        loss, _, _ = self._loss(batch, augment=True)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_counts = [0, 0]

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        import jiwer

        loss, log_probs, out_lengths = self._loss(batch, augment=False)
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=len(out_lengths))
        targets, target_lengths = batch[2], batch[3]
        references = [
            self.tokens.decode(row[:n].tolist())
            for row, n in zip(targets, target_lengths.tolist(), strict=True)
        ]
        hypotheses = [self.tokens.decode(ids) for ids in greedy_decode(log_probs, out_lengths)]
        counts = jiwer.process_words(references, hypotheses)
        self._val_counts[0] += counts.substitutions + counts.deletions + counts.insertions
        self._val_counts[1] += sum(len(r.split()) for r in references)
        return loss

    def on_validation_epoch_end(self) -> None:
        edits, words = self._val_counts
        if words:
            self.log("val/wer", edits / words, prog_bar=True)


class SpeechRecognitionTask:
    """The :class:`rnnkit.tasks.spec.Task` for ``task: speech_recognition``."""

    def prepare(self, config: SpeechRecognitionConfig, run_dir: Path) -> PreparedData:
        path = Path(run_dir) / PREPROCESS_DIR / SPEECH_FILE
        tokens = norm = None
        if path.is_file():  # a resumed run or an evaluation: what training fitted
            saved = read_json(path, dict)
            tokens = CTCTokens.from_dict(saved["tokens"])
            norm = FeatureNorm.from_dict(saved["norm"])
        data = prepare_speech(config.data, config.seed, tokens=tokens, norm=norm)
        info = speech_info(data.settings, data.norm, data.tokens)
        if not path.is_file():
            write_json(path, info)
        datasets = {split: data.dataset(split) for split in ("train", "val", "test")}
        loaders = {
            split: self._loader(config, dataset, shuffle=split == "train")
            for split, dataset in datasets.items()
        }
        return PreparedData(
            train=loaders["train"],
            val=loaders["val"],
            test=loaders["test"],
            info=info,
            artifacts={"data": data, "datasets": datasets, "run_dir": Path(run_dir)},
        )

    def _loader(
        self, config: SpeechRecognitionConfig, dataset: UtteranceDataset, *, shuffle: bool
    ) -> DataLoader | None:
        from rnnkit.data.batches import BucketBatchSampler

        if len(dataset) == 0:
            return None
        size = config.data.batch_size if shuffle else (config.data.eval_batch_size or 64)
        sampler = BucketBatchSampler(dataset.lengths(), size, shuffle=shuffle, seed=config.seed)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate_utterances,
            num_workers=config.data.num_workers,
        )

    def build_module(
        self, config: SpeechRecognitionConfig, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        data: PreparedSpeech = prepared.artifacts["data"]
        return SpeechModule(model, config, data.tokens)

    def transcripts(
        self, config: SpeechRecognitionConfig, model: nn.Module, prepared: PreparedData, split: str
    ) -> tuple[list[str], float, list[tuple[np.ndarray, np.ndarray]]]:
        """Decoded texts of ``split`` in order, the mean CTC loss, and the (features,
        posteriors) of its first clips for the plot."""
        data: PreparedSpeech = prepared.artifacts["data"]
        dataset: UtteranceDataset = prepared.artifacts["datasets"][split]
        if len(dataset) == 0:
            raise DataError(f"the {split} split is empty")
        model.eval()
        texts: list[str] = []
        losses: list[float] = []
        examples: list[tuple[np.ndarray, np.ndarray]] = []
        size = config.data.eval_batch_size or 64
        with torch.no_grad():
            for start in range(0, len(dataset), size):
                items = [dataset[i] for i in range(start, min(start + size, len(dataset)))]
                features, lengths, targets, target_lengths = collate_utterances(items)
                log_probs, out_lengths = model(features, lengths)
                loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
                losses.append(float(loss) * len(items))
                if config.model.decoder == "greedy":
                    decoded = greedy_decode(log_probs, out_lengths, data.tokens.blank)
                else:
                    decoded = beam_decode(
                        log_probs, out_lengths, config.model.beam_size, data.tokens.blank
                    )
                texts.extend(data.tokens.decode(ids) for ids in decoded)
                for row in range(len(items)):
                    if len(examples) < PLOTTED_CLIPS:
                        n, m = int(lengths[row]), int(out_lengths[row])
                        examples.append(
                            (features[row, :n].numpy(), log_probs[row, :m].exp().numpy())
                        )
        return texts, sum(losses) / len(dataset), examples

    def evaluate(
        self, config: SpeechRecognitionConfig, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        from rnnkit.tasks.speech_recognition.plots import CTCExample, ctc_outputs_png

        data: PreparedSpeech = prepared.artifacts["data"]
        references = data.texts[split]
        hypotheses, loss, examples = self.transcripts(config, model, prepared, split)
        result = transcription_metrics(references, hypotheses)
        result["loss"] = loss
        plotted = [
            CTCExample(features, posteriors, ref, hyp)
            for (features, posteriors), ref, hyp in zip(
                examples, references, hypotheses, strict=False
            )
        ]
        ctc_outputs_png(
            plotted,
            data.tokens.symbols,
            prepared.artifacts["run_dir"] / f"{split}_ctc.png",
            data.settings.hop_ms,
        )
        return result

    def baselines(
        self, config: SpeechRecognitionConfig, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        data: PreparedSpeech = prepared.artifacts["data"]
        references = data.texts[split]
        if not references:
            return {}
        most_common = Counter(data.texts["train"]).most_common(1)[0][0]
        return {
            "most_frequent_transcript": transcription_metrics(
                references, [most_common] * len(references)
            )
        }
