"""The machine's limits: read-only folders, a full disk, memory a setting asks for, dates
past the calendar. Each is one line naming the folder or the setting, exit 2, and
nothing half-written."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import yaml
from cli_contract import run_cli, snapshot

from rnnkit import rundir
from rnnkit.tasks import get_spec

# ----------------------------------------------------------------------------- read-only


@pytest.mark.parametrize(
    ("task", "argv", "names"),
    [
        ("adding", ["evaluate", "{run}"], "evaluate writes metrics.json"),
        ("adding", ["report", "{run}"], "report writes report.html"),
        ("adding", ["export", "{run}", "--format", "torchscript"], "export writes the model"),
        ("forecasting", ["forecast", "{run}"], "forecast writes forecast.csv"),
        ("adding", ["diagnose", "{run}"], "diagnose writes diagnostics.json"),
        ("adding", ["train", "--resume", "{run}", "--max-epochs", "2"], "a resumed run writes"),
    ],
)
def test_a_read_only_run_directory_is_named_before_any_work(
    run_copy, read_only, capsys, task: str, argv: list[str], names: str
) -> None:
    run = run_copy(task)
    before = snapshot(run)
    read_only(run)
    line = run_cli([a.replace("{run}", str(run)) for a in argv], capsys)
    assert f"{run} is not writable (permission denied)" in line or (
        # export checks its own folder, which does not exist yet: the run is its parent
        f"{run}/export" in line
    )
    assert names in line
    assert snapshot(run) == before


def test_a_read_only_parent_of_a_new_run_directory(tmp_path: Path, read_only, capsys) -> None:
    config = get_spec("adding").tiny_config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    parent = tmp_path / "runs"
    parent.mkdir()
    read_only(parent)
    line = run_cli(["train", tmp_path / "c.yaml", "--run-dir", parent / "new"], capsys)
    assert f"{parent} is not writable" in line and "choose another --run-dir" in line
    assert list(parent.iterdir()) == []


def test_a_run_directory_below_a_file(tmp_path: Path, capsys) -> None:
    # Works the same as root: no permission bits involved.
    config = get_spec("adding").tiny_config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "plain").write_text("x")
    line = run_cli(["train", tmp_path / "c.yaml", "--run-dir", tmp_path / "plain" / "run"], capsys)
    assert f"{tmp_path / 'plain'} is a file, not a folder" in line
    assert (tmp_path / "plain").read_text() == "x"


def test_a_read_only_cache_when_training_tokenizes_a_corpus(
    tmp_path: Path, read_only, capsys, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    read_only(cache)
    monkeypatch.setenv("RNNKIT_CACHE", str(cache))
    config = get_spec("language_model").tiny_config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    line = run_cli(["train", tmp_path / "c.yaml", "--run-dir", tmp_path / "run"], capsys)
    assert line.startswith("error: permission denied: ") and str(cache) in line
    assert "make it writable" in line
    assert not (tmp_path / "run").exists() and list(cache.iterdir()) == []


# ----------------------------------------------------------------------------- full disk


def _disk_fills_on_checkpoint(monkeypatch) -> None:
    """Lightning's checkpoint write gets half its bytes out, then the disk is full."""
    from lightning.fabric.plugins.io import torch_io

    def full_disk(checkpoint, filepath) -> None:
        Path(filepath).write_bytes(b"PK\x03\x04" + b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

    monkeypatch.setattr(torch_io, "_atomic_save", full_disk)


def test_a_full_disk_while_saving_the_first_checkpoint(tmp_path: Path, capsys, monkeypatch):
    config = get_spec("adding").tiny_config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    _disk_fills_on_checkpoint(monkeypatch)
    line = run_cli(["train", tmp_path / "c.yaml", "--run-dir", tmp_path / "run"], capsys)
    assert "saving the checkpoint failed: no space left on the device" in line
    assert "last.ckpt.tmp" in line and "no checkpoint was saved" in line
    assert not (tmp_path / "run").exists()  # a run with no checkpoint leaves nothing


def test_a_full_disk_on_resume_keeps_the_last_checkpoint(run_copy, capsys, monkeypatch) -> None:
    run = run_copy("adding")
    ckpt = rundir.last_checkpoint(run)
    before = ckpt.read_bytes()
    _disk_fills_on_checkpoint(monkeypatch)
    line = run_cli(["train", "--resume", run, "--max-epochs", "2"], capsys)
    assert f"the previous checkpoint is kept ({ckpt})" in line
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last.ckpt"]


# ----------------------------------------------------------------------------- memory


def _edit_info(run: Path, **values) -> Path:
    path = run / "preprocess" / "info.json"
    info = rundir.read_json(path, dict)
    info.update(values)
    rundir.write_json(path, info)
    return path


@pytest.mark.parametrize(
    ("task", "argv"),
    [
        ("classification", ["predict", "{run}", "a fine film"]),
        ("language_model", ["generate", "{run}", "--length", "3"]),
    ],
)
def test_an_absurd_vocabulary_in_info_json_is_refused_with_the_numbers(
    run_copy, capsys, task: str, argv: list[str]
) -> None:
    run = run_copy(task)
    info = _edit_info(run, vocab_size=10**12)
    line = run_cli([a.replace("{run}", str(run)) for a in argv], capsys)
    # 10^12 rows of 8 floats: 3.2e13 bytes at the least.
    assert "parameters and needs about" in line and "TB for its weights" in line
    assert "of memory available" in line
    assert f"vocab_size=1000000000000 in {info}" in line


def test_a_huge_hidden_size_names_the_key(tmp_path: Path, capsys) -> None:
    config = get_spec("forecasting").tiny_config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    line = run_cli(
        ["train", tmp_path / "c.yaml", "model.hidden_size=1000000000", "--run-dir", run], capsys
    )
    assert "too large for any memory" in line and "model.hidden_size=1000000000" in line
    assert not run.exists()


def test_a_hidden_size_beyond_this_machine_says_how_much(tmp_path: Path, capsys) -> None:
    from rnnkit.resources import available_memory

    config = get_spec("forecasting").tiny_config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    # An LSTM of hidden size H has about 4 H^2 weights (16 H^2 bytes), four copies to train.
    hidden = int((available_memory() / 64) ** 0.5 * 2)
    line = run_cli(
        ["train", tmp_path / "c.yaml", f"model.hidden_size={hidden}", "--run-dir", tmp_path / "r"],
        capsys,
    )
    assert "to train (weights, gradients and optimizer state)" in line
    assert f"model.hidden_size={hidden}" in line and "recurrent.weight_hh_l0" in line


def test_one_huge_review_without_max_length_is_refused(tmp_path: Path, capsys, monkeypatch):
    import rnnkit.resources

    # As on a machine with 64 MB free: a 200,000-word review in a batch of 16 would need
    # 16 * 200,000 * (8 + 8 * 8) floats, 921.6 MB.
    monkeypatch.setattr(rnnkit.resources, "available_memory", lambda: 64 * 10**6)
    config = get_spec("classification").tiny_config(tmp_path)
    texts = tmp_path / "texts.csv"
    texts.write_text(texts.read_text() + " ".join(["fine"] * 200_000) + ",pos\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    line = run_cli(["train", tmp_path / "c.yaml", "--run-dir", tmp_path / "run"], capsys)
    assert "the longest text (200,000 tokens" in line
    assert "in a batch of 16 it asks for about 921.6 MB" in line
    assert "more than the 64.0 MB of memory available" in line
    assert "set data.max_length" in line
    assert not (tmp_path / "run").exists()
    # With the cut it asks, the same data trains.
    config["data"]["max_length"] = 512
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    from rnnkit.engine.api import train

    assert (train(config, run_dir=tmp_path / "run2") / "model.safetensors").is_file()


# ----------------------------------------------------------------------------- calendar


def test_a_horizon_past_the_year_9999_is_refused_before_forecasting(run_copy, capsys) -> None:
    import pandas as pd

    run = run_copy("forecasting-recursive")
    before = snapshot(run)
    line = run_cli(["forecast", run, "--horizon", "3000000"], capsys)
    last = pd.Timestamp(rundir.read_json(run / "preprocess" / "history.json")["index"][-1])
    fits = (pd.Timestamp("9999-12-31") - last).days
    assert f"horizon=3000000 steps of 'D' after {last} would go past the year 9999" in line
    assert f"use a horizon of at most {fits}" in line
    assert snapshot(run) == before


def test_forecast_output_naming_a_folder(run_copy, tmp_path: Path, capsys) -> None:
    run = run_copy("forecasting")
    folder = tmp_path / "out"
    folder.mkdir()
    line = run_cli(["forecast", run, "--output", folder], capsys)
    assert f"--output {folder} is a folder" in line and "forecast.csv" in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(("frequency", "fits"), [("MS", 95999), ("W-SUN", None), ("D", None)])
def test_future_dates_stop_at_the_year_9999(frequency: str, fits: int | None) -> None:
    import pandas as pd

    from rnnkit.errors import DataError
    from rnnkit.tasks.forecasting.inference import future_dates

    # 100,000 months from 2000 is the year 10333; 100,000 weeks or days stay in range.
    start = pd.Timestamp("2000-01-01")
    if fits is None:
        dates = future_dates(start, 100_000, frequency)
        assert len(dates) == 100_000 and dates[-1].year <= 9999
        return
    with pytest.raises(DataError, match=rf"use a horizon of at most {fits}$"):
        future_dates(start, 100_000, frequency)
    # 95,999 months after January 2000 is December 9999: the largest that fits.
    assert future_dates(start, fits, frequency)[-1] == pd.Timestamp("9999-12-01")
