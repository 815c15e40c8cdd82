"""Tagging metrics and baselines against hand-computed numbers."""

from __future__ import annotations

import pytest
import torch

from rnnkit.errors import DataError
from rnnkit.tasks.tagging import metrics
from rnnkit.tasks.tagging.metrics import MostFrequentTag, SuffixShapeTag, word_shape

GOLD = [["DET", "NOUN", "VERB"], ["NOUN", "VERB"]]
PRED = [["DET", "VERB", "VERB"], ["NOUN", "NOUN"]]


def test_accuracy_and_macro_f1_by_hand():
    # Right: DET, VERB (s1), NOUN (s2): 3 of 5.
    assert metrics.accuracy(GOLD, PRED) == pytest.approx(0.6)
    scores = metrics.per_tag_scores(GOLD, PRED)
    assert scores["DET"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1.0}
    # NOUN: 2 gold, 2 predicted, 1 right; VERB the same.
    assert scores["NOUN"]["f1"] == pytest.approx(0.5) and scores["VERB"]["f1"] == pytest.approx(0.5)
    assert metrics.macro_f1(GOLD, PRED) == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    assert metrics.evaluate(GOLD, PRED) == {
        "accuracy": pytest.approx(0.6),
        "f1": pytest.approx(2 / 3),
    }


def test_a_tag_only_predicted_counts_in_the_macro_average_with_f1_zero():
    # A: P = 1/1, R = 1/2, F1 = 2/3; B: never gold, F1 0; macro (2/3 + 0) / 2.
    scores = metrics.per_tag_scores([["A", "A"]], [["A", "B"]])
    assert scores["A"]["f1"] == pytest.approx(2 / 3)
    assert scores["B"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0.0}
    assert metrics.macro_f1([["A", "A"]], [["A", "B"]]) == pytest.approx(1 / 3)


def test_most_confused_pairs_by_count_then_name():
    gold = [["NOUN", "NOUN", "VERB", "ADJ", "ADJ"]]
    pred = [["PROPN", "PROPN", "NOUN", "NOUN", "ADJ"]]
    assert metrics.most_confused(gold, pred) == [
        ("NOUN", "PROPN", 2),
        ("ADJ", "NOUN", 1),
        ("VERB", "NOUN", 1),
    ]
    assert metrics.most_confused(gold, pred, top=1) == [("NOUN", "PROPN", 2)]
    assert metrics.most_confused(gold, gold) == []


def test_masked_accuracy_never_counts_padding():
    gold = torch.tensor([[1, 2, 3], [4, 0, 0]])
    predicted = torch.tensor([[1, 0, 3], [4, 0, 0]])  # padding "right" by accident
    assert metrics.masked_accuracy(predicted, gold, torch.tensor([3, 1])) == (3, 4)


def test_lengths_must_agree():
    with pytest.raises(DataError, match="sentence 1: 2 gold tags but 1 predicted"):
        metrics.accuracy(GOLD, [["DET", "NOUN", "VERB"], ["NOUN"]])
    with pytest.raises(DataError, match="2 gold sentences but 1 predicted"):
        metrics.accuracy(GOLD, PRED[:1])


def test_entity_scores_count_exact_chunks():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # Gold chunks PER, LOC, ORG; predicted PER, ORG (wrong type at 3), ORG: 2 right of 3.
    scores = metrics.entity_scores(gold, pred)
    assert scores == pytest.approx(
        {"entity_precision": 2 / 3, "entity_recall": 2 / 3, "entity_f1": 2 / 3}
    )
    assert metrics.evaluate(gold, pred, scheme="BIO")["entity_f1"] == pytest.approx(2 / 3)
    # conlleval reads an I- after O as the start of a chunk.
    assert metrics.entity_scores([["O", "B-PER"]], [["O", "I-PER"]])["entity_f1"] == 1.0


def test_bioes_chunks_are_read_strictly():
    gold = [["S-PER", "O", "B-LOC", "E-LOC"]]
    pred = [["S-PER", "O", "B-LOC", "I-LOC"]]  # an unfinished chunk is no chunk
    scores = metrics.entity_scores(gold, pred, scheme="BIOES")
    assert scores == pytest.approx(
        {"entity_precision": 1.0, "entity_recall": 0.5, "entity_f1": 2 / 3}
    )


TRAIN_TOKENS = [
    ["the", "dog", "runs"],
    ["the", "run"],
    ["a", "run", "walked"],
    ["Paris", ",", "1999"],
]
TRAIN_TAGS = [
    ["DET", "NOUN", "VERB"],
    ["DET", "NOUN"],
    ["DET", "VERB", "VERB"],
    ["PROPN", "PUNCT", "NUM"],
]


def test_most_frequent_tag_per_word_and_overall_for_unknown_words():
    baseline = MostFrequentTag().fit(TRAIN_TOKENS, TRAIN_TAGS)
    # "run": NOUN once, VERB once: the tie goes to the tag seen first. Unknown: DET (3 of 12).
    assert baseline.predict([["the", "run", "cat"]]) == [["DET", "NOUN", "DET"]]
    assert metrics.accuracy(
        [["DET", "VERB", "NOUN"]], baseline.predict([["the", "run", "cat"]])
    ) == pytest.approx(1 / 3)


def test_suffix_shape_rule_for_unknown_words():
    baseline = SuffixShapeTag().fit(TRAIN_TOKENS, TRAIN_TAGS)
    # jumped: lower + "ed" like walked; London: title like Paris; 2024: a number; "!": punct.
    assert baseline.predict([["jumped", "London", "2024", "!", "the"]]) == [
        ["VERB", "PROPN", "NUM", "PUNCT", "DET"]
    ]


@pytest.mark.parametrize(
    "token,shape",
    [
        ("1,000.5", "number"),
        ("-3", "number"),
        ("...", "punct"),
        ("NASA", "upper"),
        ("Paris", "title"),
        ("dog", "lower"),
        ("iPhone", "mixed"),
        ("3D", "upper"),
        ("é", "lower"),
    ],
)
def test_word_shapes(token, shape):
    assert word_shape(token) == shape
