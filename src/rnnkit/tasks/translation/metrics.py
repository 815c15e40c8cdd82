"""Translation metrics (sacreBLEU BLEU and chrF, exact match) and two baselines.

Scores follow sacreBLEU (Post 2018, "A Call for Clarity in Reporting BLEU Scores"):
corpus BLEU on detokenized hypotheses against the raw references with its own ``13a``
tokenization, cased unless ``lowercase``; chrF with character 6-grams and beta 2
(Popović 2015). Each score comes with sacreBLEU's signature, the string that says how it
was computed, so that numbers from different places can be compared.

Baselines a translation should beat:

* :func:`copy_source`: the source sentence as its own translation (names, numbers and
  cognates already score a little);
* :class:`WordDictionary`: word-by-word translation with a dictionary read from the
  training pairs: each source word becomes the target word it co-occurs with most
  strongly, by the Dice coefficient ``2 c(s, t) / (c(s) + c(t))`` over sentence pairs
  (a classic association score for word alignment, e.g. Och and Ney 2003, "A Systematic
  Comparison of Various Statistical Alignment Models"), ties going to the
  same word; unknown words are copied. It keeps the source's word order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rnnkit.data.text import WordTokenizer
from rnnkit.errors import DataError

_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_DETOKENIZER = WordTokenizer()


@dataclass(frozen=True)
class Score:
    """One corpus score (0-100) and the sacreBLEU signature that produced it."""

    score: float
    signature: str


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise DataError(f"{len(hypotheses)} translations for {len(references)} references")
    if not references:
        raise DataError("no sentences to score")


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    lowercase: bool = False,
    tokenize: str = "13a",
) -> Score:
    """sacreBLEU corpus BLEU of detokenized hypotheses against one reference each."""
    from sacrebleu.metrics import BLEU

    _check(hypotheses, references)
    metric = BLEU(lowercase=lowercase, tokenize=tokenize)
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return Score(float(result.score), str(metric.get_signature()))


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> Score:
    """sacreBLEU corpus chrF (character 6-grams, beta 2)."""
    from sacrebleu.metrics import CHRF

    _check(hypotheses, references)
    metric = CHRF()
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return Score(float(result.score), str(metric.get_signature()))


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Share (0-1) of translations equal to their reference, up to runs of whitespace."""
    _check(hypotheses, references)

    def norm(text: str) -> str:
        return _SPACES.sub(" ", text).strip()

    same = sum(norm(h) == norm(r) for h, r in zip(hypotheses, references, strict=True))
    return same / len(references)


def translation_scores(
    hypotheses: Sequence[str], references: Sequence[str]
) -> tuple[dict[str, float], dict[str, str]]:
    """``bleu``, ``bleu_lowercase``, ``chrf``, ``exact_match``, and the signatures."""
    bleu = corpus_bleu(hypotheses, references)
    bleu_lower = corpus_bleu(hypotheses, references, lowercase=True)
    chrf = corpus_chrf(hypotheses, references)
    metrics = {
        "bleu": bleu.score,
        "bleu_lowercase": bleu_lower.score,
        "chrf": chrf.score,
        "exact_match": exact_match(hypotheses, references),
    }
    signatures = {"bleu": bleu.signature, "bleu_lowercase": bleu_lower.signature}
    signatures["chrf"] = chrf.signature
    return metrics, signatures


# ----------------------------------------------------------------------------- baselines


def copy_source(sources: Sequence[str]) -> list[str]:
    """The copy baseline: every source sentence is its own translation."""
    return list(sources)


def words(text: str) -> list[str]:
    """Words and punctuation marks, the units of the dictionary baseline."""
    return _WORDS.findall(text)


class WordDictionary:
    """Word-by-word translation with a co-occurrence (Dice) dictionary; see the module doc."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    @classmethod
    def fit(cls, sources: Iterable[str], targets: Iterable[str]) -> WordDictionary:
        """Read the dictionary from training pairs (each word counted once per pair)."""
        source_count: Counter[str] = Counter()
        target_count: Counter[str] = Counter()
        together: dict[str, Counter[str]] = {}
        for source, target in zip(sources, targets, strict=True):
            # dict.fromkeys: each word once, in order (a set's order would vary by run).
            source_words = list(dict.fromkeys(words(source)))
            target_words = list(dict.fromkeys(words(target)))
            source_count.update(source_words)
            target_count.update(target_words)
            for s in source_words:
                together.setdefault(s, Counter()).update(target_words)
        if not together:
            raise DataError("cannot fit a word dictionary: the training pairs hold no words")
        table = {}
        for s, counts in together.items():
            # Highest Dice first; on a tie the same word (punctuation, names), then the more
            # frequent target word, then the first seen.
            table[s] = max(
                counts,
                key=lambda t: (
                    2 * counts[t] / (source_count[s] + target_count[t]),
                    t == s,
                    target_count[t],
                ),
            )
        return cls(table)

    def translate(self, source: str) -> str:
        # Detokenized like the model's output ("a dog." not "a dog ."), for sacreBLEU.
        return _DETOKENIZER.detokenize([self.table.get(word, word) for word in words(source)])

    def translate_all(self, sources: Iterable[str]) -> list[str]:
        return [self.translate(source) for source in sources]
