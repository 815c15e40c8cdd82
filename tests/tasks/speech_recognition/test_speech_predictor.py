"""Transcribing files: the waveform pipeline equals the training path, then decodes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch
from speech_corpus import make_corpus

import rnnkit.nn
from rnnkit.errors import DataError
from rnnkit.tasks.speech_recognition.config import SpeechData
from rnnkit.tasks.speech_recognition.data import collate_utterances, prepare_speech
from rnnkit.tasks.speech_recognition.decode import beam_decode, greedy_decode
from rnnkit.tasks.speech_recognition.model import SpeechRecognizer
from rnnkit.tasks.speech_recognition.predictor import (
    SpeechPipeline,
    load_waves,
    parts_from_info,
    speech_info,
    transcribe,
)


@pytest.mark.parametrize("normalize", ["global", "utterance"])
def test_files_through_the_pipeline_match_the_prepared_features(tmp_path, normalize):
    corpus = make_corpus(tmp_path / "corpus", {"train": 6, "test": 3})
    config = SpeechData(
        dataset=str(corpus),
        units="word",
        n_mels=20,
        normalize=normalize,
        cache_dir=str(tmp_path / "cache"),
    )
    data = prepare_speech(config, seed=0)
    torch.manual_seed(0)
    model = SpeechRecognizer(
        20,
        len(data.tokens),
        lambda size: rnnkit.nn.GRU(size, 8, batch_first=True),
        subsampling_layers=1,
    ).eval()

    # The info survives JSON, as it does in a run directory.
    info = json.loads(json.dumps(speech_info(data.settings, data.norm, data.tokens)))
    settings, norm, tokens = parts_from_info(info)
    assert (settings, tokens) == (data.settings, data.tokens)
    pipeline = SpeechPipeline(settings, norm, model).eval()

    test = data.dataset("test")
    features, lengths, _, _ = collate_utterances([test[i] for i in range(len(test))])
    with torch.no_grad():
        expected, expected_lengths = model(features, lengths)
        wave, samples = load_waves(data.paths["test"], settings)
        got, got_lengths = pipeline(wave, samples)
    assert got_lengths.tolist() == expected_lengths.tolist()
    for row, n in enumerate(got_lengths.tolist()):
        torch.testing.assert_close(got[row, :n], expected[row, :n], atol=2e-4, rtol=1e-4)

    texts = transcribe(pipeline, tokens, data.paths["test"], decoder="greedy", batch_size=2)
    assert texts == [tokens.decode(ids) for ids in greedy_decode(expected, expected_lengths)]
    beam = transcribe(pipeline, tokens, data.paths["test"], decoder="beam", beam_size=4)
    assert beam == [tokens.decode(ids) for ids in beam_decode(expected, expected_lengths, 4)]


def test_a_clip_too_short_to_transcribe_is_named(tmp_path):
    path = tmp_path / "tick.wav"
    soundfile.write(path, np.zeros(50), 8000, subtype="PCM_16")
    settings = SpeechData(dataset="x").feature_settings(8000)
    with pytest.raises(DataError, match=r"tick\.wav: clip of 50 samples is shorter than one frame"):
        load_waves([path], settings)
