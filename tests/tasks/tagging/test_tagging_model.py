"""The tagger: shapes, padding that never counts, character features, both outputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.conll import Sentence
from rnnkit.tasks.tagging.config import TaggingModel
from rnnkit.tasks.tagging.encoding import TaggingVocab, collate, encode_sentences
from rnnkit.tasks.tagging.model import UNK_ID, CharEncoder, Tagger

SENTENCES = [
    Sentence(("The", "dog", "runs", "."), ("DET", "NOUN", "VERB", "PUNCT")),
    Sentence(("A", "cat", "sleeps"), ("DET", "NOUN", "VERB")),
    Sentence(("Dogs", "run"), ("NOUN", "VERB")),
]


def small(**options) -> TaggingModel:
    sizes = {
        "hidden_size": 12,
        "embedding_size": 6,
        "char_embedding_size": 5,
        "char_hidden_size": 4,
    }
    return TaggingModel(**{**sizes, **options})


@pytest.fixture
def data():
    vocab = TaggingVocab.fit(SENTENCES)
    return vocab, collate(encode_sentences(vocab, SENTENCES))


@pytest.mark.parametrize("encoder", ["lstm", "cnn", "none"])
@pytest.mark.parametrize("crf", [False, True])
def test_a_sentence_in_a_padded_batch_gets_what_it_gets_alone(data, encoder, crf):
    torch.manual_seed(0)
    vocab, batch = data
    model = Tagger(
        len(vocab.words), len(vocab.chars), len(vocab.tags), small(char_encoder=encoder, crf=crf)
    ).eval()
    emissions = model(batch["words"], batch["chars"], batch["lengths"])
    assert emissions.shape == (3, 4, len(vocab.tags))  # (B, T, K)
    decoded = model.decode(batch["words"], batch["chars"], batch["lengths"], pad=-1)
    for b, n in enumerate(batch["lengths"].tolist()):
        alone = collate(encode_sentences(vocab, SENTENCES[b : b + 1]))
        single = model(alone["words"], alone["chars"], alone["lengths"])
        torch.testing.assert_close(emissions[b : b + 1, :n], single, rtol=1e-5, atol=1e-6)
        assert decoded[b, n:].eq(-1).all()
        assert torch.equal(
            decoded[b, :n], model.decode(alone["words"], alone["chars"], alone["lengths"])[0]
        )


@pytest.mark.parametrize("crf", [False, True])
def test_loss_ignores_padded_tags_and_matches_its_definition(data, crf):
    torch.manual_seed(1)
    vocab, batch = data
    model = Tagger(len(vocab.words), len(vocab.chars), len(vocab.tags), small(crf=crf)).eval()
    args = (batch["words"], batch["chars"], batch["lengths"])
    loss = model.loss(*args, batch["tags"])
    other = batch["tags"].clone()
    other[2, 2:] = 3  # only padded positions change
    other[1, 3] = 2
    torch.testing.assert_close(model.loss(*args, other), loss)
    emissions = model(*args)
    mask = torch.arange(4)[None, :] < batch["lengths"][:, None]
    if crf:
        expected = -model.crf.log_likelihood(emissions, batch["tags"], mask).sum() / 9
    else:
        expected = F.cross_entropy(emissions[mask], batch["tags"][mask])  # 9 real tokens
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_char_encoder_ignores_character_padding(kind):
    torch.manual_seed(2)
    encoder = CharEncoder(10, 4, 3, kind, kernel_size=3).eval()
    narrow = torch.tensor([[2, 3, 4], [5, 0, 0]])
    wide = torch.tensor([[2, 3, 4, 0, 0], [5, 0, 0, 0, 0]])
    assert encoder(narrow).shape == (2, 6 if kind == "lstm" else 3)
    torch.testing.assert_close(encoder(narrow), encoder(wide))


def test_distinct_spellings_are_encoded_once_with_the_same_result(data):
    torch.manual_seed(3)
    vocab, _ = data
    repeated = [
        Sentence(("the", "dog", "the", "the"), ("DET",) * 4),
        Sentence(("dog", "the"), ("DET",) * 2),
    ]
    batch = collate(_encode_any(vocab, repeated))
    model = Tagger(len(vocab.words), len(vocab.chars), len(vocab.tags), small()).eval()
    mask = torch.arange(4)[None, :] < batch["lengths"][:, None]
    features = model._char_features(batch["chars"], mask)  # (B, T, C)
    # Each position by itself through the encoder.
    expected = torch.zeros_like(features)
    for b in range(2):
        for t in range(int(batch["lengths"][b])):
            expected[b, t] = model.chars(batch["chars"][b, t : t + 1])[0]
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-6)
    assert features[1, 2:].eq(0).all()


def _encode_any(vocab, sentences):
    from rnnkit.tasks.tagging.encoding import EncodedSentence

    return [EncodedSentence(*vocab.encode_tokens(s.tokens)) for s in sentences]


def test_word_dropout_looks_words_up_as_unknown_in_training_only(data):
    torch.manual_seed(4)
    vocab, batch = data
    model = Tagger(
        len(vocab.words),
        len(vocab.chars),
        len(vocab.tags),
        small(word_dropout=0.999999, char_encoder="none"),
    )
    unknown = batch["words"].masked_fill(batch["words"] != 0, UNK_ID)
    args = (batch["chars"], batch["lengths"])
    model.train()
    torch.testing.assert_close(model(batch["words"], *args), model(unknown, *args))
    model.eval()
    assert not torch.allclose(model(batch["words"], *args), model(unknown, *args))


@pytest.mark.parametrize("crf", [False, True])
def test_it_learns_a_toy_tagging_problem(data, crf):
    torch.manual_seed(5)
    vocab, batch = data
    config = small(crf=crf, char_encoder="cnn", num_layers=1)
    model = Tagger(len(vocab.words), len(vocab.chars), len(vocab.tags), config)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    args = (batch["words"], batch["chars"], batch["lengths"])
    for _ in range(20):
        optimizer.zero_grad()
        loss = model.loss(*args, batch["tags"])
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.05
    mask = torch.arange(4)[None, :] < batch["lengths"][:, None]
    assert torch.equal(model.eval().decode(*args)[mask], batch["tags"][mask])


def test_char_lstm_grouped_by_length_matches_one_padded_call_with_lengths():
    torch.manual_seed(6)
    encoder = CharEncoder(20, 4, 3, "lstm", kernel_size=3)
    chars = torch.tensor([[2, 3, 4, 0], [5, 0, 0, 0], [6, 7, 8, 9], [3, 2, 0, 0], [7, 0, 0, 0]])
    lengths = (chars != 0).sum(1)
    grouped = encoder(chars)
    _, (h_n, _) = encoder.lstm(encoder.embedding(chars), lengths=lengths)
    torch.testing.assert_close(grouped, torch.cat([h_n[0], h_n[1]], 1))
    grouped.sum().backward()
    assert encoder.embedding.weight.grad[0].eq(0).all()  # padding gets no gradient
