"""Word and character language models: embedding -> recurrent layers -> decoder.

The model is time-major, like the streams it is trained on: tokens come in as ``(T, B)``
and logits go out as ``(T, B, V)``. The recurrent state is an explicit argument and
return value, so the training loop owns truncated BPTT (carrying and detaching the state
between chunks) and generation can feed one token at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.nn.regularization import LockedDropout, embedding_dropout
from rnnkit.nn.scan_layers import MINIMAL_CELLS

if TYPE_CHECKING:  # pragma: no cover
    from rnnkit.tasks.language_model.config import LanguageModelExperiment

# (h_n,) for RNN/GRU, (h_n, c_n) for LSTM; each (num_layers, B, H).
State = Tensor | tuple[Tensor, Tensor]


@dataclass(frozen=True)
class LanguageModelConfig:
    """Everything that fixes the shapes and behaviour of a :class:`LanguageModel`."""

    vocab_size: int
    cell: str = "lstm"
    embedding_size: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    nonlinearity: str = "tanh"
    reset_after: bool = True
    dropout: float = 0.0  # between stacked recurrent layers
    embedding_dropout: float = 0.0  # drops whole words (rows of the embedding matrix)
    input_dropout: float = 0.0  # locked dropout on the embedded inputs
    output_dropout: float = 0.0  # locked dropout on the last layer's outputs
    layer_norm: bool = False
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    residual: bool = False  # mingru / minlstm / rglru stacking options
    norm: bool = False
    mlp: bool = False
    tie_weights: bool = False
    init: str = "default"
    init_range: float = 0.1


def recurrent_layer(config: LanguageModelConfig) -> nn.Module:
    """The stacked rnnkit.nn layer for ``config.cell`` (time-major)."""
    import rnnkit.nn as rnn

    common = {
        "input_size": config.embedding_size,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "dropout": config.dropout if config.num_layers > 1 else 0.0,
    }
    if config.cell in MINIMAL_CELLS:
        return rnn.minimal_layer(
            config.cell,
            **common,
            residual=config.residual,
            norm=config.norm,
            mlp=config.mlp,
        )
    extended = {
        "layer_norm": config.layer_norm,
        "recurrent_dropout": config.recurrent_dropout,
        "zoneout": config.zoneout,
        "weight_drop": config.weight_drop,
    }
    if config.cell == "lstm":
        return rnn.LSTM(**common, **extended)
    if config.cell == "gru":
        return rnn.GRU(**common, **extended, reset_after=config.reset_after)
    if config.cell == "rnn":
        return rnn.RNN(**common, **extended, nonlinearity=config.nonlinearity)
    raise ConfigError(
        f"model.cell={config.cell!r} is not a cell; use lstm, gru, rnn, mingru, minlstm or rglru"
    )


class LanguageModel(nn.Module):
    """Predicts the next token at every position of a token stream.

    ``forward(tokens (T, B), state) -> (logits (T, B, V), state)``. With
    ``tie_weights`` the decoder reuses the embedding matrix (Press & Wolf 2017; Inan et
    al. 2017), which needs ``embedding_size == hidden_size``.
    """

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        if config.tie_weights and config.embedding_size != config.hidden_size:
            raise ConfigError(
                f"model.tie_weights needs model.embedding_size ({config.embedding_size}) "
                f"== model.hidden_size ({config.hidden_size})"
            )
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.input_dropout = LockedDropout(config.input_dropout)
        self.rnn = recurrent_layer(config)
        self.output_dropout = LockedDropout(config.output_dropout)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Apply ``config.init``; ``default`` keeps torch's initialisation."""
        init, bound = self.config.init, self.config.init_range
        if init == "uniform":
            # Zaremba et al. 2014 draw every parameter, biases included, from U(-a, a).
            for parameter in self.parameters():
                nn.init.uniform_(parameter, -bound, bound)
        elif init in ("xavier", "orthogonal"):
            for name, parameter in self.rnn.named_parameters():
                if name.startswith("weight_hh") and init == "orthogonal":
                    for gate in parameter.data.chunk(parameter.size(0) // parameter.size(1)):
                        nn.init.orthogonal_(gate)
                elif name.startswith("weight"):
                    nn.init.xavier_uniform_(parameter)
                elif name.startswith("bias"):
                    nn.init.zeros_(parameter)
            nn.init.uniform_(self.embedding.weight, -bound, bound)
            nn.init.zeros_(self.decoder.bias)

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        embedded = embedding_dropout(
            self.embedding, tokens, self.config.embedding_dropout, self.training
        )  # (T, B, E)
        output, state = self.rnn(self.input_dropout(embedded), state)  # (T, B, H)
        logits = self.decoder(self.output_dropout(output))  # (T, B, V)
        return logits, state

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        """Zeros shaped like the state ``forward`` returns."""
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = torch.zeros(shape, device=device or self.decoder.weight.device)
        if self.config.cell == "lstm":
            return zeros, zeros.clone()
        return zeros


def detach_state(state: State | None) -> State | None:
    """Cut the autograd graph at a chunk boundary while keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


def model_config(config: LanguageModelExperiment, vocab_size: int) -> LanguageModelConfig:
    model = config.model
    return LanguageModelConfig(
        vocab_size=vocab_size,
        cell=model.cell,
        embedding_size=model.embedding_size or model.hidden_size,
        hidden_size=model.hidden_size,
        num_layers=model.num_layers,
        nonlinearity=model.nonlinearity,
        reset_after=model.reset_after,
        dropout=model.dropout,
        embedding_dropout=model.embedding_dropout,
        input_dropout=model.input_dropout,
        output_dropout=model.output_dropout,
        layer_norm=model.layer_norm,
        recurrent_dropout=model.recurrent_dropout,
        zoneout=model.zoneout,
        weight_drop=model.weight_drop,
        residual=model.residual,
        norm=model.norm,
        mlp=model.mlp,
        tie_weights=model.tie_weights,
        init=model.init,
        init_range=model.init_range,
    )


def build_model(config: LanguageModelExperiment, info: dict[str, Any]) -> LanguageModel:
    """The language model a run's config and ``preprocess/info.json`` describe."""
    return LanguageModel(model_config(config, info["vocab_size"]))
