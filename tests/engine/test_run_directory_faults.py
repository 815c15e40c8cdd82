"""What happens to a run directory when things go wrong: nothing lost, nothing mixed,
nothing half-made, a damaged file named in one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import rnnkit
from rnnkit import rundir
from rnnkit.cli import main
from rnnkit.engine.api import train
from rnnkit.errors import ConfigError, RunDirError
from rnnkit.tasks import get_spec


def _tiny(folder: Path, **train_options) -> dict:
    config = get_spec("adding").tiny_config(folder)
    config["train"].update(train_options)
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    previous = os.umask(0o022)
    try:
        return train(_tiny(folder), run_dir=folder / "run")
    finally:
        os.umask(previous)


def test_files_keep_the_umask_permissions(finished: Path) -> None:
    for name in ("config.yaml", "metrics.json", "model.safetensors", "report.html"):
        mode = stat.S_IMODE((finished / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_a_new_config_into_a_used_run_directory_is_refused(finished: Path, tmp_path) -> None:
    before = (finished / "metrics.json").read_bytes()
    with pytest.raises(RunDirError, match=r"already holds a run; continue it with --resume"):
        train(_tiny(tmp_path), run_dir=finished)
    assert (finished / "metrics.json").read_bytes() == before


def test_a_run_that_fails_on_its_data_leaves_no_directory(tmp_path: Path) -> None:
    config = _tiny(tmp_path)
    config["data"]["dataset"] = "copy"  # the adding task refuses another dataset
    target = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"runs on data.dataset='adding'"):
        train(config, run_dir=target)
    assert not target.exists()


def test_a_second_process_on_the_same_run_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with rundir.training_lock(target), pytest.raises(RunDirError, match=r"in use by another"):
        train(_tiny(tmp_path), run_dir=target)


def test_untrained_runs_are_config_errors() -> None:
    for override in ("train.max_steps=0", "train.limit_train_batches=0"):
        with pytest.raises(ConfigError, match=r"trains nothing"):
            rnnkit.tasks.load_config(_tiny(Path(".")), [override])


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("model.safetensors", b"\x10\x00\x00", r"model.safetensors cannot be read"),
        ("preprocess/info.json", b'{"input_size": 2', r"info.json is not valid JSON"),
        ("preprocess/info.json", b"[1, 2]", r"info.json holds a JSON list, not a dict"),
        ("preprocess/info.json", b"{}", r"info.json does not describe a model of this run"),
        ("config.yaml", b"task: [", r"config.yaml.*not valid YAML"),
    ],
)
def test_a_damaged_file_is_one_line_naming_it(
    finished: Path, tmp_path: Path, name: str, damage: bytes, message: str, capsys
) -> None:
    copy = tmp_path / "copy"
    for path in finished.rglob("*"):
        if path.is_file() and "checkpoints" not in path.parts:
            target = copy / path.relative_to(finished)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (copy / name).write_bytes(damage)
    with pytest.raises(RunDirError, match=message):
        rnnkit.load(copy)
    with pytest.raises(SystemExit) as exited:
        main(["export", str(copy), "--format", "torchscript"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


def test_links_out_of_a_run_directory_are_not_followed(finished: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = tmp_path / "copy"
    for path in finished.rglob("*"):
        if path.is_file() and "checkpoints" not in path.parts:
            target = copy / path.relative_to(finished)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (copy / "export").symlink_to(elsewhere, target_is_directory=True)
    from rnnkit.export import export

    with pytest.raises(RunDirError, match=r"leads outside the run directory"):
        export(copy, "torchscript")
    assert list(elsewhere.iterdir()) == []
    # A PNG linked from elsewhere is left out of the report, not embedded.
    secret = elsewhere / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"secret" * 10)
    (copy / "export").unlink()
    (copy / "stolen.png").symlink_to(secret)
    from rnnkit.report import build_html

    assert "stolen" not in build_html(copy)


def test_a_text_pipeline_pointing_elsewhere_is_refused(tmp_path: Path) -> None:
    import json

    from rnnkit.data.text import TextPipeline
    from rnnkit.errors import DataError

    pipeline = TextPipeline("word").fit(["a b c", "b c d"])
    pipeline.save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "text_pipeline.json").read_text())
    meta["vocab_file"] = "../../etc/passwd"
    (tmp_path / "p" / "text_pipeline.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"vocab_file = '../../etc/passwd' must be a file name"):
        TextPipeline.load(tmp_path / "p")
