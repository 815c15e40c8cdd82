"""DDP on CPU: two processes (gloo) write the same run directory as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import rnnkit


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_writes_the_run_directory(make_config, tmp_path: Path) -> None:
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(make_config(max_epochs=1)))
    run_dir = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("RNNKIT_DISTRIBUTED_RUN_DIR", None)
    # --verbose keeps Lightning's INFO lines, which say how many processes joined.
    command = [sys.executable, "-m", "rnnkit.cli", "--verbose", "train", str(config_path)]
    command += ["train.strategy=ddp", "train.devices=2", "train.accelerator=cpu"]
    result = subprocess.run(
        [*command, "--run-dir", str(run_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MEMBER: 2/2" in result.stderr  # the second process joined
    for name in [
        "config.yaml",
        "model.safetensors",
        "metrics.json",
        "checkpoints/last.ckpt",
        "preprocess/vocab.json",
        "preprocess/info.json",
        "csv/metrics.csv",
    ]:
        assert (run_dir / name).is_file(), name
    # One run directory, not one per process.
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["run"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val"]["loss"] < metrics["baselines"]["unigram"]["loss"]
    assert rnnkit.load(run_dir).generate("the", length=10, seed=0).startswith("the")
