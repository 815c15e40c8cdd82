"""Hand-edited or damaged run directory files: each is named in one line (exit 2), never
accepted silently, and the command writes nothing."""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_contract import run_cli, snapshot

from rnnkit import rundir


def _edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def _set(key: str, value: Any) -> Callable[[dict], dict]:
    def change(data: dict) -> dict:
        if value is KeyError:
            data.pop(key)
        else:
            data[key] = value
        return data

    return change


# ----------------------------------------------------------------------------- preprocess


PREDICT = ["predict", "{run}", "a fine film"]


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "vocab.json",
            _set("tokens", {"a": 1}),
            r"'tokens' must be a list of strings, not a JSON dict",
        ),
        (
            "vocab.json",
            _set("tokens", [0, 1, 2]),
            r"'tokens' must hold strings only, not '0' \(int\)",
        ),
        ("vocab.json", _set("specials", "<pad>"), r"'specials' must be a list of strings"),
        ("text_pipeline.json", _set("bogus", 1), r"unknown setting 'bogus'; valid: bpe_vocab_size"),
        ("text_pipeline.json", _set("cleaning", {"shout": True}), r"'cleaning' must map some of"),
        ("labels.json", _set("classes", "neg"), r"'classes' must be a list of class names"),
        ("labels.json", _set("classes", [1, 2]), r"'classes' must be a list of class names"),
        ("labels.json", _set("classes", KeyError), r"'classes' must be a list of class names"),
        (
            "labels.json",
            _set("classes", ["a", "a"]),
            r"at least two distinct classes, not \['a', 'a'\]",
        ),
        ("labels.json", _set("classes", ["pos", "neg"]), r"names the classes \['pos', 'neg'\]"),
        ("labels.json", lambda data: [], r"not an rnnkit label list"),
        ("info.json", _set("classes", ["neg"]), r"'classes' must list num_classes = 2 class names"),
    ],
)
def test_a_damaged_classifier_file_is_named(
    run_copy, capsys, name: str, change: Callable, message: str
) -> None:
    run = run_copy("classification")
    path = run / "preprocess" / name
    _edit_json(path, change)
    before = snapshot(run)
    line = run_cli([a.replace("{run}", str(run)) for a in PREDICT], capsys)
    assert str(path) in line
    assert re.search(message, line), line
    assert snapshot(run) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("scale", [0.0]), r"feature 0 has offset .* and scale 0.0; both must be finite"),
        (_set("scale", [float("nan")]), r"scale nan; both must be finite and the scale not zero"),
        (_set("offset", [float("inf")]), r"feature 0 has offset inf"),
        (_set("scale", [1.0, 2.0, 3.0]), r"'offset' has 1 values and 'scale' 3"),
        (_set("scale", KeyError), r"'scale' must be a list of numbers, one per feature, not None"),
        (_set("offset", ["a"]), r"'offset' must be a list of numbers"),
        (_set("type", "robust"), r"scaler type 'robust' is not one of standard, minmax, none"),
        (lambda d: {**d, "offset": d["offset"] * 2, "scale": d["scale"] * 2}, r"scales 2 features"),
    ],
)
def test_a_damaged_scaler_is_named_not_forecast_as_empty_cells(
    run_copy, capsys, change: Callable, message: str
) -> None:
    run = run_copy("forecasting")
    path = run / "preprocess" / "scaler.json"
    _edit_json(path, change)
    before = snapshot(run)
    line = run_cli(["forecast", run], capsys)
    assert str(path) in line and re.search(message, line), line
    assert snapshot(run) == before  # no forecast.csv with empty cells


def test_weights_of_another_hidden_size_name_the_tensor(run_copy, capsys) -> None:
    run = run_copy("forecasting")
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("hidden_size: 8", "hidden_size: 12"))
    line = run_cli(["forecast", run], capsys)
    assert f"{run / 'model.safetensors'} holds weights of another model" in line
    # An LSTM stacks its four gates: 4 * 8 rows saved, 4 * 12 in the edited config.
    assert "'recurrent.weight_ih_l0' is [32, 1] there but [48, 1]" in line


