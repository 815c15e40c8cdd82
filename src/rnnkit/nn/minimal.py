"""minGRU and minLSTM layers: recurrent layers that train as a parallel scan.

Feng et al. 2024 ("Were RNNs All We Needed?", arXiv:2410.01201) drop the previous state
from the GRU's and LSTM's gates and the tanh from their candidates. The gates then
depend on the input alone and the state update is linear in the state, so a whole
sequence is one prefix scan (:mod:`rnnkit.nn.scan`) instead of T dependent steps.

minGRU (gates (z, h̃) in ``weight_ih`` order)::

    z_t = σ(W_z x_t + b_z)
    h̃_t = g(W_h x_t + b_h)
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

minLSTM (gates (f, i, h̃))::

    f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i),  h̃_t = g(W_h x_t + b_h)
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
    h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

with g(v) = v + 1/2 for v >= 0 and σ(v) for v < 0: the paper's log-space versions,
whose candidates are positive. minLSTM is minGRU with the update weight i'_t in place of
z_t; i'_t = σ(d_t) with d_t = log i_t - log f_t = softplus(-f̂_t) - softplus(-î_t)
(f̂, î the gates' pre-activations), computed in that form so that it stays finite when
both gates saturate. The state is h (no separate cell state).

Layers take torch.nn's recurrent arguments: ``(input_size, hidden_size, num_layers=1,
bias=True, batch_first=False, dropout=0.0, bidirectional=False)``.
``forward(x, h0=None, lengths=None) -> (output, h_n)`` with x (T, B, I), or (B, T, I)
with ``batch_first``, or unbatched (T, I); h0 and h_n (L*D, B, H) ((L*D, H) unbatched);
output (T, B, D*H). With ``lengths`` (B,), outputs at padded steps are zero, padded
inputs have no influence, h_n is taken at each sequence's last real step and the
reverse direction starts at each sequence's own end (the semantics of torch's packed
sequences). Passing h_n of one chunk as h0 of the next continues a sequence exactly.

Parameters, per layer k and direction (``_reverse`` suffix for the second):
``weight_ih_l{k}`` (G*H, layer input) and ``bias_ih_l{k}`` (G*H), G = 2 (minGRU) or 3
(minLSTM), initialised as ``torch.nn.Linear``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

``impl`` chooses how a sequence is computed; all give the same function:

* ``"scan"`` (default): :func:`rnnkit.nn.scan.gated_scan`, a work-efficient
  parallel scan with a hand-written backward pass;
* ``"log"``: :func:`rnnkit.nn.scan.log_gated_scan`, the paper's log-space
  formulation (cumsum and logcumsumexp), slower on CPUs;
* ``"reference"``: a Python loop over :func:`min_gru_step` / :func:`min_lstm_step`, the
  definition the scans are tested against.

A sequence of one step (generation, :meth:`step`) always takes the step function:
O(1) work per token, no scan.

Export: while traced (``torch.jit.trace``) or exported (``torch.export``, and so
``torch.onnx.export(..., dynamo=True)``), ``"scan"`` runs as ``"log"``, whose tensor
operations hold at every sequence length; the graph then takes any batch size and
length. The TorchScript-based ONNX exporter (``dynamo=False``) is refused with a
message: ONNX has no logcumsumexp operator for it. ``torch.jit.script`` is not
supported (the scan is a custom autograd function).

Stacking options (keyword-only, off by default so that the plain layer is the equations
above). Deeper minGRU/minLSTM models are built with residual connections, normalisation
and MLPs between the recurrent layers; the arrangement below (pre-normalisation, as in
GPT-style blocks) is rnnkit's choice, not a copy of one from the paper. For layer k with
input u (T, B, W):

* ``norm``: the recurrence reads LayerNorm(u) instead of u (pre-normalisation);
* ``residual``: the layer outputs u + minRNN(...) where u is as wide as the output
  (D*H); a first layer of another width has no residual connection;
* ``mlp``: a position-wise MLP follows the recurrence, Linear(D*H, 4 D*H) -> GELU ->
  Linear(4 D*H, D*H), on LayerNorm(y) when ``norm``, added to y when ``residual``;
* ``dropout``: on each layer's output except the last one's, as in torch.nn.

The options act on each step on its own, so chunking and ``lengths`` behave as
without them (padded outputs are set to zero after every layer).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn.layer_base import _check_lengths, _suffix
from rnnkit.nn.scan import g, gated_scan, log_gated_scan, lstm_update_logit, split_gates

__all__ = ["MinGRU", "MinLSTM", "min_gru_step", "min_lstm_step"]

IMPLS = ("scan", "log", "reference")
MLP_EXPANSION = 4


def min_gru_step(z_pre: Tensor, h_pre: Tensor, h: Tensor) -> Tensor:
    """One minGRU step: h_t = (1 - σ(z_pre)) ⊙ h + σ(z_pre) ⊙ g(h_pre); all (B, H)."""
    return torch.sigmoid(-z_pre) * h + torch.sigmoid(z_pre) * g(h_pre)


def min_lstm_step(f_pre: Tensor, i_pre: Tensor, h_pre: Tensor, h: Tensor) -> Tensor:
    """One minLSTM step: h_t = f' ⊙ h + i' ⊙ g(h_pre), f', i' the normalised gates; (B, H).

    f' = σ(-d) and i' = σ(d) with d = log σ(i_pre) - log σ(f_pre) (:func:`split_gates`).
    """
    return min_gru_step(lstm_update_logit(f_pre, i_pre), h_pre, h)


def _reset_linear(weight: Tensor, bias: Tensor | None) -> None:
    """torch.nn.Linear's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b."""
    bound = 1.0 / math.sqrt(weight.size(1))
    nn.init.uniform_(weight, -bound, bound)
    if bias is not None:
        nn.init.uniform_(bias, -bound, bound)


