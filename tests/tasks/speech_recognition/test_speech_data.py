"""Speech data preparation: splits, features, what is fitted on train, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from speech_corpus import make_corpus, make_utterance

from rnnkit.data.batches import BucketBatchSampler
from rnnkit.errors import ConfigError
from rnnkit.tasks.speech_recognition.config import SpeechData
from rnnkit.tasks.speech_recognition.data import collate_utterances, prepare_speech


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "corpus", {"train": 20, "test": 4})


def test_prepare_fits_on_train_and_carves_validation(corpus, tmp_path):
    config = SpeechData(
        dataset=str(corpus), units="word", cache_dir=str(tmp_path / "cache"), n_mels=20
    )
    data = prepare_speech(config, seed=0)
    assert {k: len(v) for k, v in data.features.items()} == {"train": 18, "val": 2, "test": 4}
    assert data.settings.sample_rate == 8000  # the clips' own rate
    assert data.tokens.symbols == ("<blank>", "high", "low")
    stacked = np.concatenate(data.features["train"])
    np.testing.assert_allclose(data.norm.mean.numpy(), stacked.mean(0), rtol=1e-4, atol=1e-4)

    train = data.dataset("train")
    normalised = np.concatenate(train.features)
    np.testing.assert_allclose(normalised.mean(0), 0.0, atol=1e-3)
    features, target = train[0]
    assert features.shape == (len(data.features["train"][0]), 20)
    assert data.tokens.decode(target.tolist()) == data.texts["train"][0]

    sampler = BucketBatchSampler(train.lengths(), batch_size=4, seed=0)
    batch = collate_utterances([train[i] for i in next(iter(sampler))])
    padded, lengths, targets, target_lengths = batch
    assert padded.shape[0] == lengths.shape[0] == targets.shape[0] == target_lengths.shape[0]
    assert padded.shape[1] == int(lengths.max()) and targets.shape[1] == int(target_lengths.max())
    assert torch.all(padded[lengths.argmin(), int(lengths.min()) :] == 0)


def test_given_tokens_and_norm_are_kept(corpus, tmp_path):
    config = SpeechData(dataset=str(corpus), units="char", cache_dir=str(tmp_path / "c"))
    first = prepare_speech(config, seed=0)
    again = prepare_speech(config, seed=0, tokens=first.tokens, norm=first.norm)
    assert again.tokens is first.tokens and again.norm is first.norm
    assert set(first.tokens.symbols[1:]) == set("high low")


def test_a_dataset_of_another_kind_is_refused(tmp_path):
    for label in ("a", "b"):
        make_utterance(tmp_path / label / "0.wav", ["low"])
    with pytest.raises(ConfigError, match="is audio classes, not transcribed audio"):
        prepare_speech(SpeechData(dataset=str(tmp_path)), seed=0)
