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


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_embeddings_stay_as_they_are_after_a_training_step(freeze):
    torch.manual_seed(0)
    config = TaggingModel(
        hidden_size=4,
        num_layers=1,
        embedding_size=3,
        char_encoder="none",
        pretrained_embeddings="w.vec",
        freeze_embeddings=freeze,
    )
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
