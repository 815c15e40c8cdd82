"""Settings refused before any work, each with one line naming the key and what is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.engine.api import check_settings, train
from rnnkit.errors import ConfigError, RunDirError, UserError
from rnnkit.tasks import get_spec, load_config

BASE = {"task": "adding", "data": {"dataset": "adding"}}


def test_an_early_stopping_monitor_the_task_never_logs_is_refused() -> None:
    config = load_config(BASE, {"train.early_stopping": {"monitor": "val/acuracy"}})
    with pytest.raises(ConfigError, match=r"valid: val/loss, train/loss"):
        check_settings(config)
    copy = load_config({"task": "copy", "data": {"dataset": "copy"}})
    check_settings(load_config(copy, {"train.early_stopping": {"monitor": "val/accuracy"}}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_a_gpu_where_there_is_none_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"no CUDA GPU"):
        check_settings(load_config(BASE, {"train.accelerator": "gpu"}))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=-1", r"config key 'seed' = -1"),
        (f"seed={2**33}", r"config key 'seed'"),
        ("train.devices=0", r"devices = 0"),
        ("train.val_check_interval=0", r"val_check_interval"),
        ("train.limit_train_batches=-1", r"trains nothing"),
    ],
)
def test_bad_trainer_values_are_config_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(BASE, [override])


def test_a_duplicated_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("task: adding\ndata:\n  dataset: adding\n  length: 5\n  length: 50\n")
    with pytest.raises(ConfigError, match=r"at line 5.*duplicate key 'length'"):
        load_config(path)


def test_a_run_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(RunDirError, match=r"is a file"):
        train(get_spec("adding").tiny_config(tmp_path), run_dir=target)
    assert target.read_text() == "x"


def test_generation_settings_out_of_range_are_user_errors() -> None:
    from rnnkit.tasks.language_model.predictor import _check_sampling

    for temperature in (float("nan"), float("inf"), 1e-40):
        with pytest.raises(UserError, match=r"temperature="):
            _check_sampling(10, temperature, None, None)
    with pytest.raises(UserError, match=r"generate in parts"):
        _check_sampling(10**9, 1.0, None, None)
