"""What a translation model exports: two graphs, the encoder and one decoder step.

Decoding runs the encoder once per batch of sources, then the decoder step once per
output token, with the choice of the next token (greedy, beam search) in the caller's
hands between the steps; export writes each as its own graph (batch-first, ``batch`` and
``time`` dynamic, ``time`` the source length)::

    encoder:       source (B, S) int64, lengths (B,) int64
                   -> [memory (B, S, K), keys (B, S, A), mask (B, S) bool]
                      h (L, B, H), [c (L, B, H)], [feed (B, H)]
    decoder_step:  tokens (B,) int64, h, [c], [feed], [memory, keys, mask]
                   -> log_probs (B, V), h_next, [c_next], [feed_next], [attention (B, S)]

The bracketed tensors depend on the model: memory, keys and mask only with attention
(the decoder of ``attention: none`` reads the encoder's final state alone), ``c`` for
the LSTM, ``feed`` for Luong attention with input feeding (its attentional vector h~).
``keys`` are the attention's precomputed projection of the memory (``U h_s`` for
Bahdanau, ``W_a h_s`` for Luong's general score), so a step costs O(S). The encoder's
outputs feed the first step by name; each step's ``*_next`` outputs are the next step's
inputs of the same name without the suffix; io.json's ``decoding`` entry writes this
down with the special ids and the length limit.

``log_probs`` is the log-softmax of the step's logits over the whole target vocabulary;
the rules :mod:`rnnkit.tasks.translation.decode` adds are the caller's: never pick
``<pad>`` or ``<bos>``, end with ``<eos>``, and at most
``floor(max_length_ratio * S) + max_length_offset`` tokens before it. Greedy decoding
with these graphs gives the tokens ``rnnkit.load(run).translate(..., beam_size=1)``
gives (tested).

The decoder's extended options: recurrent dropout and weight drop are off at inference
and drop out; layer norm and zoneout are refused by name, as :mod:`rnnkit.export`
refuses them in any layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.errors import UserError
from rnnkit.nn.attention import lengths_to_mask
from rnnkit.tasks.signature import Signature, TensorSpec
from rnnkit.tasks.translation.model import DecoderState, EncoderOutput, Seq2Seq

SOURCE_PIPELINE = "preprocess/source/text_pipeline.json"
TARGET_PIPELINE = "preprocess/target/text_pipeline.json"


def _state_names(model: Seq2Seq) -> tuple[str, ...]:
    names = ("h", "c") if model.num_states == 2 else ("h",)
    return (*names, "feed") if model.input_feeding else names


def _attends(model: Seq2Seq) -> bool:
    return model.attention is not None


class EncoderGraph(nn.Module):
    """``(source, lengths) -> ([memory, keys, mask,] h[, c][, feed])`` (module docstring)."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        encoded, state = self.model.encode(source, lengths)
        outputs: list[Tensor] = []
        if _attends(self.model):
            assert encoded.keys is not None
            outputs += [encoded.memory, encoded.keys, encoded.mask]
        outputs += list(state.hidden)
        if state.feed is not None:
            outputs.append(state.feed)
        return tuple(outputs)


