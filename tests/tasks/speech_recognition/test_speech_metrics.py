"""WER, CER and sentence accuracy against a hand-written edit distance."""

from __future__ import annotations

import random

import pytest

from rnnkit.errors import DataError
from rnnkit.tasks.speech_recognition.metrics import transcription_metrics
from rnnkit.tasks.speech_recognition.tokens import BLANK, CTCTokens


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance by the textbook dynamic programme."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def test_a_hand_worked_example():
    refs = ["one two three", "four", "five six"]
    hyps = ["one three", "", "five six"]
    # Words: "two" and "four" deleted: 2 edits over 6 words.
    # Characters: "two " (4) and "four" (4) deleted: 8 over 13 + 4 + 8 = 25.
    metrics = transcription_metrics(refs, hyps)
    assert metrics["wer"] == pytest.approx(2 / 6)
    assert metrics["cer"] == pytest.approx(8 / 25)
    assert metrics["sentence_accuracy"] == pytest.approx(1 / 3)


def test_random_transcripts_match_the_edit_distance():
    rng = random.Random(0)
    words = ["zero", "one", "two", "three", "oh"]
    refs = [" ".join(rng.choices(words, k=rng.randint(1, 6))) for _ in range(30)]
    hyps = [" ".join(rng.choices(words, k=rng.randint(0, 6))) for _ in range(30)]
    metrics = transcription_metrics(refs, hyps)
    word_edits = sum(edit_distance(r.split(), h.split()) for r, h in zip(refs, hyps, strict=True))
    char_edits = sum(edit_distance(list(r), list(h)) for r, h in zip(refs, hyps, strict=True))
    assert metrics["wer"] == pytest.approx(word_edits / sum(len(r.split()) for r in refs))
    assert metrics["cer"] == pytest.approx(char_edits / sum(len(r) for r in refs))


def test_whitespace_does_not_count_and_bad_input_is_refused():
    assert transcription_metrics(["one  two "], [" one two"]) == {
        "wer": 0.0,
        "cer": 0.0,
        "sentence_accuracy": 1.0,
    }
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        transcription_metrics(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no utterances"):
        transcription_metrics([], [])


@pytest.mark.parametrize(
    ("units", "symbols", "encoded"),
    [
        ("word", (BLANK, "one", "three", "two"), [3, 1]),
        ("char", (BLANK, " ", "e", "h", "n", "o", "r", "t", "w"), [7, 8, 5, 1, 5, 4, 2]),
    ],
)
def test_tokens_fit_encode_decode_round_trip(units, symbols, encoded):
    tokens = CTCTokens.fit(["one two", "three  one"], units=units)
    assert tokens.symbols == symbols and tokens.blank == 0
    assert tokens.encode("two one") == encoded
    assert tokens.decode(encoded) == "two one"
    assert tokens.decode([0, *encoded, 0]) == "two one"
    assert CTCTokens.from_dict(tokens.to_dict()) == tokens


def test_unknown_symbols_and_empty_transcripts_are_named():
    tokens = CTCTokens.fit(["one two"], units="word")
    with pytest.raises(DataError, match="has the word 'four', which no training transcript has"):
        tokens.encode("one four")
    with pytest.raises(DataError, match="training transcripts are empty"):
        CTCTokens.fit(["", "  "], units="char")
