"""Config sections of language modelling: a text corpus cut into BPTT chunks, and the
embedding -> recurrent stack -> softmax model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnkit.config import Config, StackConfig, TextConfig


class LanguageModelData(TextConfig):
    """A corpus read as contiguous streams, cut into chunks of ``bptt`` steps."""

    bptt: int = Field(35, ge=1)
    bptt_jitter: bool = False  # random chunk lengths around bptt (Merity et al. 2017)


class LanguageModelOptions(StackConfig):
    """The ``model:`` section of a language model."""

    embedding_size: int | None = Field(None, ge=1)  # defaults to hidden_size
    embedding_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # drops whole words
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on inputs
    output_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on outputs
    tie_weights: bool = False
    init: Literal["default", "uniform", "xavier", "orthogonal"] = "default"
    init_range: float = Field(0.1, gt=0.0)  # for init=uniform: U(-a, a)


class LanguageModelExperiment(Config):
    task: Literal["language_model"] = "language_model"
    data: LanguageModelData
    model: LanguageModelOptions = Field(default_factory=LanguageModelOptions)
