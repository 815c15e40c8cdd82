"""Tagging metrics and the baselines a tagger must beat.

Metrics take gold and predicted tags as one list of tag strings per sentence, each as
long as its sentence, so padding cannot count (a padded batch is cut to its lengths
first; :func:`masked_accuracy` does the same on id tensors during training):

* ``accuracy``: correct tokens / tokens;
* ``f1``: macro F1 over tags (every tag that occurs in the gold or the predictions
  weighs the same, so rare tags count as much as frequent ones);
* :func:`most_confused`: the (gold, predicted) pairs that go wrong most often;
* ``entity_precision``/``entity_recall``/``entity_f1``: for BIO/BIOES tags, exact-match
  chunks as counted by CoNLL's conlleval script, through ``seqeval`` (Nakayama 2018).

Baselines: :class:`MostFrequentTag` (each word's most frequent training tag; unknown
words get the most frequent tag overall) and :class:`SuffixShapeTag` (known words as
before; unknown words by the most frequent tag of training words with the same shape and
the longest shared suffix).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import torch
from torch import Tensor

from rnnkit.errors import DataError, MissingExtraError

Tags = Sequence[Sequence[str]]


def _check(gold: Tags, predicted: Tags) -> None:
    if len(gold) != len(predicted):
        raise DataError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise DataError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")


def accuracy(gold: Tags, predicted: Tags) -> float:
    """Correct tokens / tokens over all sentences."""
    _check(gold, predicted)
    total = sum(len(g) for g in gold)
    if total == 0:
        raise DataError("no tokens to score")
    correct = sum(
        a == b for g, p in zip(gold, predicted, strict=True) for a, b in zip(g, p, strict=True)
    )
    return correct / total


def masked_accuracy(predicted: Tensor, gold: Tensor, lengths: Tensor) -> tuple[int, int]:
    """(correct, tokens) of id tensors (B, T), counting positions before each length only."""
    steps = gold.shape[1]
    mask = torch.arange(steps, device=gold.device)[None, :] < lengths.to(gold.device)[:, None]
    return int(((predicted == gold) & mask).sum()), int(mask.sum())


def per_tag_scores(gold: Tags, predicted: Tags) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support (gold count) of every tag seen in either list.

    A tag never predicted has precision 0; one never in the gold has recall 0 (and
    support 0): both then have F1 0, the convention of scikit-learn's ``zero_division=0``.
    """
    _check(gold, predicted)
    true_pos: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    pred_count: Counter[str] = Counter()
    for g_sentence, p_sentence in zip(gold, predicted, strict=True):
        for g, p in zip(g_sentence, p_sentence, strict=True):
            gold_count[g] += 1
            pred_count[p] += 1
            true_pos[g] += g == p
    scores = {}
    for tag in sorted(gold_count.keys() | pred_count.keys()):
        precision = true_pos[tag] / pred_count[tag] if pred_count[tag] else 0.0
        recall = true_pos[tag] / gold_count[tag] if gold_count[tag] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[tag] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": float(gold_count[tag]),
        }
    return scores


def macro_f1(gold: Tags, predicted: Tags) -> float:
    """The unweighted mean of the per-tag F1 scores."""
    scores = per_tag_scores(gold, predicted)
    return sum(s["f1"] for s in scores.values()) / len(scores)


def most_confused(gold: Tags, predicted: Tags, top: int = 10) -> list[tuple[str, str, int]]:
    """The ``top`` (gold, predicted, count) errors, most frequent first (ties by name)."""
    _check(gold, predicted)
    errors: Counter[tuple[str, str]] = Counter(
        (g, p)
        for g_sentence, p_sentence in zip(gold, predicted, strict=True)
        for g, p in zip(g_sentence, p_sentence, strict=True)
        if g != p
    )
    ranked = sorted(errors.items(), key=lambda item: (-item[1], item[0]))
    return [(g, p, n) for (g, p), n in ranked[:top]]


