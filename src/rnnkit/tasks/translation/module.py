"""The LightningModule that trains a :class:`~.model.Seq2Seq`.

Training minimises the label-smoothed cross entropy per target token (padding ignored);
validation logs the plain, teacher-forced cross entropy (``val/loss``) and its
exponential (``val/perplexity``), so early stopping and learning-rate schedules watch the
same quantity whatever the smoothing. BLEU needs decoding, which costs more than an
epoch's validation should: it is computed once training ends.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.tasks.translation.data import Batch
from rnnkit.tasks.translation.model import Seq2Seq, sequence_loss
from rnnkit.train.module import RecurrentModule


class TranslationModule(RecurrentModule):
    """Teacher-forced training of an encoder-decoder (see the module docstring)."""

    def __init__(self, model: Seq2Seq, train_config, label_smoothing: float) -> None:
        super().__init__(model, train_config)
        self.label_smoothing = label_smoothing

    def step_loss(self, batch: Batch, batch_idx: int) -> Tensor:
        source, lengths, target_in, target_out = batch
        logits = self.model(source, lengths, target_in)  # (B, T, V)
        loss = sequence_loss(logits, target_out, self.model.pad_id, self.label_smoothing)
        tokens = int((target_out != self.model.pad_id).sum())
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=tokens)
        return loss

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
