"""Bad data files given to training or inference: each is named in one line (exit 2)
before any heavy work, with the row, column, byte or value at fault, and no run
directory is left behind."""

from __future__ import annotations

import datetime
import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_contract import run_cli

from rnnkit.tasks import get_spec


def _train(tmp_path: Path, config: dict[str, Any], capsys, *overrides: str) -> str:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    line = run_cli(["train", tmp_path / "c.yaml", *overrides, "--run-dir", run], capsys)
    assert not run.exists()  # a run that fails on its data leaves nothing
    return line


# ----------------------------------------------------------------------------- encodings

CORPUS = "the cat sat on a mat and the dog ran to the big red house\n" * 100


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (CORPUS.encode("utf-16"), "it is UTF-16 text (it starts with a UTF-16 byte-order mark)"),
        (
            (CORPUS + "un caf\xe9\n").encode("latin-1"),
            f"byte 0xe9 at offset {len(CORPUS) + 6} is not UTF-8 (latin-1",
        ),
        (bytes(range(256)) * 40, "it holds NUL bytes (a binary file"),
    ],
    ids=["utf16", "latin1", "binary"],
)
def test_a_corpus_that_is_not_utf8_is_named(tmp_path: Path, capsys, data: bytes, message: str):
    config = get_spec("language_model").tiny_config(tmp_path)
    train_file = Path(config["data"]["dataset"]) / "train.txt"
    train_file.write_bytes(data)
    line = _train(tmp_path, config, capsys)
    assert f"{train_file} is not a UTF-8 corpus: {message}" in line


def test_a_validation_file_that_is_not_utf8_is_named(tmp_path: Path, capsys) -> None:
    config = get_spec("language_model").tiny_config(tmp_path)
    valid = Path(config["data"]["dataset"]) / "valid.txt"
    valid.write_bytes(b"the cat\n" * 10 + "caf\xe9\n".encode("latin-1"))
    line = _train(tmp_path, config, capsys)
    assert f"{valid} is not a UTF-8 corpus: byte 0xe9 at offset 83 is not UTF-8" in line


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("l1.txt", "tr\xe8s bon\n".encode("latin-1"), "byte 0xe8 at offset 2 is not UTF-8"),
        ("bin.txt", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "it holds NUL bytes"),
        ("u16.txt", "a fine film\n".encode("utf-16"), "it is UTF-16 text"),
        ("empty.csv", b"", "is empty: a CSV needs a header line and data rows"),
        ("header.csv", b"text\n", "has no data rows (columns: text)"),
        ("l1.csv", "text\ntr\xe8s bon\n".encode("latin-1"), "is not a UTF-8 CSV: byte 0xe8"),
    ],
)
def test_predict_file_that_cannot_be_read_is_named(
    run_copy, tmp_path: Path, capsys, name: str, data: bytes, message: str
) -> None:
    run = run_copy("classification")
    path = tmp_path / name
    path.write_bytes(data)
    line = run_cli(["predict", run, "--file", path], capsys)
    assert str(path) in line and message in line


def test_a_binary_file_given_as_csv_is_one_short_line(tmp_path: Path, capsys) -> None:
    config = get_spec("classification").tiny_config(tmp_path)
    # Random bytes without a NUL: pandas alone would quote pages of them back.
    noise = bytes(random.Random(1).choice(range(1, 256)) for _ in range(20_000))
    Path(config["data"]["dataset"]).write_bytes(noise)
    line = _train(tmp_path, config, capsys)
    assert config["data"]["dataset"] in line and len(line) < 400


# ----------------------------------------------------------------------------- classes


def test_a_csv_with_one_class_says_only_one_class(tmp_path: Path, capsys) -> None:
    config = get_spec("classification").tiny_config(tmp_path)
    rows = ["text,label"] + [f"good film {n},pos" for n in range(60)]
    Path(config["data"]["dataset"]).write_text("\n".join(rows) + "\n")
    line = _train(tmp_path, config, capsys)
    assert "the label column has only one class ('pos'); classification needs at least 2" in line


