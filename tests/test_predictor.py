"""Predictor: loading a run from safetensors + JSON, and text generation."""

from __future__ import annotations

import html
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import rnnkit
from rnnkit.cli import app
from rnnkit.engine import api
from rnnkit.errors import UserError
from rnnkit.tasks.language_model.predictor import sample_token

LINES = ["the cat sat on the mat", "a dog ran to the cat", "the dog sat on a mat"] * 60


def _train(root: Path, tokenizer: str) -> Path:
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    config = {
        "name": f"gen-{tokenizer}",
        "task": "language_model",
        "data": {
            "dataset": str(corpus),
            "tokenizer": tokenizer,
            "cache_dir": str(root / "cache"),
            "batch_size": 4,
            "bptt": 10,
            "split": {"valid": 0.1, "test": 0.1},
        },
        "model": {"hidden_size": 24, "embedding_size": 12},
        "train": {"optimizer": {"name": "adam", "lr": 0.02}, "max_epochs": 3},
    }
    config["train"]["progress_bar"] = False
    return api.train(config, run_dir=root / "run")


@pytest.fixture(scope="module")
def word_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("word"), "whitespace")


@pytest.fixture(scope="module")
def char_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("char"), "char")


@pytest.mark.parametrize(("run", "length"), [("word_run", 100), ("char_run", 400)])
def test_a_run_writes_the_sample_generate_reproduces_and_the_report_shows(
    run: str, length: int, request: pytest.FixtureRequest
) -> None:
    run_dir = request.getfixturevalue(run)
    sample = (run_dir / "sample.txt").read_text(encoding="utf-8")
    predictor = rnnkit.load(run_dir)
    seed = predictor.config.seed
    assert sample == predictor.generate(length=length, seed=seed) + "\n"
    assert len(sample) > (length if run == "char_run" else 2 * length)
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Generated sample</h2>" in report
    assert f"rnnkit generate RUN_DIR --length {length} --seed {seed}" in report
    longest_line = max(sample.splitlines(), key=len)
    assert len(longest_line) > 10 and html.escape(longest_line) in report


def test_same_seed_same_text(word_run: Path) -> None:
    predictor = rnnkit.load(word_run)
    first = predictor.generate("the", length=30, seed=7)
    assert predictor.generate("the", length=30, seed=7) == first
    others = {predictor.generate("the", length=30, seed=s) for s in range(8, 12)}
    assert others != {first}


def test_greedy_is_the_argmax_chain(word_run: Path) -> None:
    predictor = rnnkit.load(word_run)
    pipeline = predictor.text_pipeline()
    ids = pipeline.encode("the cat")
    model = predictor.model
    with torch.no_grad():
        logits, state = model(torch.tensor(ids).view(-1, 1))
        expected = []
        for _ in range(12):
            token = int(logits[-1, 0].argmax())
            expected.append(token)
            logits, state = model(torch.tensor([[token]]), state)
    text = predictor.generate("the cat", length=12, temperature=0)
    assert text == "the cat " + pipeline.decode(expected) or text == "the cat" + pipeline.decode(
        expected
    )
    assert text == predictor.generate("the cat", length=12, temperature=0, seed=99)


def test_word_model_writes_lines_of_words(word_run: Path) -> None:
    text = rnnkit.load(word_run).generate(length=60, temperature=0.5, seed=1)
    lines = [line for line in text.split("\n") if line]
    assert len(lines) >= 3  # <eos> became new lines
    vocabulary = {"the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "<unk>"}
    assert set(" ".join(lines).split()) <= vocabulary


def test_unknown_prompt_words_become_unk(word_run: Path) -> None:
    predictor = rnnkit.load(word_run)
    vocab = predictor.text_pipeline().vocab
    assert predictor.text_pipeline().encode("zebra") == [vocab.unk_id]
    continuation = predictor.generate("zebra", length=8, temperature=0)
    assert continuation.startswith("zebra")
    assert continuation[5:] == predictor.generate("<unk>", length=8, temperature=0)[5:]


def test_char_model_emits_characters(char_run: Path) -> None:
    predictor = rnnkit.load(char_run)
    text = predictor.generate("the c", length=40, temperature=0)
    assert text.startswith("the c")
    assert len(text) == 45
    assert set(text) <= set("".join(LINES) + "\n")


def test_loading_never_unpickles(word_run: Path, tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(word_run, copy)
    shutil.rmtree(copy / "checkpoints")

    def refuse(*args, **kwargs):
        raise AssertionError("inference unpickled something")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert rnnkit.load(copy).generate("the", length=5, seed=0)


def test_sample_token_filters() -> None:
    logits = torch.tensor([0.0, 1.0, 2.0, 3.0])
    generator = torch.Generator().manual_seed(0)
    assert sample_token(logits, 0.0, None, None, generator) == 3
    drawn = {sample_token(logits, 1.0, 2, None, generator) for _ in range(200)}
    assert drawn == {2, 3}
    # p(3) = 0.64 < 0.9, p(3) + p(2) = 0.88 < 0.9, so top_p=0.9 keeps three tokens.
    drawn = {sample_token(logits, 1.0, None, 0.9, generator) for _ in range(300)}
    assert drawn == {1, 2, 3}
    assert {sample_token(logits, 1.0, None, 0.5, generator) for _ in range(50)} == {3}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"length": -1}, "length=-1 is negative"),
        ({"temperature": -0.5}, "temperature=-0.5 is negative"),
        ({"top_k": 0}, "top_k=0 must be at least 1"),
        ({"top_p": 1.5}, r"top_p=1\.5 must be in \(0, 1\]"),
    ],
)
def test_bad_sampling_options(word_run: Path, options: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        rnnkit.load(word_run).generate("the", **options)


def test_load_names_a_missing_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        rnnkit.load(tmp_path / "nowhere")


def test_cli_generate_and_evaluate(word_run: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["generate", str(word_run), "--prompt", "the", "--length", "5", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == rnnkit.load(word_run).generate("the", length=5, seed=3)
    result = runner.invoke(app, ["evaluate", str(word_run), "--split", "test"])
    assert result.exit_code == 0, result.output
    assert "perplexity" in result.output and "unigram" in result.output
