"""sacreBLEU BLEU and chrF with signatures, exact match, and the two baselines."""

from __future__ import annotations

import math

import pytest

from rnnkit.errors import DataError
from rnnkit.tasks.translation.metrics import (
    WordDictionary,
    copy_source,
    corpus_bleu,
    corpus_chrf,
    exact_match,
    translation_scores,
)


def test_identical_text_scores_100_with_signatures():
    refs = ["A man rides a bike.", "Two dogs play in the snow."]
    bleu = corpus_bleu(refs, refs)
    assert bleu.score == pytest.approx(100.0)
    assert bleu.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    chrf = corpus_chrf(refs, refs)
    assert chrf.score == pytest.approx(100.0)
    assert "nc:6|nw:0" in chrf.signature


def test_bleu_equals_a_hand_computation():
    # n-gram precisions 5/6, 4/5, 3/4, 2/3 and no brevity penalty: (1/3) ** (1/4)
    assert corpus_bleu(["a b c d e f"], ["a b c d e g"]).score == pytest.approx(
        100 * (1 / 3) ** 0.25
    )
    # all precisions 1, hypothesis 5 words for a reference of 7: BP = exp(1 - 7/5)
    assert corpus_bleu(["a b c d e"], ["a b c d e f g"]).score == pytest.approx(
        100 * math.exp(1 - 7 / 5)
    )
    assert corpus_bleu(["x y z w"], ["a b c d"]).score == 0.0


def test_case_counts_unless_lowercased():
    assert corpus_bleu(["the dog runs fast ."], ["The Dog runs fast ."]).score < 100
    lowered = corpus_bleu(["the dog runs fast ."], ["The Dog runs fast ."], lowercase=True)
    assert lowered.score == pytest.approx(100.0)
    assert "case:lc" in lowered.signature


def test_exact_match_ignores_runs_of_whitespace_only():
    assert exact_match(
        ["a  dog", "a cat", "A bird"], ["a dog", "a cat ", "a bird"]
    ) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match=r"^2 translations for 1 references$"):
        exact_match(["a", "b"], ["a"])


def test_translation_scores_report_every_metric_and_signature():
    metrics, signatures = translation_scores(
        ["a dog runs in the park ."], ["a dog runs in the park ."]
    )
    assert metrics == pytest.approx(
        {"bleu": 100.0, "bleu_lowercase": 100.0, "chrf": 100.0, "exact_match": 1.0}
    )
    assert set(signatures) == {"bleu", "bleu_lowercase", "chrf"}


def test_copy_baseline_returns_the_sources():
    assert copy_source(["ein Hund", "Berlin"]) == ["ein Hund", "Berlin"]


def test_word_dictionary_learns_word_translations_from_co_occurrence():
    sources = ["ein hund", "ein katze", "zwei hund", "zwei katze .", "ein vogel"]
    targets = ["a dog", "a cat", "two dogs", "two cats .", "a bird"]
    dictionary = WordDictionary.fit(sources, targets)
    assert dictionary.table["ein"] == "a"
    assert dictionary.table["zwei"] == "two"
    assert dictionary.table["vogel"] == "bird"
    assert dictionary.table["."] == "."
    assert dictionary.translate("zwei vogel , berlin .") == "two bird, berlin."  # unknown: copied
    assert dictionary.translate_all(["ein katze"]) == ["a cat"]
    with pytest.raises(DataError, match="hold no words"):
        WordDictionary.fit(["  "], [""])
