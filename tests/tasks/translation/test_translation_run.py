"""A translation run end to end: metrics.json, files, report, rnnkit.load and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rnnkit
from rnnkit import cli
from rnnkit.engine.api import train
from rnnkit.tasks.translation.fixture import tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("translation")
    config = tiny_config(folder)
    config["train"]["max_epochs"] = 2
    return train(config, run_dir=folder / "run")


def run_cli(capsys, *arguments: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(arguments))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_run_writes_metrics_signatures_translations_and_heatmaps(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("val", "test"):
        assert {"bleu", "chrf", "exact_match", "loss", "perplexity"} <= set(metrics[split])
        assert metrics["sacrebleu"][split]["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
        lines = (run_dir / f"translations_{split}.txt").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3
    assert set(metrics["baselines"]) == {"copy_source", "word_dictionary"}
    heatmaps = sorted(p.name for p in run_dir.glob("attention_*.png"))
    assert heatmaps == ["attention_1.png", "attention_2.png", "attention_3.png"]
    assert "attention_1.png" in (run_dir / "report.html").read_text(encoding="utf-8")
    for side in ("source", "target"):
        assert (run_dir / "preprocess" / side / "vocab.json").is_file()


def test_load_translates_reproducibly(run_dir: Path) -> None:
    predictor = rnnkit.load(run_dir)
    first = predictor.translate(["eins zwei", "drei vier"], beam_size=2)
    assert len(first) == 2 and all(isinstance(t, str) for t in first)
    assert rnnkit.load(run_dir).translate(["eins zwei", "drei vier"], beam_size=2) == first
    assert predictor.translate("eins zwei", beam_size=2) == first[:1]


def test_cli_translates_arguments_and_file_lines(run_dir: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "translate", str(run_dir), "eins zwei", "drei vier")
    assert code == 0
    assert out.splitlines() == rnnkit.load(run_dir).translate(["eins zwei", "drei vier"])
    source = tmp_path / "in.txt"
    source.write_text("fünf eins\nzwei drei\n", encoding="utf-8")
    code, out, _ = run_cli(
        capsys, "translate", str(run_dir), "--file", str(source), "--beam-size", "1"
    )
    assert code == 0
    expected = rnnkit.load(run_dir).translate(["fünf eins", "zwei drei"], beam_size=1)
    assert out.splitlines() == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["eins", "--beam-size", "0"], "error: beam size 0 is not valid: use 1 (greedy) or more\n"),
        (["eins", "  "], "error: source sentence 2 is empty ('  '); give one sentence per line\n"),
        (["--file", "missing.txt"], "error: input file not found: missing.txt\n"),
        ([], "error: no sentences to translate: give them as arguments or --file FILE\n"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(run_dir, capsys, arguments, message) -> None:
    code, out, err = run_cli(capsys, "translate", str(run_dir), *arguments)
    assert (code, out, err) == (2, "", message)


def test_other_tasks_runs_are_refused_by_translate(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "translate", str(tmp_path / "nowhere"), "eins")
    assert code == 2 and err.startswith("error: run directory") and err.count("\n") == 1
