"""What a language model exports: one chunk step that carries the state."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.tasks.signature import Signature, TensorSpec


class LanguageModelStep(nn.Module):
    """A language model's chunk step, batch-first: ``(tokens, h0[, c0]) -> (logits,
    h_n[, c_n])`` with tokens (B, T), states (L, B, H) and logits (B, T, V)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.has_cell = model.config.cell == "lstm"

    def forward(self, tokens: Tensor, h0: Tensor, c0: Tensor | None = None) -> tuple[Tensor, ...]:
        state = (h0, c0) if self.has_cell else h0
        logits, state = self.model(tokens.transpose(0, 1), state)  # (T, B, V)
        logits = logits.transpose(0, 1)  # (B, T, V)
        if self.has_cell:
            return logits, state[0], state[1]
        return logits, state


def signature(model: nn.Module, info: dict[str, Any]) -> Signature:
    config = model.config
    step = LanguageModelStep(model).eval()
    state_shape = (config.num_layers, "batch", config.hidden_size)
    names = ("h0", "c0") if step.has_cell else ("h0",)
    state_inputs = tuple(
        TensorSpec(
            name,
            "float32",
            state_shape,
            "recurrent state (layers, batch, hidden): zeros to start a text, "
            f"the previous call's {name[0]}_n to continue it",
        )
        for name in names
    )
    state_outputs = tuple(
        TensorSpec(f"{name[0]}_n", "float32", state_shape, "state after the chunk")
        for name in names
    )

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        tokens = torch.randint(0, config.vocab_size, (batch, steps), generator=generator)
        shape = (config.num_layers, batch, config.hidden_size)
        states = tuple(torch.randn(shape, generator=generator) for _ in names)
        return (tokens, *states)

    return Signature(
        module=step,
        inputs=(
            TensorSpec(
                "tokens",
                "int64",
                ("batch", "time"),
                "token ids from preprocess/text_pipeline.json",
            ),
            *state_inputs,
        ),
        outputs=(
            TensorSpec(
                "logits",
                "float32",
                ("batch", "time", config.vocab_size),
                "next-token logits at every position (softmax gives probabilities)",
            ),
            *state_outputs,
        ),
        sample=sample,
        extra={"vocab_size": config.vocab_size, "cell": config.cell},
    )
