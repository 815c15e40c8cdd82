"""One time step of an Elman RNN, an LSTM and a GRU.

Each cell is written as plainly as its equations. The layers in
:mod:`rnnkit.nn.recurrent` run a time loop over the step functions below (their
"reference" implementation) and every fast path is tested against them.

Parameters follow torch.nn's names, shapes and gate order, so a state dict of
``torch.nn.RNNCell``/``LSTMCell``/``GRUCell`` loads unchanged:

* ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` (G*H), ``bias_hh`` (G*H),
  where G is the number of gates: 1 for the Elman RNN, 4 for the LSTM in the order
  (i, f, g, o), 3 for the GRU in the order (r, z, n).

The step functions take the input projection ``x_proj = W_ih x_t + b_ih`` rather than
``x_t``: a layer computes it for all time steps in one matrix product before the loop,
and only the recurrent product remains inside it.

Extended options (keyword arguments of the step functions; the layers pass them, and
:mod:`rnnkit.nn.fused` is tested against exactly these definitions):

* layer norm (Ba, Kiros & Hinton 2016, section 3.1): ``W_ih x_t`` and ``W_hh h_{t-1}``
  are each normalised over their G*H units with a learned gain (``ln_ih_weight``,
  ``ln_hh_weight``); ``b_ih`` and ``b_hh`` play the role of the normalisation's shift, so
  ``x_proj = LN(W_ih x_t) * γ_ih + b_ih`` (see :func:`project_input`). The LSTM also
  normalises c_t before its tanh, with a gain and a shift (``ln_cell_weight/bias``);
  c_t itself is carried unnormalised. The GRU normalises in its reset-after form.
* recurrent dropout (Gal & Ghahramani 2016): ``recurrent_mask`` (B, H), drawn once per
  sequence, multiplies h_{t-1} where it enters ``W_hh``; the GRU's update
  ``z ⊙ h_{t-1}`` and zoneout use the undropped state.
* zoneout (Krueger et al. 2016): ``keep_h``/``keep_c`` weights k in [0, 1] give
  ``state_t = k ⊙ state_{t-1} + (1 - k) ⊙ new_state``; k is a 0/1 draw in training and
  the zoneout rate itself (the expectation) in evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "gru_step",
    "lstm_step",
    "project_input",
    "rnn_step",
]

NONLINEARITIES = ("tanh", "relu")
LAYER_NORM_EPS = 1e-5


def _layer_norm(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return F.layer_norm(x, (x.size(-1),), weight, bias, LAYER_NORM_EPS)


def project_input(
    x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, ln_weight: Tensor | None = None
) -> Tensor:
    """W_ih x + b_ih, or LN(W_ih x) * ln_weight + b_ih with layer norm; any leading dims."""
    if ln_weight is None:
        return F.linear(x, weight_ih, bias_ih)
    normed = _layer_norm(F.linear(x, weight_ih), ln_weight)
    return normed if bias_ih is None else normed + bias_ih


def _project_state(
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    ln_weight: Tensor | None,
    recurrent_mask: Tensor | None,
) -> Tensor:
    """W_hh (d ⊙ h) + b_hh, layer-normalised before the bias when ln_weight is given."""
    if recurrent_mask is not None:
        h = h * recurrent_mask
    return project_input(h, weight_hh, bias_hh, ln_weight)


def _zoneout(previous: Tensor, new: Tensor, keep: Tensor | None) -> Tensor:
    """k ⊙ previous + (1 - k) ⊙ new; ``new`` when there is no zoneout."""
    if keep is None:
        return new
    return keep * previous + (1 - keep) * new


def rnn_step(
    x_proj: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    nonlinearity: str,
    *,
    ln_hh_weight: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
) -> Tensor:
    """Elman RNN step: h_t = f(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh).

    ``x_proj`` (B, H) is W_xh x_t + b_xh, ``h`` (B, H) is h_{t-1}; returns h_t (B, H).
    The keyword options are the extended ones of the module docstring.
    """
    pre_activation = x_proj + _project_state(
        h, weight_hh, bias_hh, ln_hh_weight, recurrent_mask
    )  # (B, H)
    activation = torch.tanh if nonlinearity == "tanh" else torch.relu
    return _zoneout(h, activation(pre_activation), keep_h)


def lstm_step(
    x_proj: Tensor,
    h: Tensor,
    c: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    *,
    ln_hh_weight: Tensor | None = None,
    ln_cell_weight: Tensor | None = None,
    ln_cell_bias: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    keep_c: Tensor | None = None,
    weight_hr: Tensor | None = None,
    gates_out: dict[str, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM step with a forget gate; ``x_proj`` (B, 4H) is W_x x_t + b_x, gates (i, f, g, o).

    i_t = σ(W_xi x_t + W_hi h_{t-1} + b_i)        input gate
    f_t = σ(W_xf x_t + W_hf h_{t-1} + b_f)        forget gate
    g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)     cell candidate
    o_t = σ(W_xo x_t + W_ho h_{t-1} + b_o)        output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

    Returns (h_t, c_t), each (B, H). With layer norm, h_t = o_t ⊙ tanh(LN(c_t)); the
    keyword options are the extended ones of the module docstring. With a projection
    ``weight_hr`` W_hr (P, H) (torch.nn.LSTM's ``proj_size=P``, Sak et al. 2014),
    h_t = W_hr (o_t ⊙ tanh(c_t)) has P units, and so have ``h`` and ``weight_hh`` (4H, P).
    A dict given as ``gates_out`` receives the step's gate activations ("input",
    "forget", "cell", "output"; detached), for diagnostics.
    """
    gates = x_proj + _project_state(h, weight_hh, bias_hh, ln_hh_weight, recurrent_mask)  # (B, 4H)
    input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=-1)
    input_gate = torch.sigmoid(input_gate)
    forget_gate = torch.sigmoid(forget_gate)
    candidate = torch.tanh(candidate)
    output_gate = torch.sigmoid(output_gate)
    if gates_out is not None:
        gates_out.update(
            input=input_gate.detach(),
            forget=forget_gate.detach(),
            cell=candidate.detach(),
            output=output_gate.detach(),
        )
    c_next = forget_gate * c + input_gate * candidate
    if ln_cell_weight is not None:
        h_next = output_gate * torch.tanh(_layer_norm(c_next, ln_cell_weight, ln_cell_bias))
    else:
        h_next = output_gate * torch.tanh(c_next)
    if weight_hr is not None:
        h_next = F.linear(h_next, weight_hr)  # (B, P)
    return _zoneout(h, h_next, keep_h), _zoneout(c, c_next, keep_c)


