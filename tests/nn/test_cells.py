"""Cells against torch.nn's cells, against a hand computation, and under gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from rnnkit.nn import GRUCell, LSTMCell, RNNCell

INPUT_SIZE, HIDDEN_SIZE, BATCH = 3, 4, 2


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def _matvec(matrix: list[list[float]], vector: list[float]) -> list[float]:
    return [sum(m * v for m, v in zip(row, vector, strict=True)) for row in matrix]


def _set(cell: torch.nn.Module, **values: list) -> None:
    with torch.no_grad():
        for name, value in values.items():
            getattr(cell, name).copy_(torch.tensor(value, dtype=torch.float64))


# (rnnkit cell, torch.nn cell, constructor keywords)
PAIRS = {
    "rnn_tanh": (RNNCell, torch.nn.RNNCell, {}),
    "rnn_relu": (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (GRUCell, torch.nn.GRUCell, {}),
}


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_matches_torch(kind: str, dtype: torch.dtype, bias: bool, with_state: bool) -> None:
    ours_cls, torch_cls, kwargs = PAIRS[kind]
    # Same seed, same registration order: the same initial weights as torch.nn.
    torch.manual_seed(0)
    ours = ours_cls(INPUT_SIZE, HIDDEN_SIZE, bias=bias, dtype=dtype, **kwargs)
    torch.manual_seed(0)
    reference = torch_cls(INPUT_SIZE, HIDDEN_SIZE, bias=bias, dtype=dtype, **kwargs)
    for (name, mine), (torch_name, theirs) in zip(
        ours.named_parameters(), reference.named_parameters(), strict=True
    ):
        assert name == torch_name
        assert torch.equal(mine, theirs)

    x = torch.randn(BATCH, INPUT_SIZE, dtype=dtype, requires_grad=True)
    state = None
    if with_state:
        count = 2 if kind == "lstm" else 1
        state = tuple(
            torch.randn(BATCH, HIDDEN_SIZE, dtype=dtype, requires_grad=True) for _ in range(count)
        )
        state = state if kind == "lstm" else state[0]
    out_ours = ours(x, state)
    out_torch = reference(x, state)
    out_ours = out_ours if isinstance(out_ours, tuple) else (out_ours,)
    out_torch = out_torch if isinstance(out_torch, tuple) else (out_torch,)
    tolerance = {"atol": 1e-6, "rtol": 1e-5} if dtype == torch.float32 else {}
    inputs = [x, *(() if state is None else (state if isinstance(state, tuple) else (state,)))]
    grads = []
    for outputs, module in ((out_ours, ours), (out_torch, reference)):
        loss = sum(
            (o * torch.linspace(-1, 1, o.numel(), dtype=dtype).view_as(o)).sum() for o in outputs
        )
        grads.append(torch.autograd.grad(loss, [*inputs, *module.parameters()]))
    for mine, theirs in zip(out_ours, out_torch, strict=True):
        torch.testing.assert_close(mine, theirs, **tolerance)
    for mine, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(mine, theirs, **tolerance)


@pytest.mark.parametrize("kind", PAIRS)
def test_unbatched_input_matches_torch(kind: str) -> None:
    ours_cls, torch_cls, kwargs = PAIRS[kind]
    ours = ours_cls(INPUT_SIZE, HIDDEN_SIZE, **kwargs)
    reference = torch_cls(INPUT_SIZE, HIDDEN_SIZE, **kwargs)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(INPUT_SIZE)
    mine, theirs = ours(x), reference(x)
    mine = mine if isinstance(mine, tuple) else (mine,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for a, b in zip(mine, theirs, strict=True):
        assert a.shape == (HIDDEN_SIZE,)
        torch.testing.assert_close(a, b)


CELLS = {
    "rnn_tanh": lambda: RNNCell(INPUT_SIZE, HIDDEN_SIZE),
    "rnn_relu": lambda: RNNCell(INPUT_SIZE, HIDDEN_SIZE, nonlinearity="relu"),
    "lstm": lambda: LSTMCell(INPUT_SIZE, HIDDEN_SIZE),
    "gru": lambda: GRUCell(INPUT_SIZE, HIDDEN_SIZE),
    "gru_reset_before": lambda: GRUCell(INPUT_SIZE, HIDDEN_SIZE, reset_after=False),
}


@pytest.mark.parametrize("kind", CELLS)
def test_gradcheck_inputs_states_and_parameters(kind: str) -> None:
    cell = CELLS[kind]().double()
    names = [name for name, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    x = torch.randn(BATCH, INPUT_SIZE, dtype=torch.float64, requires_grad=True)
    h = torch.randn(BATCH, HIDDEN_SIZE, dtype=torch.float64, requires_grad=True)
    c = torch.randn(BATCH, HIDDEN_SIZE, dtype=torch.float64, requires_grad=True)

    def step(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, *weights: torch.Tensor):
        state = (h, c) if kind == "lstm" else h
        return functional_call(cell, dict(zip(names, weights, strict=True)), (x, state))

    assert torch.autograd.gradcheck(step, (x, h, c, *params))


def test_rnn_step_by_hand() -> None:
    cell = RNNCell(1, 1).double()
    _set(cell, weight_ih=[[0.5]], weight_hh=[[-0.3]], bias_ih=[0.1], bias_hh=[0.2])
    h = cell(torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[0.4]], dtype=torch.float64))
    # h_t = tanh(0.5 * 2 + 0.1 - 0.3 * 0.4 + 0.2)
    assert h.item() == pytest.approx(math.tanh(1.18), abs=1e-12)

    relu = RNNCell(1, 1, nonlinearity="relu").double()
    relu.load_state_dict(cell.state_dict())
    for x, expected in ((2.0, 1.18), (-2.0, 0.0)):  # -1 + 0.1 - 0.12 + 0.2 < 0 is cut to 0
        h = relu(
            torch.tensor([[x]], dtype=torch.float64), torch.tensor([[0.4]], dtype=torch.float64)
        )
        assert h.item() == pytest.approx(expected, abs=1e-12)


def test_lstm_step_by_hand() -> None:
    cell = LSTMCell(1, 1).double()
    w_x, w_h = [0.1, 0.2, 0.3, 0.4], [0.5, -0.5, 0.25, -0.25]  # gates i, f, g, o
    b_x, b_h = [0.0, 1.0, 0.0, -1.0], [0.1, 0.1, 0.1, 0.1]
    _set(
        cell,
        weight_ih=[[w] for w in w_x],
        weight_hh=[[w] for w in w_h],
        bias_ih=b_x,
        bias_hh=b_h,
    )
    x, h, c = 1.5, 0.5, -0.2
    pre = [w_x[k] * x + b_x[k] + w_h[k] * h + b_h[k] for k in range(4)]
    i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), math.tanh(pre[2]), _sigmoid(pre[3])
    c_next = f * c + i * g
    h_next = o * math.tanh(c_next)

    def scalar(value: float) -> torch.Tensor:
        return torch.tensor([[value]], dtype=torch.float64)

    h_out, c_out = cell(scalar(x), (scalar(h), scalar(c)))
    assert c_out.item() == pytest.approx(c_next, abs=1e-12)
    assert h_out.item() == pytest.approx(h_next, abs=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_by_hand(reset_after: bool) -> None:
    cell = GRUCell(1, 2, reset_after=reset_after).double()
    # Rows: r (2), z (2), n (2); hidden size 2 so that W_hn mixes the two units.
    w_x = [[0.3], [-0.2], [0.1], [0.4], [0.5], [-0.6]]
    w_h = [[0.2, -0.1], [0.3, 0.4], [-0.5, 0.2], [0.1, 0.1], [0.7, -0.3], [0.2, 0.9]]
    b_x = [0.1, 0.0, -0.1, 0.2, 0.05, -0.05]
    b_h = [0.0, 0.1, 0.2, -0.2, 0.3, 0.4]
    _set(cell, weight_ih=w_x, weight_hh=w_h, bias_ih=b_x, bias_hh=b_h)
    x, h = 0.8, [0.5, -0.4]

    x_proj = [row[0] * x + b for row, b in zip(w_x, b_x, strict=True)]
    h_proj = [value + b for value, b in zip(_matvec(w_h, h), b_h, strict=True)]
    reset = [_sigmoid(x_proj[k] + h_proj[k]) for k in range(2)]
    update = [_sigmoid(x_proj[2 + k] + h_proj[2 + k]) for k in range(2)]
    if reset_after:  # n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn))
        new = [math.tanh(x_proj[4 + k] + reset[k] * h_proj[4 + k]) for k in range(2)]
    else:  # n = tanh(W_xn x + b_xn + W_hn (r * h) + b_hn)
        reset_h = [reset[k] * h[k] for k in range(2)]
        w_hn_rh = _matvec(w_h[4:], reset_h)
        new = [math.tanh(x_proj[4 + k] + w_hn_rh[k] + b_h[4 + k]) for k in range(2)]
    expected = [(1 - update[k]) * new[k] + update[k] * h[k] for k in range(2)]

    out = cell(torch.tensor([[x]], dtype=torch.float64), torch.tensor([h], dtype=torch.float64))
    assert out.squeeze(0).tolist() == pytest.approx(expected, abs=1e-12)


def test_gru_reset_before_differs_from_torch_but_loads_its_state_dict() -> None:
    reference = torch.nn.GRUCell(INPUT_SIZE, HIDDEN_SIZE)
    cell = GRUCell(INPUT_SIZE, HIDDEN_SIZE, reset_after=False)
    cell.load_state_dict(reference.state_dict())  # same names and shapes
    x, h = torch.randn(BATCH, INPUT_SIZE), torch.randn(BATCH, HIDDEN_SIZE)
    assert not torch.allclose(cell(x, h), reference(x, h))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: RNNCell(3, 4, nonlinearity="sigmoid"),
            ValueError,
            "unknown nonlinearity 'sigmoid'",
        ),
        (lambda: GRUCell(-1, 4), RuntimeError, "GRUCell: input_size must be >= 0, got -1"),
        (
            lambda: LSTMCell(3, 4.0),
            TypeError,
            "LSTMCell: hidden_size should be of type int, got: float",
        ),
    ],
)
def test_bad_constructor_arguments(make, error: type[Exception], message: str) -> None:
    """torch.nn's exception types (torch.empty's for sizes), with the argument named."""
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("kind", PAIRS)
def test_hidden_size_zero_gives_empty_states_like_torch(kind: str) -> None:
    ours_cls, torch_cls, kwargs = PAIRS[kind]
    x = torch.randn(BATCH, INPUT_SIZE)
    ours, reference = ours_cls(INPUT_SIZE, 0, **kwargs), torch_cls(INPUT_SIZE, 0, **kwargs)
    assert ours.weight_ih.shape == reference.weight_ih.shape == (0, INPUT_SIZE)
    for mine, theirs in zip(_as_tuple(ours(x)), _as_tuple(reference(x)), strict=True):
        assert mine.shape == theirs.shape == (BATCH, 0)


def _as_tuple(result) -> tuple[torch.Tensor, ...]:
    return result if isinstance(result, tuple) else (result,)


def test_wrong_input_and_state_sizes_raise_torchs_errors() -> None:
    cell = LSTMCell(3, 4)
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        cell(torch.randn(2, 5))
    with pytest.raises(
        RuntimeError, match="hidden0 has inconsistent hidden_size: got 3, expected 4"
    ):
        cell(torch.randn(2, 3), (torch.randn(2, 3), torch.randn(2, 4)))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden1 batch size 5"):
        cell(torch.randn(2, 3), (torch.randn(2, 4), torch.randn(5, 4)))
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D instead"):
        GRUCell(3, 4)(torch.randn(1, 2, 3))
    with pytest.raises(RuntimeError, match=r"the state must be \(B, H\) for input \(B, I\)"):
        GRUCell(3, 4)(torch.randn(3), torch.randn(4, 4))


def test_cells_are_torch_cells() -> None:
    assert isinstance(LSTMCell(3, 4), torch.nn.LSTMCell)
    assert isinstance(GRUCell(3, 4, reset_after=False), torch.nn.GRUCell)
    assert isinstance(RNNCell(3, 4, nonlinearity="relu"), torch.nn.RNNCellBase)
    assert repr(GRUCell(3, 4, bias=False, reset_after=False)) == (
        "GRUCell(3, 4, bias=False, reset_after=False)"
    )


@pytest.mark.parametrize("kind", PAIRS)
def test_a_loop_over_a_cell_compiles_into_one_graph_like_torchs(kind: str) -> None:
    ours_cls, _, kwargs = PAIRS[kind]
    cell = ours_cls(INPUT_SIZE, HIDDEN_SIZE, **kwargs)

    def run(x: torch.Tensor):
        state = None
        for t in range(x.size(0)):
            state = cell(x[t], state)
        return _as_tuple(state)

    x = torch.randn(3, BATCH, INPUT_SIZE)
    compiled = torch.compile(run, backend="eager", fullgraph=True)  # no graph break allowed
    for a, b in zip(compiled(x), run(x), strict=True):
        torch.testing.assert_close(a, b)
