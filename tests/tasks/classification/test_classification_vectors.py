"""A text classifier whose embedding starts from a pretrained vectors file."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import rnnkit
from rnnkit.data.text import Vocab
from rnnkit.errors import ConfigError
from rnnkit.rundir import PREPROCESS_DIR
from rnnkit.tasks.classification.fixture import tiny_config

# "Great" meets the fixture's "great" in lower case; "superb" never occurs in its texts.
VECTORS = {
    "film": [1] * 8,
    "Great": [0.5] * 8,
    "dull": [-1, 2, -3, 4, -5, 6, -7, 8],
    "superb": [2] * 8,
}


def _write_vectors(path):
    rows = [f"{word} {' '.join(str(v) for v in values)}" for word, values in VECTORS.items()]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")  # GloVe: no header
    return path


def test_frozen_vectors_extend_the_vocabulary_and_inference_needs_no_file(tmp_path):
    vectors = _write_vectors(tmp_path / "glove.txt")
    config = tiny_config(tmp_path)
    config["model"].update(pretrained_embeddings=str(vectors), freeze_embeddings=True)
    run_dir = rnnkit.train(config, run_dir=tmp_path / "run")
    vocab = Vocab.load(run_dir / PREPROCESS_DIR / "vocab.json")
    assert vocab.itos[-2:] == ["Great", "superb"]  # after the training words
    weight = load_file(run_dir / "model.safetensors")["inputs.weight"]
    for word, token in [("film", "film"), ("dull", "dull"), ("great", "Great")]:
        assert torch.equal(weight[vocab[word]], torch.tensor(VECTORS[token], dtype=torch.float))
    summary = json.loads((run_dir / PREPROCESS_DIR / "pretrained_embeddings.json").read_text())
    assert (summary["found"], summary["found_lowercased"], summary["added_to_vocabulary"]) == (
        5,
        1,
        2,
    )
    vectors.unlink()
    (prediction,) = rnnkit.load(run_dir).predict(["a superb film"])
    assert prediction["label"] in ("neg", "pos")


def test_vectors_need_word_tokens(tmp_path):
    config = tiny_config(tmp_path)
    config["data"]["tokenizer"] = "char"
    config["model"]["pretrained_embeddings"] = str(_write_vectors(tmp_path / "glove.txt"))
    with pytest.raises(ConfigError, match=r"data\.tokenizer = 'char' makes char tokens"):
        rnnkit.train(config, run_dir=tmp_path / "run")
