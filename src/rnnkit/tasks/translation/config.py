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
      layer_norm: true           # the encoder's extended options ...
      decoder:
        layer_norm: true         # ... and the decoder's, set apart
      beam_size: 5

Decoding settings live in ``model:`` because they belong to the trained model's use:
evaluation and ``rnnkit translate`` read them, and ``--beam-size`` overrides the beam.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnnkit.config import Config, SourceConfig, StackConfig, StrictModel


class TranslationData(SourceConfig):
    """Where the sentence pairs come from and how they become token ids.

    ``split`` (val, test fractions) applies to a source that ships unsplit.
    """

    source_lang: str | None = None
    target_lang: str | None = None
    source_column: str | int = 0  # pairs tables: header name or 0-based index
    target_column: str | int = 1

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
    bucket_by_length: bool = True


class DecoderOptions(StrictModel):
    """The decoder's extended options (``model.decoder``), of cells lstm, gru and rnn.

    The decoder has the encoder's cell, size and depth (the stack keys); these options
    are its own, off unless set, because the encoder's (``model.layer_norm``...) do not
    carry over. Stepping the decoder one token at a time computes what a whole-sentence
    pass computes: layer norm and zoneout act per step, and in training one
    recurrent-dropout and one weight-drop mask per batch serve all its steps
    (:meth:`rnnkit.nn.LSTM.shared_masks`).
    """

    layer_norm: bool = False
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    zoneout: float = Field(0.0, ge=0.0, lt=1.0)
    weight_drop: float = Field(0.0, ge=0.0, lt=1.0)

    @property
    def draws_masks(self) -> bool:
        """Whether training draws masks that the steps of a batch must share."""
        return bool(self.recurrent_dropout or self.weight_drop)


class TranslationModel(StackConfig):
    """Encoder -> attention -> decoder, the loss, and how translations are decoded.

    The stack keys (cell, hidden_size, num_layers, dropout and the extended options)
    describe the encoder; the decoder has the same cell, size and depth, and its own
    extended options under ``decoder:`` (:class:`DecoderOptions`). ``dropout`` also
    applies to the embeddings and the output features.
    """

    decoder: DecoderOptions = Field(default_factory=DecoderOptions)

    embedding_size: int | None = Field(None, ge=1)  # defaults to hidden_size
    bidirectional: bool = True  # the encoder

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
    def _options_fit_the_attention(self) -> TranslationModel:
        if self.cell in ("mingru", "minlstm"):
            for name, value in self.decoder.model_dump().items():
                if value:
                    raise ValueError(
                        f"decoder.{name} is an option of cell lstm, gru or rnn, not of cell "
                        f"{self.cell}: remove it or change the cell"
                    )
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


class TranslationConfig(Config):
    task: Literal["translation"] = "translation"
    data: TranslationData
    model: TranslationModel = Field(default_factory=TranslationModel)
