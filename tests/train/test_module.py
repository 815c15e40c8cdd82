"""Shared training behaviour: optimizers, schedules, L1, NaN/inf stops."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.engine import api
from rnnkit.errors import ConfigError, TrainingError
from rnnkit.rundir import last_checkpoint
from rnnkit.tasks import get_spec, load_config
from rnnkit.tasks.language_model.task import LanguageModelModule, LanguageModelTask
from rnnkit.tasks.module import LearningRateFactor, build_optimizer


def _factor(steps_per_epoch: int = 10, total: int = 100, **schedule) -> LearningRateFactor:
    config = TrainConfig(optimizer={"lr": 1.0}, schedule=schedule)
    return LearningRateFactor(config, lambda: total, lambda: steps_per_epoch)


def test_decay_after_halves_from_the_fifth_epoch_like_zaremba() -> None:
    factor = _factor(name="decay_after", decay_after=4, gamma=0.5)
    by_epoch = [factor(epoch * 10) for epoch in range(7)]
    assert by_epoch == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]
    assert factor(49) == 0.5  # the last step of the fifth epoch
    assert factor(39) == 1.0  # the last step of the fourth


def test_step_schedule_and_warmup_compose() -> None:
    factor = _factor(name="step", step_size=2, gamma=0.1, warmup_steps=4)
    assert factor(0) == pytest.approx(0.25)
    assert factor(3) == pytest.approx(1.0)
    assert factor(25) == pytest.approx(0.1)  # epoch 2
    assert factor(45) == pytest.approx(0.01)  # epoch 4


def test_cosine_goes_from_one_to_min_lr() -> None:
    factor = _factor(name="cosine", min_lr=0.1)
    assert factor(0) == pytest.approx(1.0)
    assert factor(50) == pytest.approx(0.55)
    assert factor(100) == pytest.approx(0.1)


def test_optimizers_from_config() -> None:
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    sgd = build_optimizer(
        parameters, TrainConfig(optimizer={"name": "sgd", "lr": 0.5, "momentum": 0.9})
    )
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.param_groups[0]["momentum"] == 0.9
    adamw = build_optimizer(
        parameters, TrainConfig(optimizer={"name": "adamw", "weight_decay": 0.01})
    )
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["weight_decay"] == 0.01


def test_nesterov_without_momentum_is_a_config_error() -> None:
    config = TrainConfig(optimizer={"name": "sgd", "nesterov": True})
    with pytest.raises(ConfigError, match=r"nesterov=true needs train\.optimizer\.momentum > 0"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], config)


def test_l1_penalty_is_added_to_the_loss(make_config, tmp_path: Path) -> None:
    config = load_config(make_config(l1=0.01))
    task = LanguageModelTask()
    prepared = task.prepare(config, tmp_path)
    model = get_spec("language_model").build_model(config, prepared.info)
    module = task.build_module(config, model, prepared)
    batch = next(iter(prepared.train))
    torch.manual_seed(0)
    plain = module.step_loss(batch, 1)
    module._train_state = None
    torch.manual_seed(0)
    penalised = module.training_step(batch, 1)
    weights = sum(float(p.abs().sum()) for p in model.parameters())
    assert float(penalised) == pytest.approx(float(plain) + 0.01 * weights, rel=1e-5)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_good_checkpoint(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step_loss = LanguageModelModule.step_loss

    def diverging(self, batch, batch_idx):
        loss = real_step_loss(self, batch, batch_idx)
        return loss * math.nan if self.global_step >= 12 else loss

    monkeypatch.setattr(LanguageModelModule, "step_loss", diverging)
    run_dir = tmp_path / "run"
    config = make_config(checkpoint_every_n_steps=5, log_every_n_steps=5)
    with pytest.raises(TrainingError, match=r"NaN or infinite by step 1[0-9]; lower train\."):
        api.train(config, run_dir=run_dir)
    saved = torch.load(last_checkpoint(run_dir), weights_only=False)
    assert saved["global_step"] == 10
    assert all(torch.isfinite(t).all() for t in saved["state_dict"].values())
    assert not (run_dir / "model.safetensors").exists()
