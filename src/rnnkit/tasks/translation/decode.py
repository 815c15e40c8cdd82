"""Greedy decoding and batched beam search for :class:`~.model.Seq2Seq`-like models.

A model decodes through two methods (:class:`StepModel`): ``encode(source, lengths)``
gives the encoder output and the decoder's first state, and ``step(tokens, state,
encoded)`` the logits of the next token. Both objects have ``select(index)`` to pick or
repeat rows, which is all beam search needs to follow its hypotheses.

Lengths: a sentence with ``n`` source tokens gets at most
``floor(max_length_ratio * n) + max_length_offset`` target tokens; at that length the
decoder must end (``<eos>`` is the only token left). ``<pad>`` and ``<bos>`` (and any
other ``banned`` id) are never generated.

Beam search keeps ``beam_size`` open hypotheses per sentence, scored by the sum of their
tokens' log-probabilities. Each step it ranks the 2K best extensions of a sentence's
beam: an extension by ``<eos>`` among the first K is finished, and the best K others
form the next beam. A sentence is done when K hypotheses have finished; its result is
the finished hypothesis with the best score divided by GNMT's length penalty
``lp(Y) = ((5 + |Y|) / 6) ** alpha`` with |Y| the number of tokens including ``<eos>``
(Wu et al. 2016, "Google's Neural Machine Translation System", section 7). With K = 1
this is greedy decoding, token for token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from rnnkit.errors import UserError


class _Selectable(Protocol):
    def select(self, index: Tensor) -> Any: ...


class StepModel(Protocol):
    """What decoding needs from a model."""

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[_Selectable, _Selectable]: ...

    def step(
        self, tokens: Tensor, state: Any, encoded: Any
    ) -> tuple[Tensor, Any, Tensor | None]: ...


@dataclass(frozen=True)
class DecodeSettings:
    """Special ids and length limits shared by greedy decoding and beam search."""

    bos_id: int
    eos_id: int
    banned: tuple[int, ...] = ()  # ids never generated (padding, <bos>)
    max_length_ratio: float = 1.5
    max_length_offset: int = 10

    def max_lengths(self, source_lengths: Tensor) -> list[int]:
        """Target tokens (without ``<eos>``) allowed per sentence."""
        return [
            math.floor(self.max_length_ratio * int(n)) + self.max_length_offset
            for n in source_lengths.tolist()
        ]


@dataclass(frozen=True)
class Translation:
    """One decoded sentence: token ids (no ``<bos>``/``<eos>``), score, attention."""

    tokens: list[int]
    score: float  # sum of log-probabilities, <eos> included
    attention: Tensor | None = None  # (len(tokens) + 1, S): one row per generated token


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ``((5 + length) / 6) ** alpha``; 1 for alpha = 0."""
    return ((5.0 + length) / 6.0) ** alpha


