"""The recurrent stack every task's model is built around, from the shared
``model:`` keys (:class:`rnnkit.config.StackConfig`)."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.config import SCAN_CELLS, StackConfig


def make_recurrent(config: StackConfig, input_size: int, bidirectional: bool = False) -> nn.Module:
    """The recurrent stack a model section describes, as a batch-first rnnkit.nn layer."""
    from rnnkit import nn as rnn_layers

    if config.cell in SCAN_CELLS:
        return rnn_layers.minimal_layer(
            config.cell,
            input_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            residual=config.residual,
            norm=config.norm,
            mlp=config.mlp,
        )

    layer_class = {"lstm": rnn_layers.LSTM, "gru": rnn_layers.GRU, "rnn": rnn_layers.RNN}[
        config.cell
    ]
    options: dict[str, object] = {
        "num_layers": config.num_layers,
        "batch_first": True,
        "dropout": config.dropout if config.num_layers > 1 else 0.0,
        "bidirectional": bidirectional,
    }
    # Extended options are passed only when set, so the layer can use torch's fused
    # kernels whenever the configuration allows.
    if config.cell == "rnn":
        options["nonlinearity"] = config.nonlinearity
    if config.cell == "gru" and not config.reset_after:
        options["reset_after"] = False
    for name in ("layer_norm", "recurrent_dropout", "zoneout", "weight_drop"):
        value = getattr(config, name)
        if value:
            options[name] = value
    return layer_class(input_size, config.hidden_size, **options)


def valid_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(B, T) boolean mask, True at the steps before each sequence's length."""
    steps = torch.arange(max_length, device=lengths.device)
    return steps[None, :] < lengths[:, None]
