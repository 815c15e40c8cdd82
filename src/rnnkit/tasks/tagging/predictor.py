"""Tag new sentences with a trained tagger: the weights, the vocabulary JSON and the
model config, nothing from training (no Lightning).

Tokenisation: a sentence given as one string is split at whitespace (``str.split()``),
so punctuation must be separated from words as in the training data ("The fox jumps ."
not "The fox jumps."); UD treebanks also split clitics ("do n't"). A sentence given as
a list of strings is taken as already tokenised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.config import Config
from rnnkit.errors import UserError
from rnnkit.rundir import PREPROCESS_DIR
from rnnkit.tasks.predictor import Predictor
from rnnkit.tasks.tagging.encoding import EncodedSentence, TaggingVocab, collate
from rnnkit.tasks.tagging.model import Tagger

VOCAB_FILE = "vocab.json"
TOKENISATION = "whitespace: one token per run of non-space characters (str.split())"

Sentences = str | Sequence[str | Sequence[str]]


def tokenize(sentence: str | Sequence[str]) -> list[str]:
    """Tokens of one sentence: a string split at whitespace, a list taken as it is."""
    if isinstance(sentence, str):
        return sentence.split()
    tokens = list(sentence)
    if not all(isinstance(t, str) and t and not any(ch.isspace() for ch in t) for t in tokens):
        raise UserError("a tokenised sentence is a list of non-empty strings without spaces")
    return tokens


def predict_encoded(
    model: Tagger, vocab: TaggingVocab, encoded: Sequence[EncodedSentence], batch_size: int = 64
) -> list[list[str]]:
    """Tag names for encoded sentences, in their order (Viterbi with a CRF, else argmax)."""
    model.eval()
    device = next(model.parameters()).device
    out: list[list[str]] = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        batch = collate(chunk)
        ids = model.decode(
            batch["words"].to(device), batch["chars"].to(device), batch["lengths"]
        )  # (B, T)
        out.extend(
            vocab.decode_tags(ids[row, : len(s.words)].tolist()) for row, s in enumerate(chunk)
        )
    return out


def tag_sentences(
    model: Tagger, vocab: TaggingVocab, sentences: Sentences, batch_size: int = 64
) -> list[list[tuple[str, str]]]:
    """(token, tag) pairs per sentence; one string is one sentence; empty ones give []."""
    if isinstance(sentences, str):
        sentences = [sentences]
    tokenised = [tokenize(s) for s in sentences]
    results: list[list[tuple[str, str]]] = [[] for _ in tokenised]
    todo = [i for i, tokens in enumerate(tokenised) if tokens]
    encoded = [EncodedSentence(*vocab.encode_tokens(tokenised[i])) for i in todo]
    for i, tags in zip(todo, predict_encoded(model, vocab, encoded, batch_size), strict=True):
        results[i] = list(zip(tokenised[i], tags, strict=True))
    return results


def format_tagged(pairs: Sequence[tuple[str, str]]) -> str:
    """One line ``token/TAG token/TAG ...`` (the CLI's output)."""
    return " ".join(f"{token}/{tag}" for token, tag in pairs)


class TaggingPredictor(Predictor):
    """``tag(["The quick brown fox ."])`` -> ``[[("The", "DET"), ("quick", "ADJ"), ...]]``."""

    def __init__(self, run_dir: Path, config: Config, info: dict[str, Any], model: nn.Module):
        super().__init__(run_dir, config, info, model)
        self.vocab = TaggingVocab.load(Path(run_dir) / PREPROCESS_DIR / VOCAB_FILE)

    def tag(self, sentences: Sentences) -> list[list[tuple[str, str]]]:
        """(token, tag) pairs per sentence. A string is split at whitespace (see
        :data:`TOKENISATION`); a list of strings is taken as the tokens."""
        return tag_sentences(self.model, self.vocab, sentences)  # type: ignore[arg-type]
