"""The speech recognition config sections."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rnnkit.tasks.speech_recognition.config import SpeechData, SpeechModel


def test_audio_keys_become_feature_settings():
    data = SpeechData(dataset="fsdd-connected", features="mfcc", n_mfcc=20, hop_ms=15)
    settings = data.feature_settings(sample_rate=8000)
    assert (settings.kind, settings.n_mfcc, settings.sample_rate) == ("mfcc", 20, 8000)
    assert settings.hop_length == 120
    assert SpeechData(dataset="x").feature_settings().sample_rate == 16000
    fixed = SpeechData(dataset="x", sample_rate=22050)
    assert fixed.feature_settings(sample_rate=8000).sample_rate == 22050


def test_inconsistent_audio_keys_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="mel band 0-6000 Hz is not inside 0-4000 Hz"):
        SpeechData(dataset="x", sample_rate=8000, f_max=6000)
    with pytest.raises(ValidationError, match="n_mfcc=30 must be between 1 and n_mels=20"):
        SpeechData(dataset="x", sample_rate=8000, features="mfcc", n_mels=20, n_mfcc=30)
    with pytest.raises(ValidationError, match="extra"):
        SpeechData(dataset="x", lookback=3)
    with pytest.raises(ValidationError, match="decoder"):
        SpeechModel(decoder="viterbi")
