"""Config sections of classification: labelled texts or numeric sequences, and the
many-to-one classifier."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnkit.config import Config, EmbeddingsConfig, StackConfig, TextConfig
from rnnkit.config.audio import AudioConfig


class ClassificationData(TextConfig, AudioConfig):
    """Labelled texts (text options apply), labelled numeric sequences (``scaler``) or
    labelled audio clips (the audio options: ``sample_rate``, ``features``, ...)."""

    text_column: str | None = None
    label_column: str | None = None
    max_length: int | None = Field(None, ge=1)
    truncate: Literal["head", "tail"] = "tail"  # which end loses tokens beyond max_length
    bucket_by_length: bool = True
    scaler: Literal["standard", "minmax", "none"] = "standard"  # numeric sequences
    # Audio clips with speakers (fsdd): hold out one speaker as the test split.
    split_by: Literal["speaker"] | None = None
    test_speaker: str | None = None


class ClassificationModel(StackConfig, EmbeddingsConfig):
    """Embedding or input projection -> recurrent stack -> pooling -> head. Text inputs
    with word tokens (tokenizer word or whitespace) may start the embedding from
    pretrained vectors (``pretrained_embeddings``: see EmbeddingsConfig)."""

    embedding_size: int | None = Field(None, ge=1)  # text inputs; defaults to hidden_size
    embedding_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # drops whole words
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on inputs
    output_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on outputs
    bidirectional: bool = False
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    class_weights: Literal["balanced"] | list[float] | None = None

    def unread_keys(self) -> set[str]:
        return StackConfig.unread_keys(self) | EmbeddingsConfig.unread_keys(self)


class ClassificationConfig(Config):
    task: Literal["classification"] = "classification"
    data: ClassificationData
    model: ClassificationModel = Field(default_factory=ClassificationModel)
