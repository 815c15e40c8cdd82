"""Forward+backward time and saved-activation memory of rnnkit.nn layers against torch.nn.

For each size and cell type, three layers with the same weights run one training step
each (forward, a loss over the output and the final states, backward), interleaved in
one loop, in a fresh random order every round, so that machine noise and the state the
previous step left behind hit all of them alike. The table gives the median time of
``--repeats`` rounds and, as the ratio to torch.nn, the median of the per-round ratios
(steps of one round run moments apart, so slow drifts in machine load cancel):

* ``torch.nn``: torch.nn.LSTM / GRU / RNN;
* ``rnnkit``: rnnkit.nn's layer with ``impl="auto"`` (torch's fused kernel);
* ``reference``: rnnkit.nn's layer with ``impl="reference"`` (the Python time loop).

With ``--lengths`` every batch is padded: sequence lengths are drawn uniformly between
T/2 and T (seeded); torch.nn runs them as packed sequences (``pack_padded_sequence``, the
layer, ``pad_packed_sequence``), the rnnkit layers take ``lengths=``.
``--bidirectional`` runs both directions.

Memory is the bytes of the tensors autograd saves for backward in one forward pass
(distinct storages, counted through ``torch.autograd.graph.saved_tensors_hooks``): on
CPU the activation memory a training step holds at its peak, weights excluded.

    python benchmarks/layers.py --repeats 9 --threads 1
    python benchmarks/layers.py --repeats 5 --threads 1 --lengths --bidirectional
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn
from common import parse_sizes, saved_bytes

logger = logging.getLogger(__name__)

DEFAULT_SIZES = "32x100x128x256,64x35x650x650,8x200x32x64"
CELLS = {
    "lstm": (torch.nn.LSTM, rnnkit.nn.LSTM),
    "gru": (torch.nn.GRU, rnnkit.nn.GRU),
    "rnn": (torch.nn.RNN, rnnkit.nn.RNN),
}
VARIANTS = ("torch.nn", "rnnkit", "reference")


def build_layers(
    cell: str, input_size: int, hidden_size: int, bidirectional: bool = False
) -> dict[str, torch.nn.Module]:
    """torch.nn's layer and rnnkit's two implementations, all with the same weights."""
    torch_cls, rnnkit_cls = CELLS[cell]
    baseline = torch_cls(input_size, hidden_size, bidirectional=bidirectional)
    layers = {"torch.nn": baseline}
    for name, impl in (("rnnkit", "auto"), ("reference", "reference")):
        layer = rnnkit_cls(input_size, hidden_size, impl=impl, bidirectional=bidirectional)
        layer.load_state_dict(baseline.state_dict())
        layers[name] = layer
    return layers


def training_step(
    layer: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None
) -> None:
    if lengths is None:
        output, state = layer(x)
    elif isinstance(layer, rnnkit.nn.RNN | rnnkit.nn.LSTM | rnnkit.nn.GRU):
        output, state = layer(x, lengths=lengths)
    else:  # torch.nn: the packed sequences its documentation prescribes
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        output, state = layer(packed)
        output, _ = pad_packed_sequence(output, total_length=x.shape[0])
    states = state if isinstance(state, tuple) else (state,)
    loss = output.sum() + sum(s.sum() for s in states)
    loss.backward()


def benchmark(
    size: tuple[int, int, int, int],
    cell: str,
    repeats: int,
    warmup: int,
    padded: bool = False,
    bidirectional: bool = False,
) -> dict[str, tuple[float, float, int]]:
    """variant -> (median seconds per step, median ratio to torch.nn, bytes saved)."""
    batch, steps, input_size, hidden_size = size
    torch.manual_seed(0)
    layers = build_layers(cell, input_size, hidden_size, bidirectional)
    x = torch.randn(steps, batch, input_size, requires_grad=True)
    lengths = torch.randint(max(1, steps // 2), steps + 1, (batch,)) if padded else None
    times: dict[str, list[float]] = {name: [] for name in layers}
    shuffler = random.Random(0)
    for repeat in range(warmup + repeats):
        order = shuffler.sample(list(layers), k=len(layers))
        for name in order:
            layer = layers[name]
            layer.zero_grad(set_to_none=True)
            x.grad = None
            start = time.perf_counter()
            training_step(layer, x, lengths)
            elapsed = time.perf_counter() - start
            if repeat >= warmup:
                times[name].append(elapsed)
    memory = {
        name: saved_bytes(lambda layer=layer: training_step(layer, x, lengths))
        for name, layer in layers.items()
    }
    baseline = times["torch.nn"]
    return {
        name: (
            statistics.median(times[name]),
            statistics.median(t / b for t, b in zip(times[name], baseline, strict=True)),
            memory[name],
        )
        for name in layers
    }


def format_table(
    rows: list[tuple[tuple[int, int, int, int], str, dict[str, tuple[float, float, int]]]],
) -> str:
    header = (
        "| (B, T, I, H) | cell | torch.nn ms | rnnkit ms | rnnkit / torch | reference ms "
        "| reference / torch | saved MiB torch.nn / rnnkit / reference |"
    )
    lines = [header, "|" + "---|" * 8]
    for size, cell, result in rows:
        ms = {name: f"{result[name][0] * 1e3:.2f}" for name in VARIANTS}
        mib = " / ".join(f"{result[name][2] / 2**20:.1f}" for name in VARIANTS)
        lines.append(
            f"| {size} | {cell} | {ms['torch.nn']} | {ms['rnnkit']} | {result['rnnkit'][1]:.3f} "
            f"| {ms['reference']} | {result['reference'][1]:.2f} | {mib} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per layer (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per layer first")
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="BATCHxTIMExINPUTxHIDDEN, comma-separated"
    )
    parser.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated: lstm, gru, rnn")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument(
        "--lengths", action="store_true", help="padded batches (torch.nn: packed sequences)"
    )
    parser.add_argument("--bidirectional", action="store_true", help="both directions")
    args = parser.parse_args(argv)
    cells = [c.strip() for c in args.cells.split(",")]
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        raise SystemExit(f"unknown cell {unknown[0]!r}: expected one of {', '.join(CELLS)}")
    if args.repeats < 1 or args.threads < 1:
        raise SystemExit("--repeats and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    rows = []
    for size in parse_sizes(args.sizes):
        for cell in cells:
            logger.info("running %s at %s", cell, size)
            result = benchmark(
                size, cell, args.repeats, args.warmup, args.lengths, args.bidirectional
            )
            rows.append((size, cell, result))
    layout = "bidirectional" if args.bidirectional else "one direction"
    batches = "padded batches (lengths T/2..T)" if args.lengths else "full-length batches"
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} "
        f"forward+backward steps, float32, CPU, {layout}, {batches}"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
