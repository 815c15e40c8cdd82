"""Long-range synthetic tasks: the adding problem and the copy memory task.

Both are generated from a seed, need no download, and have a known trivial baseline, so
they show plainly whether a recurrent cell can carry information across ``T`` steps.

Adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015)
    Each step holds a pair (value, marker): values drawn from U(0, 1), markers 0 except
    at two steps, one drawn uniformly from the first half ``[0, T//2)`` and one from the
    second half ``[T//2, T)``. The target is the sum of the two marked values.

    Trivial baseline. The target is the sum of two independent U(0, 1) draws: whatever
    the marker positions, its mean is 1 and its variance is 2 * 1/12 = 1/6. A predictor
    that ignores its input does best by predicting the mean, and its expected MSE is the
    variance, :data:`ADDING_BASELINE_MSE` = 1/6 ≈ 0.16667.

Copy memory task (Arjovsky, Shah & Bengio 2016, section 4.1)
    Symbols ``0..7`` (:data:`COPY_SYMBOLS` = 8), a blank ``8`` and a delimiter ``9``. The
    input is 10 random symbols, ``T - 1`` blanks, the delimiter, then 10 blanks (length
    ``T + 20``); the target is ``T + 10`` blanks followed by the same 10 symbols.

    Memoryless baseline. A model that outputs blanks for the first ``T + 10`` steps and a
    uniform guess over the 8 symbols for the last 10 has cross-entropy 10·log(8)/(T+20)
    per step (:func:`copy_baseline_loss`), the baseline of Arjovsky et al. 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import DataError

#: Expected MSE of the best input-blind predictor (the constant 1) on the adding problem.
ADDING_BASELINE_MSE = 1.0 / 6.0

COPY_SYMBOLS = 8  # symbols to remember: 0..7
COPY_BLANK = 8
COPY_DELIMITER = 9
COPY_VOCAB = 10  # input and output classes
COPY_LENGTH = 10  # symbols to copy

SYNTHETIC_NAMES = ("adding", "copy")


@dataclass(frozen=True)
class SequenceSet:
    """Generated sequences: ``inputs`` (N, T, F) float32 and ``targets``.

    Adding: targets (N,) float32. Copy: inputs are one-hot (N, T + 20, 10) and targets
    (N, T + 20) int64 class ids.
    """

    inputs: Tensor
    targets: Tensor

    def __len__(self) -> int:
        return len(self.inputs)


def adding_problem(num_samples: int, length: int, seed: int) -> SequenceSet:
    """``num_samples`` adding-problem sequences of ``length`` steps, inputs (N, T, 2)."""
    _check("adding", num_samples, length, minimum_length=2)
    rng = np.random.default_rng(seed)
    values = rng.random((num_samples, length), dtype=np.float64).astype(np.float32)  # (N, T)
    half = length // 2
    first = rng.integers(0, half, size=num_samples)  # (N,)
    second = rng.integers(half, length, size=num_samples)  # (N,)
    rows = np.arange(num_samples)
    markers = np.zeros((num_samples, length), dtype=np.float32)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]  # (N,)
    inputs = np.stack([values, markers], axis=-1)  # (N, T, 2)
    return SequenceSet(torch.from_numpy(inputs), torch.from_numpy(targets.astype(np.float32)))


def copy_task(num_samples: int, delay: int, seed: int) -> SequenceSet:
    """``num_samples`` copy-task sequences with ``delay`` = T, of length T + 20."""
    _check("copy", num_samples, delay, minimum_length=1)
    rng = np.random.default_rng(seed)
    total = delay + 2 * COPY_LENGTH
    symbols = rng.integers(0, COPY_SYMBOLS, size=(num_samples, COPY_LENGTH))  # (N, 10)
    tokens = np.full((num_samples, total), COPY_BLANK, dtype=np.int64)  # (N, T + 20)
    tokens[:, :COPY_LENGTH] = symbols
    tokens[:, COPY_LENGTH + delay - 1] = COPY_DELIMITER
    targets = np.full((num_samples, total), COPY_BLANK, dtype=np.int64)
    targets[:, -COPY_LENGTH:] = symbols
    inputs = np.eye(COPY_VOCAB, dtype=np.float32)[tokens]  # (N, T + 20, 10)
    return SequenceSet(torch.from_numpy(inputs), torch.from_numpy(targets))


def copy_baseline_loss(delay: int) -> float:
    """Cross-entropy per step of the memoryless copy-task strategy: 10·log(8)/(T+20)."""
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (delay + 2 * COPY_LENGTH)


def generate(name: str, length: int, num_samples: int, seed: int) -> SequenceSet:
    """The synthetic dataset ``name`` (adding or copy) of ``num_samples`` sequences."""
    if name == "adding":
        return adding_problem(num_samples, length, seed)
    if name == "copy":
        return copy_task(num_samples, length, seed)
    raise DataError(
        f"{name!r} is not a synthetic dataset; choose one of {', '.join(SYNTHETIC_NAMES)}"
    )


def split_seeds(seed: int) -> dict[str, int]:
    """Independent seeds for the train, val and test splits of one config seed."""
    children = np.random.SeedSequence(seed).spawn(3)
    return {
        split: int(child.generate_state(1)[0])
        for split, child in zip(("train", "val", "test"), children, strict=True)
    }


def generate_splits(
    name: str, length: int, train_samples: int, eval_samples: int, seed: int
) -> dict[str, SequenceSet]:
    """Train, val and test sets, each drawn from its own stream of one seed."""
    seeds = split_seeds(seed)
    sizes = {"train": train_samples, "val": eval_samples, "test": eval_samples}
    return {split: generate(name, length, sizes[split], seeds[split]) for split in sizes}


def load_adding():
    """The catalog's ``adding`` entry with the config defaults (T=100, 10000/1000/1000)."""
    return _loaded("adding")


def load_copy():
    """The catalog's ``copy`` entry with the config defaults (T=100, 10000/1000/1000)."""
    return _loaded("copy")


def _loaded(name: str):
    from rnnkit.data.types import LoadedDataset

    length, train_samples, eval_samples, seed = 100, 10000, 1000, 0
    splits = generate_splits(name, length, train_samples, eval_samples, seed)
    baseline = (
        {"mse": ADDING_BASELINE_MSE} if name == "adding" else {"loss": copy_baseline_loss(length)}
    )
    meta = {"length": length, "seed": seed, "baseline": baseline}
    return LoadedDataset(name, "synthetic", splits, meta)


def _check(name: str, num_samples: int, length: int, minimum_length: int) -> None:
    if num_samples < 1:
        raise DataError(f"{name}: number of samples = {num_samples}; it must be at least 1")
    if length < minimum_length:
        what = "data.length (the delay T)" if name == "copy" else "data.length"
        raise DataError(f"{name}: {what} = {length}; it must be at least {minimum_length}")
