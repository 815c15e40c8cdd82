"""What audio features are: :class:`FeatureSettings` (no torch needed to read or check it).

The features themselves are computed in :mod:`rnnkit.data.audio`; config loading checks
settings here without importing torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

from rnnkit.errors import ConfigError

FeatureKind = Literal["log_mel", "mfcc", "raw"]
FEATURE_KINDS: tuple[str, ...] = ("log_mel", "mfcc", "raw")
# Bumped whenever the feature computation changes, so old cached .npy files are not reused.
_FEATURE_VERSION = 1


@dataclass(frozen=True)
class FeatureSettings:
    """What the features are; everything that decides their values (the cache key)."""

    kind: FeatureKind = "log_mel"
    sample_rate: int = 16000
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    n_mels: int = 40
    n_mfcc: int = 13
    f_min: float = 0.0
    f_max: float | None = None  # None: half the sample rate

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(
                f"unknown audio feature kind {self.kind!r}: use one of {', '.join(FEATURE_KINDS)}"
            )
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.win_length < 2:
            raise ConfigError(
                f"frame_ms={self.frame_ms:g} gives {self.win_length} samples at "
                f"{self.sample_rate} Hz: a frame needs at least 2"
            )
        if self.hop_length < 1:
            raise ConfigError(f"hop_ms={self.hop_ms:g} gives no sample at {self.sample_rate} Hz")
        if self.kind == "raw":
            return
        nyquist = self.sample_rate / 2
        if not 0.0 <= self.f_min < self.upper_frequency <= nyquist:
            raise ConfigError(
                f"mel band {self.f_min:g}-{self.upper_frequency:g} Hz is not inside "
                f"0-{nyquist:g} Hz (half of sample_rate={self.sample_rate})"
            )
        if self.n_mels < 1:
            raise ConfigError(f"n_mels must be at least 1, got {self.n_mels}")
        if self.kind == "mfcc" and not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc={self.n_mfcc} must be between 1 and n_mels={self.n_mels}")

    @property
    def win_length(self) -> int:
        return round(self.frame_ms * self.sample_rate / 1000)

    @property
    def hop_length(self) -> int:
        return round(self.hop_ms * self.sample_rate / 1000)

    @property
    def n_fft(self) -> int:
        return self.win_length

    @property
    def upper_frequency(self) -> float:
        return self.sample_rate / 2 if self.f_max is None else self.f_max

    @property
    def size(self) -> int:
        """Features per frame."""
        return {"log_mel": self.n_mels, "mfcc": self.n_mfcc, "raw": self.n_fft}[self.kind]

    def num_frames(self, num_samples: int) -> int:
        """Frames of a clip of ``num_samples`` samples (0 when shorter than one frame)."""
        if num_samples < self.n_fft:
            return 0
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def key(self) -> str:
        """A short hash of the settings that decide the values (and of the feature code's
        version): ``n_mfcc`` counts only for MFCCs, the mel keys not for raw frames."""
        state = {**asdict(self), "version": _FEATURE_VERSION}
        if self.kind != "mfcc":
            del state["n_mfcc"]
        if self.kind == "raw":
            for unused in ("n_mels", "f_min", "f_max"):
                del state[unused]
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["FEATURE_KINDS", "FeatureKind", "FeatureSettings"]
