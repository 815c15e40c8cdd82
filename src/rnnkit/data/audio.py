"""Audio input: read clips, resample, and turn them into frame features.

The path from a file to what a recurrent model reads::

    wave = load_audio("clip.wav", sample_rate=8000)       # (N,) float32 in [-1, 1], mono
    features = AudioFeatures(FeatureSettings(kind="log_mel", sample_rate=8000))
    x, frames = features(torch.from_numpy(wave)[None])     # (1, T, F), (1,)
    x = FeatureNorm.fit([...train features...]).eval()(x, frames)   # or mode="utterance"
    x = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=10)(x, frames)

Reading uses ``soundfile`` (libsndfile: WAV, FLAC, OGG); several channels are averaged to
one; another rate is resampled with scipy's polyphase filter (``resample_poly``).

The features are torch modules (framing, a DFT as a matrix product, a mel filterbank and a
DCT are buffers), so the same code runs on the model's device and exports with the model.
They follow librosa's definitions, and a test checks them against librosa:

- frames: ``n_fft = win_length = round(frame_ms * sample_rate / 1000)`` samples every
  ``hop_length = round(hop_ms * sample_rate / 1000)``, no centring or padding, so a clip of
  ``N >= n_fft`` samples has ``1 + (N - n_fft) // hop_length`` frames;
- power spectrum ``P[t, k] = |sum_n w[n] x[t*hop + n] e^{-2 pi i k n / n_fft}|^2`` with a
  periodic Hann window ``w``;
- ``log_mel = 10 log10(max(P @ M, 1e-10))`` where ``M`` is the Slaney-style mel filterbank
  (triangles on the Slaney mel scale, area-normalised; librosa's default);
- ``mfcc = log_mel @ D``, ``D`` the orthonormal DCT-II, first ``n_mfcc`` coefficients;
- ``raw``: the frames' samples themselves (``n_fft`` values per frame, no window).

Features of a file are cached as ``.npy`` keyed by the file's sha256 and the settings
(:func:`extract_features`), as the text pipeline caches token ids.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.audio_settings import FEATURE_KINDS, FeatureSettings
from rnnkit.data.download import cache_root, file_sha256
from rnnkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
LOG_FLOOR = 1e-10  # power floor before the logarithm (librosa's amin)

# Magic bytes of the formats soundfile reads: a file that starts otherwise is not audio.
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM")


# ----------------------------------------------------------------------------- reading


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The samples of an audio file as float32 in [-1, 1], ``(N,)`` mono, and its rate.

    Several channels are averaged (mono mixdown). Raises :class:`DataError` naming the
    file for a missing file, a file that is not audio, or a corrupt one.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head not in _MAGIC:
        raise DataError(
            f"{path}: not an audio file (it does not start like WAV, FLAC or OGG); "
            f"readable formats: {', '.join(AUDIO_SUFFIXES)}"
        )
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)  # (N, C)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        # LibsndfileError.error_string is libsndfile's reason without "Error opening ...".
        reason = getattr(err, "error_string", "") or str(err) or type(err).__name__
        raise DataError(f"{path}: corrupt or unreadable audio file ({reason})") from None
    if samples.shape[1] > 1:
        samples = samples.mean(axis=1, keepdims=True)  # mono mixdown
    return np.ascontiguousarray(samples[:, 0]), int(rate)


def resample(wave: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """``wave`` (N,) at ``orig_rate`` resampled to ``target_rate`` (float32).

    scipy's polyphase filter (``resample_poly``, a Kaiser-windowed low-pass FIR) with the
    rates' ratio reduced by their gcd; the same rate returns ``wave`` unchanged.
    """
    if orig_rate == target_rate:
        return wave
    if orig_rate <= 0 or target_rate <= 0:
        raise DataError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    from scipy.signal import resample_poly

    divisor = math.gcd(orig_rate, target_rate)
    up, down = target_rate // divisor, orig_rate // divisor
    return resample_poly(wave, up, down).astype(np.float32)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """A clip as ``(N,)`` float32 mono at ``sample_rate`` (read, mixed down, resampled)."""
    wave, rate = read_audio(path)
    if rate != sample_rate:
        log.debug("resampling %s from %d Hz to %d Hz", path, rate, sample_rate)
    return resample(wave, rate, sample_rate)


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int) -> None:
    """Write ``wave`` (N,) float in [-1, 1] as 16-bit PCM WAV, atomically."""
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        soundfile.write(tmp, np.clip(wave, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ----------------------------------------------------------------------------- filters


def hz_to_mel(hz: Tensor) -> Tensor:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    f_break, mel_break = 1000.0, 15.0
    log_step = math.log(6.4) / 27.0
    linear = hz * 3.0 / 200.0
    logarithmic = mel_break + torch.log(torch.clamp(hz, min=f_break) / f_break) / log_step
    return torch.where(hz >= f_break, logarithmic, linear)


def mel_to_hz(mel: Tensor) -> Tensor:
    """The inverse of :func:`hz_to_mel`."""
    f_break, mel_break = 1000.0, 15.0
    log_step = math.log(6.4) / 27.0
    linear = mel * 200.0 / 3.0
    logarithmic = f_break * torch.exp(log_step * (mel - mel_break))
    return torch.where(mel >= mel_break, logarithmic, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> Tensor:
    """Triangular filters ``(n_fft // 2 + 1, n_mels)`` on the Slaney mel scale.

    Filter ``m`` rises from edge ``m`` to edge ``m + 1`` and falls to edge ``m + 2`` of
    ``n_mels + 2`` edges evenly spaced in mels; each is scaled by ``2 / (upper - lower)``
    in Hz so that all have the same area ("slaney" normalisation).
    """
    dtype = torch.float64  # the edges are differences of close numbers
    bins = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=dtype)  # (K,)
    mel_edges = torch.linspace(
        float(hz_to_mel(torch.tensor(f_min, dtype=dtype))),
        float(hz_to_mel(torch.tensor(f_max, dtype=dtype))),
        n_mels + 2,
        dtype=dtype,
    )
    edges = mel_to_hz(mel_edges)  # (M + 2,) in Hz
    widths = edges.diff()  # (M + 1,)
    offsets = edges[:, None] - bins[None, :]  # (M + 2, K): edge minus bin frequency
    rising = -offsets[:-2] / widths[:-1, None]  # (M, K)
    falling = offsets[2:] / widths[1:, None]  # (M, K)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights = weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.to(torch.float32).contiguous()  # (K, M)


def dct_matrix(n_inputs: int, n_outputs: int) -> Tensor:
    """The orthonormal DCT-II as a matrix ``(n_inputs, n_outputs)``: ``y = x @ D``.

    ``y[k] = s_k sum_n x[n] cos(pi k (2n + 1) / (2 N))`` with ``s_0 = sqrt(1/N)`` and
    ``s_k = sqrt(2/N)`` otherwise.
    """
    n = torch.arange(n_inputs, dtype=torch.float64)[:, None]
    k = torch.arange(n_outputs, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_inputs))
    scale = torch.full((n_outputs,), math.sqrt(2.0 / n_inputs), dtype=torch.float64)
    scale[0] = math.sqrt(1.0 / n_inputs)
    return (basis * scale).to(torch.float32)


def _dft_bases(n_fft: int) -> tuple[Tensor, Tensor]:
    """Real and imaginary DFT bases ``(n_fft, n_fft // 2 + 1)`` for one-sided spectra."""
    n = torch.arange(n_fft, dtype=torch.float64)[:, None]
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2.0 * math.pi * n * k / n_fft
    return torch.cos(angle).to(torch.float32), (-torch.sin(angle)).to(torch.float32)


# ----------------------------------------------------------------------------- features


class AudioFeatures(nn.Module):
    """Waveforms ``(B, N)`` -> frame features ``(B, T, F)`` and frame counts ``(B,)``.

    See the module docstring for the equations. Padding beyond ``lengths`` yields frames
    past each clip's count; callers mask them with the returned counts.
    """

    def __init__(self, settings: FeatureSettings) -> None:
        super().__init__()
        self.settings = settings
        n_fft = settings.n_fft
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        cos, sin = _dft_bases(n_fft)
        self.register_buffer("dft_real", cos, persistent=False)
        self.register_buffer("dft_imag", sin, persistent=False)
        if settings.kind != "raw":
            bank = mel_filterbank(
                settings.sample_rate,
                n_fft,
                settings.n_mels,
                settings.f_min,
                settings.upper_frequency,
            )
            self.register_buffer("mel_bank", bank, persistent=False)
        if settings.kind == "mfcc":
            dct = dct_matrix(settings.n_mels, settings.n_mfcc)
            self.register_buffer("dct", dct, persistent=False)

    def frame_counts(self, lengths: Tensor) -> Tensor:
        """Frames of clips with ``lengths`` samples (0 for a clip shorter than a frame)."""
        s = self.settings
        frames = torch.div(lengths - s.n_fft, s.hop_length, rounding_mode="floor") + 1
        return torch.clamp(frames, min=0)

    def power_spectrum(self, frames: Tensor) -> Tensor:
        """``|DFT(window * frames)|^2``: ``(B, T, n_fft)`` -> ``(B, T, n_fft // 2 + 1)``."""
        windowed = frames * self.window  # (B, T, n_fft)
        real = windowed @ self.dft_real  # (B, T, K)
        imag = windowed @ self.dft_imag  # (B, T, K)
        return real.square() + imag.square()

    def forward(self, wave: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = self.settings
        if wave.dim() != 2:
            raise ValueError(f"expected waveforms (B, N), got shape {tuple(wave.shape)}")
        batch, samples = wave.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long, device=wave.device)
        if samples < s.n_fft:
            # Too short for one frame: no frames (callers report which clip).
            empty = wave.new_zeros(batch, 0, s.size)
            return empty, torch.zeros_like(lengths)
        frames = wave.unfold(-1, s.n_fft, s.hop_length)  # (B, T, n_fft)
        counts = self.frame_counts(lengths.to(wave.device))
        if s.kind == "raw":
            return frames, counts
        mel = self.power_spectrum(frames) @ self.mel_bank  # (B, T, M)
        log_mel = 10.0 * torch.log10(torch.clamp(mel, min=LOG_FLOOR))
        if s.kind == "log_mel":
            return log_mel, counts
        return log_mel @ self.dct, counts  # (B, T, n_mfcc)


def clip_features(wave: np.ndarray, settings: FeatureSettings, source: str | Path) -> np.ndarray:
    """Features ``(T, F)`` float32 of one clip; a clip shorter than a frame is a DataError."""
    frames = settings.num_frames(len(wave))
    if frames == 0:
        raise DataError(
            f"{source}: clip of {len(wave)} samples ({1000 * len(wave) / settings.sample_rate:.1f}"
            f" ms) is shorter than one frame of {settings.n_fft} samples "
            f"(frame_ms={settings.frame_ms:g} at {settings.sample_rate} Hz)"
        )
    with torch.no_grad():
        features, _ = _module_for(settings)(torch.from_numpy(wave)[None])
    return features[0].numpy()


@functools.lru_cache(maxsize=8)
def _module_for(settings: FeatureSettings) -> AudioFeatures:
    # Building the filter bank and DFT bases costs more than featurising a short clip.
    return AudioFeatures(settings)


# ----------------------------------------------------------------------------- cache


def feature_cache_dir(settings: FeatureSettings, cache_dir: str | Path | None = None) -> Path:
    """Where features with ``settings`` are cached: ``<cache>/audio-features/<key>/``."""
    return cache_root(cache_dir) / "audio-features" / settings.key()


def extract_features(
    paths: Sequence[str | Path],
    settings: FeatureSettings,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> list[np.ndarray]:
    """Features ``(T_i, F)`` of each file, cached as ``<sha256 of the file>.npy``.

    A file already featurised with the same settings is read from the cache (its hash is
    recomputed, so an edited file is featurised again).
    """
    folder = feature_cache_dir(settings, cache_dir)
    if use_cache:
        folder.mkdir(parents=True, exist_ok=True)
    out: list[np.ndarray] = []
    hits = 0
    for path in paths:
        target = folder / f"{file_sha256(path)}.npy" if use_cache else None
        if target is not None and target.is_file():
            out.append(np.load(target))
            hits += 1
            continue
        features = clip_features(load_audio(path, settings.sample_rate), settings, path)
        if target is not None:
            _save_npy_atomic(target, features)
        out.append(features)
    if use_cache:
        log.info("features of %d clips (%d from the cache %s)", len(out), hits, folder)
    return out


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ----------------------------------------------------------------------------- normalisation


NormMode = Literal["global", "utterance", "none"]


def _masked_moments(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation over each sequence's valid frames: ``(B, 1, F)`` each."""
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]  # (B, T)
    weight = valid.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    count = weight.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, 1, 1)
    mean = (x * weight).sum(dim=1, keepdim=True) / count
    var = ((x - mean).square() * weight).sum(dim=1, keepdim=True) / count
    return mean, var.sqrt()


class FeatureNorm(nn.Module):
    """Feature normalisation: ``(x - mean) / (std + eps)`` per feature.

    ``global``: ``mean``/``std`` fitted once on the training clips (:meth:`fit`) and kept as
    buffers (saved with the model, so inference applies the same numbers);
    ``utterance``: each clip's own mean and std over its valid frames (cepstral mean and
    variance normalisation); ``none``: unchanged.
    """

    def __init__(self, mode: NormMode, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        if mode not in ("global", "utterance", "none"):
            raise ConfigError(f"unknown normalisation {mode!r}: use global, utterance or none")
        self.mode = mode
        self.eps = eps
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    @classmethod
    def fit(cls, features: Iterable[np.ndarray], eps: float = 1e-5) -> FeatureNorm:
        """Global statistics of ``features`` (each ``(T_i, F)``), summed in float64."""
        total, total_sq, count, size = None, None, 0, None
        for item in features:
            item = np.asarray(item, dtype=np.float64)
            size = item.shape[1]
            total = item.sum(axis=0) if total is None else total + item.sum(axis=0)
            total_sq = (
                np.square(item).sum(axis=0)
                if total_sq is None
                else total_sq + np.square(item).sum(0)
            )
            count += item.shape[0]
        if size is None or count == 0:
            raise DataError("cannot fit feature normalisation: the training split has no frames")
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
        norm = cls("global", size, eps)
        norm.mean.copy_(torch.from_numpy(mean).float())
        norm.std.copy_(torch.from_numpy(std).float())
        return norm

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.mode == "none":
            return x
        if self.mode == "global":
            return (x - self.mean) / (self.std + self.eps)
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
        mean, std = _masked_moments(x, lengths)
        return (x - mean) / (std + self.eps)

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "eps": self.eps,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureNorm:
        norm = cls(data["mode"], len(data["mean"]), data["eps"])
        norm.mean.copy_(torch.tensor(data["mean"]))
        norm.std.copy_(torch.tensor(data["std"]))
        return norm


# ----------------------------------------------------------------------------- augmentation


class SpecAugment(nn.Module):
    """Random frequency and time masks on ``(B, T, F)`` features, in training only.

    Each of ``freq_masks`` masks zeroes ``f ~ U{0..freq_width}`` consecutive features from
    ``f0 ~ U{0..F - f}``; each of ``time_masks`` masks zeroes ``t ~ U{0..time_width}``
    consecutive frames (at most ``max_time_fraction`` of the clip's own length) inside the
    clip's valid frames. Zero is the mean after normalisation. Time warping is left out.
    Park et al. (2019), SpecAugment: A Simple Data Augmentation Method for Automatic Speech
    Recognition, Interspeech 2019, section 2.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 10,
        max_time_fraction: float = 0.2,
    ) -> None:
        super().__init__()
        for name, value in (
            ("freq_masks", freq_masks),
            ("freq_width", freq_width),
            ("time_masks", time_masks),
            ("time_width", time_width),
        ):
            if value < 0:
                raise ConfigError(f"SpecAugment {name} must be >= 0, got {value}")
        if not 0.0 <= max_time_fraction <= 1.0:
            raise ConfigError(f"max_time_fraction must be in [0, 1], got {max_time_fraction}")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.max_time_fraction = max_time_fraction

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        if not self.training:
            return x
        batch, steps, size = x.shape
        if lengths is None:
            lengths = torch.full((batch,), steps)
        lengths = lengths.to("cpu")
        keep = torch.ones(batch, steps, size, dtype=torch.bool)
        features = torch.arange(size)[None, :]  # (1, F)
        frames = torch.arange(steps)[None, :]  # (1, T)
        for _ in range(self.freq_masks):
            width = torch.randint(
                0, min(self.freq_width, size) + 1, (batch, 1), generator=generator
            )
            start = (torch.rand(batch, 1, generator=generator) * (size - width + 1)).long()
            band = (features >= start) & (features < start + width)  # (B, F)
            keep &= ~band[:, None, :]
        limit = torch.minimum(
            torch.full((batch,), self.time_width),
            (lengths.float() * self.max_time_fraction).long(),
        )  # (B,)
        for _ in range(self.time_masks):
            width = (torch.rand(batch, generator=generator) * (limit + 1).float()).long()[:, None]
            room = (lengths[:, None] - width + 1).clamp(min=1)
            start = (torch.rand(batch, 1, generator=generator) * room.float()).long()
            span = (frames >= start) & (frames < start + width)  # (B, T)
            keep &= ~span[:, :, None]
        return x * keep.to(device=x.device, dtype=x.dtype)


__all__ = [
    "AUDIO_SUFFIXES",
    "FEATURE_KINDS",
    "AudioFeatures",
    "FeatureNorm",
    "FeatureSettings",
    "SpecAugment",
    "clip_features",
    "dct_matrix",
    "extract_features",
    "feature_cache_dir",
    "load_audio",
    "mel_filterbank",
    "read_audio",
    "resample",
    "write_wav",
]
