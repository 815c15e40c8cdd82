"""What a speech recogniser exports: samples to per-frame symbol log-probabilities, with
the feature front end (framing, DFT, mel filters, DCT, normalisation) inside the graph."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec
from rnnkit.tasks.speech_recognition.predictor import SpeechPipeline, parts_from_info


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    settings, norm, tokens = parts_from_info(info)
    pipeline = SpeechPipeline(settings, norm, model).eval()

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        # ``steps`` frames' worth of samples; a full-length clip and shorter ones.
        samples = settings.n_fft + settings.hop_length * (4 * steps - 1)
        wave = 0.1 * torch.randn((batch, samples), generator=generator)
        lengths = torch.randint(settings.n_fft, samples + 1, (batch,), generator=generator)
        lengths[0] = samples
        return wave, lengths

    return Signature(
        module=pipeline,
        inputs=(
            TensorSpec(
                "wave",
                "float32",
                ("batch", "samples"),
                f"mono samples in [-1, 1] at {settings.sample_rate} Hz, zero-padded after "
                "each clip",
            ),
            TensorSpec("lengths", "int64", ("batch",), "samples of each clip (>= one frame)"),
        ),
        outputs=(
            TensorSpec(
                "log_probs",
                "float32",
                ("batch", "frames", len(tokens)),
                "per-frame log-probabilities over 'symbols' (index 0 is the CTC blank)",
            ),
            TensorSpec("frames", "int64", ("batch",), "valid output frames of each clip"),
        ),
        sample=sample,
        extra={"symbols": list(tokens.symbols), "units": tokens.units, "blank": tokens.blank},
    )
