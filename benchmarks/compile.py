"""torch.compile on a model with a recurrent layer: compile time and step time.

The model is ``Linear -> recurrent layer -> Linear`` (time-major, float32, CPU); one
step is a forward pass, a loss over the output and backward. For each layer variant
the table gives the eager step time, the first compiled step (compilation included)
and the compiled step time afterwards (medians of ``--repeats`` rounds in which all
eager and compiled steps run once each, in a fresh random order):

* ``torch.nn``: torch.nn.LSTM / GRU / RNN;
* ``rnnkit``: rnnkit.nn's layer with the same arguments (torch's kernels);
* ``rnnkit+ext``: rnnkit.nn's layer with ``layer_norm=True, recurrent_dropout=0.25``
  (the kernels of rnnkit.nn.fused).

Like torch.nn's, rnnkit's layers are left to eager by torch.compile (a graph break):
only the linear layers around them are compiled. Inductor's on-disk caches are off and
dynamo is reset between variants, so each first step compiles from scratch; a small
function is compiled first so that no variant pays inductor's one-time start-up.

    python benchmarks/compile.py --threads 1
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time

import torch
import torch._dynamo
import torch._functorch.config
import torch._inductor.config

import rnnkit.nn
from common import parse_sizes

logger = logging.getLogger(__name__)

CELLS = {
    "lstm": (torch.nn.LSTM, rnnkit.nn.LSTM),
    "gru": (torch.nn.GRU, rnnkit.nn.GRU),
    "rnn": (torch.nn.RNN, rnnkit.nn.RNN),
}


VARIANTS = ("torch.nn", "rnnkit", "rnnkit+ext")


class Model(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.encode = torch.nn.Linear(input_size, input_size)
        self.layer = layer
        self.decode = torch.nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.layer(torch.tanh(self.encode(x)))  # (T, B, H)
        return self.decode(output).squeeze(-1)  # (T, B)


def build(variant: str, cell: str, input_size: int, hidden_size: int) -> Model:
    torch_cls, rnnkit_cls = CELLS[cell]
    torch.manual_seed(0)
    if variant == "torch.nn":
        layer = torch_cls(input_size, hidden_size)
    elif variant == "rnnkit":
        layer = rnnkit_cls(input_size, hidden_size)
    else:
        layer = rnnkit_cls(input_size, hidden_size, layer_norm=True, recurrent_dropout=0.25)
    return Model(layer, input_size, hidden_size)


def step(model: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    loss = model(x).square().mean()
    loss.backward()
    return time.perf_counter() - start


def measure(models: dict[str, Model], x: torch.Tensor, repeats: int) -> dict[str, dict[str, float]]:
    """Per variant: the first compiled step, then eager and compiled steps interleaved.

    Each round runs every (variant, eager or compiled) step once in a fresh random order,
    so that machine noise hits all of them alike; the medians over rounds are reported.
    """
    compiled, first = {}, {}
    for name, model in models.items():
        torch._dynamo.reset()
        compiled[name] = torch.compile(model)
        first[name] = step(compiled[name], x)
    runs = [(name, kind) for name in models for kind in ("eager", "compiled")]
    times: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    for _ in range(repeats):
        random.shuffle(runs)
        for name, kind in runs:
            model = models[name] if kind == "eager" else compiled[name]
            times[name, kind].append(step(model, x))
    return {
        name: {
            "eager": statistics.median(times[name, "eager"]),
            "first": first[name],
            "compiled": statistics.median(times[name, "compiled"]),
        }
        for name in models
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16x50x32x64", help="BATCHxTIMExINPUTxHIDDEN")
    parser.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=9, help="timed steps (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    random.seed(0)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False
    torch.compile(lambda t: torch.tanh(t) + 1)(torch.randn(3))  # inductor's start-up

    rows = []
    for batch, steps, input_size, hidden_size in parse_sizes(args.sizes):
        x = torch.randn(steps, batch, input_size)
        for cell in args.cells.split(","):
            logger.info("running %s at %s", cell, (batch, steps))
            models = {v: build(v, cell, input_size, hidden_size) for v in VARIANTS}
            for variant, result in measure(models, x, args.repeats).items():
                rows.append(((batch, steps, input_size, hidden_size), cell, variant, result))
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), float32, CPU; "
        f"forward+backward of Linear -> layer -> Linear, median of {args.repeats} interleaved rounds"
    )
    print("| (B, T, I, H) | cell | layer | eager ms | first compiled step s | compiled ms |")
    print("|---|---|---|---|---|---|")
    for size, cell, variant, r in rows:
        print(
            f"| {size} | {cell} | {variant} | {r['eager'] * 1e3:.2f} | {r['first']:.2f} "
            f"| {r['compiled'] * 1e3:.2f} |"
        )


if __name__ == "__main__":
    main()
