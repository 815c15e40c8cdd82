"""Recurrent layers: RNN, LSTM and GRU, drop-in replacements for torch.nn's.

A layer stacks ``num_layers`` layers of one or two directions and runs the time loop.
Each class subclasses torch.nn's (``RNN(torch.nn.RNN)``, ...): the constructor takes
torch.nn's arguments in torch.nn's order and runs torch.nn's checks, and parameter
names, shapes, gate order, initialisation, ``_flat_weights`` and ``flatten_parameters``
are torch.nn's (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``weight_hr_l0`` with the LSTM's ``proj_size``, ``weight_ih_l0_reverse``, ...), so a
torch.nn state dict loads unchanged and gives the same outputs, final states and
gradients. Only ``forward`` is rnnkit's; torch.compile leaves it to eager, as it leaves
torch.nn's, and torch.jit.script refuses it naming the alternatives.

``forward(input, hx=None, lengths=None)`` takes input of shape (T, B, I), or (B, T, I)
with ``batch_first=True``, or unbatched (T, I); ``hx`` of shape (L*D, B, H) (a pair of
them for the LSTM, h with P units when ``proj_size=P``); and optionally ``lengths`` (B,),
the true length of each sequence in any order. Bad shapes and dtypes raise torch.nn's
exceptions. It returns ``(output, h_n)`` or, for the LSTM, ``(output, (h_n, c_n))`` with
output (T, B, D*H). With ``lengths``, outputs at padded steps are zero, padded inputs
have no influence, final states are taken at each sequence's last real step, and the
reverse direction starts at each sequence's own end: the results of torch's packed
sequences. A ``PackedSequence`` input is accepted as with torch.nn.

Two implementations compute the same function (``impl``):

* ``"fused"``: torch's sequence kernels (oneDNN or ATen on CPU, cuDNN on GPU) called on
  the layer's own parameters, with packed sequences when ``lengths`` are given on a GPU;
  padded batches (``lengths`` or a ``PackedSequence``) on the CPU run the kernels of
  :mod:`rnnkit.nn.fused`, because torch's packed CPU kernels are many times slower;
* ``"reference"``: a Python time loop over the step functions of
  :mod:`rnnkit.nn.cells`, per layer and direction. It is the definition the fused path is
  tested against, and the only path for configurations torch's kernels do not cover
  (GRU with ``reset_after=False``).

``"auto"`` (default) takes the fused path whenever the configuration allows.

Extended options (``layer_norm``, ``recurrent_dropout``, ``zoneout``, ``weight_drop``;
their definitions are in :mod:`rnnkit.nn.cells`) have no torch kernel: with any of them
set, ``"auto"``/``"fused"`` run the whole-sequence kernels of :mod:`rnnkit.nn.fused`
(hand-written backward through time) and ``"reference"`` the Python loop over the cells.
Both draw the same masks in the same order, so with one seed they give the same numbers.
Per forward pass and per layer and direction: one weight-drop mask on ``weight_hh``
(the parameter stays as it is), one recurrent-dropout mask per sequence, one zoneout
draw per step and unit; inside ``with layer.shared_masks():`` later calls reuse the first
call's weight-drop and recurrent-dropout masks, so a decoder stepped one call per token
is regularised as one whole-sequence call is. In evaluation mode weight drop and
recurrent dropout are off and zoneout uses its expectation, so outputs are deterministic. The LSTM takes
``zoneout=p`` or a ``(cell, hidden)`` pair of rates.

Layer norm adds gains ``ln_ih_weight_l{k}`` and ``ln_hh_weight_l{k}`` (G*H,) and, for
the LSTM, ``ln_cell_weight_l{k}``/``ln_cell_bias_l{k}`` (H,) (``_reverse`` suffixes as
usual), initialised to 1 and 0; the torch.nn biases act as the normalisations' shifts.
A torch.nn state dict then loads with ``load_state_dict(sd, strict=False)``, which
leaves only those added parameters at their initial values.

The shared machinery is :class:`rnnkit.nn.layer_base._RecurrentBase` (importable from
here too, as ``rnnkit.diagnose`` does). Extension points:
:meth:`_RecurrentBase._resolve_impl` chooses the path,
:meth:`_RecurrentBase._direction_weights` gives the weights one layer and direction use
in a forward pass, and :meth:`_RecurrentBase._run_direction` is the time loop of one
layer and direction.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import _VF, Tensor, nn

from rnnkit.nn import fused
from rnnkit.nn.cells import NONLINEARITIES, gru_step, lstm_step, rnn_step
from rnnkit.nn.fused import CellWeights, StepMasks
from rnnkit.nn.layer_base import State, _at, _RecurrentBase

__all__ = ["GRU", "LSTM", "RNN"]


class RNN(_RecurrentBase, nn.RNN):
    """Elman RNN layers: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu.

    Drop-in for ``torch.nn.RNN`` (the same arguments in the same order, ``nonlinearity``
    fourth); see the module docstring for ``forward`` and ``impl``.
    """

    num_gates = 1
    torch_name = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
        proj_size: int | None = None,
    ) -> None:
        _refuse_projection(proj_size)
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            impl=impl,
        )

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text

    def _fused_kernel(self) -> Callable[..., tuple]:
        return _VF.rnn_tanh if self.nonlinearity == "tanh" else _VF.rnn_relu

    def _step(
        self,
        x_proj: Tensor,
        state: State,
        weights: CellWeights,
        masks: StepMasks,
        t: int,
        gates_out: dict[str, Tensor] | None = None,
    ) -> State:
        h_next = rnn_step(
            x_proj,
            state[0],
            weights.weight_hh,
            weights.bias_hh,
            self.nonlinearity,
            ln_hh_weight=weights.ln_hh_weight,
            recurrent_mask=masks.recurrent,
            keep_h=_at(masks.keep_h, t),
        )
        return (h_next,)

    def _fused_sequence(
        self, x: Tensor, state: State, weights: CellWeights, masks: StepMasks
    ) -> tuple[Tensor, State]:
        output, h_n = fused.rnn_sequence(x, state[0], weights, masks, self.nonlinearity)
        return output, (h_n,)


class LSTM(_RecurrentBase, nn.LSTM):
    """LSTM layers (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000).

    Gates (i, f, g, o) in torch.nn's order; equations in :func:`rnnkit.nn.cells.lstm_step`.
    Drop-in for ``torch.nn.LSTM``; ``hx`` and the returned state are pairs (h, c).

    ``proj_size=P > 0`` projects each h_t to P units with ``weight_hr_l{k}`` (P, H), as
    torch.nn.LSTM does (Sak et al. 2014): h and the output have P units (D*P for the
    output), c keeps H. It runs on torch's kernels (packed ones for padded batches), or
    with extended options on the reference loop: :mod:`rnnkit.nn.fused` has no projection,
    so ``impl="fused"`` is refused for that combination.
    """

    num_gates = 4
    num_states = 2
    torch_name = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            impl=impl,
        )

    def _fused_unsupported(self) -> str | None:
        if self.proj_size > 0 and self._extended:
            return (
                "rnnkit.nn.fused's kernels for the extended options have no projection "
                "(proj_size); use impl='auto' or 'reference'"
            )
        return None

    def _fused_kernel(self) -> Callable[..., tuple]:
        return _VF.lstm

    def _step(
        self,
        x_proj: Tensor,
        state: State,
        weights: CellWeights,
        masks: StepMasks,
        t: int,
        gates_out: dict[str, Tensor] | None = None,
    ) -> State:
        return lstm_step(
            x_proj,
            state[0],
            state[1],
            weights.weight_hh,
            weights.bias_hh,
            ln_hh_weight=weights.ln_hh_weight,
            ln_cell_weight=weights.ln_cell_weight,
            ln_cell_bias=weights.ln_cell_bias,
            recurrent_mask=masks.recurrent,
            keep_h=_at(masks.keep_h, t),
            keep_c=_at(masks.keep_c, t),
            weight_hr=weights.weight_hr,
            gates_out=gates_out,
        )

    def _fused_sequence(
        self, x: Tensor, state: State, weights: CellWeights, masks: StepMasks
    ) -> tuple[Tensor, State]:
        output, h_n, c_n = fused.lstm_sequence(x, state[0], state[1], weights, masks)
        return output, (h_n, c_n)


class GRU(_RecurrentBase, nn.GRU):
    """GRU layers (Cho et al. 2014); equations in :func:`rnnkit.nn.cells.gru_step`.

    Gates (r, z, n) in torch.nn's order. ``reset_after=True`` (default) is torch's and
    cuDNN's formulation and runs on their kernels; ``reset_after=False`` (the paper's)
    has the same parameters and runs on the reference loop.
    """

    num_gates = 3
    torch_name = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        reset_after: bool = True,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
        proj_size: int | None = None,
    ) -> None:
        _refuse_projection(proj_size)
        # Set before the base constructor, which asks the subclass about its kernel.
        self.reset_after = reset_after
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            impl=impl,
        )

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if not self.reset_after:
            text += ", reset_after=False"
        return text

    def _fused_unsupported(self) -> str | None:
        if not self.reset_after:
            return "torch's GRU kernels implement reset_after=True only; use impl='auto' or 'reference'"
        return None

    def _check_extended_options(self) -> None:
        if self.layer_norm and not self.reset_after:
            raise ValueError(
                "GRU: layer_norm=True is defined for reset_after=True only; "
                "use reset_after=True or layer_norm=False"
            )

    def _fused_kernel(self) -> Callable[..., tuple]:
        return _VF.gru

    def _step(
        self,
        x_proj: Tensor,
        state: State,
        weights: CellWeights,
        masks: StepMasks,
        t: int,
        gates_out: dict[str, Tensor] | None = None,
    ) -> State:
        h_next = gru_step(
            x_proj,
            state[0],
            weights.weight_hh,
            weights.bias_hh,
            self.reset_after,
            ln_hh_weight=weights.ln_hh_weight,
            recurrent_mask=masks.recurrent,
            keep_h=_at(masks.keep_h, t),
            gates_out=gates_out,
        )
        return (h_next,)

    def _fused_sequence(
        self, x: Tensor, state: State, weights: CellWeights, masks: StepMasks
    ) -> tuple[Tensor, State]:
        output, h_n = fused.gru_sequence(x, state[0], weights, masks)
        return output, (h_n,)


def _refuse_projection(proj_size: int | None) -> None:
    """torch.nn's error for ``proj_size`` given to an RNN or a GRU (even 0)."""
    if proj_size is not None:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
