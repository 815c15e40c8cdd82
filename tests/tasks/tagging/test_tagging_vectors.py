"""A tagger whose word embedding starts from a pretrained vectors file."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import rnnkit
from rnnkit.engine.api import resume
from rnnkit.errors import ConfigError, DataError
from rnnkit.rundir import PREPROCESS_DIR
from rnnkit.tasks.tagging.config import TaggingModel
from rnnkit.tasks.tagging.encoding import TaggingVocab
from rnnkit.tasks.tagging.fixture import tiny_config
from rnnkit.tasks.tagging.model import Tagger

# 8 dimensions, as the fixture's embedding; "anna" meets "Anna" in lower case only,
# "Berlin" and "Madrid" never occur in the fixture's sentences.
VECTORS = {
    "Paris": [0.5, -0.25, 1, 2, 3, 4, 5, 6],
    "visited": [1] * 8,
    "anna": [-2] * 8,
    "Berlin": [0.125] * 8,
    "Madrid": [3] * 8,
}


def _write_vectors(path):
    rows = [f"{word} {' '.join(str(v) for v in values)}" for word, values in VECTORS.items()]
    path.write_text(f"{len(rows)} 8\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _small_model(**options) -> TaggingModel:
    """A word-only tagger (no characters) over 3-dimensional vectors."""
    return TaggingModel(
        hidden_size=4,
        num_layers=1,
        embedding_size=3,
        char_encoder="none",
        pretrained_embeddings="w.vec",
        **options,
    )


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_embeddings_stay_as_they_are_after_a_training_step(freeze):
    torch.manual_seed(0)
    config = _small_model(freeze_embeddings=freeze)
    tagger = Tagger(num_words=6, num_chars=3, num_tags=2, config=config)
    before = tagger.words.weight.detach().clone()
    optimizer = torch.optim.Adam(tagger.parameters(), lr=0.1)
    words = torch.tensor([[2, 3, 4], [5, 2, 0]])
    tagger.loss(
        words, words[..., None], torch.tensor([3, 2]), torch.tensor([[0, 1, 0], [1, 1, 0]])
    ).backward()
    optimizer.step()
    assert torch.equal(tagger.words.weight, before) is freeze
    assert tagger.words.weight.requires_grad is not freeze


def test_a_run_loads_the_vectors_extends_the_vocabulary_and_needs_the_file_only_once(tmp_path):
    vectors = _write_vectors(tmp_path / "w.vec")
    config = tiny_config(tmp_path)
    config["model"].update(pretrained_embeddings=str(vectors), freeze_embeddings=True)
    run_dir = rnnkit.train(config, run_dir=tmp_path / "run")

    vocab = TaggingVocab.load(run_dir / PREPROCESS_DIR / "vocab.json")
    assert vocab.words.itos[-3:] == ["anna", "Berlin", "Madrid"]  # after the training words
    weight = load_file(run_dir / "model.safetensors")["words.weight"]
    for word, token in [("Paris", "Paris"), ("visited", "visited"), ("Anna", "anna")]:
        assert torch.equal(weight[vocab.words[word]], torch.tensor(VECTORS[token]))  # frozen
    assert torch.equal(weight[vocab.words["Madrid"]], torch.tensor(VECTORS["Madrid"]))
    summary = json.loads((run_dir / PREPROCESS_DIR / "pretrained_embeddings.json").read_text())
    assert summary["added_to_vocabulary"] == 3 and summary["found_lowercased"] == 1
    assert summary["found"] == 6 and summary["dim"] == 8

    vectors.unlink()  # inference and a resumed run read the saved vocabulary and weights
    tagged = rnnkit.load(run_dir).tag(["Anna visited Madrid ."])[0]
    assert [token for token, _ in tagged] == ["Anna", "visited", "Madrid", "."]
    assert {tag for _, tag in tagged} <= set(vocab.tags)
    resume(run_dir, max_epochs=2)
    assert torch.equal(load_file(run_dir / "model.safetensors")["words.weight"], weight)


def test_a_run_names_a_missing_file_and_a_dimension_mismatch(tmp_path):
    config = tiny_config(tmp_path)
    config["model"]["pretrained_embeddings"] = str(tmp_path / "none.vec")
    with pytest.raises(DataError, match=r"none\.vec does not exist"):
        rnnkit.train(config, run_dir=tmp_path / "run")
    config["model"].update(pretrained_embeddings=str(_write_vectors(tmp_path / "w.vec")))
    config["model"]["embedding_size"] = 16
    with pytest.raises(ConfigError, match=r"embedding_size=16 but .* 8-dimensional"):
        rnnkit.train(config, run_dir=tmp_path / "run")


def test_the_trained_table_covers_training_words_and_file_words_read_its_unk_row():
    torch.manual_seed(0)
    config = _small_model(freeze_embeddings=True, trained_embedding_size=2)
    # ids 0-3: pad, <unk> and two training words; 4-5: words from the vectors file
    tagger = Tagger(num_words=6, num_chars=3, num_tags=2, config=config, num_training_words=4)
    assert tuple(tagger.trained_words.weight.shape) == (4, 2)
    assert not tagger.trained_words.weight.any()  # zero: the vectors alone at the start
    optimizer = torch.optim.Adam(tagger.parameters(), lr=0.1)
    words = torch.tensor([[2, 3, 4], [5, 2, 0]])
    lengths, tags = torch.tensor([3, 2]), torch.tensor([[0, 1, 0], [1, 1, 0]])
    tagger.loss(words, words[..., None], lengths, tags).backward()
    grad = tagger.trained_words.weight.grad
    assert grad[2:4].abs().sum(1).gt(0).all()  # the training words learn
    assert grad[1].abs().sum() > 0  # file words 4 and 5 looked up <unk>
    assert not grad[0].any()  # padding never
    optimizer.step()
    # Saved weights round-trip through a fresh model; file words still read row 1.
    clone = Tagger(num_words=6, num_chars=3, num_tags=2, config=config, num_training_words=4)
    clone.load_state_dict(tagger.state_dict())
    captured = []
    clone.trained_words.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    clone.eval()
    clone(torch.tensor([[2, 5, 4]]), torch.zeros(1, 3, 1, dtype=torch.long), torch.tensor([3]))
    assert captured[0].tolist() == [[2, 1, 1]]


def test_a_run_with_a_trained_table_saves_it_for_the_training_words_only(tmp_path):
    vectors = _write_vectors(tmp_path / "w.vec")
    config = tiny_config(tmp_path)
    config["model"].update(
        pretrained_embeddings=str(vectors), freeze_embeddings=True, trained_embedding_size=5
    )
    run_dir = rnnkit.train(config, run_dir=tmp_path / "run")
    vocab = TaggingVocab.load(run_dir / PREPROCESS_DIR / "vocab.json")
    assert vocab.num_training_words == len(vocab.words) - 3  # anna, Berlin, Madrid added
    weights = load_file(run_dir / "model.safetensors")
    assert tuple(weights["trained_words.weight"].shape) == (vocab.num_training_words, 5)
    assert weights["trained_words.weight"][vocab.words["Paris"]].any()  # it trained
    info = json.loads((run_dir / PREPROCESS_DIR / "info.json").read_text())
    assert info["num_training_words"] == vocab.num_training_words
    tagged = rnnkit.load(run_dir).tag(["Anna visited Madrid ."])[0]
    assert [token for token, _ in tagged] == ["Anna", "visited", "Madrid", "."]


def test_a_trained_table_without_vectors_is_refused_in_one_line(tmp_path):
    config = tiny_config(tmp_path)
    config["model"]["trained_embedding_size"] = 5
    with pytest.raises(ConfigError, match=r"trained_embedding_size=5 .* set pretrained_embeddings"):
        rnnkit.train(config, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
