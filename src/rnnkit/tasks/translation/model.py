"""Sequence-to-sequence translation model: recurrent encoder, attention, recurrent decoder.

    source ids (B, S) --embedding, dropout--> (B, S, E)
      --encoder (rnnkit.nn GRU/LSTM/RNN/minGRU/minLSTM, optionally bidirectional)--> memory (B, S, D*H)
      final states --bridge--> the decoder's initial state (L, B, H)
    for t = 1..T:  previous target id y_{t-1} (B,) --embedding--> (B, E)
      bahdanau: c_t = attend(s_{t-1}, memory); s_t = RNN([e; c_t], s_{t-1});
                output features [s_t; c_t; e]                (Bahdanau et al. 2015)
      luong:    s_t = RNN([e; h~_{t-1}], s_{t-1}) (input feeding); c_t = attend(s_t, memory);
                h~_t = tanh(W_c [c_t; s_t]); output features h~_t   (Luong et al. 2015)
      none:     s_t = RNN(e, s_{t-1}); output features s_t    (Sutskever et al. 2014)
      --dropout--> logits (B, V)   (through the tied embedding when tie_embeddings)

Attention uses the top decoder layer's state as its query and never looks at padded
source positions (:mod:`rnnkit.nn.attention`). The encoder gets the source lengths, so a
padded batch encodes each sentence as it would alone.

The bridge: a bidirectional encoder's last forward and backward states of each layer are
concatenated and mapped to the decoder's size, ``s_0 = tanh(W [h_fwd; h_bwd])``
(Bahdanau et al. 2015, appendix A.2.2, there from the backward state only); a
unidirectional encoder hands its states over as they are.

Training feeds the true previous token (teacher forcing) with probability
``teacher_forcing`` per sentence and step, otherwise the model's own argmax. With full
teacher forcing, a decoder without step-to-step feedback (``none``, or ``luong`` without
input feeding) runs the whole target sequence through the recurrent layers at once;
every other configuration steps. Both give the same numbers (tested).

Extended options (layer norm, recurrent dropout, zoneout, weight drop): the stack keys'
apply to the encoder, ``model.decoder``'s to the decoder. Stepping the decoder computes
what the whole-sentence pass computes: layer norm and zoneout act per step, and in
training the steps of one batch share one recurrent-dropout and one weight-drop mask
(:meth:`rnnkit.nn.GRU.shared_masks`), as one whole-sentence call draws them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn.attention import BahdanauAttention, LuongAttention, lengths_to_mask
from rnnkit.tasks.stack import make_recurrent
from rnnkit.tasks.translation.config import TranslationConfig, TranslationModel

State = tuple[Tensor, ...]  # (h,) or, for the LSTM, (h, c); each (L, B, H)


@dataclass(frozen=True)
class EncoderOutput:
    """What the decoder reads at every step: the memory, its mask and attention keys."""

    memory: Tensor  # (B, S, K), K = D*H
    mask: Tensor  # (B, S) True at real source positions
    keys: Tensor | None  # attention.precompute(memory), or None without attention

    def select(self, index: Tensor) -> EncoderOutput:
        """Rows ``index`` (e.g. each sentence repeated once per beam)."""
        keys = None if self.keys is None else self.keys.index_select(0, index)
        return EncoderOutput(
            self.memory.index_select(0, index), self.mask.index_select(0, index), keys
        )


@dataclass(frozen=True)
class DecoderState:
    """The decoder's recurrent state, and Luong's attentional vector for input feeding."""

    hidden: State  # each (L, B, H)
    feed: Tensor | None = None  # (B, H): h~_{t-1}

    def select(self, index: Tensor) -> DecoderState:
        hidden = tuple(h.index_select(1, index) for h in self.hidden)
        feed = None if self.feed is None else self.feed.index_select(0, index)
        return DecoderState(hidden, feed)


def _decoder_stack(config: TranslationModel) -> TranslationModel:
    """The encoder's stack settings with the decoder's extended options."""
    return config.model_copy(update=config.decoder.model_dump())


class Seq2Seq(nn.Module):
    """Encoder-decoder with optional attention (see the module docstring).

    Args:
        config: the ``model:`` section.
        source_vocab_size: V_s; target_vocab_size: V_t.
        pad_id: the padding id of both vocabularies (its embedding row stays zero).
    """

    def __init__(
        self,
        config: TranslationModel,
        source_vocab_size: int,
        target_vocab_size: int,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.config = config
        self.pad_id = pad_id
        hidden = config.hidden_size
        embedding = config.embedding_size or hidden
        directions = 2 if config.bidirectional else 1
        memory_size = directions * hidden
        self.num_states = 2 if config.cell == "lstm" else 1
        self.attention_kind = config.attention
        self.input_feeding = config.uses_input_feeding

        self.source_embedding = nn.Embedding(source_vocab_size, embedding, padding_idx=pad_id)
        self.target_embedding = nn.Embedding(target_vocab_size, embedding, padding_idx=pad_id)
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = make_recurrent(config, embedding, config.bidirectional)
        # One bridge per state kind (h, and c for the LSTM), shared by the layers.
        self.bridge = (
            nn.ModuleList(nn.Linear(2 * hidden, hidden) for _ in range(self.num_states))
            if config.bidirectional
            else None
        )

        self.attention: BahdanauAttention | LuongAttention | None = None
        decoder_input = embedding
        if config.attention == "bahdanau":
            self.attention = BahdanauAttention(hidden, memory_size, config.attention_size or hidden)
            decoder_input += memory_size
            features = hidden + memory_size + embedding
        elif config.attention == "luong":
            self.attention = LuongAttention(hidden, memory_size, config.luong_score)
            self.combine = nn.Linear(memory_size + hidden, hidden, bias=False)  # W_c
            decoder_input += hidden if self.input_feeding else 0
            features = hidden
        else:
            features = hidden
        self.decoder = make_recurrent(_decoder_stack(config), decoder_input, False)

        if config.tie_embeddings:
            # Features go down to the embedding size, then through the embedding matrix.
            self.pre_output: nn.Module = nn.Linear(features, embedding)
            self.output = nn.Linear(embedding, target_vocab_size)
            self.output.weight = self.target_embedding.weight
        else:
            self.pre_output = nn.Identity()
            self.output = nn.Linear(features, target_vocab_size)

    # ------------------------------------------------------------------ encoder

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[EncoderOutput, DecoderState]:
        """Encode source ids (B, S) with lengths (B,); the decoder's initial state."""
        lengths = lengths.to("cpu", torch.long)
        embedded = self.dropout(self.source_embedding(source))  # (B, S, E)
        memory, final = self.encoder(embedded, lengths=lengths)  # (B, S, D*H)
        states: State = final if isinstance(final, tuple) else (final,)
        if self.bridge is not None:
            states = tuple(self._bridge(state, i) for i, state in enumerate(states))
        mask = lengths_to_mask(lengths.to(source.device), source.shape[1])  # (B, S)
        keys = None if self.attention is None else self.attention.precompute(memory)
        feed = None
        if self.input_feeding:
            feed = memory.new_zeros(source.shape[0], self.config.hidden_size)  # h~_0 = 0
        return EncoderOutput(memory, mask, keys), DecoderState(states, feed)

    def _bridge(self, state: Tensor, kind: int) -> Tensor:
        layers, batch, hidden = self.config.num_layers, state.shape[1], state.shape[2]
        paired = state.view(layers, 2, batch, hidden)  # (L, 2, B, H): forward, backward
        joined = torch.cat([paired[:, 0], paired[:, 1]], dim=-1)  # (L, B, 2H)
        assert self.bridge is not None
        projected = self.bridge[kind](joined)  # (L, B, H)
        # The hidden state is squashed like an RNN output; an LSTM cell state is not.
        return torch.tanh(projected) if kind == 0 else projected

    # ------------------------------------------------------------------ decoder

    def _stepping(self) -> AbstractContextManager[None]:
        """Around a loop of steps over one batch: in training, one set of decoder masks."""
        if self.training and self.config.decoder.draws_masks:
            return self.decoder.shared_masks()
        return nullcontext()

    def _run_decoder(self, inputs: Tensor, hidden: State) -> tuple[Tensor, State]:
        state = hidden if self.num_states == 2 else hidden[0]
        outputs, final = self.decoder(inputs, state)  # (B, T, H)
        return outputs, final if isinstance(final, tuple) else (final,)

    def step(
        self, tokens: Tensor, state: DecoderState, encoded: EncoderOutput | None
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One decoder step: logits (B, V) for the next token after ``tokens`` (B,).

        Returns the new state and the attention weights (B, S) (None without attention).
        ``encoded`` may be None for a model without attention, which does not read it.
        """
        features, new_state, weights = self._step_features(tokens, state, encoded)
        return self.logits(features), new_state, weights

    def logits(self, features: Tensor) -> Tensor:
        """Output features (..., F) -> logits (..., V)."""
        return self.output(self.pre_output(self.dropout(features)))

    def _step_features(
        self, tokens: Tensor, state: DecoderState, encoded: EncoderOutput | None
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        embedded = self.dropout(self.target_embedding(tokens))  # (B, E)
        weights = None
        if self.attention_kind == "bahdanau":
            assert self.attention is not None and encoded is not None
            query = state.hidden[0][-1]  # (B, H): top layer's s_{t-1}
            context, weights = self.attention(query, encoded.memory, encoded.mask, encoded.keys)
            output, hidden = self._run_decoder(
                torch.cat([embedded, context], -1).unsqueeze(1), state.hidden
            )
            top = output.squeeze(1)  # (B, H)
            features = torch.cat([top, context, embedded], -1)
            new_state = DecoderState(hidden)
        elif self.attention_kind == "luong":
            assert self.attention is not None and encoded is not None
            inputs = embedded if state.feed is None else torch.cat([embedded, state.feed], -1)
            output, hidden = self._run_decoder(inputs.unsqueeze(1), state.hidden)
            top = output.squeeze(1)  # (B, H)
            context, weights = self.attention(top, encoded.memory, encoded.mask, encoded.keys)
            features = torch.tanh(self.combine(torch.cat([context, top], -1)))  # h~_t
            new_state = DecoderState(hidden, features if self.input_feeding else None)
        else:
            output, hidden = self._run_decoder(embedded.unsqueeze(1), state.hidden)
            features = output.squeeze(1)
            new_state = DecoderState(hidden)
        return features, new_state, weights  # (B, F)

    def forward(
        self,
        source: Tensor,
        lengths: Tensor,
        target_in: Tensor,
        teacher_forcing: float | None = None,
    ) -> Tensor:
        """Logits (B, T, V) for target inputs (B, T) (``<bos>`` then the target, shifted).

        ``teacher_forcing`` defaults to the config's ratio in training and 1 otherwise.
        """
        if teacher_forcing is None:
            teacher_forcing = self.config.teacher_forcing if self.training else 1.0
        encoded, state = self.encode(source, lengths)
        if teacher_forcing >= 1.0 and not self.input_feeding and self.attention_kind != "bahdanau":
            return self._decode_parallel(target_in, state, encoded)
        if teacher_forcing >= 1.0:
            # The output layer, the largest matrix, runs once on all steps' features.
            features = []
            with self._stepping():
                for t in range(target_in.shape[1]):
                    step_features, state, _ = self._step_features(target_in[:, t], state, encoded)
                    features.append(step_features)
            return self.logits(torch.stack(features, dim=1))  # (B, T, V)
        logits_steps = []
        tokens = target_in[:, 0]
        with self._stepping():
            for t in range(target_in.shape[1]):
                logits, state, _ = self.step(tokens, state, encoded)
                logits_steps.append(logits)
                if t + 1 < target_in.shape[1]:
                    # Each sentence takes the true token with probability teacher_forcing.
                    own = logits.detach().argmax(-1)
                    use_true = torch.rand(own.shape, device=own.device) < teacher_forcing
                    tokens = torch.where(use_true, target_in[:, t + 1], own)
        return torch.stack(logits_steps, dim=1)  # (B, T, V)

    def _decode_parallel(
        self, target_in: Tensor, state: DecoderState, encoded: EncoderOutput
    ) -> Tensor:
        """All steps at once: the recurrence does not depend on the attention's output."""
        embedded = self.dropout(self.target_embedding(target_in))  # (B, T, E)
        outputs, _ = self._run_decoder(embedded, state.hidden)  # (B, T, H)
        if self.attention_kind == "luong":
            assert encoded.keys is not None
            scores = torch.bmm(outputs, encoded.keys.transpose(1, 2))  # (B, T, S)
            scores = scores.masked_fill(~encoded.mask[:, None, :], float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            context = torch.bmm(weights, encoded.memory)  # (B, T, K)
            outputs = torch.tanh(self.combine(torch.cat([context, outputs], -1)))
        return self.logits(outputs)  # (B, T, V)


def sequence_loss(
    logits: Tensor, targets: Tensor, pad_id: int, label_smoothing: float = 0.0
) -> Tensor:
    """Mean cross entropy per real target token (padding ignored), with label smoothing.

    With smoothing eps the target distribution puts 1 - eps on the true token and spreads
    eps uniformly over the vocabulary (Szegedy et al. 2016, "Rethinking the Inception
    Architecture", section 7).
    """
    vocab = logits.shape[-1]
    return F.cross_entropy(
        logits.reshape(-1, vocab),
        targets.reshape(-1),
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )


def build_model(config: TranslationConfig, info: dict[str, Any]) -> Seq2Seq:
    """The model a config and the saved preprocessing info describe."""
    return Seq2Seq(
        config.model,
        source_vocab_size=info["source_vocab_size"],
        target_vocab_size=info["target_vocab_size"],
        pad_id=info["pad_id"],
    )
