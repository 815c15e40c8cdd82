"""`rnnkit tag` on a tiny trained run; bad CoNLL input is one line and exit 2."""

from __future__ import annotations

import json

import pytest

import rnnkit
from rnnkit import cli
from rnnkit.engine.api import train as train_run
from rnnkit.tasks.tagging.fixture import tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagging")
    return train_run(tiny_config(folder), run_dir=folder / "run")


def test_tag_prints_token_tag_pairs_per_sentence(run_dir, tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Ben visited Oslo .\nCleo\n", encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        cli.main(["tag", str(run_dir), "Anna visited New York .", "--file", str(sentences)])
    assert done.value.code in (0, None)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    expected = rnnkit.load(run_dir).tag(["Anna visited New York .", "Ben visited Oslo .", "Cleo"])
    assert lines == [" ".join(f"{w}/{t}" for w, t in pairs) for pairs in expected]
    tags = {tag for pairs in expected for _, tag in pairs}
    assert tags <= {"B-PER", "B-LOC", "I-LOC", "O"}


def test_tag_without_sentences_or_with_a_missing_file_is_exit_2(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["tag", str(run_dir)])
    assert done.value.code == 2
    assert "give sentences to tag" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        cli.main(["tag", str(run_dir), "--file", str(tmp_path / "none.txt")])
    assert done.value.code == 2
    assert "none.txt: no such file" in capsys.readouterr().err


def test_a_ragged_conll_file_stops_training_with_one_line_naming_file_and_line(tmp_path, capsys):
    config = tiny_config(tmp_path)
    train = tmp_path / "ner" / "train.txt"
    lines = train.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1] + " extra"  # "visited O extra"
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        cli.main(["train", str(path), "--run-dir", str(tmp_path / "run")])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "train.txt, line 2: 3 columns where the file's first token line has 2" in err[0]


def test_unknown_tag_column_key_and_value_are_config_errors(tmp_path, capsys):
    config = tiny_config(tmp_path)
    config["data"]["tag_colum"] = 1
    from rnnkit.errors import ConfigError
    from rnnkit.tasks import load_config

    with pytest.raises(ConfigError, match=r"did you mean 'data\.tag_column'"):
        load_config(config)
    del config["data"]["tag_colum"]
    config["data"]["tag_column"] = "lemma"
    with pytest.raises(ConfigError, match=r"data\.tag_column"):
        load_config(config)
    config["data"]["tag_column"] = 5
    with pytest.raises(
        ConfigError, match=r"train\.txt, line 1: data\.tag_column=5 is out of range"
    ):
        from rnnkit.tasks.tagging.prepare import load_sentences

        load_sentences(load_config(config).data)


def test_report_shows_the_most_confused_tags(run_dir):
    from rnnkit.tasks.tagging.report import sections

    tags = json.loads((run_dir / "test_tags.json").read_text())
    assert set(tags) == {"most_confused", "per_tag"}
    titles = [title for title, _ in sections(run_dir, {})]
    assert titles == ["Most confused tags", "Per-tag scores"]
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Most confused tags" in report and "B-PER" in report