@pytest.mark.parametrize("empty_class", [False, True], ids=["one-folder", "one-with-files"])
def test_a_text_folder_with_one_class_says_only_one_class(
    tmp_path: Path, capsys, empty_class: bool
) -> None:
    folder = tmp_path / "texts"
    (folder / "pos").mkdir(parents=True)
    for n in range(30):
        (folder / "pos" / f"{n}.txt").write_text(f"a good film {n}")
    if empty_class:
        (folder / "neg").mkdir()  # a label folder without files is no class
    config = get_spec("classification").tiny_config(tmp_path)
    config["data"]["dataset"] = str(folder)
    line = _train(tmp_path, config, capsys)
    assert f"{folder} holds only one class" in line and "pos" in line
    assert "a classifier needs at least two" in line


# ----------------------------------------------------------------------------- numbers


def _series(folder: Path, rows: int = 120, *, minutes: bool = False, covariate: bool = False):
    """The forecasting fixture's series (days, or minutes), with a ``load`` covariate."""
    config = get_spec("forecasting").tiny_config(folder)
    lines = ["date,value,load" if covariate else "date,value"]
    start = datetime.datetime(2024, 1, 1)
    for n in range(rows):
        step = datetime.timedelta(minutes=n) if minutes else datetime.timedelta(days=n)
        stamp = (start + step).strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")
        value = f"{10 + 2 * math.sin(2 * math.pi * n / 7):.4f}"
        lines.append(f"{stamp},{value},1.0" if covariate else f"{stamp},{value}")
    if covariate:
        config["data"]["covariates"] = ["load"]
    return config, lines


def _write(config: dict[str, Any], lines: list[str]) -> Path:
    path = Path(config["data"]["dataset"])
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("column", "cell", "shown"),
    [("value", "inf", "inf"), ("value", "-inf", "-inf"), ("load", "1e39", "1e+39")],
)
def test_a_number_past_float32_is_named_with_its_row(
    tmp_path: Path, capsys, column: str, cell: str, shown: str
) -> None:
    config, lines = _series(tmp_path, covariate=True)
    stamp, value, load = lines[51].split(",")
    lines[51] = ",".join([stamp, cell, load] if column == "value" else [stamp, value, cell])
    path = _write(config, lines)
    line = _train(tmp_path, config, capsys)
    assert f"{path}: column {column!r}, row 51: {shown} is not a finite float32 number" in line


@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_an_infinite_learning_rate_is_a_config_error(tmp_path: Path, capsys, value: str) -> None:
    config, lines = _series(tmp_path)
    _write(config, lines)
    line = _train(tmp_path, config, capsys, f"train.optimizer.lr={value}")
    assert "config key 'train.optimizer.lr'" in line and "Input should be a finite number" in line


@pytest.mark.parametrize("typo", ["2204-01-01 02:30", "1024-01-01 02:30"])
def test_a_mistyped_year_in_a_minute_series_names_the_row(tmp_path: Path, capsys, typo: str):
    # Laid out minute by minute, 2024 to 2204 is 94.7 million rows (it ended in a crash).
    config, lines = _series(tmp_path, rows=300, minutes=True)
    lines[151] = f"{typo},{lines[151].split(',')[1]}"
    path = _write(config, lines)
    line = _train(tmp_path, config, capsys)
    assert f"{path}: the date in row 151, {typo}:00, lies" in line
    assert "whose step is 0 days 00:01:00" in line and "is that date mistyped?" in line


def test_a_given_frequency_too_fine_for_the_span_is_refused(tmp_path: Path, capsys) -> None:
    config, lines = _series(tmp_path)  # 120 days
    config["data"]["frequency"] = "s"  # 10 million seconds for 120 rows
    path = _write(config, lines)
    line = _train(tmp_path, config, capsys)
    assert f"{path}: from 2024-01-01 00:00:00 to 2024-04-29 00:00:00 at frequency 's'" in line
    assert "10,281,601 timestamps for 120 rows" in line
