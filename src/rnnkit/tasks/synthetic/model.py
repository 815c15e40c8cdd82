"""The model of the synthetic tasks: recurrent layers over numeric inputs and a linear
head, once per sequence (adding) or at every step (copy)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.stack import make_recurrent
from rnnkit.tasks.synthetic.config import SyntheticConfig, SyntheticModel


class SequenceModel(nn.Module):
    """Recurrent layers over numeric inputs and a linear head, once or at every step.

    Args:
        input_size: features per step F.
        output_size: outputs of the head (1 for regression, C classes for labelling).
        config: the model section (cell, hidden_size, num_layers, dropout, ...).
        per_step: True for one output per step (B, T, output_size); False for one per
            sequence, from the last step (B, output_size).
    """

    def __init__(
        self, input_size: int, output_size: int, config: SyntheticModel, *, per_step: bool
    ) -> None:
        super().__init__()
        self.per_step = per_step
        self.recurrent = make_recurrent(config, input_size, config.bidirectional)
        self.hidden_size = config.hidden_size
        self.bidirectional = config.bidirectional
        features = config.hidden_size * (2 if config.bidirectional else 1)
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(features, output_size)

    def forward(self, inputs: Tensor) -> Tensor:
        outputs, _ = self.recurrent(inputs)  # (B, T, D*H)
        if self.per_step:
            return self.head(self.head_dropout(outputs))  # (B, T, C)
        last = outputs[:, -1]  # (B, D*H)
        if self.bidirectional:
            # The backward direction has read the whole sequence when it reaches step 0.
            last = torch.cat([last[:, : self.hidden_size], outputs[:, 0, self.hidden_size :]], 1)
        return self.head(self.head_dropout(last))  # (B, output_size)


def build_adding_model(config: SyntheticConfig, info: dict[str, Any]) -> nn.Module:
    return SequenceModel(info["input_size"], info["output_size"], config.model, per_step=False)


def build_copy_model(config: SyntheticConfig, info: dict[str, Any]) -> nn.Module:
    return SequenceModel(info["input_size"], info["output_size"], config.model, per_step=True)
