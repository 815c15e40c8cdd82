"""A pandas DataFrame as data.dataset: written into the run directory, named in the
config, trained, loaded and used; never printed whole in a message."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnnkit
from rnnkit.config.base import short_repr
from rnnkit.engine.frames import frame_name, take_frame
from rnnkit.errors import ConfigError
from rnnkit.tasks import load_run_config


def _series(rows: int = 120) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=rows, freq="D")
    values = [10 + 0.05 * d + 2 * math.sin(2 * math.pi * d / 7) for d in range(rows)]
    return pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "value": values})


def _forecasting(frame) -> dict:
    return {
        "name": "frame-forecast",
        "task": "forecasting",
        "data": {
            "dataset": frame,
            "date_column": "date",
            "target": "value",
            "lookback": 14,
            "horizon": 3,
            "batch_size": 16,
        },
        "model": {"hidden_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }


def _train(config: dict, run_dir: Path, overrides=None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rnnkit.train(config, overrides=overrides, run_dir=run_dir, quiet=True)


@pytest.mark.slow  # one tiny epoch
def test_a_forecaster_trains_on_a_frame_and_its_run_keeps_it(tmp_path: Path) -> None:
    frame = _series()
    run_dir = _train(_forecasting(frame), tmp_path / "run")
    saved = run_dir / "data" / "dataset.csv"
    assert load_run_config(run_dir).data.dataset == str(saved.resolve())
    back = pd.read_csv(saved)
    assert list(back.columns) == ["date", "value"]
    assert back["date"].tolist() == frame["date"].tolist()
    np.testing.assert_allclose(back["value"], frame["value"], rtol=1e-12)
    forecast = rnnkit.load(run_dir).forecast()
    assert forecast.shape == (3, 1) and np.isfinite(forecast.to_numpy()).all()
    # The forecast starts the day after the frame's last row.
    assert str(forecast.index[0])[:10] == "2024-04-30"


@pytest.mark.slow  # one tiny epoch
def test_a_classifier_trains_on_a_frame_given_as_an_override(tmp_path: Path) -> None:
    texts = [("great lovely film", "pos"), ("dull awful film", "neg")] * 60
    frame = pd.DataFrame(texts, columns=["text", "label"])
    config = {
        "name": "frame-classify",
        "task": "classification",
        "data": {"dataset": "placeholder", "tokenizer": "word", "batch_size": 16},
        "model": {"hidden_size": 8, "embedding_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
    }
    run_dir = _train(config, tmp_path / "run", overrides={"data.dataset": frame})
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "data" / "dataset.csv"), frame)
    predictions = rnnkit.load(run_dir).predict(["great lovely film", "dull awful film"])
    assert [set(p["probabilities"]) for p in predictions] == [{"neg", "pos"}] * 2


def test_a_dated_index_is_written_as_a_column(tmp_path: Path) -> None:
    from rnnkit.engine.frames import attach
    from rnnkit.tasks import load_config

    frame = _series().set_index("date")
    config = load_config(_forecasting(frame_name(frame)))
    attached = attach(config, frame, tmp_path)
    text = Path(attached.data.dataset).read_text().splitlines()
    assert text[0] == "date,value" and text[1].startswith("2024-01-01,")


def test_a_frame_is_named_not_printed() -> None:
    frame = _series(730).assign(extra=1.0)
    assert frame_name(frame) == "<DataFrame 730x3>"
    assert short_repr(frame) == "<DataFrame 730x3>"
    assert short_repr(np.zeros((2, 5))) == "<ndarray 2x5>"
    assert short_repr("x" * 500).endswith("... (502 characters)")
    config, overrides, taken = take_frame(_forecasting(frame), None)
    assert taken is frame and config["data"]["dataset"] == "<DataFrame 730x3>"
    assert overrides is None


def test_a_task_that_reads_no_table_refuses_a_frame_before_writing(tmp_path: Path) -> None:
    config = {"task": "language_model", "data": {"dataset": _series(730).assign(x=1)}}
    with pytest.raises(ConfigError) as error:
        _train(config, tmp_path / "run")
    message = str(error.value)
    assert message.startswith(
        "config key 'data.dataset' = <DataFrame 730x3>: a language_model run does not read "
        "a table; a DataFrame works for task classification, forecasting"
    )
    assert "\n" not in message and "2024-01-01" not in message
    assert not (tmp_path / "run").exists()


def test_a_frame_in_another_key_is_named_in_the_error(tmp_path: Path) -> None:
    config = _forecasting("series.csv")
    config["data"]["lookback"] = _series(730)
    with pytest.raises(ConfigError) as error:
        _train(config, tmp_path / "run")
    assert "config key 'data.lookback' = <DataFrame 730x2>" in str(error.value)
    assert len(str(error.value)) < 300
    # Where a list of strings is valid, pydantic would read a frame as its column names.
    config = _forecasting(_series())
    config["data"]["target"] = _series(730)
    with pytest.raises(ConfigError, match=r"^config key 'data.target' = <DataFrame 730x2>: only"):
        _train(config, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"^config key 'data.covariates' = <DataFrame 730x2>"):
        _train(_forecasting("s.csv"), tmp_path / "run", {"data.covariates": _series(730)})


@pytest.mark.slow  # reads the frame before failing
def test_a_frame_without_the_target_leaves_no_run_directory(tmp_path: Path) -> None:
    config = _forecasting(_series())
    config["data"]["target"] = "sales"
    with pytest.raises(rnnkit.errors.UserError) as error:
        _train(config, tmp_path / "run")
    assert "sales" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()
