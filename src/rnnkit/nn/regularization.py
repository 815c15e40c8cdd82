"""Dropout variants for recurrent networks.

Plain dropout draws a fresh mask for every element of every time step; recurrent
networks regularise better with masks that stay fixed along the time axis:

* locked (variational) dropout: one mask per sequence, shared by all its steps, on the
  inputs or outputs of a layer (Gal & Ghahramani 2016, "A Theoretically Grounded
  Application of Dropout in Recurrent Neural Networks");
* recurrent dropout: the same kind of mask on the state fed back into the recurrence;
* embedding dropout: whole words dropped from the embedding matrix (Gal & Ghahramani
  2016, section 4);
* weight drop: DropConnect on the hidden-to-hidden matrices, one mask per forward pass
  (Merity, Keskar & Socher 2017, "Regularizing and Optimizing LSTM Language Models");
* zoneout: each unit keeps its previous value with probability p (Krueger et al. 2016,
  "Zoneout: Regularizing RNNs by Randomly Preserving Hidden Activations").

Every mask is drawn from torch's global generator, so ``torch.manual_seed`` makes a run
repeatable. Kept units are scaled by ``1 / (1 - p)`` (inverted dropout), so evaluation
needs no rescaling; zoneout is not scaled, and uses the expectation ``p`` in evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn.kernel_ops import kept_for_backward, unpacked_keep


def check_probability(name: str, p: float) -> float:
    """``p`` as a float if it is a probability in [0, 1), else a one-line ValueError."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
        raise ValueError(f"{name}={p!r} is not a probability in [0, 1)")
    return float(p)


def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """A mask of ``shape`` holding 0 with probability p and ``1 / (1 - p)`` elsewhere."""
    mask = torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p)
    return mask.div_(1.0 - p)


def locked_dropout(x: Tensor, p: float, training: bool, batch_first: bool = False) -> Tensor:
    """Dropout with one mask per sequence, shared by every time step.

    ``x`` is ``(T, B, F)``, or ``(B, T, F)`` with ``batch_first``. Identity when not
    training or when ``p == 0``.
    """
    check_probability("locked dropout", p)
    if not training or p == 0.0:
        return x
    if batch_first:
        mask = dropout_mask((x.shape[0], 1, x.shape[2]), p, x)  # (B, 1, F)
    else:
        mask = dropout_mask((1, x.shape[1], x.shape[2]), p, x)  # (1, B, F)
    return x * mask


class LockedDropout(nn.Module):
    """Module form of :func:`locked_dropout` (variational dropout on a sequence)."""

    def __init__(self, p: float = 0.5, batch_first: bool = False) -> None:
        super().__init__()
        self.p = check_probability("locked dropout", p)
        self.batch_first = batch_first

    def forward(self, x: Tensor) -> Tensor:
        return locked_dropout(x, self.p, self.training, self.batch_first)

    def extra_repr(self) -> str:
        return f"p={self.p}, batch_first={self.batch_first}"


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool) -> Tensor:
    """Look ``tokens`` up in ``embedding`` with whole rows (words) dropped.

    A dropped word is zero at every position it occurs in the batch, unlike dropout on
    the looked-up vectors, which drops each occurrence independently. The padding row,
    max_norm and the other options of ``embedding`` are honoured.
    """
    check_probability("embedding dropout", p)
    if not training or p == 0.0:
        return embedding(tokens)
    weight = embedding.weight
    row_mask = dropout_mask((weight.shape[0], 1), p, weight)  # (V, 1)
    return F.embedding(
        tokens,
        weight * row_mask,
        embedding.padding_idx,
        embedding.max_norm,
        embedding.norm_type,
        embedding.scale_grad_by_freq,
        embedding.sparse,
    )


def drop_weight(weight: Tensor, p: float, training: bool) -> Tensor:
    """DropConnect: ``weight`` with each entry zeroed with probability p, one mask per call.

    The parameter itself is left untouched (it stays a contiguous leaf that optimisers
    and ``flatten_parameters`` see as usual); the dropped copy is a new tensor through
    which gradients flow back to it. Identity when not training or when ``p == 0``.
    """
    check_probability("weight drop", p)
    if not training or p == 0.0:
        return weight
    kept = torch.empty_like(weight).bernoulli_(1.0 - p)  # 1 keeps an entry
    return _DropConnect.apply(weight, kept, 1.0 - p)


class _DropConnect(torch.autograd.Function):
    """``weight * kept / (1 - p)``, keeping the 0/1 mask for backward as bits.

    Plain autograd would keep the scaled mask, one float per weight: as much as the
    dropped matrix itself, which the recurrence keeps anyway.
    """

    @staticmethod
    def forward(ctx, weight: Tensor, kept: Tensor, keep_probability: float) -> Tensor:  # type: ignore[override]
        ctx.keep_probability = keep_probability
        ctx.save_for_backward(kept_for_backward(kept, binary=True))
        return weight * kept.div_(keep_probability)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (bits,) = ctx.saved_tensors
        kept = unpacked_keep(bits, grad.shape[-1], grad.dtype)
        return grad * kept.div_(ctx.keep_probability), None, None


def recurrent_dropout_mask(batch: int, hidden_size: int, p: float, like: Tensor) -> Tensor:
    """One ``(B, H)`` mask per sequence for the state fed back into the recurrence."""
    return dropout_mask((batch, hidden_size), p, like)


def zoneout_keep(
    steps: int, batch: int, hidden_size: int, p: float, training: bool, like: Tensor
) -> Tensor:
    """Per-step keep weights for zoneout, ``(T, B, H)``: 1 keeps the previous value.

    In training each unit keeps its previous value with probability p; in evaluation
    the new state is the expectation ``p * previous + (1 - p) * new``.
    """
    if training:
        shape = (steps, batch, hidden_size)
        return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(p)
    expectation = torch.full((1, 1, 1), p, dtype=like.dtype, device=like.device)
    return expectation.expand(steps, batch, hidden_size)
