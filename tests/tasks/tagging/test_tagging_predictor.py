"""Vocabulary JSON, batches, and the predictor rebuilt from files without Lightning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file

from rnnkit.data.conll import Sentence
from rnnkit.errors import DataError, UserError
from rnnkit.tasks.tagging.config import TaggingData, TaggingModel
from rnnkit.tasks.tagging.encoding import TaggingVocab, collate, encode_sentences
from rnnkit.tasks.tagging.model import Tagger
from rnnkit.tasks.tagging.predictor import format_tagged, tag_sentences, tokenize

SENTENCES = [
    Sentence(("The", "dog", "runs", "."), ("DET", "NOUN", "VERB", "PUNCT"), 1),
    Sentence(("the", "Dog", "ran"), ("DET", "NOUN", "VERB"), 6),
]


def test_vocab_ids_specials_lowercase_and_json_round_trip(tmp_path):
    vocab = TaggingVocab.fit(SENTENCES, lowercase=True, max_word_length=2)
    assert vocab.words.itos[:2] == ["<pad>", "<unk>"]
    assert vocab.words.itos[2:4] == ["the", "dog"]  # lowercased, most frequent first
    assert vocab.tags == ("DET", "NOUN", "PUNCT", "VERB")
    assert "D" in vocab.chars and "g" not in vocab.chars  # case kept; "dog" cut to "do"
    words, chars = vocab.encode_tokens(["THE", "cat"])
    assert words == [vocab.words["the"], 1]
    assert chars == [[vocab.chars["T"], 1], [1, vocab.chars["a"]]]
    path = vocab.save(tmp_path / "vocab.json")
    assert json.loads(path.read_text())["format"] == "rnnkit.tagging_vocab"
    assert TaggingVocab.load(path) == vocab
    with pytest.raises(DataError, match="not an rnnkit tagging vocabulary"):
        TaggingVocab.from_json({"format": "other"})


def test_a_tag_unseen_in_training_is_an_error_naming_the_line():
    vocab = TaggingVocab.fit(SENTENCES)
    with pytest.raises(DataError, match=r"dev\.conllu, line 9: tag 'ADJ' does not occur"):
        encode_sentences(vocab, [Sentence(("big",), ("ADJ",), 9)], "dev.conllu")


def test_collate_pads_words_characters_and_tags():
    vocab = TaggingVocab.fit(SENTENCES)
    batch = collate(encode_sentences(vocab, SENTENCES), tag_pad=-100)
    assert batch["lengths"].tolist() == [4, 3]
    assert batch["words"].shape == (2, 4) and batch["chars"].shape == (2, 4, 4)  # "runs"
    assert batch["words"][1, 3] == 0 and batch["tags"][1, 3] == -100
    assert batch["chars"][1, 2].tolist() == [vocab.chars[c] for c in "ran"] + [0]


def test_tokenisation_is_whitespace():
    assert tokenize("The  quick\tfox .") == ["The", "quick", "fox", "."]
    assert tokenize(["New York", "!"][1:]) == ["!"]
    with pytest.raises(UserError, match="list of non-empty strings without spaces"):
        tokenize(["New York"])


@pytest.mark.parametrize("crf", [False, True])
def test_tag_sentences_tags_like_the_model_after_a_weights_round_trip(tmp_path, crf):
    torch.manual_seed(0)
    vocab = TaggingVocab.fit(SENTENCES)
    config = TaggingModel(hidden_size=8, embedding_size=4, char_hidden_size=3, crf=crf)
    model = Tagger(len(vocab.words), len(vocab.chars), len(vocab.tags), config).eval()
    save_file(model.state_dict(), str(tmp_path / "model.safetensors"))
    vocab.save(tmp_path / "vocab.json")
    loaded = Tagger(len(vocab.words), len(vocab.chars), len(vocab.tags), config)
    loaded.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    loaded_vocab = TaggingVocab.load(tmp_path / "vocab.json")
    tagged = tag_sentences(loaded, loaded_vocab, ["The dog runs .", "", "the cat"])
    batch = collate(encode_sentences(vocab, SENTENCES[:1]))
    expected = model.decode(batch["words"], batch["chars"], batch["lengths"])[0].tolist()
    tokens = ["The", "dog", "runs", "."]
    assert tagged[0] == list(zip(tokens, vocab.decode_tags(expected), strict=True))
    assert tagged[1] == [] and [token for token, _ in tagged[2]] == ["the", "cat"]
    assert tag_sentences(loaded, loaded_vocab, "The dog runs .") == tagged[:1]
    assert tag_sentences(loaded, loaded_vocab, [tokens]) == tagged[:1]
    assert format_tagged(tagged[2]) == f"the/{tagged[2][0][1]} cat/{tagged[2][1][1]}"


def test_inference_imports_no_training_library():
    code = (
        "import sys, rnnkit.tasks.tagging.predictor\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('lightning', 'pytorch_lightning', 'optuna', 'seqeval', 'sklearn')]\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_config_sections_check_their_values():
    data = TaggingData(dataset="ud-english-ewt", tag_column="xpos")
    assert data.tag_column == "xpos" and TaggingData(dataset="x.txt", tag_column=2).tag_column == 2
    with pytest.raises(ValidationError, match="tag_column"):
        TaggingData(dataset="x", tag_column="lemma")
    with pytest.raises(ValidationError, match="char_encodr"):
        TaggingModel(char_encodr="cnn")
    assert TaggingModel().bidirectional and not TaggingModel().crf
