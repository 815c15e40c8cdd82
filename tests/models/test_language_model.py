"""LanguageModel: shapes, torch.nn reference, tied weights, init, dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.tasks.language_model.model import (
    LanguageModel,
    LanguageModelConfig,
    LockedDropout,
    detach_state,
)


def _model(**options) -> LanguageModel:
    torch.manual_seed(0)
    defaults = {"vocab_size": 17, "embedding_size": 6, "hidden_size": 6, "num_layers": 2}
    return LanguageModel(LanguageModelConfig(**{**defaults, **options}))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_shapes_and_state(cell: str) -> None:
    model = _model(cell=cell)
    logits, state = model(torch.randint(0, 17, (5, 3)))
    assert logits.shape == (5, 3, 17)
    first = state[0] if cell == "lstm" else state
    assert first.shape == (2, 3, 6)
    zeros = model.initial_state(3)
    assert type(zeros) is type(state)


def test_matches_torch_embedding_lstm_linear() -> None:
    model = _model().eval()
    reference = nn.ModuleDict(
        {"embedding": nn.Embedding(17, 6), "rnn": nn.LSTM(6, 6, 2), "decoder": nn.Linear(6, 17)}
    )
    reference.load_state_dict(model.state_dict())  # same parameter names and shapes
    tokens = torch.randint(0, 17, (7, 2))
    with torch.no_grad():
        logits, (h, c) = model(tokens)
        output, (h_ref, c_ref) = reference["rnn"](reference["embedding"](tokens))
        expected = reference["decoder"](output)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)


def test_tied_weights_share_one_matrix() -> None:
    model = _model(tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
    untied = sum(p.numel() for p in _model().parameters())
    tied = sum(p.numel() for p in model.parameters())
    assert untied - tied == 17 * 6


def test_tied_weights_need_equal_sizes() -> None:
    with pytest.raises(ConfigError, match=r"embedding_size \(4\) == model\.hidden_size \(6\)"):
        _model(tie_weights=True, embedding_size=4)


def test_uniform_init_bounds_every_parameter() -> None:
    model = _model(init="uniform", init_range=0.05)
    for name, parameter in model.named_parameters():
        assert parameter.abs().max() <= 0.05, name
        assert parameter.abs().max() > 0.03, name  # drawn, not left at zero


def test_locked_dropout_shares_the_mask_over_time() -> None:
    torch.manual_seed(0)
    dropout = LockedDropout(0.5).train()
    out = dropout(torch.ones(10, 3, 8))
    assert torch.equal(out[0] == 0, out[9] == 0)
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(dropout.eval()(torch.ones(2, 2, 2)), torch.ones(2, 2, 2))


def test_embedding_dropout_drops_whole_words() -> None:
    torch.manual_seed(1)
    model = _model(embedding_dropout=0.5).train()
    tokens = torch.tensor([[3, 3, 3, 4, 4, 4]]).t()  # (6, 1)
    from rnnkit.tasks.language_model.model import embedding_dropout

    vectors = embedding_dropout(model.embedding, tokens, 0.5, training=True)  # (6, 1, E)
    dropped = (vectors.abs().sum(-1) == 0).flatten().tolist()
    assert dropped[:3] == [dropped[0]] * 3 and dropped[3:] == [dropped[3]] * 3


def test_detach_state_keeps_values_and_drops_the_graph() -> None:
    model = _model()
    _, state = model(torch.randint(0, 17, (3, 2)))
    detached = detach_state(state)
    assert all(s.grad_fn is None for s in detached)
    assert all(torch.equal(a, b) for a, b in zip(state, detached, strict=True))
