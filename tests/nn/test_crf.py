"""The linear-chain CRF against brute-force enumeration of every tag sequence."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.nn import CRF


def brute_force(crf: CRF, emissions: torch.Tensor, length: int):
    """Scores of all K^n sequences of one sentence: (log Z, best path, {path: score})."""
    k = crf.num_tags
    scores = {}
    for path in itertools.product(range(k), repeat=length):
        s = crf.start[path[0]] + crf.end[path[-1]]
        for t, tag in enumerate(path):
            s = s + emissions[t, tag]
            if t > 0:
                s = s + crf.transitions[path[t - 1], tag]
        scores[path] = s
    stacked = torch.stack(list(scores.values()))
    best = max(scores, key=lambda p: float(scores[p].detach()))
    return torch.logsumexp(stacked, 0), best, scores


def tiny_case(seed: int = 0, lengths=(4, 2, 1, 3), tags: int = 3):
    torch.manual_seed(seed)
    crf = CRF(tags).double()
    with torch.no_grad():  # larger than the init, so paths differ clearly
        for p in crf.parameters():
            p.normal_(0, 1.0)
    steps = max(lengths)
    emissions = torch.randn(len(lengths), steps, tags, dtype=torch.float64)
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    return crf, emissions, mask, lengths


def test_log_partition_and_viterbi_match_enumeration_of_all_sequences():
    crf, emissions, mask, lengths = tiny_case()
    log_z = crf.log_partition(emissions, mask)
    decoded = crf.decode(emissions, mask, pad=-1)
    for b, n in enumerate(lengths):
        expected_z, expected_best, _ = brute_force(crf, emissions[b], n)
        torch.testing.assert_close(log_z[b], expected_z)
        assert decoded[b, :n].tolist() == list(expected_best)
        assert decoded[b, n:].tolist() == [-1] * (emissions.shape[1] - n)


def test_log_likelihood_is_the_log_probability_of_the_gold_path():
    crf, emissions, mask, lengths = tiny_case(seed=1)
    torch.manual_seed(2)
    tags = torch.randint(0, 3, mask.shape)
    tags[~mask] = -100  # a cross-entropy filler in padding must be harmless
    ll = crf.log_likelihood(emissions, tags, mask)
    for b, n in enumerate(lengths):
        log_z, _, scores = brute_force(crf, emissions[b], n)
        gold = tuple(tags[b, :n].tolist())
        torch.testing.assert_close(ll[b], scores[gold] - log_z)
    torch.testing.assert_close(crf(emissions, tags, mask), -ll.sum())
    # Probabilities over all sequences of a sentence sum to one.
    _, _, scores = brute_force(crf, emissions[1], lengths[1])
    log_z = crf.log_partition(emissions, mask)[1]
    total = sum(torch.exp(s - log_z) for s in scores.values())
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64))


def test_a_padded_sentence_gets_what_it_gets_alone():
    crf, emissions, mask, lengths = tiny_case(seed=3)
    tags = torch.randint(0, 3, mask.shape)
    together = crf.log_likelihood(emissions, tags, mask)
    decoded = crf.decode(emissions, mask)
    for b, n in enumerate(lengths):
        alone = crf.log_likelihood(emissions[b : b + 1, :n], tags[b : b + 1, :n])
        torch.testing.assert_close(together[b : b + 1], alone)
        assert torch.equal(decoded[b, :n], crf.decode(emissions[b : b + 1, :n])[0])
    # Garbage in padded emissions changes nothing.
    noisy = emissions.clone()
    noisy[~mask] = 1e3
    torch.testing.assert_close(crf.log_likelihood(noisy, tags, mask), together)
    assert torch.equal(crf.decode(noisy, mask), decoded)


def test_gradient_of_log_z_is_the_tag_marginals_and_padding_gets_none():
    crf, emissions, mask, lengths = tiny_case(seed=4)
    emissions.requires_grad_(True)
    crf.log_partition(emissions, mask).sum().backward()
    for b, n in enumerate(lengths):
        log_z, _, scores = brute_force(crf, emissions[b].detach(), n)
        marginals = torch.zeros(n, 3, dtype=torch.float64)
        for path, s in scores.items():
            for t, tag in enumerate(path):
                marginals[t, tag] += torch.exp(s - log_z).detach()
        torch.testing.assert_close(emissions.grad[b, :n], marginals)
        assert torch.all(emissions.grad[b, n:] == 0)


def test_gradcheck_through_the_negative_log_likelihood():
    crf, emissions, mask, _ = tiny_case(seed=5, lengths=(3, 2), tags=2)
    tags = torch.tensor([[0, 1, 1], [1, 0, 0]])
    emissions.requires_grad_(True)

    # Parameters' gradients: compare autograd with finite differences on the module itself.
    assert torch.autograd.gradcheck(lambda e: crf(e, tags, mask), (emissions,))
    loss = crf(emissions, tags, mask)
    loss.backward()
    eps = 1e-6
    with torch.no_grad():
        for parameter in (crf.transitions, crf.start, crf.end):
            flat = parameter.view(-1)
            for i in range(flat.numel()):
                flat[i] += eps
                up = crf(emissions, tags, mask)
                flat[i] -= 2 * eps
                down = crf(emissions, tags, mask)
                flat[i] += eps
                numeric = (up - down) / (2 * eps)
                torch.testing.assert_close(
                    parameter.grad.view(-1)[i], numeric, atol=1e-6, rtol=1e-5
                )


def test_a_long_sentence_stays_finite_and_float32_matches_float64():
    torch.manual_seed(6)
    crf = CRF(5)
    emissions = 30 * torch.randn(2, 200, 5)  # large scores: exp would overflow
    tags = torch.randint(0, 5, (2, 200))
    ll32 = crf.log_likelihood(emissions, tags)
    ll64 = crf.double().log_likelihood(emissions.double(), tags)
    assert torch.isfinite(ll32).all() and (ll32 <= 0).all()
    torch.testing.assert_close(ll32.double(), ll64, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize(
    "mask,message",
    [
        (torch.tensor([[True, True], [False, True]]), r"mask\[:, 0\] must be True"),
        (torch.tensor([[True, False, True]]), "right padding"),
    ],
)
def test_bad_masks_are_refused(mask, message):
    crf = CRF(2)
    with pytest.raises(ValueError, match=message):
        crf.decode(torch.zeros(*mask.shape, 2), mask)


def test_bad_shapes_are_refused():
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"emissions must have shape \(B, T, 3\), got \(1, 2, 4\)"):
        crf.decode(torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"tags must have shape \(1, 2\)"):
        crf(torch.zeros(1, 2, 3), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one tag"):
        CRF(0)
    assert repr(crf) == "CRF(num_tags=3)"


def test_half_precision_emissions_are_scored_in_float32():
    crf, emissions, mask, _ = tiny_case(seed=7)
    crf = crf.float()
    tags = torch.zeros(mask.shape, dtype=torch.long)
    ll = crf.log_likelihood(emissions.bfloat16(), tags, mask)
    assert ll.dtype == torch.float32
    expected = crf.log_likelihood(emissions.bfloat16().float(), tags, mask)
    torch.testing.assert_close(ll, expected)
