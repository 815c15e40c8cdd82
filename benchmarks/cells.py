"""Forward+backward time and saved-activation memory of the extended recurrent options.

torch.nn.LSTM / GRU / RNN (oneDNN on CPU) is the baseline; every other column is
rnnkit.nn's layer of the same cell with the same sizes and weights in training mode:

* ``plain``: no extended option (runs torch's kernel: should be 1.00 x);
* ``ln``: ``layer_norm=True``;
* ``rec-drop``: ``recurrent_dropout=0.25``;
* ``zoneout``: ``zoneout=0.1``;
* ``weight-drop``: ``weight_drop=0.5``;
* ``ln+rec-drop``: layer norm with recurrent dropout;
* ``all``: the four options together;
* ``python``: ``ln+rec-drop`` with the Python time loops (``RNNKIT_NATIVE=0``), which
  run where the native loops cannot (no compiler, CUDA);
* ``reference``: ``ln+rec-drop`` on the loop over the cells (``impl="reference"``);
* ``keras``: Keras 3's LSTM with ``recurrent_dropout=0.25`` on its torch backend, only
  when keras is importable (it is not a dependency) and only for the LSTM.

All variants run one training step each (forward, a loss over the output and the final
states, backward), interleaved in one loop in a fresh random order every round, so that
machine noise hits all of them alike. Each step is timed twice at once: the process's
CPU time (all threads' compute; waiting for a core that another job holds does not
count) and wall time (what a user waits for; with several threads the one that shows
how well a kernel uses them). For each thread count in ``--threads`` (``default`` is
what torch chose at start), the table gives torch.nn's median times and, per variant,
the medians of the per-round ratios to torch.nn of CPU and wall time (steps of one round
run moments apart, so slow drifts in load cancel), and "mem", the bytes autograd saves
for backward in one forward pass (distinct storages through
``torch.autograd.graph.saved_tensors_hooks``, weights and the input excluded) as a ratio
to torch.nn's: on CPU the activation memory a training step holds at its peak.

    python benchmarks/cells.py --repeats 7 --threads 1,default
    python benchmarks/cells.py --cells gru,rnn --repeats 7 --threads 1,default --no-keras
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import random
import statistics
import time
from collections.abc import Callable

import torch

import rnnkit.nn
from common import parse_sizes, saved_bytes
from rnnkit.nn import native

logger = logging.getLogger(__name__)

DEFAULT_SIZES = "32x100x128x256,64x35x650x650,8x200x32x64"
CELLS = {
    "lstm": (torch.nn.LSTM, rnnkit.nn.LSTM),
    "gru": (torch.nn.GRU, rnnkit.nn.GRU),
    "rnn": (torch.nn.RNN, rnnkit.nn.RNN),
}
LN_DROP = {"layer_norm": True, "recurrent_dropout": 0.25}
VARIANTS: dict[str, dict[str, object]] = {
    "plain": {},
    "ln": {"layer_norm": True},
    "rec-drop": {"recurrent_dropout": 0.25},
    "zoneout": {"zoneout": 0.1},
    "weight-drop": {"weight_drop": 0.5},
    "ln+rec-drop": LN_DROP,
    "all": {"layer_norm": True, "recurrent_dropout": 0.25, "zoneout": 0.1, "weight_drop": 0.5},
    "python": LN_DROP,
    "reference": {**LN_DROP, "impl": "reference"},
}
PYTHON_LOOPS = {"python"}  # variants run with RNNKIT_NATIVE=0

Step = Callable[[], None]


def layer_step(layer: torch.nn.Module, x: torch.Tensor, python_loops: bool = False) -> Step:
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        if python_loops:
            os.environ[native.SWITCH] = "0"
        try:
            output, state = layer(x)
        finally:
            os.environ.pop(native.SWITCH, None)
        states = state if isinstance(state, tuple) else (state,)
        (output.sum() + sum(s.sum() for s in states)).backward()

    return step


def keras_step(size: tuple[int, int, int, int]) -> Step | None:
    """Keras 3's LSTM with recurrent dropout on the torch backend, if keras is installed."""
    if importlib.util.find_spec("keras") is None:
        return None
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() != "torch":
        return None
    batch, steps, input_size, hidden_size = size
    layer = keras.layers.LSTM(hidden_size, recurrent_dropout=0.25, return_sequences=True)
    x = torch.randn(batch, steps, input_size)  # Keras is batch-major
    layer.build(x.shape)

    def step() -> None:
        for weight in layer.trainable_weights:
            weight.value.grad = None
        output = layer(x, training=True)
        output.sum().backward()

    return step


