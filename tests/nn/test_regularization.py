"""Dropout variants for recurrent networks: masks fixed along time, scaling, evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.nn.regularization import (
    LockedDropout,
    check_probability,
    drop_weight,
    embedding_dropout,
    locked_dropout,
    recurrent_dropout_mask,
    zoneout_keep,
)


@pytest.mark.parametrize("batch_first", [False, True])
def test_locked_dropout_uses_one_mask_per_sequence_for_all_steps(batch_first):
    torch.manual_seed(0)
    x = torch.ones(5, 4, 64)  # (T, B, F) or (B, T, F)
    y = locked_dropout(x, 0.5, training=True, batch_first=batch_first)
    time_dim = 1 if batch_first else 0
    first_step = y.select(time_dim, 0).unsqueeze(time_dim)
    assert torch.equal(y, first_step.expand_as(y))  # the same mask at every step
    assert set(y.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    batch_dim = 0 if batch_first else 1
    assert not torch.equal(y.select(batch_dim, 0), y.select(batch_dim, 1))  # per sequence


def test_locked_dropout_is_identity_in_evaluation_and_module_matches_function():
    x = torch.randn(5, 4, 8)
    module = LockedDropout(0.3).eval()
    assert module(x) is x
    module.train()
    torch.manual_seed(1)
    expected = locked_dropout(x, 0.3, training=True)
    torch.manual_seed(1)
    torch.testing.assert_close(module(x), expected)
    assert repr(module) == "LockedDropout(p=0.3, batch_first=False)"


def test_embedding_dropout_drops_whole_words_and_keeps_padding_row():
    torch.manual_seed(0)
    embedding = nn.Embedding(50, 6, padding_idx=0)
    tokens = torch.arange(1, 50).repeat(3, 1)  # every word three times
    out = embedding_dropout(embedding, tokens, 0.5, training=True)
    dropped = (out == 0).all(-1)  # (3, 49)
    # A dropped word is dropped at each of its occurrences.
    assert torch.equal(dropped[0], dropped[1]) and torch.equal(dropped[0], dropped[2])
    assert 10 < int(dropped[0].sum()) < 40
    kept = ~dropped[0]
    torch.testing.assert_close(out[0][kept], 2 * embedding(tokens[0])[kept])
    assert torch.equal(embedding_dropout(embedding, tokens, 0.5, training=False), embedding(tokens))
    out.sum().backward()
    assert embedding.weight.grad[0].abs().sum() == 0  # padding row gets no gradient


def test_drop_weight_is_a_new_scaled_tensor_and_identity_in_evaluation():
    torch.manual_seed(0)
    weight = nn.Parameter(torch.randn(40, 30))
    assert drop_weight(weight, 0.5, training=False) is weight
    dropped = drop_weight(weight, 0.25, training=True)
    assert dropped is not weight and weight.is_leaf and weight.is_contiguous()
    zero = dropped == 0
    assert 0.15 < zero.float().mean().item() < 0.35
    torch.testing.assert_close(dropped[~zero], weight.detach()[~zero] / 0.75)
    dropped.sum().backward()
    assert (weight.grad[zero] == 0).all() and torch.allclose(
        weight.grad[~zero], torch.tensor(4 / 3)
    )


def test_drop_weight_keeps_its_mask_for_backward_as_bits():
    torch.manual_seed(0)
    weight = nn.Parameter(torch.randn(40, 30, dtype=torch.float64))
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        dropped = drop_weight(weight, 0.25, training=True)
    # One bit per weight (30 per row: 4 bytes), not the float mask plain autograd keeps.
    assert [(t.dtype, tuple(t.shape)) for t in saved] == [(torch.uint8, (40, 4))]
    probe = torch.randn_like(dropped)
    (grad,) = torch.autograd.grad((dropped * probe).sum(), weight)
    kept = dropped != 0
    torch.testing.assert_close(grad, probe * kept / 0.75)


def test_recurrent_mask_and_zoneout_keep_shapes_and_expectation():
    like = torch.zeros(1, dtype=torch.float64)
    mask = recurrent_dropout_mask(3, 7, 0.5, like)
    assert mask.shape == (3, 7) and mask.dtype == torch.float64
    assert set(mask.unique().tolist()) <= {0.0, 2.0}
    keep = zoneout_keep(4, 3, 7, 0.25, training=True, like=like)
    assert keep.shape == (4, 3, 7) and set(keep.unique().tolist()) <= {0.0, 1.0}
    expected = zoneout_keep(4, 3, 7, 0.25, training=False, like=like)
    assert expected.shape == (4, 3, 7) and (expected == 0.25).all()


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.5", True])
def test_probabilities_outside_zero_one_are_refused_with_the_value(bad):
    with pytest.raises(ValueError, match=rf"weight drop={bad!r} is not a probability in \[0, 1\)"):
        check_probability("weight drop", bad)
