"""Bahdanau and Luong attention against hand computations: masks, sums, known values."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.nn.attention import (
    BahdanauAttention,
    LuongAttention,
    lengths_to_mask,
    masked_softmax,
)


def test_lengths_to_mask_marks_the_first_length_positions():
    mask = lengths_to_mask(torch.tensor([3, 1, 4]), 4)
    assert mask.tolist() == [
        [True, True, True, False],
        [True, False, False, False],
        [True, True, True, True],
    ]


def test_masked_softmax_gives_exact_zeros_and_sums_to_one():
    scores = torch.tensor([[1.0, 2.0, 50.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    weights = masked_softmax(scores, mask)
    assert weights[0, 2].item() == 0.0  # a huge score on a padded position counts for nothing
    e = math.exp(1.0)
    assert weights[0, :2].tolist() == pytest.approx([e / (e + e * e), e * e / (e + e * e)])
    assert weights[1].tolist() == pytest.approx([1 / 3] * 3)


def test_luong_dot_on_a_case_computed_by_hand():
    # memory rows h1 = (1, 0), h2 = (0, 1), h3 = (5, 5) (padding); query q = (2, 0).
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    query = torch.tensor([[2.0, 0.0]])
    mask = lengths_to_mask(torch.tensor([2]), 3)
    context, weights = LuongAttention(2, 2, "dot")(query, memory, mask)
    # scores q.h1 = 2, q.h2 = 0 -> weights e^2/(e^2+1), 1/(e^2+1), 0
    a1 = math.exp(2) / (math.exp(2) + 1)
    assert weights.tolist() == [pytest.approx([a1, 1 - a1, 0.0])]
    assert weights[0, 2].item() == 0.0
    assert context.tolist() == [pytest.approx([a1, 1 - a1])]


def test_luong_general_applies_its_matrix_between_query_and_memory():
    attention = LuongAttention(2, 3, "general")
    with torch.no_grad():
        attention.weight.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))  # W_a
    memory = torch.tensor([[[1.0, 9.0, 0.0], [0.0, 9.0, 1.0]]])  # (1, 2, 3)
    query = torch.tensor([[1.0, 1.0]])
    context, weights = attention(query, memory)
    # q^T W_a h1 = 1, q^T W_a h2 = 2
    a1 = 1 / (1 + math.e)
    assert weights.tolist() == [pytest.approx([a1, 1 - a1])]
    assert context.tolist() == [pytest.approx([a1, 9.0, 1 - a1])]


def test_bahdanau_on_a_case_computed_by_hand():
    attention = BahdanauAttention(query_size=1, memory_size=1, attention_size=2)
    with torch.no_grad():
        attention.query_projection.weight.copy_(torch.tensor([[1.0], [0.0]]))  # W
        attention.memory_projection.weight.copy_(torch.tensor([[0.0], [1.0]]))  # U
        attention.memory_projection.bias.zero_()
        attention.v.weight.copy_(torch.tensor([[1.0, 2.0]]))  # v
    memory = torch.tensor([[[0.5], [-1.0], [3.0]]])  # (1, 3, 1)
    query = torch.tensor([[0.25]])
    context, weights = attention(query, memory, lengths_to_mask(torch.tensor([2]), 3))
    # e_s = tanh(0.25) + 2 tanh(h_s)
    scores = [math.tanh(0.25) + 2 * math.tanh(h) for h in (0.5, -1.0)]
    total = sum(math.exp(s) for s in scores)
    expected = [math.exp(s) / total for s in scores]
    assert weights.tolist() == [pytest.approx([*expected, 0.0])]
    assert weights[0, 2].item() == 0.0
    assert context.item() == pytest.approx(0.5 * expected[0] - 1.0 * expected[1])


@pytest.mark.parametrize(
    "attention",
    [BahdanauAttention(4, 6, 5), LuongAttention(6, 6, "dot"), LuongAttention(4, 6, "general")],
)
def test_padding_gets_zero_weight_and_does_not_change_the_context(attention):
    torch.manual_seed(0)
    query_size = 6 if isinstance(attention, LuongAttention) and attention.weight is None else 4
    memory = torch.randn(3, 5, 6)
    query = torch.randn(3, query_size)
    lengths = torch.tensor([5, 2, 3])
    context, weights = attention(query, memory, lengths_to_mask(lengths, 5))
    assert torch.all(weights[~lengths_to_mask(lengths, 5)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    # Changing what sits in the padding changes nothing.
    noisy = memory.clone()
    noisy[1, 2:] = 100.0
    context2, weights2 = attention(query, noisy, lengths_to_mask(lengths, 5))
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(weights2, weights)
    # Each row equals the same row attended alone, without padding.
    alone, _ = attention(query[1:2], memory[1:2, :2])
    torch.testing.assert_close(context[1:2], alone)
    # Precomputed keys give the same result.
    keys = attention.precompute(memory)
    context3, _ = attention(query, memory, lengths_to_mask(lengths, 5), keys=keys)
    torch.testing.assert_close(context3, context)


def test_gradients_do_not_flow_into_padded_positions():
    attention = BahdanauAttention(3, 3, 4)
    memory = torch.randn(1, 4, 3, requires_grad=True)
    context, _ = attention(torch.randn(1, 3), memory, lengths_to_mask(torch.tensor([2]), 4))
    context.sum().backward()
    assert torch.all(memory.grad[0, 2:] == 0)
    assert torch.any(memory.grad[0, :2] != 0)


def test_dot_attention_refuses_unequal_sizes_and_unknown_scores():
    with pytest.raises(ValueError, match=r"dot attention needs equal sizes.*query_size=4"):
        LuongAttention(4, 6, "dot")
    with pytest.raises(ValueError, match="score='concat' is not one of dot, general"):
        LuongAttention(4, 4, "concat")  # type: ignore[arg-type]