def gru_step(
    x_proj: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    reset_after: bool = True,
    *,
    ln_hh_weight: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    keep_h: Tensor | None = None,
    gates_out: dict[str, Tensor] | None = None,
) -> Tensor:
    """GRU step; ``x_proj`` (B, 3H) is W_x x_t + b_x with gates (r, z, n).

    r_t = σ(W_xr x_t + b_xr + W_hr h_{t-1} + b_hr)        reset gate
    z_t = σ(W_xz x_t + b_xz + W_hz h_{t-1} + b_hz)        update gate
    reset_after=True (torch, cuDNN, Keras default):
        n_t = tanh(W_xn x_t + b_xn + r_t ⊙ (W_hn h_{t-1} + b_hn))
    reset_after=False (Cho et al. 2014, W·[r_t ⊙ h_{t-1}, x_t]):
        n_t = tanh(W_xn x_t + b_xn + W_hn (r_t ⊙ h_{t-1}) + b_hn)
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Returns h_t (B, H). Layer norm (``ln_hh_weight``) needs ``reset_after=True``: the
    whole recurrent projection W_hh h_{t-1} is normalised, then b_hh added. The other
    keyword options are the extended ones of the module docstring. A dict given as
    ``gates_out`` receives the gate activations ("reset", "update", "new"; detached).
    """
    hidden_size = h.size(-1)
    x_reset, x_update, x_new = x_proj.chunk(3, dim=-1)
    h_rec = h if recurrent_mask is None else h * recurrent_mask
    if ln_hh_weight is not None and not reset_after:
        raise ValueError("GRU layer norm is defined for reset_after=True only")
    if reset_after:
        h_proj = project_input(h_rec, weight_hh, bias_hh, ln_hh_weight)  # (B, 3H)
        h_reset, h_update, h_new = h_proj.chunk(3, dim=-1)
        reset = torch.sigmoid(x_reset + h_reset)
        update = torch.sigmoid(x_update + h_update)
        new = torch.tanh(x_new + reset * h_new)
    else:
        # The reset gate scales h_{t-1} before W_hn sees it, so W_hn's product waits for r_t.
        gate_bias = None if bias_hh is None else bias_hh[: 2 * hidden_size]
        new_bias = None if bias_hh is None else bias_hh[2 * hidden_size :]
        h_gates = F.linear(h_rec, weight_hh[: 2 * hidden_size], gate_bias)  # (B, 2H)
        h_reset, h_update = h_gates.chunk(2, dim=-1)
        reset = torch.sigmoid(x_reset + h_reset)
        update = torch.sigmoid(x_update + h_update)
        new = torch.tanh(x_new + F.linear(reset * h_rec, weight_hh[2 * hidden_size :], new_bias))
    if gates_out is not None:
        gates_out.update(reset=reset.detach(), update=update.detach(), new=new.detach())
    return _zoneout(h, (1 - update) * new + update * h, keep_h)


class ScriptRefused:
    """Makes ``torch.jit.script`` refuse an rnnkit.nn module with a message naming what works.

    TorchScript compiles a subset of Python that rnnkit's forward passes are not written
    in; torch.jit.script calls ``__prepare_scriptable__`` on every submodule first.
    """

    def __prepare_scriptable__(self) -> nn.Module:
        name = type(self).__name__
        raise RuntimeError(
            f"torch.jit.script cannot compile rnnkit.nn.{name}: it is not written in "
            "TorchScript's subset of Python. Trace it (torch.jit.trace(model, example_inputs)), "
            f"export it (torch.export.export(model, args)), or load its state dict into "
            f"torch.nn.{name} (the same parameters) to script that"
        )


