"""Classification of audio clips: a folder of <label>/*.wav trained end to end, predict on
audio files (Python and CLI), the baselines, and leave-one-speaker-out splits."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

import rnnkit
from rnnkit.cli import app
from rnnkit.engine.api import train as train_run
from rnnkit.errors import ConfigError, UserError
from rnnkit.tasks.classification.audio import speaker_frames

TONES = {"low": 300.0, "high": 1500.0}


def _clip(path: Path, freq: float, rng: np.random.Generator, rate: int = 8000) -> None:
    t = np.arange(int(rate * rng.uniform(0.15, 0.3))) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * rng.uniform(0.95, 1.05) * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, wave + 0.01 * rng.standard_normal(len(t)), rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("words")
    rng = np.random.default_rng(0)
    for label, freq in TONES.items():
        for i in range(20):
            _clip(folder / "clips" / label / f"{i}.wav", freq, rng)
    config = {
        "name": "tiny-audio",
        "task": "classification",
        "data": {
            "dataset": str(folder / "clips"),
            "features": "mfcc",
            "n_mels": 20,
            "n_mfcc": 8,
            "spec_augment": {"freq_masks": 1, "freq_width": 2, "time_masks": 1, "time_width": 2},
            "batch_size": 8,
            "split": {"val": 0.2, "test": 0.2},
            "cache_dir": str(folder / "cache"),
        },
        "model": {"hidden_size": 16, "pooling": "mean", "bidirectional": True},
        "train": {"max_epochs": 8, "progress_bar": False, "accelerator": "cpu",
                  "optimizer": {"lr": 0.01}},
    }  # fmt: skip
    return train_run(config, run_dir=folder / "run")


def test_audio_classes_train_with_their_baselines(audio_run):
    metrics = json.loads((audio_run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.85  # two tones three octaves apart
    assert set(metrics["baselines"]) == {"majority_class", "mean_std_logistic"}
    info = json.loads((audio_run / "preprocess" / "info.json").read_text())
    assert info["input"] == "audio" and info["input_size"] == 8
    assert (audio_run / "preprocess" / "audio.json").is_file()


def test_predict_audio_files_in_python_and_on_the_command_line(audio_run, tmp_path):
    rng = np.random.default_rng(5)
    low, high = tmp_path / "low.wav", tmp_path / "high.flac"
    _clip(low, TONES["low"], rng)
    _clip(high, TONES["high"], rng, rate=16000)  # another rate: resampled
    results = rnnkit.load(audio_run).predict([low, high])
    assert [r["label"] for r in results] == ["low", "high"]
    assert all(sum(r["probabilities"].values()) == pytest.approx(1.0) for r in results)
    result = CliRunner().invoke(app, ["predict", str(audio_run), str(low), str(high)])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[0] for line in result.output.splitlines()] == ["low", "high"]
    with pytest.raises(UserError, match=r"short\.wav: clip of 40 samples"):
        soundfile.write(tmp_path / "short.wav", np.zeros(40), 8000, subtype="PCM_16")
        rnnkit.load(audio_run).predict([tmp_path / "short.wav"])


def test_leave_one_speaker_out_frames():
    frame = pd.DataFrame(
        {
            "path": [f"{i}.wav" for i in range(6)],
            "label": ["0", "1"] * 3,
            "speaker": ["ann", "ann", "bob", "bob", "cy", "cy"],
        }
    )
    config = SimpleNamespace(data=SimpleNamespace(test_speaker="bob"))
    out = speaker_frames(config, {"train": frame.iloc[:4], "test": frame.iloc[4:]})
    assert set(out["test"]["speaker"]) == {"bob"} and len(out["train"]) == 4
    with pytest.raises(ConfigError, match=r"needs data\.test_speaker"):
        speaker_frames(SimpleNamespace(data=SimpleNamespace(test_speaker=None)), {"all": frame})
    nameless = frame.assign(speaker="")
    with pytest.raises(ConfigError, match="needs speakers"):
        speaker_frames(config, {"all": nameless})
