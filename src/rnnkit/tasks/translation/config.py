"""The ``data:`` and ``model:`` sections of a translation config (``task: translation``).

    data:
      dataset: multi30k          # or eng-fra, pairs.tsv, a PREFIX of PREFIX.<lang> files, a folder
      source_lang: de            # catalog datasets: either direction
      target_lang: en
      tokenizer: word
    model:
      cell: gru
      hidden_size: 256
      attention: bahdanau        # bahdanau | luong | none
      beam_size: 5

Decoding settings live in ``model:`` because they belong to the trained model's use:
evaluation and ``rnnkit translate`` read them, and ``--beam-size`` overrides the beam.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnnkit.config import StrictModel


class PairSplitConfig(StrictModel):
    """Fractions of an unsplit source (e.g. eng-fra) held out; the rest trains."""

    val: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> PairSplitConfig:
        if self.val + self.test >= 1.0:
            raise ValueError(
                f"val + test = {self.val + self.test:g} leaves no training data; use fractions "
                "that sum to less than 1"
            )
        return self


class TranslationDataConfig(StrictModel):
    """Where the sentence pairs come from and how they become token ids."""

    dataset: str
    cache_dir: str | None = None
    offline: bool = False
    source_lang: str | None = None
    target_lang: str | None = None
    source_column: str | int = 0  # pairs tables: header name or 0-based index
    target_column: str | int = 1
    split: PairSplitConfig = Field(default_factory=PairSplitConfig)

    # Cleaning (both sides) and filters. Filters thin the training pairs, and every pair
    # of a source that ships unsplit (before it is split); a shipped test set stays whole.
    lowercase: bool = False
    unicode_normalization: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = None
    normalize: Literal["none", "tutorial"] = "none"
    max_length: int | None = Field(None, ge=1)  # words per side
    prefix_filter: bool = False  # keep pairs whose English side starts "i am", "he is", ...

    # Tokenizers: one pipeline per side, fitted on the training pairs only.
    tokenizer: Literal["char", "word", "whitespace", "bpe"] = "word"
    shared_vocab: bool = False  # one vocabulary fitted on both sides
    min_freq: int = Field(1, ge=1)
    max_vocab_size: int | None = Field(None, ge=5)
    bpe_vocab_size: int = Field(8000, ge=257)

    batch_size: int = Field(64, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)
    bucket_by_length: bool = True


class TranslationModelConfig(StrictModel):
    """Encoder -> attention -> decoder, the loss, and how translations are decoded."""

    cell: Literal["lstm", "gru", "rnn"] = "gru"
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # Elman RNN only
    reset_after: bool = True  # GRU: torch/cuDNN formulation; False is Cho et al. 2014
    embedding_size: int | None = Field(None, ge=1)  # defaults to hidden_size
    hidden_size: int = Field(256, ge=1)
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True  # the encoder
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # embeddings, between layers, before the output
    # Extended options of the encoder's recurrent layers (rnnkit.nn).
    layer_norm: bool = False
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    zoneout: float = Field(0.0, ge=0.0, lt=1.0)
    weight_drop: float = Field(0.0, ge=0.0, lt=1.0)

    attention: Literal["bahdanau", "luong", "none"] = "bahdanau"
    luong_score: Literal["dot", "general"] = "general"
    attention_size: int | None = Field(None, ge=1)  # Bahdanau's alignment layer; hidden_size
    input_feeding: bool | None = None  # Luong only; on by default there
    tie_embeddings: bool = False  # the decoder's output layer shares its input embedding
    teacher_forcing: float = Field(1.0, ge=0.0, le=1.0)  # chance of feeding the true token
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)

    beam_size: int = Field(5, ge=1)  # 1 is greedy decoding
    length_penalty: float = Field(0.6, ge=0.0)  # alpha of GNMT's ((5 + |Y|) / 6)^alpha
    max_length_ratio: float = Field(1.5, gt=0.0)  # at most ratio * source tokens + offset
    max_length_offset: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _options_fit_the_attention(self) -> TranslationModelConfig:
        if self.input_feeding and self.attention != "luong":
            raise ValueError(
                f"input_feeding feeds Luong's attentional vector; it has no meaning with "
                f"attention={self.attention!r}: remove it or use attention: luong"
            )
        if self.attention == "luong" and self.luong_score == "dot" and self.bidirectional:
            raise ValueError(
                "luong_score=dot needs the encoder's outputs (2 x hidden_size, bidirectional) "
                "and the decoder's state (hidden_size) to be the same size: use "
                "luong_score: general or bidirectional: false"
            )
        return self

    @property
    def uses_input_feeding(self) -> bool:
        return self.attention == "luong" and self.input_feeding is not False
