"""The adding problem and the copy task: structure, determinism, baselines, catalog."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.data import catalog, sources, synthetic
from rnnkit.errors import DataError


def test_adding_has_two_markers_one_per_half_and_sums_their_values() -> None:
    length = 30
    generated = synthetic.adding_problem(500, length, seed=3)
    inputs, targets = generated.inputs.numpy(), generated.targets.numpy()
    assert inputs.shape == (500, length, 2) and targets.shape == (500,)
    values, markers = inputs[..., 0], inputs[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers.sum(1) == 2).all()
    assert (markers[:, : length // 2].sum(1) == 1).all()  # one marker in each half
    assert (markers[:, length // 2 :].sum(1) == 1).all()
    np.testing.assert_allclose(targets, (values * markers).sum(1), rtol=1e-6)


def test_adding_trivial_predictor_scores_one_sixth() -> None:
    # Predicting the mean 1 scores the variance of a sum of two U(0, 1): 2/12 = 1/6.
    assert math.isclose(synthetic.ADDING_BASELINE_MSE, 1 / 6)
    targets = synthetic.adding_problem(200_000, 10, seed=0).targets.double()
    assert float(targets.mean()) == pytest.approx(1.0, abs=0.005)
    # Var((t-1)^2) = E[(t-1)^4] - (1/6)^2 = 1/15 - 1/36 for a triangular t on [0, 2].
    standard_error = math.sqrt((1 / 15 - 1 / 36) / len(targets))
    measured = float(((targets - 1) ** 2).mean())
    assert abs(measured - 1 / 6) < 4 * standard_error


def test_copy_task_layout() -> None:
    delay = 7
    generated = synthetic.copy_task(50, delay, seed=1)
    tokens = generated.inputs.argmax(-1).numpy()
    targets = generated.targets.numpy()
    assert generated.inputs.shape == (50, delay + 20, synthetic.COPY_VOCAB)
    assert (generated.inputs.sum(-1) == 1).all()  # one-hot
    symbols = tokens[:, :10]
    assert ((symbols >= 0) & (symbols < 8)).all()
    assert (tokens[:, 10 : 10 + delay - 1] == synthetic.COPY_BLANK).all()
    assert (tokens[:, 10 + delay - 1] == synthetic.COPY_DELIMITER).all()
    assert (tokens[:, -10:] == synthetic.COPY_BLANK).all()
    assert (targets[:, : delay + 10] == synthetic.COPY_BLANK).all()
    np.testing.assert_array_equal(targets[:, -10:], symbols)


@pytest.mark.parametrize("delay", [1, 100, 400])
def test_copy_baseline_is_the_memoryless_cross_entropy(delay: int) -> None:
    # Blanks with certainty for T + 10 steps, then a uniform guess over the 8 symbols.
    targets = synthetic.copy_task(20, delay, seed=2).targets
    log_probs = torch.full((20, delay + 20, synthetic.COPY_VOCAB), -1e9, dtype=torch.float64)
    log_probs[:, : delay + 10, synthetic.COPY_BLANK] = 0.0
    log_probs[:, -10:, :8] = math.log(1 / 8)
    measured = torch.nn.functional.nll_loss(log_probs.flatten(0, 1), targets.flatten())
    expected = 10 * math.log(8) / (delay + 20)
    assert synthetic.copy_baseline_loss(delay) == pytest.approx(expected)
    assert float(measured) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["adding", "copy"])
def test_generation_is_deterministic_per_seed(name: str) -> None:
    first = synthetic.generate(name, 12, 64, seed=5)
    again = synthetic.generate(name, 12, 64, seed=5)
    other = synthetic.generate(name, 12, 64, seed=6)
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.inputs, other.inputs)


def test_splits_come_from_independent_streams() -> None:
    splits = synthetic.generate_splits("adding", 20, 300, 100, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 300, "val": 100, "test": 100}
    assert not torch.equal(splits["val"].inputs, splits["test"].inputs)
    assert not torch.equal(splits["train"].inputs[:100], splits["val"].inputs)
    again = synthetic.generate_splits("adding", 20, 300, 100, seed=0)
    assert torch.equal(splits["test"].targets, again["test"].targets)


def test_catalog_entries_generate_without_files() -> None:
    for name, task in (("adding", "adding"), ("copy", "copy")):
        entry = catalog.lookup(name)
        assert entry.files == () and entry.kind == "synthetic" and entry.task == task
    loaded = sources.load("adding")
    assert loaded.kind == "synthetic"
    assert {k: len(v) for k, v in loaded.splits.items()} == {
        "train": 10000,
        "val": 1000,
        "test": 1000,
    }
    assert loaded.meta["baseline"]["mse"] == pytest.approx(1 / 6)
    copy = sources.load("copy")
    assert copy.splits["test"].inputs.shape[1] == 120
    assert copy.meta["baseline"]["loss"] == pytest.approx(10 * math.log(8) / 120)


def test_bad_sizes_name_the_value() -> None:
    with pytest.raises(DataError, match=r"adding: data.length = 1; it must be at least 2"):
        synthetic.adding_problem(10, 1, seed=0)
    with pytest.raises(DataError, match=r"number of samples = 0"):
        synthetic.copy_task(0, 10, seed=0)
    with pytest.raises(
        DataError, match=r"'sine' is not a synthetic dataset; choose one of adding, copy"
    ):
        synthetic.generate("sine", 10, 10, seed=0)
