"""Export a trained run to ONNX or TorchScript, checked against a second runtime.

``export(run_dir, "onnx")`` writes ``run_dir/export/``::

    model.onnx | model.pt   the network, batch and time axes dynamic
    io.json                 inputs and outputs (names, dtypes, shapes), the checks made
    preprocess/*.json       the run's vocabulary, scaler and labels, to prepare inputs

What each task exports is its spec's ``export`` signature (``rnnkit/tasks/<name>/export.py``;
batch-first everywhere, ``batch`` and ``time`` dynamic):

* language model: one chunk step ``(tokens (B, T), h0, c0) -> (logits (B, T, V), h_n,
  c_n)`` (no ``c0``/``c_n`` for GRU and RNN cells), so a caller carries the state from
  chunk to chunk and generates one token at a time;
* classifier: ``(inputs (B, T) ids | (B, T, F) features, lengths (B,)) -> logits (B, C)``;
* forecaster: ``window (B, L, F) -> forecast (B, horizon, K)``, in scaled units;
* synthetic sequence tasks: ``inputs (B, T, F) -> outputs``.

Only torch's own recurrent kernels export with a dynamic time axis (they become ONNX
LSTM/GRU/RNN nodes, or ``aten::lstm`` calls in TorchScript): a Python time loop, which
the reference path and the extended-option kernels of :mod:`rnnkit.nn.fused` are, would
be unrolled to the traced length. Before tracing, each rnnkit.nn layer is rebuilt as a
plain layer on torch's kernels with the same weights. Recurrent dropout and weight drop
are off at inference, so they drop out; layer norm, zoneout and the GRU's
``reset_after=False`` change the inference function and have no such kernel: exporting
them is a :class:`~rnnkit.errors.UserError` naming the option.

After writing, the file is loaded back (onnxruntime for ONNX, ``torch.jit.load`` for
TorchScript) and run on inputs with a batch size and length other than the traced ones;
its outputs must match the PyTorch model's within :data:`TOLERANCE`, or nothing is left
in place. Files are written to a temporary name and renamed once checked.

ONNX goes through torch's TorchScript-based exporter (``dynamo=False``): on torch 2.13
the torch.export-based one fixes the LSTM's sequence length at the traced value, and
onnxruntime then rejects any other length.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit import __version__
from rnnkit import rundir as checkpoint
from rnnkit.errors import MissingExtraError, UserError
from rnnkit.tasks import get_spec
from rnnkit.tasks.signature import Signature, TensorSpec
from rnnkit.tasks.spec import TaskSpec, resolve

__all__ = ["FORMATS", "Signature", "TensorSpec", "export", "exportable_copy", "signature"]

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
EXPORT_DIR = "export"
IO_FILE = "io.json"
ONNX_OPSET = 17
#: Largest absolute difference allowed between the exported model and PyTorch.
TOLERANCE = 1e-4

# Shapes traced and checked: the check uses other sizes, and a one-token step (the
# shape generation feeds), so a size baked into the graph cannot pass unnoticed.
TRACE_BATCH, TRACE_STEPS = 2, 5
CHECK_SHAPES = ((3, 11), (1, 1))


class ExportMismatchError(RuntimeError):
    """An exported model whose outputs differ from the PyTorch model's."""


# ----------------------------------------------------------------------------- public