def _log_probs(logits: Tensor, settings: DecodeSettings, at_limit: Tensor) -> Tensor:
    """Log-probabilities (N, V) with banned ids at -inf; rows at their limit may only end."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    eos = log_probs[:, settings.eos_id].clone()
    if settings.banned:
        log_probs[:, list(settings.banned)] = float("-inf")
    if at_limit.any():
        log_probs[at_limit] = float("-inf")
        log_probs[at_limit, settings.eos_id] = eos[at_limit]
    return log_probs


@torch.no_grad()
def greedy_decode(
    model: StepModel,
    source: Tensor,
    lengths: Tensor,
    settings: DecodeSettings,
    *,
    return_attention: bool = False,
) -> list[Translation]:
    """The most likely next token at every step, for a batch of sources (B, S)."""
    encoded, state = model.encode(source, lengths)
    batch = source.shape[0]
    limits = torch.tensor(settings.max_lengths(lengths), device=source.device)  # (B,)
    tokens = torch.full((batch,), settings.bos_id, dtype=torch.long, device=source.device)
    outputs: list[Tensor] = []
    scores = torch.zeros(batch, device=source.device)
    attention: list[Tensor] = []
    finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
    for t in range(int(limits.max()) + 1):
        logits, state, weights = model.step(tokens, state, encoded)
        log_probs = _log_probs(logits, settings, limits == t)  # (B, V)
        best, tokens = log_probs.max(-1)  # (B,)
        scores += torch.where(finished, torch.zeros_like(best), best)
        outputs.append(torch.where(finished, settings.eos_id, tokens))
        if return_attention and weights is not None:
            attention.append(weights)
        finished |= tokens == settings.eos_id
        if finished.all():
            break
    steps = torch.stack(outputs, 1).tolist()  # (B, T)
    results = []
    for b in range(batch):
        row = steps[b]
        length = row.index(settings.eos_id) if settings.eos_id in row else len(row)
        attn = torch.stack(attention, 1)[b, : length + 1] if attention else None
        results.append(Translation(row[:length], float(scores[b]), attn))
    return results


@torch.no_grad()
def beam_search(
    model: StepModel,
    source: Tensor,
    lengths: Tensor,
    settings: DecodeSettings,
    *,
    beam_size: int,
    alpha: float = 0.0,
    return_attention: bool = False,
) -> list[Translation]:
    """The best hypothesis of a beam of ``beam_size`` per source sentence (B, S)."""
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam size {beam_size!r} is not valid: use 1 (greedy) or more")
    batch, device = source.shape[0], source.device
    k = beam_size
    encoded, state = model.encode(source, lengths)
    # Every sentence's rows repeated K times: row b * K + j is beam j of sentence b.
    repeat = torch.arange(batch, device=device).repeat_interleave(k)  # (B*K,)
    encoded, state = encoded.select(repeat), state.select(repeat)
    limits = settings.max_lengths(lengths)
    row_limits = torch.tensor(limits, device=device).repeat_interleave(k)  # (B*K,)
    tokens = torch.full((batch * k,), settings.bos_id, dtype=torch.long, device=device)
    # Only beam 0 is live at the start, so the first step does not pick K copies.
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    history = torch.empty(batch * k, 0, dtype=torch.long, device=device)  # (B*K, t)
    attention: Tensor | None = None  # (B*K, t, S)
    finished: list[list[tuple[float, float, list[int], Tensor | None]]] = [[] for _ in range(batch)]
    done = [False] * batch
    for t in range(max(limits) + 1):
        logits, state, weights = model.step(tokens, state, encoded)
        log_probs = _log_probs(logits, settings, row_limits == t).view(batch, k, -1)
        vocab = log_probs.shape[-1]
        candidates = (scores.unsqueeze(-1) + log_probs).view(batch, k * vocab)  # (B, K*V)
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=-1)  # (B, 2K)
        if return_attention and weights is not None:
            step_attention = weights.unsqueeze(1)  # (B*K, 1, S)
            attention = (
                step_attention if attention is None else torch.cat([attention, step_attention], 1)
            )
        next_scores = torch.full((batch, k), float("-inf"), device=device)
        next_tokens = torch.full((batch, k), settings.eos_id, dtype=torch.long, device=device)
        origins = torch.arange(batch * k, device=device).view(batch, k).clone()  # (B, K)
        top_scores_list, top_index_list = top_scores.tolist(), top_index.tolist()
        for b in range(batch):
            if done[b]:
                continue
            kept = 0
            for rank, (score, flat) in enumerate(
                zip(top_scores_list[b], top_index_list[b], strict=True)
            ):
                if score == float("-inf") or kept == k:
                    break
                beam, token = divmod(flat, vocab)
                row = b * k + beam
                if token == settings.eos_id:
                    if rank < k:
                        words = history[row].tolist()
                        attn = attention[row] if attention is not None else None
                        normalized = score / length_penalty(len(words) + 1, alpha)
                        finished[b].append((normalized, score, words, attn))
                    continue
                next_scores[b, kept] = score
                next_tokens[b, kept] = token
                origins[b, kept] = row
                kept += 1
            if len(finished[b]) >= k or kept == 0:
                done[b] = True
        if all(done):
            break
        order = origins.view(-1)  # (B*K,)
        scores = next_scores
        tokens = next_tokens.view(-1)
        history = torch.cat([history.index_select(0, order), tokens.unsqueeze(1)], 1)
        if attention is not None:
            attention = attention.index_select(0, order)
        state = state.select(order)
    results = []
    for b in range(batch):
        normalized, score, words, attn = max(finished[b], key=lambda item: item[0])
        results.append(Translation(words, score, attn))
    return results
