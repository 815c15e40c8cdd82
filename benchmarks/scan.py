"""minGRU / minLSTM / RG-LRU (parallel scan) against torch.nn.GRU / LSTM of the same width.

Training: one forward+backward step (loss = sum of the output and of h_n) at each
sequence length T, for each layer, at 1 thread and at torch's default thread count.
Layers and thread counts are interleaved in one loop, in a fresh random order every
round, so that machine noise (the machine may be shared) hits them alike; the table gives
medians over ``--repeats`` rounds of the wall time and of the process CPU time
(``time.process_time``, all threads together: less sensitive to other jobs), and the
median of the per-round ratios to the classic layer.

Memory: the bytes of the tensors autograd saves for backward in one forward pass
(distinct storages, through ``torch.autograd.graph.saved_tensors_hooks``; input and
weights excluded): the activation memory a training step holds at its peak.

Generation: steps per second of one layer stepping one token at a time (batch 1 and
``--batch``, no gradient, 1 thread): ``MinGRU.step`` against ``torch.nn.GRUCell``, ``MinLSTM.step``
against ``torch.nn.LSTMCell``, and ``RGLRU.step``.

RG-LRU (``rnnkit.nn.RGLRU``) is compared to the GRU, the classic layer whose state is
one vector of width H like its own.

    python benchmarks/scan.py
    python benchmarks/scan.py --steps 256,1024 --repeats 3 --variants gru,mingru,mingru-log
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from collections.abc import Callable

import torch

import rnnkit.nn
from common import saved_bytes

logger = logging.getLogger(__name__)

# name -> (constructor (input_size, hidden_size) -> layer, the classic layer it is compared to)
VARIANTS: dict[str, tuple[Callable[[int, int], torch.nn.Module], str]] = {
    "gru": (torch.nn.GRU, "gru"),
    "mingru": (rnnkit.nn.MinGRU, "gru"),
    "mingru-log": (lambda i, h: rnnkit.nn.MinGRU(i, h, impl="log"), "gru"),
    "lstm": (torch.nn.LSTM, "lstm"),
    "minlstm": (rnnkit.nn.MinLSTM, "lstm"),
    "minlstm-log": (lambda i, h: rnnkit.nn.MinLSTM(i, h, impl="log"), "lstm"),
    "rglru": (rnnkit.nn.RGLRU, "gru"),
    "rglru-log": (lambda i, h: rnnkit.nn.RGLRU(i, h, impl="log"), "gru"),
}


def training_step(layer: torch.nn.Module, x: torch.Tensor) -> None:
    output, state = layer(x)
    states = state if isinstance(state, tuple) else (state,)
    loss = output.sum() + sum(s.sum() for s in states)
    loss.backward()


def time_training(
    variants: list[str],
    steps: list[int],
    thread_counts: list[int],
    batch: int,
    size: int,
    repeats: int,
    warmup: int,
) -> dict[tuple[str, int, int], dict[str, float]]:
    """(variant, T, threads) -> median wall and CPU seconds, ratios, saved bytes."""
    torch.manual_seed(0)
    layers = {name: VARIANTS[name][0](size, size) for name in variants}
    inputs = {t: torch.randn(t, batch, size, requires_grad=True) for t in steps}
    cases = [(name, t, n) for name in variants for t in steps for n in thread_counts]
    wall: dict[tuple[str, int, int], list[float]] = {case: [] for case in cases}
    cpu: dict[tuple[str, int, int], list[float]] = {case: [] for case in cases}
    shuffler = random.Random(0)
    for repeat in range(warmup + repeats):
        logger.info("round %d of %d", repeat + 1, warmup + repeats)
        for case in shuffler.sample(cases, k=len(cases)):
            name, t, threads = case
            torch.set_num_threads(threads)
            layer, x = layers[name], inputs[t]
            layer.zero_grad(set_to_none=True)
            x.grad = None
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            training_step(layer, x)
            if repeat >= warmup:
                wall[case].append(time.perf_counter() - start_wall)
                cpu[case].append(time.process_time() - start_cpu)
    torch.set_num_threads(max(thread_counts))
    results = {}
    for case in cases:
        name, t, threads = case
        base = (VARIANTS[name][1], t, threads)
        results[case] = {
            "wall": statistics.median(wall[case]),
            "cpu": statistics.median(cpu[case]),
            "wall_ratio": _median_ratio(wall[case], wall.get(base)),
            "cpu_ratio": _median_ratio(cpu[case], cpu.get(base)),
            "saved": saved_bytes(
                lambda layer=layers[name], x=inputs[t]: training_step(layer, x),
                excluded=[inputs[t], *layers[name].parameters()],
            ),
        }
    return results


def _median_ratio(times: list[float], baseline: list[float] | None) -> float:
    if baseline is None:
        return float("nan")
    return statistics.median(t / b for t, b in zip(times, baseline, strict=True))


def time_generation(size: int, batch: int, tokens: int, repeats: int) -> dict[str, float]:
    """Tokens per second per sequence, one token at a time, 1 thread, no gradient."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gru_cell, lstm_cell = torch.nn.GRUCell(size, size), torch.nn.LSTMCell(size, size)
    min_gru, min_lstm = rnnkit.nn.MinGRU(size, size), rnnkit.nn.MinLSTM(size, size)
    rg_lru = rnnkit.nn.RGLRU(size, size)
    x = torch.randn(tokens, batch, size)

    def run_gru_cell() -> None:
        h = torch.zeros(batch, size)
        for t in range(tokens):
            h = gru_cell(x[t], h)

    def run_lstm_cell() -> None:
        state = (torch.zeros(batch, size), torch.zeros(batch, size))
        for t in range(tokens):
            state = lstm_cell(x[t], state)

    def stepper(layer: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            h = torch.zeros(1, batch, size)
            for t in range(tokens):
                _, h = layer.step(x[t], h)

        return run

    runs = {
        "GRUCell": run_gru_cell,
        "MinGRU.step": stepper(min_gru),
        "LSTMCell": run_lstm_cell,
        "MinLSTM.step": stepper(min_lstm),
        "RGLRU.step": stepper(rg_lru),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    shuffler = random.Random(1)
    with torch.no_grad():
        for repeat in range(repeats + 1):
            for name in shuffler.sample(list(runs), k=len(runs)):
                start = time.process_time()
                runs[name]()
                if repeat > 0:
                    times[name].append(time.process_time() - start)
    return {name: tokens / statistics.median(values) for name, values in times.items()}


def format_training(
    results: dict[tuple[str, int, int], dict[str, float]],
    variants: list[str],
    steps: list[int],
    thread_counts: list[int],
) -> str:
    header = "| T | threads | " + " | ".join(
        f"{name} CPU ms (wall)" + ("" if VARIANTS[name][1] == name else " / ratio")
        for name in variants
    )
    lines = [header + " |", "|" + "---|" * (2 + len(variants))]
    for t in steps:
        for threads in thread_counts:
            cells = []
            for name in variants:
                r = results[(name, t, threads)]
                text = f"{r['cpu'] * 1e3:.0f} ({r['wall'] * 1e3:.0f})"
                if VARIANTS[name][1] != name:
                    text += f" / **{r['cpu_ratio']:.2f}** ({r['wall_ratio']:.2f})"
                cells.append(text)
            lines.append(f"| {t} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_memory(
    results: dict[tuple[str, int, int], dict[str, float]], variants: list[str], steps: list[int]
) -> str:
    threads = next(iter(results))[2]
    lines = ["| T | " + " | ".join(f"{n} MiB" for n in variants) + " |"]
    lines.append("|" + "---|" * (1 + len(variants)))
    for t in steps:
        values = " | ".join(f"{results[(n, t, threads)]['saved'] / 2**20:.1f}" for n in variants)
        lines.append(f"| {t} | {values} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="256,1024,4096", help="sequence lengths T")
    parser.add_argument("--batch", type=int, default=16, help="batch size B")
    parser.add_argument("--size", type=int, default=128, help="input and hidden size I = H")
    parser.add_argument(
        "--variants", default="gru,mingru,rglru,lstm,minlstm", help=", ".join(VARIANTS)
    )
    parser.add_argument(
        "--threads", default="1,default", help="thread counts; 'default' is torch's"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--tokens", type=int, default=2000, help="generation: tokens per run")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant {unknown[0]!r}: expected one of {', '.join(VARIANTS)}")
    default_threads = torch.get_num_threads()
    thread_counts = sorted(
        {default_threads if n.strip() == "default" else int(n) for n in args.threads.split(",")}
    )
    steps = [int(t) for t in args.steps.split(",")]
    if args.repeats < 1 or min(thread_counts) < 1 or min(steps) < 1:
        raise SystemExit("--repeats, --threads and --steps must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results = time_training(
        variants, steps, thread_counts, args.batch, args.size, args.repeats, args.warmup
    )
    generation = {
        batch: time_generation(args.size, batch, args.tokens, args.repeats)
        for batch in (1, args.batch)
    }
    print(
        f"torch {torch.__version__}, float32, CPU, B={args.batch}, I=H={args.size}, "
        f"median of {args.repeats} forward+backward steps; CPU = process CPU time (all "
        f"threads), wall in brackets; ratio = the scan layer / its classic one"
    )
    print(format_training(results, variants, steps, thread_counts))
    print()
    print("Saved for backward (activation memory of one training step):")
    print(format_memory(results, variants, steps))
    print()
    print(
        f"Generation, 1 thread, {args.tokens} steps, median of {args.repeats}: steps per "
        "second (tokens/s of each sequence in the batch)"
    )
    print("| layer | " + " | ".join(f"batch {b}" for b in generation) + " |")
    print("|---|" + "---|" * len(generation))
    for name in generation[1]:
        rates = " | ".join(f"{generation[b][name]:,.0f}" for b in generation)
        print(f"| {name} | {rates} |")


if __name__ == "__main__":
    main()
