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

import lightning as L
import pytest
import torch
import yaml

from rnnkit.engine import api
from rnnkit.errors import ConfigError
from rnnkit.rundir import last_checkpoint


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


class _Crash(Exception):
    pass


class _CrashAt(L.Callback):
    """Raises in ``hook`` at ``global_step``: a run that dies at a chosen point."""

    def __init__(self, hook: str, global_step: int) -> None:
        self.hook, self.global_step = hook, global_step

    def _maybe_crash(self, trainer: L.Trainer, hook: str) -> None:
        if hook == self.hook and trainer.global_step == self.global_step:
            raise _Crash(f"{hook} at step {self.global_step}")

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        self._maybe_crash(trainer, "on_train_batch_start")

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        self._maybe_crash(trainer, "on_train_batch_end")


# An epoch here is 98 steps; the checkpoint comes every 7 and a log row every 5.
@pytest.mark.parametrize(
    ("hook", "global_step"),
    [
        # After the checkpoint at step 119, before the batch that writes the row of step
        # 119: the resumed run must write it (it once held the loss of an earlier batch
        # in memory only, and the row was lost).
        ("on_train_batch_start", 119),
        # After an epoch's last batch, before its validation: no checkpoint may be taken
        # there, or the resumed run would skip that validation and its log rows.
        ("on_train_batch_end", 98),
    ],
)
def test_a_run_that_dies_at_a_step_boundary_resumes_with_the_same_log(
    make_config, tmp_path: Path, hook: str, global_step: int
) -> None:
    raw = make_config(max_epochs=2, checkpoint_every_n_steps=7, deterministic=True)
    reference = api.train(raw, run_dir=tmp_path / "reference")
    run_dir = tmp_path / "crashed"
    with pytest.raises(_Crash):
        api.train(raw, run_dir=run_dir, callbacks=[_CrashAt(hook, global_step)])
    api.resume(run_dir)
    assert _logged_rows(run_dir) == _logged_rows(reference)
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed == json.loads((reference / "metrics.json").read_text())


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


class _CtrlCAt(L.Callback):
    """Presses Ctrl-C (as the signal handler does) when ``global_step`` is reached."""

    def __init__(self, global_step: int) -> None:
        self.global_step = global_step

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.global_step:
            from rnnkit.engine.trainer import GracefulInterrupt

            for callback in trainer.callbacks:
                if isinstance(callback, GracefulInterrupt):
                    callback.requested = True


@pytest.mark.slow
def test_ctrl_c_mid_epoch_then_resume_matches_an_uninterrupted_run(
    make_config, tmp_path: Path
) -> None:
    # An epoch is 98 steps: Ctrl-C at step 130 stops in the middle of the second one.
    raw = make_config(max_epochs=2, deterministic=True)
    raw["model"]["output_dropout"] = 0.2
    reference = api.train(raw, run_dir=tmp_path / "reference")
    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        api.train(raw, run_dir=run_dir, callbacks=[_CtrlCAt(130)])
    saved = torch.load(last_checkpoint(run_dir), weights_only=False)
    assert saved["global_step"] == 131  # the step in flight finished, then it stopped
    api.resume(run_dir)
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed == json.loads((reference / "metrics.json").read_text())


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

    # A limit the run has already reached would train nothing: refused, config unchanged.
    with pytest.raises(
        ConfigError,
        match=r"--max-epochs 3 would train nothing: .* has trained 3 epochs; give more than 3",
    ):
        api.resume(run_dir, max_epochs=3)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["max_epochs"] == 3
