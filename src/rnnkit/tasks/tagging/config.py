"""The ``data:`` and ``model:`` config sections of ``task: tagging``.

A tagger reads sentences with one tag per token (a CoNLL-U treebank or a CoNLL column
file, see :mod:`rnnkit.data.conll`), represents each word by a word embedding and a
character encoding of its spelling, runs a bidirectional recurrent stack over the
sentence, and scores the tags per token with a softmax or a linear-chain CRF.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rnnkit.config import Config, EmbeddingsConfig, SourceConfig, StackConfig


class TaggingData(SourceConfig):
    """Tagged sentences (``dataset``, ``split``, batch sizes: see SourceConfig) and how
    their words and characters become ids."""

    # CoNLL-U: upos | xpos (default upos). Column files: a 0-based column (default -1,
    # the last one).
    tag_column: Literal["upos", "xpos"] | int | None = None
    token_column: int = 0  # column files only; CoNLL-U reads FORM
    # Words: the word vocabulary is fitted on the training split. Lowercasing applies to
    # word lookups only: the character encoder always sees the original spelling, so
    # capitalisation still counts.
    lowercase: bool = False
    min_freq: int = Field(1, ge=1)  # rarer training words become <unk>
    max_vocab_size: int | None = Field(None, ge=3)
    # Characters: per word, the first max_word_length characters are encoded.
    char_min_freq: int = Field(1, ge=1)
    max_word_length: int = Field(30, ge=1)
    bucket_by_length: bool = True  # batches of sentences of similar length

    @field_validator("tag_column")
    @classmethod
    def _no_bool_column(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a tag column is upos, xpos or a column number")
        return value


class TaggingModel(StackConfig, EmbeddingsConfig):
    """Word + character features -> recurrent stack (the shared keys: cell, hidden_size,
    num_layers, dropout, extended options) -> per-token softmax or CRF. The word
    embedding may start from pretrained vectors (``pretrained_embeddings``,
    ``pretrained_max_words``, ``freeze_embeddings``: see EmbeddingsConfig)."""

    num_layers: int = Field(2, ge=1)
    bidirectional: bool = True  # a tag depends on the words on both sides

    # Word features.
    embedding_size: int = Field(100, ge=1)
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # training: words -> <unk> at this rate
    # With pretrained vectors: a second word embedding of this size, for the training
    # words only (others look up its <unk> row), starting at zero, concatenated beside
    # the vectors. With freeze_embeddings=true the vectors stay where the file put them,
    # so a test word seen only in the file keeps a vector that agrees with those the
    # tagger trained on, while this table learns what training adds (the scheme of
    # Dozat and Manning 2017 and of Stanza's tagger). 0: none.
    trained_embedding_size: int = Field(0, ge=0)

    # Character features: each word's characters through a small encoder.
    char_encoder: Literal["lstm", "cnn", "none"] = "lstm"
    char_embedding_size: int = Field(32, ge=1)
    # lstm: units per direction (the word gets 2x this); cnn: number of filters.
    char_hidden_size: int = Field(64, ge=1)
    char_kernel_size: int = Field(3, ge=1)  # cnn only

    # Locked dropout (one mask per sentence) on the stack's inputs and outputs.
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    output_dropout: float = Field(0.0, ge=0.0, lt=1.0)

    # Output: a softmax per token, or a linear-chain CRF over the sentence.
    crf: bool = False

    @model_validator(mode="after")
    def _trained_table_needs_vectors(self) -> TaggingModel:
        if self.trained_embedding_size and not self.pretrained_embeddings:
            raise ValueError(
                f"trained_embedding_size={self.trained_embedding_size} adds a second "
                "embedding beside pretrained vectors: set pretrained_embeddings to a word "
                "vectors file, or trained_embedding_size=0 and embedding_size for one table"
            )
        return self

    def unread_keys(self) -> set[str]:
        return StackConfig.unread_keys(self) | EmbeddingsConfig.unread_keys(self)


class TaggingConfig(Config):
    task: Literal["tagging"] = "tagging"
    data: TaggingData
    model: TaggingModel = Field(default_factory=TaggingModel)
