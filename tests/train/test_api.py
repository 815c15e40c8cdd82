"""Command-line entry points of the engine: one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.engine import api
from rnnkit.errors import RunDirError
from rnnkit.rundir import new_run_dir


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err.strip()


def test_train_without_a_config(capsys) -> None:
    assert _run(["train"], capsys) == (
        2,
        "error: rnnkit train needs a CONFIG file (or --resume RUN_DIR)",
    )


def test_resume_of_a_missing_run(tmp_path: Path, capsys) -> None:
    code, message = _run(["train", "--resume", str(tmp_path / "gone")], capsys)
    assert (code, message) == (2, f"error: run directory {tmp_path / 'gone'} does not exist")


def test_resume_without_a_checkpoint(tmp_path: Path, make_config) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("task: language_model\ndata: {dataset: x.txt}\n")
    with pytest.raises(RunDirError, match=r"has no checkpoints/last\.ckpt to resume from"):
        api.resume(run_dir)


def test_evaluate_names_the_valid_splits(tmp_path: Path, capsys) -> None:
    code, message = _run(["evaluate", str(tmp_path), "--split", "train"], capsys)
    assert (code, message) == (2, "error: split 'train' is not one of val, test")


def test_unknown_final_split_is_refused_before_training(make_config, tmp_path: Path) -> None:
    from rnnkit.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"final_splits \['train'\]: each must be 'val' or 'test'"
    ):
        api.train(make_config(), run_dir=tmp_path / "run", final_splits=("val", "train"))
    assert not (tmp_path / "run").exists()


def test_bad_override_is_a_config_error(make_config, tmp_path: Path, capsys) -> None:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(make_config()))
    code, message = _run(["train", str(path), "train.optimizer.name=rmsprop"], capsys)
    assert code == 2 and "train.optimizer.name" in message and "rmsprop" in message


def test_run_directories_are_named_by_time_and_never_reused(tmp_path: Path) -> None:
    from datetime import datetime

    moment = datetime(2026, 1, 2, 3, 4, 5)
    first = new_run_dir("ptb", tmp_path, now=moment)
    assert first == tmp_path / "ptb-20260102-030405"
    first.mkdir()
    assert new_run_dir("ptb", tmp_path, now=moment) == tmp_path / "ptb-20260102-030405-2"


def test_max_epochs_needs_resume(capsys) -> None:
    assert _run(["train", "c.yaml", "--max-epochs", "5"], capsys) == (
        2,
        "error: --max-epochs 5 extends a resumed run (--resume RUN_DIR); "
        "for a new run set train.max_epochs=5",
    )


def test_resume_refuses_overrides_and_names_max_epochs(tmp_path: Path, capsys) -> None:
    code, message = _run(["train", "--resume", str(tmp_path), "train.lr=1"], capsys)
    assert code == 2
    assert message == (
        "error: --resume RUN_DIR takes no CONFIG or overrides: it reuses the run's "
        "(--max-epochs N extends it)"
    )


def test_resume_with_a_bad_max_epochs_names_the_value(tmp_path: Path, make_config) -> None:
    from rnnkit.errors import ConfigError

    run_dir = api.train(make_config(max_epochs=1), run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"train\.max_epochs"):
        api.resume(run_dir, max_epochs=0)
