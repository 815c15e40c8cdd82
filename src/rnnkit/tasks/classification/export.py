"""What a classifier exports: inputs and lengths to logits."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    text = info.get("input") == "text"
    num_classes = model.head.out_features
    if text:
        vocab_size = model.inputs.num_embeddings
        inputs_spec = TensorSpec(
            "inputs",
            "int64",
            ("batch", "time"),
            "token ids from preprocess/text_pipeline.json, padded with 0 after each text",
        )
    else:
        channels = model.inputs.in_features
        inputs_spec = TensorSpec(
            "inputs",
            "float32",
            ("batch", "time", channels),
            "audio features as preprocess/audio.json describes them (settings and "
            "normalisation), padded after each clip"
            if info.get("input") == "audio"
            else "features scaled with preprocess/scaler.json, padded after each sequence",
        )

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        if text:
            inputs = torch.randint(1, vocab_size, (batch, steps), generator=generator)
        else:
            inputs = torch.randn((batch, steps, channels), generator=generator)
        # One full-length sequence and shorter ones, so the padded path is traced and
        # checked (all lengths equal would trace the unpadded path only).
        lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
        lengths[0] = steps
        if batch > 1 and steps > 1:
            lengths[1] = max(1, steps - 2)
        return inputs, lengths

    return Signature(
        module=model,
        inputs=(
            inputs_spec,
            TensorSpec("lengths", "int64", ("batch",), "true length of each sequence (1..time)"),
        ),
        outputs=(
            TensorSpec(
                "logits",
                "float32",
                ("batch", num_classes),
                "class logits in the order of 'classes' (softmax gives probabilities)",
            ),
        ),
        sample=sample,
        extra={"classes": info.get("classes")},
    )
