from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit import config as cfg
from rnnkit.errors import ConfigError
from rnnkit.tasks import get_spec, load_config

MINIMAL = {"task": "language_model", "data": {"dataset": "ptb"}}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_yaml_file_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "task: language_model\ndata:\n  dataset: ptb\n  bptt: 20\n")
    config = load_config(path)
    assert config.data.bptt == 20
    assert config.model.hidden_size == 128  # default filled in
    assert config.train.optimizer.name == "adam"


def test_string_overrides_parse_yaml_scalars() -> None:
    config = load_config(
        MINIMAL,
        [
            "model.hidden_size=512",
            "train.optimizer.lr=0.5",
            "model.tie_weights=true",
            "train.early_stopping.patience=2",
        ],
    )
    assert config.model.hidden_size == 512
    assert config.train.optimizer.lr == 0.5
    assert config.model.tie_weights is True
    assert config.train.early_stopping is not None
    assert config.train.early_stopping.patience == 2  # a None section is created on demand
    forecasting = load_config(
        {"task": "forecasting", "data": {"dataset": "x"}}, ["data.target=[a, b]"]
    )
    assert forecasting.data.target == ["a", "b"]


def test_mapping_overrides_do_not_touch_the_source() -> None:
    source = {"task": "forecasting", "data": {"dataset": "co2", "lookback": 12}}
    config = load_config(source, {"data.lookback": 52})
    assert config.data.lookback == 52
    assert source["data"]["lookback"] == 12


def test_unknown_key_in_file_suggests_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, "task: language_model\ndata: {dataset: ptb}\nmodel: {hiden_size: 3}\n")
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'model.hiden_size'; did you mean 'model.hidden_size'\?",
    ):
        load_config(path)


def test_unknown_override_key_suggests_nearest() -> None:
    with pytest.raises(ConfigError, match=r"'train.optimiser'; did you mean 'train.optimizer'"):
        load_config(MINIMAL, ["train.optimiser.lr=1"])


def test_unknown_top_level_key_lists_valid_keys() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'modle'.*valid keys in the top level: name, seed, task",
    ):
        load_config({**MINIMAL, "modle": {}})


def test_bad_value_names_key_and_value() -> None:
    with pytest.raises(
        ConfigError,
        match=r"config key 'model.cell' = 'lstmm': Input should be 'lstm', 'gru', 'rnn', 'mingru', 'minlstm' or 'rglru'",
    ):
        load_config(MINIMAL, ["model.cell=lstmm"])
    with pytest.raises(
        ConfigError, match=r"config key 'model.hidden_size' = 0: .*greater than or equal to 1"
    ):
        load_config(MINIMAL, {"model.hidden_size": 0})


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError, match=r"config key 'task' is required"):
        load_config({"data": {"dataset": "ptb"}})


def test_cross_field_check_names_the_section() -> None:
    with pytest.raises(ConfigError, match=r"data.split.*leaves no training data"):
        load_config(MINIMAL, {"data.split.valid": 0.5, "data.split.test": 0.5})


def test_a_key_of_another_task_is_unknown_and_names_its_task() -> None:
    # Each task has its own data and model sections: another task's key is unknown in
    # both, and the message says which task reads it.
    with pytest.raises(ConfigError) as caught:
        load_config(MINIMAL, {"model.pooling": "max"})
    assert str(caught.value).startswith(
        "unknown config key 'model.pooling' (model.pooling is read by task classification, "
        "not this one) (valid keys in 'model': cell,"
    )
    with pytest.raises(ConfigError, match=r"data.lookback is read by task forecasting"):
        load_config({**MINIMAL, "data": {"dataset": "ptb", "lookback": 50}})
    forecasting = {"task": "forecasting", "data": {"dataset": "co2"}}
    with pytest.raises(ConfigError, match=r"unknown config key 'model.embedding_dropout'"):
        load_config(forecasting, {"model.embedding_dropout": 0.1})
    config = load_config(forecasting, {"model.input_dropout": 0.2})
    assert config.model.input_dropout == 0.2


def test_old_task_names_and_split_spelling_still_load() -> None:
    old = {"task": "sequence_regression", "data": {"dataset": "adding"}}
    config = load_config(old)
    assert config.task == "adding"
    config = load_config(MINIMAL, {"data.split.valid": 0.2})
    assert config.data.split.val == 0.2
    assert "val: 0.2" in cfg.dump(config)


def test_a_run_name_cannot_leave_the_runs_folder() -> None:
    for name in ("../../x", "/tmp/x", "a/b", ""):
        with pytest.raises(ConfigError, match=r"config key 'name'"):
            load_config({**MINIMAL, "name": name})


def test_tune_space_accepts_choices_and_ranges() -> None:
    config = load_config(
        {
            **MINIMAL,
            "tune": {
                "space": {
                    "model.hidden_size": [100, 200],
                    "train.optimizer.lr": {"low": 0.1, "high": 10, "log": True},
                    "model.num_layers": {"low": 1, "high": 3, "int": True},
                }
            },
        }
    )
    assert config.tune is not None
    assert config.tune.space["model.hidden_size"] == [100, 200]
    spec = config.tune.space["model.num_layers"]
    assert isinstance(spec, cfg.RangeSpec) and spec.integer


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"override 'model.hidden_size' is not key=value"):
        load_config(MINIMAL, ["model.hidden_size"])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 3"):
        load_config(write(tmp_path, "task: x\ndata: [\n"))


def test_dump_round_trip(tmp_path: Path) -> None:
    config = load_config(
        MINIMAL, {"tune.space": {"model.num_layers": {"low": 1, "high": 3, "int": True}}}
    )
    path = tmp_path / "resolved.yaml"
    cfg.save(config, path)
    assert load_config(path) == config


def test_dotted_keys_cover_nested_sections() -> None:
    keys = cfg.dotted_keys(get_spec("language_model").config)
    assert "train.optimizer.lr" in keys
    assert "model.hidden_size" in keys
    assert "data.split.val" in keys
