"""Training batches come in a new order every epoch, and a run resumed at an epoch's end
sees the orders the uninterrupted run saw, so both end with the same weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.engine.api import resume, train
from rnnkit.tasks import get_spec


class FirstBatches(L.Callback):
    """The first training batch of every epoch (its first tensor)."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            first = batch[0] if isinstance(batch, tuple | list) else next(iter(batch.values()))
            self.batches.append(first.clone())


def _config(task: str, folder: Path, epochs: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    config = get_spec(task).tiny_config(folder)
    config["train"]["max_epochs"] = epochs
    return config


def _train(config: dict, run_dir: Path, callbacks=()) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(config, run_dir=run_dir, callbacks=callbacks)


@pytest.mark.parametrize("task", ["tagging", "translation"])
def test_bucketed_batches_change_from_epoch_to_epoch(task: str, tmp_path: Path) -> None:
    first = FirstBatches()
    _train(_config(task, tmp_path, 3), tmp_path / "run", [first])
    assert len(first.batches) == 3
    # Epoch 1's first batch came back in every epoch before the batch sampler was told
    # the epoch.
    assert any(
        b.shape != first.batches[0].shape or not torch.equal(b, first.batches[0])
        for b in first.batches[1:]
    )


@pytest.mark.parametrize("task", ["forecasting", "tagging"])
def test_a_run_resumed_at_an_epoch_end_ends_with_the_uninterrupted_weights(
    task: str, tmp_path: Path
) -> None:
    whole = _train(_config(task, tmp_path / "a", 3), tmp_path / "a" / "run")
    parts = _train(_config(task, tmp_path / "b", 2), tmp_path / "b" / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resume(parts, max_epochs=3)
    expected, got = load_file(whole / "model.safetensors"), load_file(parts / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