def export(run_dir: str | Path, format: str, output: str | Path | None = None) -> Path:
    """Export a finished run's model as ONNX or TorchScript and check it; returns its path.

    Args:
        run_dir: a run directory from :func:`rnnkit.train`.
        format: ``"onnx"`` (needs the ``export`` extra: onnx, onnxruntime) or
            ``"torchscript"``.
        output: the folder to write into (default ``run_dir/export``).

    Writes ``model.onnx`` or ``model.pt``, ``io.json`` and ``preprocess/*.json`` there.
    Raises :class:`~rnnkit.errors.UserError` for an unknown format or a model option
    that cannot be exported, :class:`~rnnkit.errors.MissingExtraError` when ONNX is asked
    for without onnx/onnxruntime, and :class:`ExportMismatchError` when the exported
    model's outputs differ from PyTorch's by more than :data:`TOLERANCE`.
    """
    if format not in FORMATS:
        raise UserError(f"format={format!r} is not an export format; use one of: onnx, torchscript")
    if format == "onnx":
        _require_onnx()
    from rnnkit.predictor import load

    run_dir = Path(run_dir)
    predictor = load(run_dir)
    if output is not None:
        out_dir = Path(output)
    else:
        # The default folder is inside the run: a link there must not send files elsewhere.
        out_dir = checkpoint.inside(run_dir, run_dir / EXPORT_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FORMATS[format]

    spec = get_spec(predictor.task)
    if format == "onnx" and _has_scan_layers(predictor.model):
        raise UserError(
            "model.cell=mingru/minlstm/rglru exports with --format torchscript; ONNX has no "
            "logcumsumexp operator for torch's TorchScript-based exporter, which export uses"
        )
    reference = signature(predictor.model, predictor.info, spec)
    exportable = signature(exportable_copy(predictor.model), predictor.info, spec)
    generator = torch.Generator().manual_seed(0)
    trace_inputs = exportable.sample(TRACE_BATCH, TRACE_STEPS, generator)
    checks = [(b, t, reference.sample(b, t, generator)) for b, t in CHECK_SHAPES]

    with checkpoint.atomic_path(path) as temporary:
        if format == "onnx":
            _write_onnx(exportable, trace_inputs, temporary)
            runner = _onnx_runner(temporary, exportable)
        else:
            _write_torchscript(exportable, trace_inputs, temporary)
            runner = _torchscript_runner(temporary)
        results = [_check(reference, runner, b, t, inputs) for b, t, inputs in checks]
        worst = max(result["max_abs_diff"] for result in results)
        if worst > TOLERANCE:
            raise ExportMismatchError(
                f"the {format} export differs from the PyTorch model by {worst:.3g} "
                f"(tolerance {TOLERANCE:g}); nothing was written"
            )
    log.info(
        "%s export checked against PyTorch: max abs diff %.3g at (batch, time) %s",
        format,
        worst,
        ", ".join(f"({r['batch']}, {r['time']})" for r in results),
    )
    if format == "torchscript":
        log.info(
            "TorchScript is deprecated in torch %s; %s loads with torch.jit.load",
            torch.__version__,
            path.name,
        )
    files = _copy_preprocessing(run_dir, out_dir)
    _write_io(out_dir, predictor.task, exportable, files, format, path.name, results)
    return path


def signature(model: nn.Module, info: dict[str, Any], spec: TaskSpec) -> Signature:
    """The traced interface of a task model, as its task declares it."""
    if spec.export is None:
        raise UserError(f"{spec.name} models cannot be exported: {spec.export_refusal}")
    return resolve(spec.export)(model, info)


def _has_scan_layers(model: nn.Module) -> bool:
    from rnnkit.nn.scan_layers import MINIMAL_CELLS

    kinds = tuple(MINIMAL_CELLS.values())
    return any(isinstance(module, kinds) for module in model.modules())


def exportable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in evaluation mode whose rnnkit.nn layers run torch's kernels.

    Each rnnkit.nn layer is rebuilt as a plain layer (``impl="fused"``) with the same
    weights; options that are off at inference (recurrent dropout, weight drop) are
    dropped. Raises :class:`UserError` for an option that changes the inference function
    and has no torch kernel.
    """
    import rnnkit.nn as rnn

    model = copy.deepcopy(model).eval()
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, rnn.RNN | rnn.LSTM | rnn.GRU)
    ]
    for name, layer in layers:
        _refuse_unexportable(layer)
        options: dict[str, Any] = {}
        if isinstance(layer, rnn.RNN):
            options["nonlinearity"] = layer.nonlinearity
        if isinstance(layer, rnn.LSTM):
            options["proj_size"] = layer.proj_size
        plain = type(layer)(
            input_size=layer.input_size,
            hidden_size=layer.hidden_size,
            num_layers=layer.num_layers,
            bias=layer.bias,
            batch_first=layer.batch_first,
            dropout=0.0,  # dropout between layers is off at inference
            bidirectional=layer.bidirectional,
            impl="fused",
            **options,
        )
        plain.load_state_dict(layer.state_dict())
        parent_name, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attribute, plain.eval())
    return model


# ----------------------------------------------------------------------------- options


def _refuse_unexportable(layer: nn.Module) -> None:
    """UserError for a layer option that changes inference and has no torch kernel."""
    why = "torch's recurrent kernels, which export with a dynamic time axis, do not have it"
    if layer.layer_norm:
        raise UserError(f"model.layer_norm=true cannot be exported: {why}")
    zoneout = layer.zoneout if isinstance(layer.zoneout, tuple) else (layer.zoneout,)
    if any(zoneout):
        raise UserError(f"model.zoneout={layer.zoneout} cannot be exported: {why}")
    if getattr(layer, "reset_after", True) is False:
        raise UserError(f"model.reset_after=false cannot be exported: {why}")


# ----------------------------------------------------------------------------- writing


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the tracer's notes on Python values (the layers' shape checks) and the
    exporters' deprecation notes: the check after export is what proves a trace general."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*torch.jit.*is deprecated.*")
        warnings.filterwarnings("ignore", message=".*The feature will be removed.*")
        warnings.filterwarnings("ignore", message=".*variable length with (LSTM|GRU|RNN).*")
        # The classifier indexes the step lengths - 1, never negative (lengths >= 1).
        warnings.filterwarnings("ignore", message=".*aten::index operator of advanced indexing.*")
        yield


def _write_onnx(signature: Signature, inputs: tuple[Tensor, ...], path: Path) -> None:
    import onnx

    with _quiet_tracing(), torch.no_grad():
        torch.onnx.export(
            signature.module,
            inputs,
            str(path),
            dynamo=False,
            input_names=[spec.name for spec in signature.inputs],
            output_names=[spec.name for spec in signature.outputs],
            dynamic_axes=signature.dynamic_axes(),
            opset_version=ONNX_OPSET,
        )
    onnx.checker.check_model(str(path), full_check=True)


def _write_torchscript(signature: Signature, inputs: tuple[Tensor, ...], path: Path) -> None:
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(signature.module, inputs, check_trace=False)
        torch.jit.save(traced, str(path))


Runner = Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]]


def _onnx_runner(path: Path, signature: Signature) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [spec.name for spec in signature.inputs]

    def run(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        feed = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        return tuple(torch.from_numpy(array) for array in session.run(None, feed))

    return run


def _torchscript_runner(path: Path) -> Runner:
    with _quiet_tracing():
        loaded = torch.jit.load(str(path), map_location="cpu")

    def run(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        with torch.no_grad():
            result = loaded(*inputs)
        return result if isinstance(result, tuple) else (result,)

    return run


def _check(
    reference: Signature, runner: Runner, batch: int, steps: int, inputs: tuple[Tensor, ...]
) -> dict[str, Any]:
    """Run the exported model and PyTorch on ``inputs``; the largest difference."""
    with torch.no_grad():
        expected = reference.module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = runner(inputs)
    if len(actual) != len(expected):
        raise ExportMismatchError(
            f"the export returns {len(actual)} outputs, the PyTorch model {len(expected)}"
        )
    diff = 0.0
    for name, got, want in zip(
        (spec.name for spec in reference.outputs), actual, expected, strict=True
    ):
        if got.shape != want.shape:
            raise ExportMismatchError(
                f"output {name!r} has shape {tuple(got.shape)} in the export, "
                f"{tuple(want.shape)} in PyTorch (batch {batch}, time {steps})"
            )
        diff = max(diff, float((got.float() - want.float()).abs().max()))
    return {"batch": batch, "time": steps, "max_abs_diff": diff}


def _copy_preprocessing(run_dir: Path, out_dir: Path) -> list[str]:
    """Copy the run's preprocess/*.json beside the model; their paths relative to it."""
    source = run_dir / checkpoint.PREPROCESS_DIR
    target = out_dir / checkpoint.PREPROCESS_DIR
    copied = []
    for path in sorted(source.glob("*.json")):
        checkpoint.inside(run_dir, path)  # a linked file from elsewhere is not copied
        destination = target / path.name
        if path.resolve() != destination.resolve():
            with checkpoint.atomic_path(destination) as temporary:
                shutil.copyfile(path, temporary)
        copied.append(f"{checkpoint.PREPROCESS_DIR}/{path.name}")
    return copied


def _write_io(
    out_dir: Path,
    task: str,
    signature: Signature,
    preprocessing: list[str],
    format: str,
    model_file: str,
    checks: list[dict[str, Any]],
) -> None:
    """Write io.json; entries of the other format stay while its file is there."""
    path = out_dir / IO_FILE
    exports: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            exports = {
                name: entry
                for name, entry in previous.get("exports", {}).items()
                if name != format and (out_dir / entry.get("file", "")).is_file()
            }
        except (json.JSONDecodeError, AttributeError):
            exports = {}
    exports[format] = {
        "file": model_file,
        "runtime": _runtime(format),
        "checks": checks,
        "tolerance": TOLERANCE,
    }
    if format == "onnx":
        exports[format]["opset"] = ONNX_OPSET
    description = {
        "task": task,
        "inputs": [spec.as_json() for spec in signature.inputs],
        "outputs": [spec.as_json() for spec in signature.outputs],
        "dynamic_axes": {"batch": "sequences per call", "time": "steps per sequence"},
        "preprocessing": preprocessing,
        **{key: value for key, value in signature.extra.items() if value is not None},
        "rnnkit": __version__,
        "torch": torch.__version__,
        "exports": dict(sorted(exports.items())),
    }
    checkpoint.write_json(path, description)


def _runtime(format: str) -> str:
    if format == "onnx":
        return f"onnxruntime {importlib.metadata.version('onnxruntime')}"
    return f"torch.jit {torch.__version__}"


def _require_onnx() -> None:
    for package in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(package)
        except ImportError:
            raise MissingExtraError(package, "export", "ONNX export") from None