class DecoderStepGraph(nn.Module):
    """``(tokens, h[, c][, feed][, memory, keys, mask]) -> (log_probs, h_next[, c_next]
    [, feed_next][, attention])`` (module docstring)."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.num_states = model.num_states
        self.input_feeding = model.input_feeding
        self.attends = _attends(model)

    def forward(self, tokens: Tensor, *inputs: Tensor) -> tuple[Tensor, ...]:
        hidden = tuple(inputs[: self.num_states])  # each (L, B, H)
        rest = inputs[self.num_states :]
        feed = None
        if self.input_feeding:
            feed, rest = rest[0], rest[1:]
        encoded = None  # without attention the step reads no memory
        if self.attends:
            memory, keys, mask = rest  # (B, S, K), (B, S, A), (B, S)
            encoded = EncoderOutput(memory, mask, keys)
        logits, state, weights = self.model.step(tokens, DecoderState(hidden, feed), encoded)
        outputs = [torch.log_softmax(logits.float(), dim=-1), *state.hidden]  # (B, V)
        if state.feed is not None:
            outputs.append(state.feed)
        if weights is not None:
            outputs.append(weights)
        return tuple(outputs)


def _random_lengths(batch: int, steps: int, generator: torch.Generator) -> Tensor:
    # One full-length source and a shorter one, so the padded path is traced and checked.
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    if batch > 1 and steps > 1:
        lengths[1] = max(1, steps - 2)
    return lengths


def _refuse_decoder_options(model: Seq2Seq) -> None:
    """UserError naming a ``model.decoder`` option that export cannot rebuild on torch's
    kernels (recurrent dropout and weight drop are off at inference and drop out)."""
    why = "torch's recurrent kernels, which export rebuilds the layers on, do not have it"
    options = model.config.decoder
    if options.layer_norm:
        raise UserError(f"model.decoder.layer_norm=true cannot be exported: {why}")
    if options.zoneout:
        raise UserError(f"model.decoder.zoneout={options.zoneout} cannot be exported: {why}")


def signature(model: Seq2Seq, info: dict[str, Any]) -> tuple[Signature, Signature]:
    """The encoder's and the decoder step's signatures (see the module docstring)."""
    _refuse_decoder_options(model)
    config = model.config
    layers, hidden = config.num_layers, config.hidden_size
    source_vocab = model.source_embedding.num_embeddings
    target_vocab = model.target_embedding.num_embeddings
    memory_size = (2 if config.bidirectional else 1) * hidden
    attends = _attends(model)
    keys_size = 0
    if attends:
        with torch.no_grad():
            probe = torch.zeros(1, 1, memory_size, dtype=model.output.weight.dtype)
            assert model.attention is not None
            keys_size = model.attention.precompute(probe).shape[-1]
    names = _state_names(model)
    state_shapes: dict[str, tuple[int | str, ...]] = {
        "h": (layers, "batch", hidden),
        "c": (layers, "batch", hidden),
        "feed": ("batch", hidden),
    }
    state_meaning = {
        "h": "decoder hidden state (layers, batch, hidden)",
        "c": "decoder LSTM cell state (layers, batch, hidden)",
        "feed": "Luong's attentional vector h~ of the previous step, fed back as input",
    }
    memory_specs = (
        TensorSpec("memory", "float32", ("batch", "time", memory_size), "encoder outputs"),
        TensorSpec(
            "keys", "float32", ("batch", "time", keys_size), "attention's projection of memory"
        ),
        TensorSpec("mask", "bool", ("batch", "time"), "True at real source positions"),
    )
    initial_states = tuple(
        TensorSpec(name, "float32", state_shapes[name], f"initial {state_meaning[name]}")
        for name in names
    )
    encoder_outputs = (*(memory_specs if attends else ()), *initial_states)
    step_inputs = (
        TensorSpec("tokens", "int64", ("batch",), "previous target token (<bos> first)"),
        *(TensorSpec(name, "float32", state_shapes[name], state_meaning[name]) for name in names),
        *(memory_specs if attends else ()),
    )
    step_outputs = (
        TensorSpec(
            "log_probs",
            "float32",
            ("batch", target_vocab),
            "log-probabilities of the next target token (log-softmax over the vocabulary)",
        ),
        *(
            TensorSpec(f"{name}_next", "float32", state_shapes[name], f"the next step's {name}")
            for name in names
        ),
        *(
            (
                TensorSpec(
                    "attention",
                    "float32",
                    ("batch", "time"),
                    "attention weights over the source (0 at padding, rows sum to 1)",
                ),
            )
            if attends
            else ()
        ),
    )

    def encoder_sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        lengths = _random_lengths(batch, steps, generator)
        source = torch.randint(1, source_vocab, (batch, steps), generator=generator)
        source = source.masked_fill(~lengths_to_mask(lengths, steps), model.pad_id)
        return source, lengths

    def step_sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        tokens = torch.randint(0, target_vocab, (batch,), generator=generator)
        states = []
        for name in names:
            shape = tuple(batch if size == "batch" else size for size in state_shapes[name])
            states.append(torch.randn(shape, generator=generator).tanh())
        memory: tuple[Tensor, ...] = ()
        if attends:
            mask = lengths_to_mask(_random_lengths(batch, steps, generator), steps)
            memory = (
                torch.randn((batch, steps, memory_size), generator=generator),
                torch.randn((batch, steps, keys_size), generator=generator),
                mask,
            )
        return (tokens, *states, *memory)

    decoding = {
        "source_pipeline": SOURCE_PIPELINE,
        "target_pipeline": TARGET_PIPELINE,
        "source": "clean the sentence (cleaning), encode it with source_pipeline, append "
        "<eos>, pad with pad_id to the batch's longest; lengths count <eos>",
        "cleaning": info.get("cleaning"),
        "start": "tokens = <bos> for every sentence; the encoder's outputs feed the "
        "decoder_step inputs of the same names",
        "carry": {f"{name}_next": name for name in names},
        "banned_ids": "never generate <pad> or <bos>",
        "stop": "<eos>, or at most floor(max_length_ratio * S) + max_length_offset tokens "
        "before it (S = source length with <eos>)",
        "pad_id": info.get("pad_id"),
        "bos_id": info.get("bos_id"),
        "eos_id": info.get("eos_id"),
        "max_length_ratio": config.max_length_ratio,
        "max_length_offset": config.max_length_offset,
        "beam_size": config.beam_size,
        "length_penalty": config.length_penalty,
    }
    extra = {
        "source_lang": info.get("source_lang"),
        "target_lang": info.get("target_lang"),
        "attention": config.attention,
        "cell": config.cell,
        "decoding": decoding,
        "dynamic_axes": {"batch": "sentences per call", "time": "source tokens (with <eos>)"},
    }
    encoder = Signature(
        module=EncoderGraph(model).eval(),
        inputs=(
            TensorSpec(
                "source",
                "int64",
                ("batch", "time"),
                f"source token ids from {SOURCE_PIPELINE}, <eos> last, padded with pad_id",
            ),
            TensorSpec("lengths", "int64", ("batch",), "source tokens per sentence, <eos> in"),
        ),
        outputs=encoder_outputs,
        sample=encoder_sample,
        extra=extra,
        name="encoder",
    )
    step = Signature(
        module=DecoderStepGraph(model).eval(),
        inputs=step_inputs,
        outputs=step_outputs,
        sample=step_sample,
        extra={},
        name="decoder_step",
    )
    return encoder, step
