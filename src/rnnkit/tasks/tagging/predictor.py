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

import torch

from rnnkit.errors import UserError
from rnnkit.tasks.tagging.config import TaggingModelConfig
from rnnkit.tasks.tagging.encoding import EncodedSentence, TaggingVocab, collate
from rnnkit.tasks.tagging.model import Tagger

TOKENISATION = "whitespace: one token per run of non-space characters (str.split())"


def tokenize(sentence: str | Sequence[str]) -> list[str]:
    """Tokens of one sentence: a string split at whitespace, a list taken as it is."""
    if isinstance(sentence, str):
        return sentence.split()
    tokens = list(sentence)
    if not all(isinstance(t, str) and t and not any(ch.isspace() for ch in t) for t in tokens):
        raise UserError("a tokenised sentence is a list of non-empty strings without spaces")
    return tokens


class TaggingPredictor:
    """Tags for sentences: ``tag(["The quick brown fox ."])`` -> ``[[("The", "DET"), ...]]``.

    Decoding is Viterbi when the model has a CRF, the per-token argmax otherwise.
    """

    def __init__(self, model: Tagger, vocab: TaggingVocab, batch_size: int = 64) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.batch_size = batch_size

    @classmethod
    def from_state(
        cls, state_dict: dict[str, torch.Tensor], vocab: TaggingVocab, config: TaggingModelConfig
    ) -> TaggingPredictor:
        """Rebuild the model from its config and vocabulary sizes and load the weights."""
        model = Tagger(len(vocab.words), len(vocab.chars), len(vocab.tags), config)
        model.load_state_dict(state_dict)
        return cls(model, vocab)

    @classmethod
    def from_files(
        cls, weights: str | Path, vocab: str | Path, config: TaggingModelConfig
    ) -> TaggingPredictor:
        """From a safetensors file of the model's weights and the vocabulary JSON."""
        from safetensors.torch import load_file

        return cls.from_state(load_file(str(weights)), TaggingVocab.load(vocab), config)

    def predict_encoded(self, encoded: Sequence[EncodedSentence]) -> list[list[str]]:
        """Tag names for already encoded sentences (evaluation), in their order."""
        device = next(self.model.parameters()).device
        out: list[list[str]] = []
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start : start + self.batch_size]
            batch = collate(chunk)
            ids = self.model.decode(
                batch["words"].to(device), batch["chars"].to(device), batch["lengths"]
            )  # (B, T)
            out.extend(
                self.vocab.decode_tags(ids[row, : len(s.words)].tolist())
                for row, s in enumerate(chunk)
            )
        return out

    def tag(self, sentences: str | Sequence[str | Sequence[str]]) -> list[list[tuple[str, str]]]:
        """(token, tag) pairs per sentence; one string is one sentence."""
        if isinstance(sentences, str):
            sentences = [sentences]
        tokenised = [tokenize(s) for s in sentences]
        results: list[list[tuple[str, str]]] = [[] for _ in tokenised]
        # Empty sentences have nothing to tag; the others go through in batches.
        todo = [i for i, tokens in enumerate(tokenised) if tokens]
        encoded = [EncodedSentence(*self.vocab.encode_tokens(tokenised[i])) for i in todo]
        for i, tags in zip(todo, self.predict_encoded(encoded), strict=True):
            results[i] = list(zip(tokenised[i], tags, strict=True))
        return results