def build(
    cell: str, size: tuple[int, int, int, int], with_keras: bool, variants: list[str]
) -> tuple[dict[str, Step], dict[str, torch.nn.Module], torch.Tensor]:
    """One training step per variant, the layers (for memory) and the shared input."""
    batch, steps, input_size, hidden_size = size
    torch.manual_seed(0)
    x = torch.randn(steps, batch, input_size, requires_grad=True)
    torch_cls, rnnkit_cls = CELLS[cell]
    baseline = torch_cls(input_size, hidden_size)
    steps_by_name: dict[str, Step] = {"torch.nn": layer_step(baseline, x)}
    layers: dict[str, torch.nn.Module] = {"torch.nn": baseline}
    for name in variants:
        options = VARIANTS[name]
        layer = rnnkit_cls(input_size, hidden_size, **options).train()
        layer.load_state_dict(baseline.state_dict(), strict=False)
        layers[name] = layer
        steps_by_name[name] = layer_step(layer, x, python_loops=name in PYTHON_LOOPS)
    keras = keras_step(size) if with_keras and cell == "lstm" else None
    if keras is not None:
        steps_by_name["keras"] = keras
    return steps_by_name, layers, x


def run_rounds(
    steps_by_name: dict[str, Step], repeats: int, warmup: int
) -> dict[str, list[tuple[float, float]]]:
    """(CPU seconds, wall seconds) of every variant in every timed round."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps_by_name}
    shuffler = random.Random(0)
    for repeat in range(warmup + repeats):
        for name in shuffler.sample(list(steps_by_name), k=len(steps_by_name)):
            cpu, wall = time.process_time(), time.perf_counter()
            steps_by_name[name]()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if repeat >= warmup:
                times[name].append((cpu, wall))
    return times


def summarise(
    times: dict[str, list[tuple[float, float]]], memory: dict[str, int]
) -> tuple[tuple[float, float], dict[str, tuple[float, float, float | None]]]:
    """torch.nn's median (CPU, wall) seconds; variant -> (CPU ratio, wall ratio, memory)."""
    base = times["torch.nn"]
    results = {}
    for name, rounds in times.items():
        cpu = statistics.median(t[0] / b[0] for t, b in zip(rounds, base, strict=True))
        wall = statistics.median(t[1] / b[1] for t, b in zip(rounds, base, strict=True))
        mem = memory[name] / memory["torch.nn"] if name in memory else None
        results[name] = (cpu, wall, mem)
    base_medians = (statistics.median(t[0] for t in base), statistics.median(t[1] for t in base))
    return base_medians, results


def format_table(rows: list[tuple[str, tuple, str, tuple[float, float], dict]]) -> str:
    names = list(rows[0][4])[1:]
    header = "| cell | (B, T, I, H) | threads | torch.nn ms (CPU / wall) | " + " | ".join(names)
    lines = [header + " |", "|" + "---|" * (len(names) + 4)]
    for cell, size, threads, (cpu_s, wall_s), result in rows:
        cells = []
        for name in names:
            if name not in result:
                cells.append("-")
                continue
            cpu, wall, mem = result[name]
            text = f"{cpu:.2f} / {wall:.2f}"
            cells.append(text if mem is None else f"{text} (mem {mem:.2f})")
        lines.append(
            f"| {cell} | {size} | {threads} | {cpu_s * 1e3:.1f} / {wall_s * 1e3:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def parse_threads(text: str, default: int) -> list[tuple[str, int]]:
    """'1,default' -> [('1', 1), ('default (2)', 2)]."""
    parsed = []
    for item in text.split(","):
        item = item.strip()
        if item == "default":
            parsed.append((f"default ({default})", default))
        elif item.isdigit() and int(item) >= 1:
            parsed.append((item, int(item)))
        else:
            raise SystemExit(
                f"bad --threads value {item!r}: expected positive integers or 'default'"
            )
    return parsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="BATCHxTIMExINPUTxHIDDEN, comma-separated"
    )
    parser.add_argument(
        "--threads",
        default="1,default",
        help="thread counts, comma-separated; 'default' is torch's",
    )
    parser.add_argument("--cells", default="lstm", help="lstm, gru, rnn: comma-separated")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="columns to run, comma-separated"
    )
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras column")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",")]
    if any(v not in VARIANTS for v in variants):
        bad = next(v for v in variants if v not in VARIANTS)
        raise SystemExit(f"unknown variant {bad!r}: expected {', '.join(VARIANTS)}")
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    cells = [c.strip() for c in args.cells.split(",")]
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        raise SystemExit(f"unknown cell {unknown[0]!r}: expected {', '.join(CELLS)}")
    thread_counts = parse_threads(args.threads, torch.get_num_threads())
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("native loops: %s", "on" if native.available() else "off")

    rows = []
    for cell in cells:
        for size in parse_sizes(args.sizes):
            steps_by_name, layers, x = build(cell, size, not args.no_keras, variants)
            memory = {
                name: saved_bytes(steps_by_name[name], [x, *layer.parameters()])
                for name, layer in layers.items()
            }
            for label, threads in thread_counts:
                logger.info("running %s %s with %s thread(s)", cell, size, label)
                torch.set_num_threads(threads)
                times = run_rounds(steps_by_name, args.repeats, args.warmup)
                base, result = summarise(times, memory)
                rows.append((cell, size, label, base, result))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"torch {torch.__version__}, float32, CPU; one training step as a ratio to torch.nn "
        f"(CPU time / wall time, median of {args.repeats} interleaved rounds), saved "
        "activations as a ratio to torch.nn's"
        + (f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end" if load else "")
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
