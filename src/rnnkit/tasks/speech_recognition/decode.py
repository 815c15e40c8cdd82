"""CTC decoding: from frame-wise label distributions to label sequences.

A CTC model emits, at every frame ``t``, log-probabilities ``log y[t, c]`` over the labels
and a *blank*. A path ``pi`` (one label or blank per frame) maps to a labelling by
collapsing repeats, then removing blanks (``B("aa-ab-") = "aab"``); the probability of a
labelling ``l`` is the sum over its paths, ``p(l | x) = sum_{B(pi) = l} prod_t y[t, pi_t]``
(Graves et al. 2006, Connectionist Temporal Classification, ICML 2006, eq. 3).

- :func:`greedy_decode` takes the most likely symbol per frame and collapses it: the best
  *path*, not necessarily the best labelling.
- :func:`prefix_beam_search` keeps the ``beam_size`` most probable label prefixes, each
  with the probability of its paths that end in a blank and in a label, so that paths
  collapsing to the same prefix are summed (Hannun et al. 2014, First-Pass Large
  Vocabulary Continuous Speech Recognition using Bi-Directional Recurrent DNNs,
  arXiv:1408.2873, algorithm 1, without a language model). With a beam as large as the
  number of prefixes it is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

NEG_INF = -math.inf


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """CTC's many-to-one map: merge repeated symbols, then drop blanks."""
    labels: list[int] = []
    previous = None
    for symbol in path:
        if symbol != previous and symbol != blank:
            labels.append(int(symbol))
        previous = symbol
    return labels


def greedy_decode(
    log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0
) -> list[list[int]]:
    """The collapsed best path of each sequence: ``(B, T, C)`` -> B label lists.

    ``lengths`` (B,) limits each sequence to its valid frames (all ``T`` when ``None``).
    """
    if log_probs.dim() != 3:
        raise ValueError(f"expected log-probabilities (B, T, C), got {tuple(log_probs.shape)}")
    best = log_probs.argmax(dim=-1).cpu()  # (B, T)
    if lengths is None:
        lengths = torch.full((best.shape[0],), best.shape[1])
    return [
        collapse(row[:n].tolist(), blank) for row, n in zip(best, lengths.tolist(), strict=True)
    ]


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _add(
    grown: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], which: int, value: float
) -> None:
    """Add probability ``exp(value)`` to ``grown[prefix][which]`` (0: ends in blank, 1: not)."""
    if value == NEG_INF:  # no path: do not grow a prefix of probability zero
        return
    scores = grown.setdefault(prefix, [NEG_INF, NEG_INF])
    scores[which] = _logaddexp(scores[which], value)


def prefix_beam_search(
    log_probs: Tensor, beam_size: int = 8, blank: int = 0
) -> list[tuple[list[int], float]]:
    """The ``beam_size`` best labellings of one sequence ``(T, C)``, best first, with
    their log-probabilities (summed over all their paths seen by the beam).

    For each prefix ``l`` the beam keeps ``p_b(l)``, the probability of the paths so far
    that collapse to ``l`` and end in a blank, and ``p_nb(l)``, those that end in ``l``'s
    last label. One frame with symbol probabilities ``y`` updates them:

    - blank: ``p_b'(l) += (p_b(l) + p_nb(l)) y[blank]``;
    - the last label ``c`` of ``l`` again: ``p_nb'(l) += p_nb(l) y[c]`` (a repeat merges)
      and ``p_nb'(l + c) += p_b(l) y[c]`` (a blank separated them);
    - any other label ``c``: ``p_nb'(l + c) += (p_b(l) + p_nb(l)) y[c]``.
    """
    if log_probs.dim() != 2:
        raise ValueError(f"expected log-probabilities (T, C), got {tuple(log_probs.shape)}")
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    frames = log_probs.detach().double().cpu().tolist()
    # prefix -> (log p_b, log p_nb); the empty prefix starts with probability one.
    beam: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for row in frames:
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_b, p_nb) in beam.items():
            total = _logaddexp(p_b, p_nb)
            for symbol, y in enumerate(row):
                if y == NEG_INF:
                    continue
                if symbol == blank:
                    _add(grown, prefix, 0, total + y)
                elif prefix and prefix[-1] == symbol:
                    _add(grown, prefix, 1, p_nb + y)
                    _add(grown, (*prefix, symbol), 1, p_b + y)
                else:
                    _add(grown, (*prefix, symbol), 1, total + y)
        ranked = sorted(grown.items(), key=lambda item: _logaddexp(*item[1]), reverse=True)
        beam = {prefix: (scores[0], scores[1]) for prefix, scores in ranked[:beam_size]}
    return [(list(prefix), _logaddexp(*scores)) for prefix, scores in beam.items()]


def beam_decode(
    log_probs: Tensor, lengths: Tensor | None = None, beam_size: int = 8, blank: int = 0
) -> list[list[int]]:
    """:func:`prefix_beam_search`'s best labelling of each sequence of ``(B, T, C)``."""
    if log_probs.dim() != 3:
        raise ValueError(f"expected log-probabilities (B, T, C), got {tuple(log_probs.shape)}")
    if lengths is None:
        lengths = torch.full((log_probs.shape[0],), log_probs.shape[1])
    return [
        prefix_beam_search(row[:n], beam_size, blank)[0][0]
        for row, n in zip(log_probs, lengths.tolist(), strict=True)
    ]


__all__ = ["beam_decode", "collapse", "greedy_decode", "prefix_beam_search"]
