"""CTC decoding against brute-force enumeration of every path."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit.tasks.speech_recognition.decode import (
    beam_decode,
    collapse,
    greedy_decode,
    prefix_beam_search,
)


def labelling_log_probs(log_probs: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """log p(l | x) of every labelling, by summing over all C^T paths (tiny cases only)."""
    steps, symbols = log_probs.shape
    probs = log_probs.double().exp()
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(symbols), repeat=steps):
        p = math.prod(float(probs[t, s]) for t, s in enumerate(path))
        key = tuple(collapse(path, blank))
        totals[key] = totals.get(key, 0.0) + p
    return {key: math.log(p) for key, p in totals.items()}


def test_collapse_merges_repeats_then_drops_blanks():
    assert collapse([1, 1, 0, 1, 2, 2, 0, 0, 3]) == [1, 1, 2, 3]
    assert collapse([0, 0, 0]) == []
    assert collapse([2, 2, 2], blank=2) == []
    assert collapse([1, 2, 1], blank=3) == [1, 2, 1]


def test_greedy_takes_the_best_path_within_each_length():
    # Frames of symbols (0 = blank): "a a - a b b" -> [a, a, b]; only 4 valid frames -> [a, a].
    path = [1, 1, 0, 1, 2, 2]
    log_probs = torch.log(torch.nn.functional.one_hot(torch.tensor(path), 3).float() * 0.9 + 0.03)
    batch = torch.stack([log_probs, log_probs])
    assert greedy_decode(batch) == [[1, 1, 2], [1, 1, 2]]
    assert greedy_decode(batch, torch.tensor([6, 4])) == [[1, 1, 2], [1, 1]]


def test_beam_search_finds_the_labelling_that_greedy_misses():
    # Each frame: blank 0.6, "a" 0.4. Best path: blank blank (0.36); but "a" collects
    # aa + a- + -a = 0.16 + 0.24 + 0.24 = 0.64.
    log_probs = torch.log(torch.tensor([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy_decode(log_probs[None]) == [[]]
    best, score = prefix_beam_search(log_probs, beam_size=2)[0]
    assert best == [1]
    assert score == pytest.approx(math.log(0.64))


@pytest.mark.parametrize("seed", range(5))
def test_wide_beam_equals_brute_force_over_all_paths(seed):
    generator = torch.Generator().manual_seed(seed)
    steps, symbols = 4, 3
    logits = torch.randn(steps, symbols, generator=generator) * 2
    log_probs = logits.log_softmax(-1)
    exact = labelling_log_probs(log_probs)
    # 31 prefixes of length <= 4 over 2 labels: a beam of 64 keeps every one, so exact.
    nbest = prefix_beam_search(log_probs, beam_size=64)
    assert {tuple(labels): score for labels, score in nbest} == pytest.approx(exact)
    best = max(exact, key=exact.get)
    assert nbest[0][0] == list(best)
    assert nbest[0][1] == pytest.approx(exact[best])


@pytest.mark.parametrize("seed", range(5))
def test_a_narrow_beam_still_finds_the_best_labelling_of_peaky_outputs(seed):
    generator = torch.Generator().manual_seed(100 + seed)
    logits = torch.randn(5, 3, generator=generator) * 4  # confident frames, like a trained model
    log_probs = logits.log_softmax(-1)
    exact = labelling_log_probs(log_probs)
    best = max(exact, key=exact.get)
    labels, score = prefix_beam_search(log_probs, beam_size=4)[0]
    assert labels == list(best)
    # Pruned prefixes take some of their paths with them: the score is a lower bound.
    assert exact[best] - 0.05 < score <= exact[best] + 1e-9


def test_beam_decode_respects_lengths_and_another_blank():
    torch.manual_seed(0)
    log_probs = torch.randn(2, 6, 4).log_softmax(-1)
    lengths = torch.tensor([6, 3])
    # 1,093 prefixes of length <= 6 over 3 labels: this beam keeps them all (exact).
    decoded = beam_decode(log_probs, lengths, beam_size=1100, blank=3)
    for row, n, labels in zip(log_probs, lengths.tolist(), decoded, strict=True):
        exact = labelling_log_probs(row[:n], blank=3)
        assert labels == list(max(exact, key=exact.get))
        assert 3 not in labels


def test_bad_shapes_and_beam_sizes_are_refused():
    with pytest.raises(ValueError, match=r"expected log-probabilities \(T, C\)"):
        prefix_beam_search(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="beam_size must be at least 1, got 0"):
        prefix_beam_search(torch.zeros(3, 4), beam_size=0)
    with pytest.raises(ValueError, match=r"expected log-probabilities \(B, T, C\)"):
        greedy_decode(torch.zeros(3, 4))
