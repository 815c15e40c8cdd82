"""The ``data:`` keys of audio input, shared by every task that reads audio
(classification of clips, speech recognition): how clips become frame features.

A task's data section extends :class:`AudioConfig` together with
:class:`rnnkit.config.SourceConfig`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnnkit.config.base import StrictModel
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


class AudioConfig(StrictModel):
    """Audio input: sample rate, features, normalisation, augmentation, feature cache."""

    sample_rate: int | None = Field(None, gt=0)  # None: the dataset's, else the clips' own
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
    def _settings_are_consistent(self) -> AudioConfig:
        if self.sample_rate is not None:
            try:
                self.feature_settings(self.sample_rate)
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return self

    def feature_settings(self, sample_rate: int | None = None) -> FeatureSettings:
        """The features at ``data.sample_rate``, else at ``sample_rate``, else 16 kHz."""
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


__all__ = ["DEFAULT_SAMPLE_RATE", "AudioConfig", "SpecAugmentConfig"]
