"""Greedy decoding and beam search: beam 1 is greedy; a wide beam finds the brute-force best."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.errors import UserError
from rnnkit.tasks.translation.config import TranslationModel
from rnnkit.tasks.translation.decode import (
    DecodeSettings,
    beam_search,
    greedy_decode,
    length_penalty,
)
from rnnkit.tasks.translation.model import Seq2Seq

PAD, UNK, BOS, EOS = 0, 1, 2, 3
WORDS = (UNK, 4, 5)  # what the tiny model may generate besides <eos>


def tiny_model(seed: int, vocab: int = 6, **options) -> Seq2Seq:
    torch.manual_seed(seed)
    config = TranslationModel(cell="gru", hidden_size=8, embedding_size=4, **options)
    model = Seq2Seq(config, source_vocab_size=6, target_vocab_size=vocab, pad_id=PAD).eval()
    with torch.no_grad():  # sharper distributions make the search matter
        model.output.weight.mul_(4.0)
    return model


def sequence_score(model, source, lengths, words) -> float:
    """Sum of log-probabilities of ``words`` + <eos>, teacher-forced."""
    target_in = torch.tensor([[BOS, *words]])
    target_out = [*words, EOS]
    with torch.no_grad():
        log_probs = torch.log_softmax(model(source, lengths, target_in), -1)[0]
    return sum(log_probs[t, token].item() for t, token in enumerate(target_out))


def brute_force_best(model, source, lengths, limit, alpha):
    best = None
    for length in range(limit + 1):
        for words in itertools.product(WORDS, repeat=length):
            score = sequence_score(model, source, lengths, list(words))
            normalized = score / length_penalty(length + 1, alpha)
            if best is None or normalized > best[0]:
                best = (normalized, list(words), score)
    return best


SETTINGS = DecodeSettings(BOS, EOS, banned=(PAD, BOS), max_length_ratio=0.0, max_length_offset=3)


@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
def test_beam_of_one_is_greedy_decoding(attention):
    model = tiny_model(1, vocab=12, attention=attention)
    torch.manual_seed(5)
    source = torch.randint(4, 6, (6, 5))
    lengths = torch.tensor([5, 3, 4, 1, 2, 5])
    settings = DecodeSettings(
        BOS, EOS, banned=(PAD, BOS), max_length_ratio=1.0, max_length_offset=2
    )
    greedy = greedy_decode(model, source, lengths, settings)
    beam = beam_search(model, source, lengths, settings, beam_size=1, alpha=0.6)
    assert [g.tokens for g in greedy] == [b.tokens for b in beam]
    assert [g.score for g in greedy] == pytest.approx([b.score for b in beam], abs=1e-5)
    for translation, n in zip(greedy, lengths.tolist(), strict=True):
        assert len(translation.tokens) <= n + 2  # ratio 1 * n + offset 2
        assert not {PAD, BOS, EOS} & set(translation.tokens)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_beam_finds_the_best_sequence_brute_force_finds(alpha):
    # 3 words, at most 3 of them: 1 + 3 + 9 + 27 = 40 sequences, all of them in a beam of 40.
    model = tiny_model(3)
    source = torch.tensor([[4, 5], [5, 0]])
    lengths = torch.tensor([2, 1])
    beam = beam_search(model, source, lengths, SETTINGS, beam_size=40, alpha=alpha)
    greedy = greedy_decode(model, source, lengths, SETTINGS)
    beaten = 0
    for b in range(2):
        n = int(lengths[b])
        normalized, words, score = brute_force_best(
            model, source[b : b + 1, :n], lengths[b : b + 1], 3, alpha
        )
        assert beam[b].tokens == words
        assert beam[b].score == pytest.approx(score, abs=1e-4)
        greedy_score = sequence_score(
            model, source[b : b + 1, :n], lengths[b : b + 1], greedy[b].tokens
        )
        greedy_normalized = greedy_score / length_penalty(len(greedy[b].tokens) + 1, alpha)
        assert greedy_normalized <= normalized + 1e-6
        beaten += greedy_normalized < normalized - 1e-6
    if alpha == 0.0:
        assert beaten >= 1  # on this model greedy decoding misses a better sequence


def test_a_narrow_beam_scores_at_least_as_well_as_greedy_under_no_penalty():
    model = tiny_model(3)
    source = torch.tensor([[4, 5], [5, 0]])
    lengths = torch.tensor([2, 1])
    greedy = greedy_decode(model, source, lengths, SETTINGS)
    beam = beam_search(model, source, lengths, SETTINGS, beam_size=3)
    for g, b in zip(greedy, beam, strict=True):
        assert b.score >= g.score - 1e-6


def test_length_limit_forces_the_end_and_attention_has_a_row_per_token():
    model = tiny_model(2)
    source = torch.tensor([[4, 5, 4]])
    lengths = torch.tensor([3])
    settings = DecodeSettings(
        BOS, EOS, banned=(PAD, BOS, EOS), max_length_ratio=0.0, max_length_offset=4
    )
    # <eos> banned: only the length limit can end the sentence (it lifts the ban there).
    for result in (
        greedy_decode(model, source, lengths, settings, return_attention=True)[0],
        beam_search(model, source, lengths, settings, beam_size=3, return_attention=True)[0],
    ):
        assert len(result.tokens) == 4
        assert result.attention.shape == (5, 3)
        torch.testing.assert_close(result.attention.sum(-1), torch.ones(5))


def test_length_penalty_is_gnmts():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert length_penalty(13, 0.5) == pytest.approx(3.0**0.5)


@pytest.mark.parametrize("size", [0, -1, 1.5])
def test_a_bad_beam_size_is_one_clear_error(size):
    model = tiny_model(0)
    with pytest.raises(UserError, match=f"^beam size {size!r} is not valid: use 1"):
        beam_search(model, torch.tensor([[4]]), torch.tensor([1]), SETTINGS, beam_size=size)