def _check_cell_sizes(name: str, input_size: int, hidden_size: int) -> None:
    """torch.nn's cells take any size >= 0 (0 gives empty states); name a bad one clearly."""
    for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name}: {arg} should be of type int, got: {type(value).__name__}")
        if value < 0:
            # torch.empty's own error type for a negative size
            raise RuntimeError(f"{name}: {arg} must be >= 0, got {value}")


def _check_cell_call(
    cell: nn.RNNCellBase, x: Tensor, states: tuple[Tensor | None, ...]
) -> tuple[Tensor, tuple[Tensor, ...], bool]:
    """torch.nn's checks and messages for a cell's input; returns (x (B, I), states, batched).

    Adds a batch dimension to unbatched input (I,) and states (H,); missing states are zeros.
    """
    name = type(cell).__name__
    if x.dim() not in (1, 2):
        raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.dim()}D instead")
    for index, state in enumerate(states):
        if state is not None and state.dim() not in (1, 2):
            what = "hidden" if len(states) == 1 else f"hx[{index}]"
            raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {state.dim()}D instead")
    batched = x.dim() == 2
    if not batched:
        x = x.unsqueeze(0)
    # The checks of torch's cell kernels, in their order and words.
    if x.size(1) != cell.input_size:
        raise RuntimeError(
            f"input has inconsistent input_size: got {x.size(1)} expected {cell.input_size}"
        )
    prepared = []
    for index, state in enumerate(states):
        if state is None:
            state = x.new_zeros(x.size(0), cell.hidden_size)
        elif not batched:
            state = state.unsqueeze(0)
        if state.size(0) != x.size(0):
            raise RuntimeError(
                f"Input batch size {x.size(0)} doesn't match hidden{index} batch size "
                f"{state.size(0)}"
            )
        if state.size(1) != cell.hidden_size:
            raise RuntimeError(
                f"hidden{index} has inconsistent hidden_size: got {state.size(1)}, "
                f"expected {cell.hidden_size}"
            )
        if state.dim() != 2:
            raise RuntimeError(
                f"{name}: the state must be (B, H) for input (B, I) and (H,) for input (I,), "
                f"got shape {tuple(state.shape)} for input {tuple(x.shape)}"
            )
        prepared.append(state)
    return x, tuple(prepared), batched


class RNNCell(ScriptRefused, nn.RNNCell):
    """Elman RNN cell (Elman 1990): h_t = f(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh).

    ``f`` is tanh or relu (``nonlinearity``). ``forward(x (B, I), h (B, H) | None)``
    returns h_t (B, H); unbatched (I,) input gives (H,). A ``torch.nn.RNNCell``, with its
    arguments, parameters, initialisation and error messages.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        # torch.nn accepts any nonlinearity here and fails at the first step; fail now.
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}: expected 'tanh' or 'relu'")
        _check_cell_sizes("RNNCell", input_size, hidden_size)
        super().__init__(input_size, hidden_size, bias, nonlinearity, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = _check_cell_call(self, input, (hx,))
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)  # (B, H)
        h_next = rnn_step(x_proj, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h_next if batched else h_next.squeeze(0)


class LSTMCell(ScriptRefused, nn.LSTMCell):
    """LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    See :func:`lstm_step` for the equations. ``forward(x (B, I), (h, c) | None)`` returns
    (h_t, c_t), each (B, H); unbatched (I,) input gives (H,) states. A
    ``torch.nn.LSTMCell``, with its arguments, parameters, initialisation and error messages.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        _check_cell_sizes("LSTMCell", input_size, hidden_size)
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        x, (h, c), batched = _check_cell_call(self, input, (None, None) if hx is None else hx)
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 4H)
        h_next, c_next = lstm_step(x_proj, h, c, self.weight_hh, self.bias_hh)
        if batched:
            return h_next, c_next
        return h_next.squeeze(0), c_next.squeeze(0)


class GRUCell(ScriptRefused, nn.GRUCell):
    """GRU cell (Cho et al. 2014); see :func:`gru_step` for the equations.

    ``reset_after=True`` applies the reset gate after the recurrent matrix product (torch,
    cuDNN and Keras default); ``False`` applies it before, as in the paper. Both have the
    same parameter names and shapes. ``forward(x (B, I), h (B, H) | None)`` returns h_t.
    A ``torch.nn.GRUCell``, with its arguments, parameters, initialisation and error
    messages.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        reset_after: bool = True,
    ) -> None:
        _check_cell_sizes("GRUCell", input_size, hidden_size)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.reset_after = reset_after

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if not self.reset_after:
            text += ", reset_after=False"
        return text

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = _check_cell_call(self, input, (hx,))
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 3H)
        h_next = gru_step(x_proj, h, self.weight_hh, self.bias_hh, self.reset_after)
        return h_next if batched else h_next.squeeze(0)
