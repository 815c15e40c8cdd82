"""Pretrained word vectors in a model's word embedding, from the shared ``model:`` keys
(:class:`rnnkit.config.EmbeddingsConfig`).

When a run fits its vocabulary, :func:`read_vectors` reads the file and
:func:`extend_vocab` appends the file's words the training split lacks (the file is
external knowledge, not the evaluation data, so taking its words in leaks nothing);
after the model is built, :func:`load_vectors` copies the vectors into the embedding's
rows. Every later use of the run (resume, evaluate, inference) reads the saved
vocabulary and weights: the vectors file is needed once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.config import EmbeddingsConfig
from rnnkit.data.text import Vocab
from rnnkit.data.vectors import Match, WordVectors, read_word_vectors
from rnnkit.errors import ConfigError
from rnnkit.rundir import PREPROCESS_DIR, write_json

log = logging.getLogger(__name__)

#: What a run with vectors records about them, in ``preprocess/``.
SUMMARY_FILE = "pretrained_embeddings.json"


def read_vectors(config: EmbeddingsConfig, embedding_size: int) -> WordVectors | None:
    """The vectors ``config`` names (None without ``pretrained_embeddings``); their
    dimension must be ``embedding_size``."""
    if not config.pretrained_embeddings:
        return None
    vectors = read_word_vectors(config.pretrained_embeddings, config.pretrained_max_words)
    if vectors.dim != embedding_size:
        raise ConfigError(
            f"model.embedding_size={embedding_size} but {vectors.path} holds {vectors.dim}-"
            f"dimensional vectors: set model.embedding_size={vectors.dim}"
        )
    log.info("word vectors: %d words x %d from %s", len(vectors), vectors.dim, vectors.path)
    return vectors


def extend_vocab(vocab: Vocab, vectors: WordVectors, lowercase: bool = False) -> Vocab:
    """``vocab`` followed by the file's words it lacks (file order); the training words
    keep their ids."""
    added = vectors.new_words(vocab.itos, lowercase=lowercase)
    words = len(vocab) - len(vocab.specials)
    log.info("vocabulary: %d training words + %d from the vectors file", words, len(added))
    return Vocab([*vocab.itos, *added], vocab.specials)


@torch.no_grad()
def load_vectors(embedding: nn.Embedding, vocab: Vocab, vectors: WordVectors) -> Match:
    """Copy the vectors of ``vocab``'s tokens (exact, else lowercased) into ``embedding``.

    Rows without a vector are drawn again from N(0, s²), s the standard deviation of the
    file's values, so that they are on the scale of the loaded ones (nn.Embedding's own
    N(0, 1) is several times larger than typical word2vec or GloVe values). The padding
    row stays zero.
    """
    if embedding.num_embeddings != len(vocab) or embedding.embedding_dim != vectors.dim:
        raise ValueError(
            f"embedding {tuple(embedding.weight.shape)} does not fit a vocabulary of "
            f"{len(vocab)} and {vectors.dim}-dimensional vectors"
        )
    match = vectors.match(vocab.itos, skip=vocab.specials)
    weight = embedding.weight  # (V, D)
    scale = float(vectors.vectors.std()) or 1.0
    weight.normal_(0.0, scale)
    rows = torch.from_numpy(match.ids)
    weight[rows] = torch.from_numpy(match.vectors).to(weight.dtype)
    if embedding.padding_idx is not None:
        weight[embedding.padding_idx] = 0.0
    words = len(vocab) - len(vocab.specials)
    log.info(
        "word vectors: %d of %d vocabulary words found (%d as written, %d lowercased)",
        match.found,
        words,
        match.exact,
        match.lowercased,
    )
    return match


def load_and_record(
    embedding: nn.Embedding, vocab: Vocab, vectors: WordVectors, added: int, run_dir: Path
) -> dict[str, Any]:
    """:func:`load_vectors`, then ``preprocess/pretrained_embeddings.json`` in ``run_dir``
    says where the vectors came from and how many words they covered (``added``: the
    words the vocabulary took in from the file)."""
    match = load_vectors(embedding, vocab, vectors)
    record = {
        "path": str(vectors.path),
        "file_words": len(vectors),
        "dim": vectors.dim,
        "added_to_vocabulary": added,
        "vocabulary_words": len(vocab) - len(vocab.specials),
        "found": match.found,
        "found_as_written": match.exact,
        "found_lowercased": match.lowercased,
    }
    write_json(Path(run_dir) / PREPROCESS_DIR / SUMMARY_FILE, record)
    return record
