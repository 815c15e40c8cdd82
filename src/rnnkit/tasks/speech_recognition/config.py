"""Config sections of speech recognition: ``data:`` (source, audio features, symbols) and
``model:`` (the acoustic model and its decoder).

:class:`AudioFields` holds the audio keys every task with audio input reads
(``data.sample_rate``, ``data.features``, ...); :class:`SpeechDataConfig` adds the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnnkit.config import SplitConfig, StrictModel
from rnnkit.data.audio_settings import FeatureSettings
from rnnkit.errors import ConfigError

DEFAULT_SAMPLE_RATE = 16000


class SpecAugmentConfig(StrictModel):
    """Training-time masks on the features (Park et al. 2019); see data.audio.SpecAugment."""

    freq_masks: int = Field(2, ge=0)
    freq_width: int = Field(8, ge=0)  # at most this many consecutive features per mask
    time_masks: int = Field(2, ge=0)
    time_width: int = Field(10, ge=0)  # at most this many consecutive frames per mask
    max_time_fraction: float = Field(0.2, ge=0.0, le=1.0)  # of each clip's frames


class AudioFields(StrictModel):
    """Audio input: how clips become frame features."""

    sample_rate: int | None = Field(None, gt=0)  # None: the dataset's, else 16000
    features: Literal["log_mel", "mfcc", "raw"] = "log_mel"
    frame_ms: float = Field(25.0, gt=0.0)
    hop_ms: float = Field(10.0, gt=0.0)
    n_mels: int = Field(40, ge=1)
    n_mfcc: int = Field(13, ge=1)
    f_min: float = Field(0.0, ge=0.0)
    f_max: float | None = Field(None, gt=0.0)
    normalize: Literal["global", "utterance", "none"] = "global"  # global: fitted on train
    spec_augment: SpecAugmentConfig | None = None
    cache_features: bool = True  # .npy per clip, keyed by the file's sha256 and the settings

    @model_validator(mode="after")
    def _settings_are_consistent(self) -> AudioFields:
        if self.sample_rate is not None:
            try:
                self.feature_settings(self.sample_rate)
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return self

    def feature_settings(self, sample_rate: int | None = None) -> FeatureSettings:
        """The features at ``sample_rate`` (this section's, else the one given, else 16 kHz)."""
        return FeatureSettings(
            kind=self.features,
            sample_rate=self.sample_rate or sample_rate or DEFAULT_SAMPLE_RATE,
            frame_ms=self.frame_ms,
            hop_ms=self.hop_ms,
            n_mels=self.n_mels,
            n_mfcc=self.n_mfcc,
            f_min=self.f_min,
            f_max=self.f_max,
        )


class SpeechDataConfig(AudioFields):
    """``data:`` of ``task: speech_recognition``."""

    # A catalog name (fsdd-connected), or a folder with transcripts.tsv (<file><TAB><text>),
    # at the top or in train/ val/ test/ folders.
    dataset: str
    cache_dir: str | None = None
    offline: bool = False
    split: SplitConfig = Field(default_factory=lambda: SplitConfig(stratify=False))
    units: Literal["char", "word"] = "char"  # what the CTC output symbols are
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)


class SpeechModelConfig(StrictModel):
    """``model:`` of ``task: speech_recognition``: features -> conv -> BiRNN -> CTC."""

    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: int = Field(128, ge=1)
    num_layers: int = Field(2, ge=1)
    bidirectional: bool = True
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    subsampling_layers: int = Field(1, ge=0, le=4)  # stride-2 convolutions in front
    conv_channels: int = Field(64, ge=1)
    decoder: Literal["greedy", "beam"] = "beam"
    beam_size: int = Field(8, ge=1)


__all__ = ["AudioFields", "SpecAugmentConfig", "SpeechDataConfig", "SpeechModelConfig"]
