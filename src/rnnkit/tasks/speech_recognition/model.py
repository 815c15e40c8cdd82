"""Acoustic model for CTC speech recognition.

    features (B, T, F)
    --optional convolutional subsampling: k x [Conv1d(kernel 3, stride 2) -> ReLU]--> (B, T', C)
    --recurrent layers (rnnkit.nn LSTM or GRU, usually bidirectional)--> (B, T', D·H)
    --dropout--> --linear--> log-softmax over the symbols and the blank (B, T', S)

Subsampling by 2^k shortens the sequence the recurrent layers run over (faster, and CTC
needs no more frames than ~ one per output symbol plus blanks); each stride-2 layer maps a
length ``L`` to ``floor((L - 1) / 2) + 1``. Trained with torch's CTC loss
(Graves et al. 2006, Connectionist Temporal Classification, ICML 2006).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.tasks.speech_recognition.config import SpeechRecognitionConfig
from rnnkit.tasks.stack import make_recurrent


class ConvSubsampling(nn.Module):
    """``layers`` stride-2 1-D convolutions over time: ``(B, T, F)`` -> ``(B, T', C)``."""

    def __init__(self, input_size: int, channels: int, layers: int) -> None:
        super().__init__()
        self.layers = layers
        convs = []
        for i in range(layers):
            convs.append(nn.Conv1d(input_size if i == 0 else channels, channels, 3, 2, 1))
            convs.append(nn.ReLU())
        self.net = nn.Sequential(*convs)
        self.output_size = channels if layers else input_size

    def output_lengths(self, lengths: Tensor) -> Tensor:
        for _ in range(self.layers):
            # Conv1d(kernel 3, stride 2, padding 1): floor((L + 2 - 3) / 2) + 1.
            lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
        return lengths

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if not self.layers:
            return x, lengths
        # Zero the padding first: a convolution would otherwise smear it into valid frames.
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        x = x * valid.unsqueeze(-1).to(x.dtype)
        out = self.net(x.transpose(1, 2)).transpose(1, 2)  # (B, T', C)
        return out, self.output_lengths(lengths)


class SpeechRecognizer(nn.Module):
    """Frame features -> per-frame log-probabilities over ``num_symbols`` (blank included).

    Args:
        input_size: features per frame F.
        num_symbols: output size S (the blank and every character or word).
        recurrent: builds the recurrent stack from its input size: a batch-first layer
            taking ``lengths=`` with ``hidden_size`` and ``bidirectional`` attributes
            (an ``rnnkit.nn`` LSTM, GRU or RNN; see :func:`build_model`).
        subsampling_layers: stride-2 convolutions in front (0: none).
        conv_channels: their channels.
        dropout: on the recurrent outputs, before the output layer.
    """

    def __init__(
        self,
        input_size: int,
        num_symbols: int,
        recurrent: Callable[[int], nn.Module],
        *,
        subsampling_layers: int = 0,
        conv_channels: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.subsample = ConvSubsampling(input_size, conv_channels, subsampling_layers)
        self.rnn = recurrent(self.subsample.output_size)
        directions = 2 if self.rnn.bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.rnn.hidden_size * directions, num_symbols)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames of inputs of ``lengths`` frames."""
        return self.subsample.output_lengths(lengths)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, T, F)``, ``(B,)`` -> log-probabilities ``(B, T', S)`` and ``(B,)`` lengths."""
        x, out_lengths = self.subsample(features, lengths)  # (B, T', C)
        hidden, _ = self.rnn(x, lengths=out_lengths.cpu())  # (B, T', D·H)
        logits = self.output(self.dropout(hidden))  # (B, T', S)
        return logits.log_softmax(dim=-1), out_lengths


def ctc_loss(
    log_probs: Tensor,
    lengths: Tensor,
    targets: Tensor,
    target_lengths: Tensor,
    blank: int = 0,
) -> Tensor:
    """Mean over the batch of ``-log p(target | x) / len(target)`` (torch's ``mean``).

    ``log_probs`` (B, T, S) batch-first; ``targets`` (B, L) padded or concatenated (sum L).
    An utterance too long for its frames has infinite loss; it is zeroed so one bad clip
    cannot turn the batch's gradient into NaN.
    """
    return F.ctc_loss(
        log_probs.transpose(0, 1),  # (T, B, S): torch's layout
        targets,
        lengths,
        target_lengths,
        blank=blank,
        reduction="mean",
        zero_infinity=True,
    )


def build_model(config: SpeechRecognitionConfig, info: dict[str, Any]) -> SpeechRecognizer:
    """The acoustic model a run's config and ``preprocess/info.json`` describe."""
    model = config.model
    return SpeechRecognizer(
        info["input_size"],
        info["num_symbols"],
        lambda size: make_recurrent(model, size, bidirectional=model.bidirectional),
        subsampling_layers=model.subsampling_layers,
        conv_channels=model.conv_channels,
        dropout=model.output_dropout,
    )


__all__ = ["ConvSubsampling", "SpeechRecognizer", "build_model", "ctc_loss"]
