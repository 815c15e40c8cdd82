"""Pretrained vectors into a word embedding: the config keys, the vocabulary, the rows."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from rnnkit.config import EmbeddingsConfig
from rnnkit.data.text import Vocab
from rnnkit.data.vectors import read_word_vectors
from rnnkit.errors import ConfigError
from rnnkit.tasks.embeddings import extend_vocab, load_vectors, read_vectors

SPECIALS = ("<pad>", "<unk>")


@pytest.fixture
def vec_file(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text("4 2\nthe 1 2\nParis 3 4\nrun -1 0.5\nOslo 8 9\n", encoding="utf-8")
    return path


def test_freezing_needs_a_vectors_file_and_max_words_is_unread_without_one():
    with pytest.raises(ValidationError, match="freeze_embeddings=true keeps random vectors"):
        EmbeddingsConfig(freeze_embeddings=True)
    assert EmbeddingsConfig().unread_keys() == {"pretrained_max_words"}
    assert EmbeddingsConfig(pretrained_embeddings="w.vec").unread_keys() == set()


def test_the_dimension_must_match_and_the_error_says_both_numbers(vec_file):
    config = EmbeddingsConfig(pretrained_embeddings=str(vec_file), pretrained_max_words=3)
    assert read_vectors(config, 2).words == ("the", "Paris", "run")
    assert read_vectors(EmbeddingsConfig(), 2) is None
    with pytest.raises(ConfigError, match=r"embedding_size=100 but .*w\.vec holds 2-dim.*=2$"):
        read_vectors(config, 100)


def test_extend_vocab_keeps_training_ids_and_appends_file_words_in_order(vec_file):
    vocab = Vocab([*SPECIALS, "run", "The", "walk"], SPECIALS)
    extended = extend_vocab(vocab, read_word_vectors(vec_file))
    assert extended.itos == [*SPECIALS, "run", "The", "walk", "the", "Paris", "Oslo"]
    assert extend_vocab(vocab, read_word_vectors(vec_file), lowercase=True).itos[-2:] == [
        "paris",
        "oslo",
    ]


def test_load_vectors_copies_rows_exactly_with_lowercase_fallback(vec_file):
    torch.manual_seed(0)
    vocab = Vocab([*SPECIALS, "run", "The", "walk", "paris", "Oslo"], SPECIALS)
    embedding = nn.Embedding(len(vocab), 2, padding_idx=0)
    match = load_vectors(embedding, vocab, read_word_vectors(vec_file))
    weight = embedding.weight.detach()
    assert torch.equal(weight[vocab["run"]], torch.tensor([-1.0, 0.5]))
    assert torch.equal(weight[vocab["The"]], torch.tensor([1.0, 2.0]))  # from "the"
    assert torch.equal(weight[vocab["Oslo"]], torch.tensor([8.0, 9.0]))
    assert torch.equal(weight[0], torch.zeros(2))  # padding
    assert torch.equal(weight[vocab["paris"]], torch.tensor([3.0, 4.0]))  # from "Paris"
    assert (match.exact, match.lowercased) == (2, 2)
    # A row without a vector is redrawn on the file's scale, not left at N(0, 1).
    assert 0 < weight[vocab["walk"]].abs().max() < 4 * 3.7
    with pytest.raises(ValueError, match="does not fit a vocabulary of 7"):
        load_vectors(nn.Embedding(7, 3), vocab, read_word_vectors(vec_file))
