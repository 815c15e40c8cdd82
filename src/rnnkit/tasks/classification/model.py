"""Many-to-one sequence classifier for text and multichannel numeric sequences.

    tokens (B, T) --embedding (word dropout)--> (B, T, E)
        or features (B, T, F) --linear--> (B, T, E)
    --locked input dropout-->
    --recurrent layers (rnnkit.nn, optionally bidirectional)--> (B, T, D·H)
    --pooling over the valid steps (last | mean | max | attention)--> (B, D·H)
    --dropout--> --linear--> logits (B, C)

Padding never leaks into a prediction: the recurrent layers receive the true lengths and
every pooling mode looks at valid steps only, so a batch-padded sequence gets the same
logits as the same sequence alone.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.nn.regularization import LockedDropout, embedding_dropout
from rnnkit.tasks.classification.config import ClassificationConfig, ClassificationModel
from rnnkit.tasks.stack import make_recurrent, valid_mask

Pooling = Literal["last", "mean", "max", "attention"]


class SequenceClassifier(nn.Module):
    """Embedding or input projection -> recurrent layers -> pooling -> linear head.

    Args:
        num_classes: number of output classes C.
        config: the model section of the experiment config (cell, sizes, layers,
            bidirectional, dropout, pooling, head_dropout, extended cell options).
        vocab_size: for text inputs, the vocabulary size V (token id 0 is padding).
        input_size: for numeric inputs, the number of channels F per time step.

    Exactly one of ``vocab_size`` and ``input_size`` is given.
    """

    def __init__(
        self,
        num_classes: int,
        config: ClassificationModel,
        *,
        vocab_size: int | None = None,
        input_size: int | None = None,
    ) -> None:
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (text) and input_size (numeric)")
        self.pooling: Pooling = config.pooling
        embedding_size = config.embedding_size or config.hidden_size
        if vocab_size is not None:
            self.inputs: nn.Module = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
            # Frozen pretrained vectors: no gradient, so the optimizer leaves them as loaded.
            self.inputs.weight.requires_grad_(not config.freeze_embeddings)
        else:
            self.inputs = nn.Linear(int(input_size), embedding_size)  # type: ignore[arg-type]
        self.embedding_dropout = config.embedding_dropout if vocab_size is not None else 0.0
        # Locked (variational) dropout: one mask per sequence, shared by every step.
        self.input_dropout = LockedDropout(config.input_dropout, batch_first=True)
        self.recurrent = make_recurrent(config, embedding_size, config.bidirectional)
        self.output_dropout = LockedDropout(config.output_dropout, batch_first=True)
        features = config.hidden_size * (2 if config.bidirectional else 1)
        # Attention pooling scores each step with one learned vector (a linear layer).
        self.attention = nn.Linear(features, 1) if self.pooling == "attention" else None
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(features, num_classes)
        self.bidirectional = config.bidirectional
        self.hidden_size = config.hidden_size

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, C) for token ids (B, T) or features (B, T, F) with lengths (B,)."""
        batch, steps = inputs.shape[0], inputs.shape[1]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        lengths = lengths.to("cpu", torch.long)
        if isinstance(self.inputs, nn.Embedding):
            # Drops whole words (the same word everywhere in the batch), not occurrences.
            embedded = embedding_dropout(self.inputs, inputs, self.embedding_dropout, self.training)
        else:
            embedded = self.inputs(inputs)
        embedded = self.input_dropout(embedded)  # (B, T, E)
        outputs, _ = self.recurrent(embedded, lengths=lengths)  # (B, T, D*H)
        outputs = self.output_dropout(outputs)
        mask = valid_mask(lengths, steps).to(outputs.device)  # (B, T)
        pooled = self._pool(outputs, mask, lengths.to(outputs.device))  # (B, D*H)
        return self.head(self.head_dropout(pooled))  # (B, C)

    def _pool(
        self, outputs: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        if self.pooling == "last":
            # The forward direction ends at the last valid step; the backward direction
            # ends at step 0, after it has read the whole valid sequence.
            rows = torch.arange(outputs.shape[0], device=outputs.device)
            last = outputs[rows, lengths - 1]  # (B, D*H)
            if not self.bidirectional:
                return last
            return torch.cat([last[:, : self.hidden_size], outputs[:, 0, self.hidden_size :]], 1)
        if self.pooling == "mean":
            summed = (outputs * mask[..., None]).sum(1)
            return summed / lengths[:, None].to(outputs.dtype)
        if self.pooling == "max":
            return outputs.masked_fill(~mask[..., None], float("-inf")).amax(1)
        scores = self.attention(outputs).squeeze(-1)  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return torch.einsum("bt,bth->bh", weights, outputs)


def build_model(config: ClassificationConfig, info: dict[str, Any]) -> SequenceClassifier:
    """The classifier a run's config and ``preprocess/info.json`` describe."""
    if info["input"] == "text":
        return SequenceClassifier(info["num_classes"], config.model, vocab_size=info["vocab_size"])
    if config.model.pretrained_embeddings:
        raise ConfigError(
            f"model.pretrained_embeddings = {config.model.pretrained_embeddings!r} gives word "
            "vectors; these inputs are not text: remove it"
        )
    if config.model.embedding_dropout:
        raise ConfigError(
            f"model.embedding_dropout = {config.model.embedding_dropout} drops words of a "
            "text input; these inputs are numeric: use model.input_dropout"
        )
    return SequenceClassifier(info["num_classes"], config.model, input_size=info["input_size"])