def entity_scores(gold: Tags, predicted: Tags, scheme: str = "BIO") -> dict[str, float]:
    """Entity-level precision, recall and F1 of chunks; a chunk is right when its type,
    start and end all match a gold chunk.

    BIO tags are read as CoNLL's conlleval reads them (seqeval's default mode: an ``I-``
    after ``O`` opens a chunk); BIOES tags strictly (seqeval's strict IOBES mode: a chunk
    must be ``S-`` or ``B-``...``E-``).
    """
    _check(gold, predicted)
    if scheme not in ("BIO", "BIOES"):
        raise ValueError(f"scheme {scheme!r}: use BIO or BIOES")
    try:
        from seqeval.metrics import f1_score, precision_score, recall_score
        from seqeval.scheme import IOBES
    except ImportError:
        raise MissingExtraError("seqeval", "tagging", "entity-level F1") from None
    options: dict = {"zero_division": 0}
    if scheme == "BIOES":
        options.update(mode="strict", scheme=IOBES)
    gold_lists = [list(s) for s in gold]
    pred_lists = [list(s) for s in predicted]
    return {
        "entity_precision": float(precision_score(gold_lists, pred_lists, **options)),
        "entity_recall": float(recall_score(gold_lists, pred_lists, **options)),
        "entity_f1": float(f1_score(gold_lists, pred_lists, **options)),
    }


def evaluate(gold: Tags, predicted: Tags, scheme: str | None = None) -> dict[str, float]:
    """``accuracy`` and macro ``f1``; for a chunk ``scheme`` (BIO, BIOES) the entity scores."""
    metrics = {"accuracy": accuracy(gold, predicted), "f1": macro_f1(gold, predicted)}
    if scheme is not None:
        metrics.update(entity_scores(gold, predicted, scheme))
    return metrics


# ----------------------------------------------------------------------------- baselines


class MostFrequentTag:
    """Each word's most frequent training tag; an unknown word gets the most frequent tag.

    Ties go to the tag seen first in training, so the baseline is deterministic.
    """

    def __init__(self) -> None:
        self.by_word: dict[str, str] = {}
        self.default = ""

    def fit(self, tokens: Tags, tags: Tags) -> MostFrequentTag:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        overall: Counter[str] = Counter()
        for sentence_tokens, sentence_tags in zip(tokens, tags, strict=True):
            for token, tag in zip(sentence_tokens, sentence_tags, strict=True):
                counts[token][tag] += 1
                overall[tag] += 1
        if not overall:
            raise DataError("cannot fit a tagging baseline on zero tokens")
        self.by_word = {word: c.most_common(1)[0][0] for word, c in counts.items()}
        self.default = overall.most_common(1)[0][0]
        return self

    def predict(self, tokens: Tags) -> list[list[str]]:
        return [[self.tag_word(token) for token in sentence] for sentence in tokens]

    def tag_word(self, token: str) -> str:
        return self.by_word.get(token, self.default)


def word_shape(token: str) -> str:
    """A coarse spelling class: ``number``, ``punct``, ``upper``, ``title``, ``lower``,
    ``mixed`` (e.g. ``iPhone``) or ``other`` (no letters, digits or punctuation only)."""
    if re.fullmatch(r"[+-]?[\d.,:/]*\d[\d.,:/]*", token):
        return "number"
    if not any(ch.isalnum() for ch in token):
        return "punct"
    letters = [ch for ch in token if ch.isalpha()]
    if not letters:
        return "other"
    if all(ch.isupper() for ch in letters):
        return "upper"
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return "title"
    if all(ch.islower() for ch in letters):
        return "lower"
    return "mixed"


class SuffixShapeTag(MostFrequentTag):
    """:class:`MostFrequentTag` for known words; a rule from spelling for unknown ones.

    An unknown word gets the most frequent training tag of words with the same
    :func:`word_shape` and the same last 3 letters, else 2, else 1, else the same shape
    only, else the most frequent tag overall (suffix analysis in the spirit of Brants
    2000, "TnT -- A Statistical Part-of-Speech Tagger", reduced to a lookup).
    """

    max_suffix = 3

    def __init__(self) -> None:
        super().__init__()
        self.by_key: dict[tuple[str, str], str] = {}

    def fit(self, tokens: Tags, tags: Tags) -> SuffixShapeTag:
        super().fit(tokens, tags)
        counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for sentence_tokens, sentence_tags in zip(tokens, tags, strict=True):
            for token, tag in zip(sentence_tokens, sentence_tags, strict=True):
                for key in self._keys(token):
                    counts[key][tag] += 1
        self.by_key = {key: c.most_common(1)[0][0] for key, c in counts.items()}
        return self

    def _keys(self, token: str) -> list[tuple[str, str]]:
        shape = word_shape(token)
        lowered = token.lower()
        suffixes = [lowered[-n:] for n in range(self.max_suffix, 0, -1) if len(lowered) >= n]
        return [(shape, suffix) for suffix in suffixes] + [(shape, "")]

    def tag_word(self, token: str) -> str:
        if token in self.by_word:
            return self.by_word[token]
        for key in self._keys(token):
            if key in self.by_key:
                return self.by_key[key]
        return self.default
