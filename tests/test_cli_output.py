"""What the command line prints for people: full tables when piped, the model beside its
baselines after training, the version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnkit import __version__
from rnnkit.cli import main
from rnnkit.tasks import get_spec


def _rnnkit(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from rnnkit.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_tables_are_not_cut_when_piped() -> None:
    done = _rnnkit("data", "list")
    assert done.returncode == 0, done.stderr
    assert "airline-passengers" in done.stdout and "…" not in done.stdout


def test_version() -> None:
    done = _rnnkit("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"rnnkit {__version__}"


def test_train_prints_the_model_beside_its_baselines(tmp_path: Path, capsys) -> None:
    config = get_spec("adding").tiny_config(tmp_path)
    path = tmp_path / "adding.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exited:
        main(["train", str(path), "--run-dir", str(tmp_path / "run")])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "rnnkit (test)" in out and "predict_mean" in out and "mse" in out
    # One epoch of 64 sequences cannot beat predicting the mean: the note says so.
    assert "note: baseline predict_mean does better than the model on" in out
    assert out.rstrip().endswith(str(tmp_path / "run"))
