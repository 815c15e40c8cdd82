"""Inference for language models: sampling text (temperature, top-k, top-p)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import UserError
from rnnkit.rundir import PREPROCESS_DIR
from rnnkit.tasks.predictor import Predictor


class LanguageModelPredictor(Predictor):
    _text_pipeline: Any = None

    @torch.no_grad()
    def generate(
        self,
        prompt: str = "",
        length: int = 100,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> str:
        """Continue ``prompt`` with ``length`` sampled tokens; returns prompt + continuation.

        The prompt goes through the run's tokenizer (unknown words become ``<unk>``).
        ``temperature`` 0 decodes greedily; otherwise logits are divided by it and
        restricted to the ``top_k`` likeliest tokens and/or the smallest set whose
        probability reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020) before
        sampling. The same ``seed`` gives the same text. Word models join tokens with
        spaces and write ``<eos>`` as a new line; character models emit characters.
        """
        _check_sampling(length, temperature, top_k, top_p)
        pipeline = self.text_pipeline()
        vocab = pipeline.vocab
        prompt_ids = pipeline.encode(prompt) if prompt else []
        if not prompt_ids:
            # Start where a line starts: after <eos> (words) or a newline (characters).
            newline = vocab.stoi.get("\n") if self.info.get("char_level") else None
            prompt_ids = [newline if newline is not None else vocab.eos_id]
            prompt = ""
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            if not 0 <= seed < 2**64:
                raise UserError(f"seed={seed} is out of range; use 0 <= seed < 2**64")
            generator.manual_seed(seed)
        banned = torch.tensor([vocab.pad_id, vocab.bos_id])  # never targets in training
        model = self.model
        model.eval()
        logits, state = model(torch.tensor(prompt_ids).view(-1, 1))  # (T, 1, V)
        next_logits = logits[-1, 0]  # (V,)
        generated: list[int] = []
        for _ in range(length):
            token = sample_token(next_logits, temperature, top_k, top_p, generator, banned)
            generated.append(token)
            logits, state = model(torch.tensor([[token]]), state)
            next_logits = logits[-1, 0]
        continuation = pipeline.decode(generated)
        if not prompt:
            return continuation
        separator = "" if self.info.get("char_level") or continuation.startswith("\n") else " "
        return prompt + separator + continuation

    def text_pipeline(self) -> Any:
        """The run's fitted :class:`rnnkit.data.text.TextPipeline` (from JSON)."""
        if self._text_pipeline is None:
            from rnnkit.data.text import TextPipeline

            self._text_pipeline = TextPipeline.load(self.run_dir / PREPROCESS_DIR)
        return self._text_pipeline


def sample_token(
    logits: Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator,
    banned: Tensor | None = None,
) -> int:
    """One token id from ``logits`` (V,) with temperature, top-k and top-p filtering."""
    logits = logits.float().clone()
    if banned is not None:
        logits[banned] = float("-inf")
    if temperature == 0.0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = float("-inf")
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p: the likeliest
        # token always stays.
        drop = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p
        logits[order[drop]] = float("-inf")
    probabilities = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))


#: The most tokens one generate() call makes (a 1e9-token call would run for days).
MAX_GENERATE_LENGTH = 1_000_000


def _check_sampling(
    length: int, temperature: float, top_k: int | None, top_p: float | None
) -> None:
    if length < 0:
        raise UserError(f"length={length} is negative; use 0 or more tokens")
    if length > MAX_GENERATE_LENGTH:
        raise UserError(
            f"length={length} is more than {MAX_GENERATE_LENGTH:,} tokens; generate in parts "
            "(a prompt continues where the last part ended)"
        )
    if temperature < 0:
        raise UserError(f"temperature={temperature:g} is negative; use 0 (greedy) or more")
    if not math.isfinite(temperature) or 0 < temperature < 1e-6:
        raise UserError(
            f"temperature={temperature:g} is not usable; use 0 (greedy) or a finite value >= 1e-6"
        )
    if top_k is not None and top_k < 1:
        raise UserError(f"top_k={top_k} must be at least 1 (or unset)")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise UserError(f"top_p={top_p:g} must be in (0, 1] (or unset)")
