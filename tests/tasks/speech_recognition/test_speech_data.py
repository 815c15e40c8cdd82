"""Speech data preparation: splits, features, what is fitted on train, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from rnnkit.data.batches import BucketBatchSampler
from rnnkit.errors import ConfigError
from rnnkit.tasks.speech_recognition.config import SpeechDataConfig
from rnnkit.tasks.speech_recognition.data import collate_utterances, prepare_speech

WORDS = {"low": 300.0, "high": 1200.0}


def _utterance(path: Path, words: list[str], rate: int = 8000) -> None:
    pieces = [np.zeros(400)]
    for word in words:
        t = np.arange(1600) / rate
        pieces += [0.4 * np.sin(2 * np.pi * WORDS[word] * t), np.zeros(400)]
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.concatenate(pieces), rate, subtype="PCM_16")


@pytest.fixture
def corpus(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", 20), ("test", 4)):
        lines = []
        for i in range(count):
            words = list(rng.choice(list(WORDS), size=int(rng.integers(1, 4))))
            _utterance(tmp_path / split / f"{i}.wav", words)
            lines.append(f"{i}.wav\t{' '.join(words)}\n")
        (tmp_path / split / "transcripts.tsv").write_text("".join(lines), encoding="utf-8")
    return tmp_path


def test_prepare_fits_on_train_and_carves_validation(corpus, tmp_path):
    config = SpeechDataConfig(
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
    config = SpeechDataConfig(dataset=str(corpus), units="char", cache_dir=str(tmp_path / "c"))
    first = prepare_speech(config, seed=0)
    again = prepare_speech(config, seed=0, tokens=first.tokens, norm=first.norm)
    assert again.tokens is first.tokens and again.norm is first.norm
    assert set(first.tokens.symbols[1:]) == set("high low")


def test_a_dataset_of_another_kind_is_refused(tmp_path):
    for label in ("a", "b"):
        _utterance(tmp_path / label / "0.wav", ["low"])
    with pytest.raises(ConfigError, match="is audio classes, not transcribed audio"):
        prepare_speech(SpeechDataConfig(dataset=str(tmp_path)), seed=0)
