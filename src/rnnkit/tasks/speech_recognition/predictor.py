"""Transcribing audio files with a trained CTC model (no training library needed).

:class:`SpeechPipeline` is the whole path from samples to symbol log-probabilities as one
torch module (features, normalisation, acoustic model), so it runs on the model's device
and exports as one graph. :func:`transcribe` reads files, runs the pipeline and decodes;
:class:`SpeechRecognitionPredictor` is what ``rnnkit.load`` returns for a run.
The run directory keeps what it needs in ``preprocess/info.json`` and
``preprocess/speech.json`` (:func:`speech_info`)::

    {"features": {...FeatureSettings...}, "norm": {...}, "tokens": {...},
     "input_size": F, "num_symbols": S}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from rnnkit.data.audio import AudioFeatures, FeatureNorm, FeatureSettings, load_audio
from rnnkit.errors import DataError
from rnnkit.tasks.predictor import Predictor
from rnnkit.tasks.speech_recognition.decode import beam_decode, greedy_decode
from rnnkit.tasks.speech_recognition.tokens import CTCTokens

SPEECH_FILE = "speech.json"


def speech_info(settings: FeatureSettings, norm: FeatureNorm, tokens: CTCTokens) -> dict:
    """The JSON-ready description inference rebuilds the pipeline from."""
    return {
        "features": asdict(settings),
        "norm": norm.to_dict(),
        "tokens": tokens.to_dict(),
        "input_size": settings.size,
        "num_symbols": len(tokens),
    }


def parts_from_info(info: dict[str, Any]) -> tuple[FeatureSettings, FeatureNorm, CTCTokens]:
    return (
        FeatureSettings(**info["features"]),
        FeatureNorm.from_dict(info["norm"]),
        CTCTokens.from_dict(info["tokens"]),
    )


class SpeechPipeline(nn.Module):
    """Waveforms ``(B, N)`` at the model's sample rate -> log-probabilities ``(B, T', S)``
    and output lengths ``(B,)``: features, normalisation, acoustic model."""

    def __init__(self, settings: FeatureSettings, norm: FeatureNorm, model: nn.Module) -> None:
        super().__init__()
        self.features = AudioFeatures(settings)
        self.norm = norm
        self.model = model

    def forward(self, wave: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        features, frames = self.features(wave, lengths)  # (B, T, F), (B,)
        features = self.norm(features, frames)
        valid = torch.arange(features.shape[1], device=features.device)[None, :] < frames[:, None]
        features = features * valid.unsqueeze(-1).to(features.dtype)  # padding stays zero
        return self.model(features, frames)


def load_waves(paths: Sequence[str | Path], settings: FeatureSettings) -> tuple[Tensor, Tensor]:
    """Clips as a zero-padded batch ``(B, N)`` at the settings' rate, and their lengths.

    A clip shorter than one frame is a DataError naming it.
    """
    waves = []
    for path in paths:
        wave = torch.from_numpy(load_audio(path, settings.sample_rate))
        if settings.num_frames(len(wave)) == 0:
            raise DataError(
                f"{path}: clip of {len(wave)} samples is shorter than one frame of "
                f"{settings.n_fft} samples (frame_ms={settings.frame_ms:g} at "
                f"{settings.sample_rate} Hz)"
            )
        waves.append(wave)
    if not waves:
        raise DataError("no audio files to transcribe")
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    return pad_sequence(waves, batch_first=True), lengths


@torch.no_grad()
def transcribe(
    pipeline: SpeechPipeline,
    tokens: CTCTokens,
    paths: Sequence[str | Path],
    *,
    decoder: str = "beam",
    beam_size: int = 8,
    batch_size: int = 16,
) -> list[str]:
    """One transcript per file, in order."""
    pipeline.eval()
    device = next(pipeline.parameters()).device
    settings = pipeline.features.settings
    texts: list[str] = []
    for start in range(0, len(paths), batch_size):
        wave, lengths = load_waves(paths[start : start + batch_size], settings)
        log_probs, out_lengths = pipeline(wave.to(device), lengths.to(device))
        log_probs, out_lengths = log_probs.cpu(), out_lengths.cpu()
        if decoder == "greedy":
            decoded = greedy_decode(log_probs, out_lengths, tokens.blank)
        else:
            decoded = beam_decode(log_probs, out_lengths, beam_size, tokens.blank)
        texts.extend(tokens.decode(ids) for ids in decoded)
    return texts


class SpeechRecognitionPredictor(Predictor):
    """A trained speech recogniser: ``transcribe(paths)`` gives one text per audio file."""

    _pipeline: SpeechPipeline | None = None

    def pipeline(self) -> SpeechPipeline:
        """Samples -> log-probabilities: the run's features, normalisation and model."""
        if self._pipeline is None:
            settings, norm, _ = parts_from_info(self.info)
            self._pipeline = SpeechPipeline(settings, norm, self.model).eval()
        return self._pipeline

    def transcribe(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        decoder: str | None = None,
        beam_size: int | None = None,
    ) -> list[str]:
        """One transcript per audio file (WAV, FLAC, OGG; resampled to the model's rate).

        ``decoder`` (``greedy`` or ``beam``) and ``beam_size`` default to the run's
        ``model.decoder`` and ``model.beam_size``.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        decoder = decoder or self.config.model.decoder
        if decoder not in ("greedy", "beam"):
            raise DataError(f"unknown decoder {decoder!r}: use greedy or beam")
        _, _, tokens = parts_from_info(self.info)
        return transcribe(
            self.pipeline(),
            tokens,
            list(paths),
            decoder=decoder,
            beam_size=beam_size or self.config.model.beam_size,
        )


__all__ = [
    "SPEECH_FILE",
    "SpeechPipeline",
    "SpeechRecognitionPredictor",
    "load_waves",
    "parts_from_info",
    "speech_info",
    "transcribe",
]
