"""A tiny speech recognition run end to end: metrics, the CTC plot, transcribe (Python and
CLI), the baseline, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import rnnkit
from rnnkit import cli
from rnnkit.cli import app
from rnnkit.engine.api import train as train_run
from rnnkit.errors import ConfigError, UserError
from rnnkit.tasks import get_spec, load_config
from rnnkit.tasks.speech_recognition.fixture import write_corpus
from rnnkit.tasks.speech_recognition.predictor import parts_from_info


@pytest.fixture(scope="module")
def speech_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    config = get_spec("speech_recognition").tiny_config(folder)
    config["train"]["max_epochs"] = 2
    return train_run(config, run_dir=folder / "run")


def test_metrics_plot_and_baseline(speech_run):
    metrics = json.loads((speech_run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"wer", "cer", "sentence_accuracy", "loss"}
    assert 0.0 <= metrics["test"]["sentence_accuracy"] <= 1.0
    assert "most_frequent_transcript" in metrics["baselines"]
    assert (speech_run / "test_ctc.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((speech_run / "preprocess" / "speech.json").read_text())
    assert saved["tokens"]["symbols"] == ["<blank>", "high", "low"]


def test_transcribe_in_python_and_on_the_command_line(speech_run, tmp_path):
    clips = sorted((speech_run.parent / "speech").glob("*.wav"))[:3]
    predictor = rnnkit.load(speech_run)
    texts = predictor.transcribe(clips)
    assert len(texts) == 3 and all(set(t.split()) <= {"low", "high"} for t in texts)
    assert predictor.transcribe(clips[0]) == texts[:1]
    # Greedy decoding of the same log-probabilities: the collapsed best path of each clip.
    from rnnkit.tasks.speech_recognition.decode import greedy_decode
    from rnnkit.tasks.speech_recognition.predictor import load_waves

    pipeline = predictor.pipeline()
    log_probs, frames = pipeline(*load_waves(clips, pipeline.features.settings))
    _, _, tokens = parts_from_info(predictor.info)
    expected = [tokens.decode(ids) for ids in greedy_decode(log_probs.detach(), frames)]
    assert predictor.transcribe(clips, decoder="greedy") == expected
    result = CliRunner().invoke(app, ["transcribe", str(speech_run), *map(str, clips)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == texts

    # A clip at another rate, in stereo, is resampled and mixed down, not refused.
    wave, rate = soundfile.read(clips[0])
    stereo = tmp_path / "stereo.wav"
    from scipy.signal import resample_poly

    resampled = resample_poly(wave, 2, 1)
    soundfile.write(stereo, np.stack([resampled, resampled], 1), rate * 2, subtype="FLOAT")
    assert len(predictor.transcribe(stereo)) == 1


def test_bad_inputs_are_one_line_errors(speech_run, tmp_path, capsys):
    predictor = rnnkit.load(speech_run)
    text = tmp_path / "notes.wav"
    text.write_text("not audio", encoding="utf-8")
    with pytest.raises(UserError, match=r"notes\.wav: not an audio file"):
        predictor.transcribe(text)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["transcribe", str(speech_run), str(text)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "notes.wav" in error
    with pytest.raises(UserError, match="unknown decoder 'viterbi'"):
        predictor.transcribe(text, decoder="viterbi")


def test_config_keys_of_other_tasks_are_refused(tmp_path):
    corpus = write_corpus(tmp_path / "c", count=4)
    base = {"task": "speech_recognition", "data": {"dataset": str(corpus)}}
    assert load_config(base).data.units == "char"
    with pytest.raises(ConfigError, match="lookback"):
        load_config({**base, "data": {"dataset": str(corpus), "lookback": 3}})
    with pytest.raises(ConfigError, match="pooling"):
        load_config({**base, "model": {"pooling": "mean"}})
