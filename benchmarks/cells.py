"""Forward+backward time and saved-activation memory of the extended LSTM options.

torch.nn.LSTM (oneDNN on CPU) is the baseline; every other column is rnnkit.nn.LSTM
with the same sizes in training mode:

* ``ln``: ``layer_norm=True``;
* ``rec-drop``: ``recurrent_dropout=0.25``;
* ``zoneout``: ``zoneout=0.1``;
* ``weight-drop``: ``weight_drop=0.5``;
* ``ln+rec-drop``: layer norm with recurrent dropout (the goal: at most 1.5 x torch.nn);
* ``all``: the four options together;
* ``reference``: ``ln+rec-drop`` on the Python loop over the cells (``impl="reference"``);
* ``keras``: Keras 3's LSTM with ``recurrent_dropout=0.25`` on its torch backend, only
  when keras is importable (it is not a dependency).

All variants run one training step each (forward, a loss over the output and the final
states, backward), interleaved in one loop in a fresh random order every round, so that
machine noise hits all of them alike. Time is the process's CPU time by default
(``--clock cpu``): with one thread it is the compute time, and it does not count the
time the process waits for a core that other jobs hold; ``--clock wall`` measures
elapsed time instead (use it with several threads). The table gives, per variant, the median of the
per-round ratios of its time to torch.nn's (steps of one round run moments apart, so
slow drifts in load cancel), torch.nn's median time, and the bytes autograd saves for
backward in one forward pass (distinct storages through
``torch.autograd.graph.saved_tensors_hooks``, weights and the input excluded) as a
ratio to torch.nn's: on CPU the activation memory a training step holds at its peak.

    python benchmarks/cells.py --repeats 7 --threads 1
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

logger = logging.getLogger(__name__)

DEFAULT_SIZES = "32x100x128x256,64x35x650x650,8x200x32x64"
VARIANTS: dict[str, dict[str, object]] = {
    "ln": {"layer_norm": True},
    "rec-drop": {"recurrent_dropout": 0.25},
    "zoneout": {"zoneout": 0.1},
    "weight-drop": {"weight_drop": 0.5},
    "ln+rec-drop": {"layer_norm": True, "recurrent_dropout": 0.25},
    "all": {"layer_norm": True, "recurrent_dropout": 0.25, "zoneout": 0.1, "weight_drop": 0.5},
    "reference": {"layer_norm": True, "recurrent_dropout": 0.25, "impl": "reference"},
}

Step = Callable[[], None]


def torch_step(layer: torch.nn.Module, x: torch.Tensor) -> Step:
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        output, (h_n, c_n) = layer(x)
        (output.sum() + h_n.sum() + c_n.sum()).backward()

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


def benchmark(
    size: tuple[int, int, int, int],
    repeats: int,
    warmup: int,
    with_keras: bool,
    clock: Callable[[], float] = time.process_time,
) -> tuple[float, dict[str, tuple[float, float | None]]]:
    """torch.nn's median seconds, and variant -> (median time ratio, memory ratio)."""
    batch, steps, input_size, hidden_size = size
    torch.manual_seed(0)
    x = torch.randn(steps, batch, input_size, requires_grad=True)
    baseline = torch.nn.LSTM(input_size, hidden_size)
    steps_by_name: dict[str, Step] = {"torch.nn": torch_step(baseline, x)}
    layers: dict[str, torch.nn.Module] = {"torch.nn": baseline}
    for name, options in VARIANTS.items():
        layer = rnnkit.nn.LSTM(input_size, hidden_size, **options).train()
        layer.load_state_dict(baseline.state_dict(), strict=False)
        layers[name] = layer
        steps_by_name[name] = torch_step(layer, x)
    keras = keras_step(size) if with_keras else None
    if keras is not None:
        steps_by_name["keras"] = keras

    times: dict[str, list[float]] = {name: [] for name in steps_by_name}
    shuffler = random.Random(0)
    for repeat in range(warmup + repeats):
        for name in shuffler.sample(list(steps_by_name), k=len(steps_by_name)):
            start = clock()
            steps_by_name[name]()
            elapsed = clock() - start
            if repeat >= warmup:
                times[name].append(elapsed)

    memory = {
        name: saved_bytes(steps_by_name[name], [x, *layer.parameters()])
        for name, layer in layers.items()
    }
    base_times = times["torch.nn"]
    results: dict[str, tuple[float, float | None]] = {}
    for name in steps_by_name:
        ratio = statistics.median(t / b for t, b in zip(times[name], base_times, strict=True))
        mem = memory[name] / memory["torch.nn"] if name in memory else None
        results[name] = (ratio, mem)
    return statistics.median(base_times), results


def format_table(rows: list[tuple[tuple[int, int, int, int], float, dict]]) -> str:
    names = list(rows[0][2])
    header = "| (B, T, I, H) | torch.nn ms | " + " | ".join(names[1:]) + " |"
    lines = [header, "|" + "---|" * (len(names) + 1)]
    for size, base_seconds, result in rows:
        cells = []
        for name in names[1:]:
            ratio, mem = result.get(name, (None, None))
            if ratio is None:
                cells.append("-")
            elif mem is None:
                cells.append(f"{ratio:.2f}x")
            else:
                cells.append(f"{ratio:.2f}x (mem {mem:.2f})")
        lines.append(f"| {size} | {base_seconds * 1e3:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="BATCHxTIMExINPUTxHIDDEN, comma-separated"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras column")
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu", help="process CPU time or elapsed"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1:
        raise SystemExit("--repeats and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    rows = []
    for size in parse_sizes(args.sizes):
        logger.info("running %s", size)
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        base_seconds, result = benchmark(size, args.repeats, args.warmup, not args.no_keras, clock)
        rows.append((size, base_seconds, result))
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), float32, CPU, {args.clock} clock; "
        f"forward+backward time as a ratio to torch.nn.LSTM (median of {args.repeats} interleaved rounds), "
        "saved activations as a ratio to torch.nn.LSTM's"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