def _tracing() -> bool:
    """Whether this forward pass is being traced or exported into a graph."""
    return torch.jit.is_tracing() or torch.compiler.is_exporting()


class _MinimalRecurrent(nn.Module):
    """Stacked, optionally bidirectional layers of a minimal cell; see the module docstring.

    Subclasses set ``num_gates``: 2 for minGRU, 3 for minLSTM (:func:`split_gates`).
    """

    num_gates: ClassVar[int]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        residual: bool = False,
        norm: bool = False,
        mlp: bool = False,
        impl: str = "scan",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0 <= dropout < 1
        ):
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        for arg, value in (
            ("bias", bias),
            ("batch_first", batch_first),
            ("bidirectional", bidirectional),
            ("residual", residual),
            ("norm", norm),
            ("mlp", mlp),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{name}: {arg} must be True or False, got {value!r}")
        if impl not in IMPLS:
            raise ValueError(f"{name}: unknown impl {impl!r}: expected one of {', '.join(IMPLS)}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} acts between stacked layers only and has no "
                "effect with num_layers=1",
                stacklevel=3,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.residual = residual
        self.norm = norm
        self.mlp = mlp
        self.impl = impl

        factory = {"device": device, "dtype": dtype}
        width = hidden_size * self.num_directions  # each layer's output, D*H
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else width
            for direction in range(self.num_directions):
                self._register_direction(_suffix(layer, direction), layer_input, factory)
        self.norms = (
            nn.ModuleList(
                nn.LayerNorm(input_size if layer == 0 else width, **factory)
                for layer in range(num_layers)
            )
            if norm
            else None
        )
        self.mlps = (
            nn.ModuleList(
                nn.Sequential(
                    *([nn.LayerNorm(width, **factory)] if norm else []),
                    nn.Linear(width, MLP_EXPANSION * width, **factory),
                    nn.GELU(),
                    nn.Linear(MLP_EXPANSION * width, width, **factory),
                )
                for _ in range(num_layers)
            )
            if mlp
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Linear's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b.

        Norms and MLPs start as torch.nn's LayerNorm and Linear do.
        """
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                self._reset_direction(_suffix(layer, direction))
        for group in (self.norms, self.mlps):
            for module in group.modules() if group is not None else ():
                if isinstance(module, nn.LayerNorm | nn.Linear):
                    module.reset_parameters()

    def _register_direction(self, suffix: str, layer_input: int, factory: dict) -> None:
        """The parameters of one layer and direction: the gates' input product."""
        shape = (self.num_gates * self.hidden_size, layer_input)
        self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(shape, **factory)))
        if self.bias:
            self.register_parameter(
                f"bias_ih{suffix}", nn.Parameter(torch.empty(shape[0], **factory))
            )

    def _reset_direction(self, suffix: str) -> None:
        _reset_linear(getattr(self, f"weight_ih{suffix}"), getattr(self, f"bias_ih{suffix}", None))

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {
            "num_layers": 1,
            "bias": True,
            "batch_first": False,
            "dropout": 0.0,
            "bidirectional": False,
            "residual": False,
            "norm": False,
            "mlp": False,
            "impl": "scan",
        }
        for key, default in defaults.items():
            value = getattr(self, key)
            if value != default:
                text += f", {key}={value!r}"
        return text

    # ----------------------------------------------------------------- forward

    def forward(
        self,
        x: Tensor,
        h0: Tensor | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Runs the layers over a batch of sequences; see the module docstring for shapes."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise ValueError(f"{name}: input must be a tensor, got {type(x).__name__}")
        if x.dim() not in (2, 3):
            raise ValueError(
                f"{name}: expected input of 3 dimensions (batched) or 2 (unbatched), "
                f"got shape {tuple(x.shape)}"
            )
        batched = x.dim() == 3
        if not batched:
            if lengths is not None:
                raise ValueError(
                    f"{name}: lengths need batched 3-D input, got shape {tuple(x.shape)}"
                )
            x = x.unsqueeze(1)  # (T, 1, I)
        elif self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        steps, batch = x.size(0), x.size(1)
        if steps == 0:
            raise ValueError(f"{name}: input has no time steps, shape {tuple(x.shape)}")
        if x.size(-1) != self.input_size:
            raise ValueError(
                f"{name}: input has {x.size(-1)} features, expected input_size={self.input_size}"
            )
        if x.dtype != self.weight_ih_l0.dtype:
            raise ValueError(
                f"{name}: input dtype is {x.dtype}, the weights' is {self.weight_ih_l0.dtype}"
            )
        if torch.jit.is_tracing() and torch.onnx.is_in_onnx_export():
            raise ValueError(
                f"{name}: the TorchScript-based ONNX exporter cannot export the log-space "
                "scan (ONNX has no logcumsumexp); use torch.onnx.export(..., dynamo=True)"
            )
        states = self._initial_state(h0, x, batch, batched)  # (L*D, B, H)
        mask = None
        if lengths is not None:
            lengths_cpu = _check_lengths(lengths, batch, steps)
            # A trace must keep the mask whatever the traced lengths were.
            if _tracing() or not bool((lengths_cpu == steps).all()):
                positions = torch.arange(steps).unsqueeze(1)  # (T, 1)
                mask = (positions < lengths_cpu.unsqueeze(0)).unsqueeze(-1).to(x.device)
        # A product by 0/1 is vectorised on CPUs; masked_fill is not.
        keep = None if mask is None else mask.to(x.dtype)  # (T, B, 1)

        layer_input = x
        finals = []
        for layer in range(self.num_layers):
            recurrent_input = layer_input if self.norms is None else self.norms[layer](layer_input)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                output, last = self._run_direction(
                    recurrent_input, states[index], layer, direction, mask
                )
                outputs.append(output)  # (T, B, H)
                finals.append(last)  # (B, H)
            y = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (T, B, D*H)
            y = self._finish_layer(layer, layer_input, y)
            if keep is not None:
                y = y * keep  # zero at padded steps
            layer_input = y

        h_n = torch.stack(finals)  # (L*D, B, H)
        output = layer_input
        if not batched:
            return output.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    def step(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One time step for generation: x (B, I) or (I,), h (L, B, H) or (L, H) or None.

        Returns (output (B, H) or (H,), the new state shaped like h): the numbers
        ``forward`` gives for the sequence so far, with O(1) work per step and no scan.
        Each layer computes its update in :meth:`_step_layer` (minGRU, minLSTM:
        h_t = lerp(h_{t-1}, g(v_t), w_t), the update of the module docstring in one
        operation).
        """
        name = type(self).__name__
        if self.bidirectional:
            raise ValueError(
                f"{name}.step: a bidirectional layer cannot run one step at a time (its "
                "reverse direction reads the whole sequence); call forward"
            )
        if x.dim() not in (1, 2) or x.size(-1) != self.input_size:
            raise ValueError(
                f"{name}.step: expected input (B, {self.input_size}) or ({self.input_size},), "
                f"got shape {tuple(x.shape)}"
            )
        batched = x.dim() == 2
        u = x if batched else x.unsqueeze(0)  # (B, I)
        states = self._initial_state(h, u.unsqueeze(0), u.size(0), batched)  # (L, B, H)
        new_states = []
        for layer in range(self.num_layers):
            recurrent_input = u if self.norms is None else self.norms[layer](u)
            h_new = self._step_layer(layer, recurrent_input, states[layer])  # (B, H)
            new_states.append(h_new)
            u = self._finish_layer(layer, u, h_new)
        h_n = torch.stack(new_states)
        return (u, h_n) if batched else (u.squeeze(0), h_n.squeeze(1))

    def _step_layer(self, layer: int, x: Tensor, h: Tensor) -> Tensor:
        """One step of layer ``layer``: x (B, W), h (B, H) -> the new state (B, H)."""
        weight = getattr(self, f"weight_ih_l{layer}")
        bias = getattr(self, f"bias_ih_l{layer}") if self.bias else None
        k, v = split_gates(F.linear(x, weight, bias), self.hidden_size)  # (B, H) each
        return torch.lerp(h, g(v), torch.sigmoid(k))

    def _finish_layer(self, layer: int, layer_input: Tensor, y: Tensor) -> Tensor:
        """Residual connection, MLP and dropout around one layer's recurrent output y."""
        if self.residual and layer_input.size(-1) == y.size(-1):
            y = layer_input + y
        if self.mlps is not None:
            y = y + self.mlps[layer](y) if self.residual else self.mlps[layer](y)
        if self.dropout > 0 and self.training and layer < self.num_layers - 1:
            y = F.dropout(y, self.dropout, training=True)
        return y

    def _initial_state(self, h0: Tensor | None, x: Tensor, batch: int, batched: bool) -> Tensor:
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if h0 is None:
            return x.new_zeros(shape)
        expected = shape if batched else (shape[0], shape[2])
        if not isinstance(h0, Tensor) or tuple(h0.shape) != expected:
            got = tuple(h0.shape) if isinstance(h0, Tensor) else type(h0).__name__
            raise ValueError(
                f"{type(self).__name__}: initial state has shape {got}, expected {expected}"
            )
        return h0 if batched else h0.unsqueeze(1)

    def _run_direction(
        self, x: Tensor, h0: Tensor, layer: int, direction: int, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One layer and direction: x (T, B, W) -> outputs (T, B, H), last state (B, H).

        One input product for all gates; the scans read the gates from its output.
        """
        suffix = _suffix(layer, direction)
        weight = getattr(self, f"weight_ih{suffix}")
        bias = getattr(self, f"bias_ih{suffix}") if self.bias else None
        gates = F.linear(x, weight, bias)  # (T, B, G*H)
        reverse = direction == 1
        impl = self.impl
        if impl == "scan" and _tracing():
            # The odd-even scan's slicing depends on T, so a trace of it would only hold
            # at the traced length; the log-space form is the same function in T-generic
            # tensor operations.
            impl = "log"
        if impl == "reference" or x.size(0) == 1:
            k, v = split_gates(gates, self.hidden_size)  # (T, B, H) each
            h = self._loop(k, v, h0, mask, reverse)
        elif impl == "scan":
            h = gated_scan(gates, h0, mask, reverse)
        else:
            h = log_gated_scan(gates, h0, mask, reverse)
        last = h[0] if reverse else h[-1]
        return h, last

    @staticmethod
    def _loop(k: Tensor, v: Tensor, h: Tensor, mask: Tensor | None, reverse: bool) -> Tensor:
        """The reference: one step of the recurrence at a time, padded steps keep h."""
        outputs = []
        for t in reversed(range(k.size(0))) if reverse else range(k.size(0)):
            new = min_gru_step(k[t], v[t], h)
            h = new if mask is None else torch.where(mask[t], new, h)
            outputs.append(h)
        if reverse:
            outputs.reverse()
        return torch.stack(outputs)


class MinGRU(_MinimalRecurrent):
    """minGRU layers (Feng et al. 2024): h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ g(W_h x_t + b_h).

    z_t = σ(W_z x_t + b_z). See the module docstring for arguments, ``forward``, ``step``
    and the stacking options.
    """

    num_gates = 2


class MinLSTM(_MinimalRecurrent):
    """minLSTM layers (Feng et al. 2024): h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ g(W_h x_t + b_h).

    f'_t, i'_t = f_t, i_t / (f_t + i_t), with f_t = σ(W_f x_t + b_f) and
    i_t = σ(W_i x_t + b_i). See the module docstring for the rest.
    """

    num_gates = 3
