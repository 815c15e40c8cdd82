"""The callbacks every run uses: best weights restored after early stopping."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rnnkit.engine import api
from rnnkit.engine.trainer import BestWeights


def _validate(callback: BestWeights, module: torch.nn.Module, epoch: int, score: float) -> None:
    trainer = SimpleNamespace(
        sanity_checking=False,
        callback_metrics={"val/loss": torch.tensor(score)},
        current_epoch=epoch,
        is_global_zero=True,
    )
    callback.on_validation_end(trainer, module)


def test_best_weights_are_put_back_at_the_end() -> None:
    module = torch.nn.Linear(2, 1)
    callback = BestWeights("val/loss", "min")
    torch.nn.init.constant_(module.weight, 1.0)
    _validate(callback, module, epoch=0, score=0.5)
    torch.nn.init.constant_(module.weight, 2.0)
    _validate(callback, module, epoch=1, score=0.4)  # better: kept
    torch.nn.init.constant_(module.weight, 3.0)
    _validate(callback, module, epoch=2, score=0.45)  # worse: not kept
    _validate(callback, module, epoch=3, score=float("nan"))  # never an improvement
    # The copy is not the live tensor: training on does not change it.
    assert callback.best_epoch == 1 and callback.best_score == pytest.approx(0.4)
    # Through the checkpoint (a resumed run restores them too).
    restored = BestWeights("val/loss", "min")
    restored.load_state_dict(callback.state_dict())
    restored.on_fit_end(SimpleNamespace(is_global_zero=True), module)
    assert torch.equal(module.weight, torch.full((1, 2), 2.0))


def test_min_delta_and_max_mode() -> None:
    module = torch.nn.Linear(1, 1)
    callback = BestWeights("val/loss", "max", min_delta=0.1)
    _validate(callback, module, epoch=0, score=0.5)
    _validate(callback, module, epoch=1, score=0.55)  # not by more than min_delta
    _validate(callback, module, epoch=2, score=0.7)
    assert callback.best_epoch == 2


@pytest.mark.slow  # three tiny epochs
def test_early_stopping_run_ends_with_its_best_validation_weights(
    make_config, tmp_path: Path
) -> None:
    # "Best" is the highest validation loss here, so the first epoch's weights must come
    # back although the model improved afterwards: the final metrics are that epoch's.
    stopping = {"monitor": "val/loss", "mode": "max", "patience": 5}
    run_dir = api.train(
        make_config(max_epochs=3, early_stopping=stopping), run_dir=tmp_path / "run"
    )
    with (run_dir / "csv" / "metrics.csv").open() as handle:
        logged = [float(row["val/loss"]) for row in csv.DictReader(handle) if row["val/loss"]]
    assert len(logged) == 3 and logged[0] > logged[2]
    final = json.loads((run_dir / "metrics.json").read_text())["val"]["loss"]
    assert final == pytest.approx(logged[0], rel=1e-4)
    assert final != pytest.approx(logged[2], rel=1e-4)


def test_progress_bar_counts_epochs_from_one() -> None:
    from types import SimpleNamespace

    from rnnkit.engine.trainer import ProgressBar

    bar = ProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=8)  # what the description reads
    assert bar._get_train_description(0).strip() == "Epoch 1/8"
    assert bar._get_train_description(7).strip() == "Epoch 8/8"
