"""The matrix products of the extended cells' training step: oneDNN against torch.mm.

A recurrent layer's step over a whole sequence does three large products outside its
time loop: the input projection ``x @ W_ih.T`` (forward), its input gradient ``g @ W_ih``
and the weight gradients ``g.T @ x`` / ``g.T @ h`` over all T*B rows. oneDNN's linear
wants ``a.T @ b``'s operands transposed in memory, so it needs copies; torch.mm hands the
transposed view to BLAS as it is. This times both ways at the shapes of the cell
benchmark's sizes (benchmarks/cells.py), at 1 thread and at torch's default, median of
``--repeats`` calls each (one untimed first), wall and process CPU time, and the transposed copy
alone.

    python benchmarks/products.py --repeats 9
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from common import parse_sizes
from rnnkit.nn import kernel_ops


def _onednn_tn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return kernel_ops._onednn_linear(a.t().contiguous(), b.t().contiguous())


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and process CPU milliseconds of ``fn`` over ``repeats`` calls (one
    untimed call first)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return sorted(walls)[repeats // 2] * 1e3, sorted(cpus)[repeats // 2] * 1e3


def _products(x: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor) -> dict:
    """name -> (oneDNN call, torch.mm call, the transposed copy oneDNN needs or None)."""
    return {
        "g.T @ x (weight grad)": (
            lambda: _onednn_tn(grad, x),
            lambda: grad.t() @ x,
            lambda: grad.t().contiguous(),
        ),
        "x @ W.T (projection)": (
            lambda: kernel_ops._onednn_linear(x, weight),
            lambda: torch.mm(x, weight.t()),
            None,
        ),
        "g @ W (input grad)": (
            lambda: kernel_ops._onednn_linear(grad, weight.t().contiguous()),
            lambda: torch.mm(grad, weight),
            lambda: weight.t().contiguous(),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64x35x650x650,32x100x128x256,8x200x32x64")
    parser.add_argument("--gates", type=int, default=4, help="gates per unit: 4 LSTM, 3 GRU")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", default="1,default")
    args = parser.parse_args()
    if not kernel_ops.USE_ONEDNN:
        raise SystemExit("this torch has no oneDNN linear operators: nothing to compare")
    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, float32, {os.cpu_count()} CPUs; ms wall / CPU, median")
    print(
        "| (B, T, I, H) | threads | product | oneDNN + copies | torch.mm | ratio (wall) | copy of a.T |"
    )
    print("|---|---|---|---|---|---|---|")
    for batch, steps, inputs, hidden in parse_sizes(args.sizes):
        rows, gates = batch * steps, args.gates * hidden
        torch.manual_seed(0)
        x = torch.randn(rows, inputs)
        weight = torch.randn(gates, inputs)
        grad = torch.randn(rows, gates)
        products = _products(x, weight, grad)
        for threads in args.threads.split(","):
            count = default_threads if threads == "default" else int(threads)
            torch.set_num_threads(count)
            label = f"default ({count})" if threads == "default" else threads
            for name, (onednn, plain, copy) in products.items():
                one_wall, one_cpu = _timed(onednn, args.repeats)
                mm_wall, mm_cpu = _timed(plain, args.repeats)
                copy_text = (
                    "-" if copy is None else "{:.1f} / {:.1f}".format(*_timed(copy, args.repeats))
                )
                print(
                    f"| ({batch}, {steps}, {inputs}, {hidden}) | {label} | {name} | "
                    f"{one_wall:.1f} / {one_cpu:.1f} | {mm_wall:.1f} / {mm_cpu:.1f} | "
                    f"{one_wall / mm_wall:.2f} | {copy_text} |"
                )
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
