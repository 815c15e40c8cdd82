"""Audio input for classification: clips -> normalised frame features (T, F).

Training fits the feature normalisation on the training clips and saves it with the
feature settings as ``preprocess/audio.json``; prediction reads audio files through the
same settings and normalisation. ``data.split_by: speaker`` holds out one speaker
(``data.test_speaker``) for leave-one-speaker-out evaluation.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.errors import ConfigError, DataError
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json

AUDIO_FILE = "audio.json"
SPLITS = ("train", "val", "test")


def speaker_frames(config: Any, splits: dict[str, Any]) -> dict[str, Any]:
    """Leave one speaker out: every clip of ``data.test_speaker`` is test, the others are
    train, and validation is carved from train (stratified) as usual."""
    import pandas as pd

    from rnnkit.data.audio_datasets import speaker_split

    if config.data.test_speaker is None:
        raise ConfigError(
            "data.split_by = 'speaker' needs data.test_speaker: the speaker to hold out"
        )
    every = pd.concat(list(splits.values()), ignore_index=True)
    if "speaker" not in every.columns or not (every["speaker"] != "").any():
        raise ConfigError(
            "data.split_by = 'speaker' needs speakers: this dataset's clips have none "
            "(fsdd names them; a folder of <label>/*.wav does not)"
        )
    held_out = speaker_split(every, config.data.test_speaker)
    return {"train": held_out["train"], "test": held_out["test"]}


def audio_sequences(
    config: Any, frames: dict[str, Any], preprocess: Path
) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
    """Normalised features of every split and the info that rebuilds them at inference."""
    from rnnkit.data.audio import FeatureNorm, extract_features
    from rnnkit.data.audio_settings import FeatureSettings

    data = config.data
    path = preprocess / AUDIO_FILE
    if path.is_file():
        saved = read_json(path, dict)
        settings = FeatureSettings(**saved["features"])
        norm: FeatureNorm | None = FeatureNorm.from_dict(saved["norm"])
    else:
        settings = data.feature_settings(_native_rate(config, frames))
        norm = None
    features = {
        name: extract_features(
            list(frames[name]["path"]),
            settings,
            cache_dir=data.cache_dir,
            use_cache=data.cache_features,
        )
        for name in SPLITS
    }
    if norm is None:
        if data.normalize == "global":
            norm = FeatureNorm.fit(features["train"])
        else:
            norm = FeatureNorm(data.normalize, settings.size)
        write_json(path, {"features": asdict(settings), "norm": norm.to_dict()})
    sequences = {name: normalise(features[name], norm) for name in SPLITS}
    info = {"input": "audio", "input_size": settings.size, "features": asdict(settings)}
    return sequences, info


def _native_rate(config: Any, frames: dict[str, Any]) -> int:
    """The catalog's sample rate (fsdd: 8 kHz), else the first training clip's own."""
    import soundfile

    from rnnkit.data import catalog

    if catalog.is_catalog_name(config.data.dataset):
        rate = catalog.lookup(config.data.dataset).defaults.get("sample_rate")
        if rate:
            return int(rate)
    first = frames["train"]["path"].iloc[0]
    try:
        return int(soundfile.info(first).samplerate)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise DataError(f"{first}: corrupt or unreadable audio file ({err})") from None


def normalise(features: list[np.ndarray], norm: Any) -> list[np.ndarray]:
    """Each clip's features through the fitted normalisation (float32)."""
    out = []
    with torch.no_grad():
        for item in features:
            tensor = torch.from_numpy(np.asarray(item, dtype=np.float32))[None]  # (1, T, F)
            lengths = torch.tensor([tensor.shape[1]])
            out.append(norm(tensor, lengths)[0].numpy())
    return out


def features_of_files(run_dir: Path, paths: list[str | Path]) -> list[np.ndarray]:
    """Normalised features of audio files, as the run computed them in training."""
    from rnnkit.data.audio import FeatureNorm, clip_features, load_audio
    from rnnkit.data.audio_settings import FeatureSettings

    saved = read_json(Path(run_dir) / PREPROCESS_DIR / AUDIO_FILE, dict)
    settings = FeatureSettings(**saved["features"])
    norm = FeatureNorm.from_dict(saved["norm"])
    features = [
        clip_features(load_audio(path, settings.sample_rate), settings, path) for path in paths
    ]
    return normalise(features, norm)


__all__ = ["AUDIO_FILE", "audio_sequences", "features_of_files", "normalise", "speaker_frames"]
