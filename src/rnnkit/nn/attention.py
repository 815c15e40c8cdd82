"""Attention over a source sequence, for encoder-decoder models.

A decoder at step t holds a query q (its state, shape (B, Q)); the encoder left a
memory of source annotations h_1..h_S (B, S, K), of which only the first ``lengths[b]``
are real in row b. Attention scores every annotation, turns the scores into weights
with a softmax over the real positions, and returns their weighted sum, the context:

    e_s = score(q, h_s)                                   (B, S)
    a_s = exp(e_s) / sum_{s' < length} exp(e_s')          0 exactly at padded positions
    c   = sum_s a_s h_s                                   (B, K)

Two score families:

* :class:`BahdanauAttention` (Bahdanau, Cho and Bengio 2015, "Neural Machine Translation
  by Jointly Learning to Align and Translate", eq. 6 and appendix A.1.2):
  ``e_s = v^T tanh(W q + U h_s)``, with W (A, Q), U (A, K), v (A,).
* :class:`LuongAttention` (Luong, Pham and Manning 2015, "Effective Approaches
  to Attention-based Neural Machine Translation", section 3.1): ``dot``
  ``e_s = q^T h_s`` (needs Q == K) or ``general`` ``e_s = q^T W_a h_s`` with W_a (Q, K).

Both split the work on the memory from the per-step work: :meth:`precompute` runs once
per source batch (``U h_s`` for additive, ``W_a h_s`` for general), and ``forward`` then
costs O(S) per step. Imports only torch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "BahdanauAttention",
    "LuongAttention",
    "lengths_to_mask",
    "masked_softmax",
]


def lengths_to_mask(lengths: Tensor, max_length: int) -> Tensor:
    """(B, S) boolean mask, True at the first ``lengths[b]`` positions of row b."""
    positions = torch.arange(max_length, device=lengths.device)  # (S,)
    return positions[None, :] < lengths[:, None]  # (B, S)


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis where ``mask`` is True; exactly 0 where it is False.

    Masked scores are set to -inf before the softmax, so exp() makes their weight an
    exact zero and the real positions' weights sum to 1. Every row needs at least one
    True position (an empty source has nothing to attend to).
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


class _Attention(nn.Module):
    """What every attention shares: the masked softmax and the weighted sum."""

    def precompute(self, memory: Tensor) -> Tensor:
        """What the score needs from the memory (B, S, K), computed once per batch."""
        return memory

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """Scores (B, S) of query (B, Q) against precomputed keys."""
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        mask: Tensor | None = None,
        keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Context (B, K) and weights (B, S) for query (B, Q) over memory (B, S, K).

        ``mask`` (B, S) is True at real positions (see :func:`lengths_to_mask`); padded
        positions get weight 0. ``keys`` is ``precompute(memory)``, when the caller has
        it already (a decoder calls forward once per step on the same memory).
        """
        if keys is None:
            keys = self.precompute(memory)
        weights = masked_softmax(self.score(query, keys), mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B, K)
        return context, weights


class BahdanauAttention(_Attention):
    """Bahdanau attention: ``e_s = v^T tanh(W q + U h_s)``.

    Args:
        query_size: Q, the size of the decoder state that asks.
        memory_size: K, the size of one source annotation (2H for a bidirectional encoder).
        attention_size: A, the size of the hidden layer of the alignment model.

    ``U`` carries the bias (one bias is enough: W q + U h_s + b).
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)  # W
        self.memory_projection = nn.Linear(memory_size, attention_size)  # U, b
        self.v = nn.Linear(attention_size, 1, bias=False)

    def precompute(self, memory: Tensor) -> Tensor:
        return self.memory_projection(memory)  # (B, S, A)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        hidden = torch.tanh(keys + self.query_projection(query).unsqueeze(1))  # (B, S, A)
        return self.v(hidden).squeeze(-1)  # (B, S)


class LuongAttention(_Attention):
    """Luong attention: ``dot`` ``e_s = q^T h_s`` or ``general`` ``e_s = q^T W_a h_s``.

    Args:
        query_size: Q, the size of the decoder state that asks.
        memory_size: K, the size of one source annotation; ``dot`` needs Q == K.
        score: ``"dot"`` (no parameters) or ``"general"`` (W_a, Q x K, no bias).
    """

    def __init__(
        self, query_size: int, memory_size: int, score: Literal["dot", "general"] = "general"
    ) -> None:
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"score={score!r} is not one of dot, general")
        if score == "dot" and query_size != memory_size:
            raise ValueError(
                f"dot attention needs equal sizes, got query_size={query_size} and "
                f"memory_size={memory_size}; use score='general'"
            )
        self.score_name = score
        # W_a h_s is precomputed: a Linear from K to Q applies W_a to every annotation.
        self.weight = nn.Linear(memory_size, query_size, bias=False) if score == "general" else None

    def precompute(self, memory: Tensor) -> Tensor:
        return memory if self.weight is None else self.weight(memory)  # (B, S, Q)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S)

    def extra_repr(self) -> str:
        return f"score={self.score_name!r}"
