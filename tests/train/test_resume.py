"""Checkpoints and resume: SIGKILL then --resume ends where an uninterrupted run does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from rnnkit.train import api
from rnnkit.train.checkpoint import last_checkpoint


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("RNNKIT_DISTRIBUTED_RUN_DIR", None)
    return env


def _start_training(config_path: Path, run_dir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "rnnkit.cli", "train", str(config_path)]
    return subprocess.Popen(
        [*command, "--run-dir", str(run_dir)],
        env=_subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"training ended before {path.name}: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {path} after {timeout} s")
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(make_config, tmp_path: Path) -> None:
    raw = make_config(max_epochs=3, checkpoint_every_n_steps=7, deterministic=True)
    raw["model"]["output_dropout"] = 0.2  # the random stream must resume too
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(raw))

    reference = api.train(config_path, run_dir=tmp_path / "reference")

    run_dir = tmp_path / "killed"
    process = _start_training(config_path, run_dir)
    checkpoint = last_checkpoint(run_dir)
    _wait_for(checkpoint, process)
    # Let it train on past the first checkpoint, into the second epoch.
    first = checkpoint.stat().st_mtime_ns
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        saved = torch.load(checkpoint, weights_only=False)
        if saved["epoch"] >= 1 and checkpoint.stat().st_mtime_ns != first:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists(), "the run finished before it was killed"
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["global_step"] > 0

    api.resume(run_dir)
    resumed = json.loads((run_dir / "metrics.json").read_text())
    uninterrupted = json.loads((reference / "metrics.json").read_text())
    assert resumed == uninterrupted
    # The CSV log holds the whole run: what was logged before the kill, then the rest.
    assert _logged_rows(run_dir) == _logged_rows(reference)


def _logged_rows(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv's rows, in order, with their columns (which ones exist may differ)."""
    import csv

    with (run_dir / "csv" / "metrics.csv").open(newline="") as file:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(file)]


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(make_config, tmp_path: Path) -> None:
    raw = make_config(max_epochs=50, checkpoint_every_n_steps=1000)
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    run_dir = tmp_path / "run"
    process = _start_training(config_path, run_dir)
    _wait_for(run_dir / "csv" / "metrics.csv", process)  # training has started
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "rnnkit train --resume" in stderr
    assert "Traceback" not in stderr
    saved = torch.load(last_checkpoint(run_dir), weights_only=False)
    assert 0 < saved["epoch"] < 50 or saved["global_step"] > 0
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.slow
def test_a_finished_run_extended_with_max_epochs_matches_a_longer_run(
    make_config, tmp_path: Path
) -> None:
    raw = make_config(max_epochs=3, deterministic=True)
    raw["model"]["output_dropout"] = 0.2
    reference = api.train(raw, run_dir=tmp_path / "reference")

    raw["train"]["max_epochs"] = 1
    run_dir = api.train(raw, run_dir=tmp_path / "short")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api.resume(run_dir, max_epochs=3)
    assert not [w for w in caught if "will be deleted" in str(w.message)]
    extended = json.loads((run_dir / "metrics.json").read_text())
    assert extended == json.loads((reference / "metrics.json").read_text())
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["max_epochs"] == 3
    assert _logged_rows(run_dir) == _logged_rows(reference)