def test_a_config_with_the_task_swapped_is_named(run_copy, capsys) -> None:
    run = run_copy("forecasting")
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("task: forecasting", "task: classification"))
    line = run_cli(["forecast", run], capsys)
    assert f"{config}: unknown config key 'data.date_column'" in line
    assert "read by task forecasting, not this one" in line


# ----------------------------------------------------------------------------- checkpoints


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def _random(data: bytes) -> bytes:
    return random.Random(0).randbytes(5000)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"", r"last.ckpt is empty \(0 bytes\)"),
        (_truncated, r"last.ckpt cannot be read as a checkpoint \(\w+Error"),
        (_random, r"last.ckpt cannot be read as a checkpoint \(\w+Error"),
        (lambda data: b"hello world\n", r"last.ckpt cannot be read as a checkpoint"),
    ],
)
@pytest.mark.parametrize("extend", [False, True])
def test_a_damaged_checkpoint_on_resume_is_named(
    run_copy, capsys, damage: Callable, message: str, extend: bool
) -> None:
    run = run_copy("adding")
    ckpt = rundir.last_checkpoint(run)
    ckpt.write_bytes(damage(ckpt.read_bytes()))
    before = snapshot(run)
    argv = ["train", "--resume", run, *(["--max-epochs", "2"] if extend else [])]
    line = run_cli(argv, capsys)
    assert re.search(message, line), line
    assert "the file is damaged, so the run cannot be resumed" in line
    assert snapshot(run) == before


def test_a_checkpoint_from_another_model_is_named(run_copy, trained, capsys) -> None:
    run = run_copy("adding")
    ckpt = rundir.last_checkpoint(run)
    ckpt.write_bytes(rundir.last_checkpoint(trained["forecasting"]).read_bytes())
    line = run_cli(["train", "--resume", run, "--max-epochs", "2"], capsys)
    assert f"{ckpt} holds another model's weights" in line
    assert "'model.recurrent.weight_ih_l0' is [32, 1] there but [32, 2]" in line
    assert (run / "model.safetensors").read_bytes() == (
        trained["adding"] / "model.safetensors"
    ).read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"step,epoch\nabc,0\n", r"step 'abc' is not a whole number"),
        (bytes(range(256)) * 4, r"codec can't decode"),
    ],
)
def test_a_damaged_metrics_csv_on_resume_is_named(
    run_copy, capsys, content: bytes, message: str
) -> None:
    run = run_copy("adding")
    path = run / "csv" / "metrics.csv"
    path.write_bytes(content)
    line = run_cli(["train", "--resume", run, "--max-epochs", "2"], capsys)
    assert f"{path} is damaged" in line and re.search(message, line), line
    assert "move it away to resume" in line
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    ("content", "message"),
    [("{bad", r"is not valid JSON \(line 1\)"), ("[1]", r"holds a JSON list")],
)
def test_a_damaged_metrics_json_is_named_before_evaluating(
    run_copy, capsys, content: str, message: str
) -> None:
    run = run_copy("adding")
    (run / "metrics.json").write_text(content)
    before = snapshot(run)
    line = run_cli(["evaluate", run], capsys)
    assert str(run / "metrics.json") in line and re.search(message, line), line
    assert snapshot(run) == before


def test_an_error_line_is_cut_to_a_readable_length(run_copy, capsys) -> None:
    run = run_copy("classification")
    # A vocabulary entry 5,000 characters long, quoted by the message it causes.
    _edit_json(run / "preprocess" / "labels.json", _set("classes", ["x" * 5000, "y"]))
    line = run_cli(["predict", run, "a fine film"], capsys)
    assert line.endswith("more characters)") and len(line) < 700
    assert os.linesep not in line
