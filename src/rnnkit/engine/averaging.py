"""Weight averaging: validate, test and save an average of the weights of many steps.

With a constant learning rate the weights keep jumping around the minimum the optimiser
circles; their average over the last few thousand steps sits nearer its centre, and
usually scores better than the weights of any one step (Polyak and Juditsky 1992;
Izmailov et al. 2018, arXiv:1803.05407, for the equal average of SWA). Two averages:

- ``ema``: an exponential moving average, a <- d a + (1 - d) w after every optimizer
  step. The decay d warms up as min(decay, (1 + n) / (10 + n)) after n updates, so the
  first validations do not score a mostly untrained average (the scheme of TensorFlow's
  ``ExponentialMovingAverage`` with ``num_updates``).
- ``mean``: the equal average of every step from ``start_epoch`` on (SWA without a
  special learning-rate schedule).

Lightning's :class:`~lightning.pytorch.callbacks.WeightAveraging` does the bookkeeping:
it swaps the average in for validation, puts it into the model when training ends, and
keeps both the live and the averaged weights in the checkpoint, so a resumed run carries
on with the same average. This subclass starts averaging at an epoch and leaves the live
weights alone until the first update (before it, the "average" would be the untrained
copy Lightning makes at set-up).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging

from rnnkit.config.sections import WeightAveragingConfig


def ema_update(decay: float):
    """The in-place EMA step over a list of tensors, decay warmed up by the update count."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: Any) -> None:
        n = int(updates)
        _blend(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return update


def mean_update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: Any) -> None:
    """The in-place running equal average: the (n+1)-th value weighs 1 / (n + 1)."""
    _blend(averaged, current, 1.0 / (int(updates) + 1.0))


def _blend(averaged: list[torch.Tensor], current: list[torch.Tensor], weight: float) -> None:
    for average, value in zip(averaged, current, strict=True):
        if average.is_floating_point():
            average.lerp_(value, weight)
        else:  # a flag, a counter or an index among the buffers: the live value
            average.copy_(value)


class StepAverage(WeightAveraging):
    """``train.weight_averaging``: an average of the weights after each optimizer step
    from the epoch ``start_epoch`` (1-based) on; see the module docstring."""

    def __init__(self, config: WeightAveragingConfig) -> None:
        update = ema_update(config.decay) if config.method == "ema" else mean_update
        super().__init__(multi_avg_fn=update)
        self.config = config
        self._epoch = 0

    @property
    def updates(self) -> int:
        """How many steps the average holds so far (0 before it starts)."""
        average = self._average_model
        return 0 if average is None else int(average.n_averaged)

    def averaged_state(self, module: L.LightningModule) -> dict[str, torch.Tensor]:
        """The weights validation sees: the average once it holds a step, else the live ones."""
        if self.updates == 0:
            return module.state_dict()
        assert self._average_model is not None
        return self._average_model.module.state_dict()

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None and self._epoch + 1 >= self.config.start_epoch

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        # should_update is not given the trainer: the epoch is read here, at each step,
        # so a run resumed mid-epoch (no on_train_epoch_start) still knows it.
        self._epoch = trainer.current_epoch
        super().on_train_batch_end(trainer, module, *args)

    # Before the first update the average is the untouched copy of the initial weights:
    # validation, the end of training and the checkpoint keep the live weights then.
    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.updates:
            super().on_validation_epoch_start(trainer, module)

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.updates:
            super().on_validation_epoch_end(trainer, module)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.updates:
            super().on_train_end(trainer, module)

    def on_save_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.updates:
            super().on_save_checkpoint(trainer, module, checkpoint)

    def on_load_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # A checkpoint saved before averaging began holds only the live weights, which
        # the Trainer restores anyway; the average starts fresh at its epoch.
        if "current_model_state" in checkpoint:
            super().on_load_checkpoint(trainer, module, checkpoint)

    def summary(self) -> dict[str, Any]:
        """What run.json records of the average."""
        record: dict[str, Any] = {
            "method": self.config.method,
            "start_epoch": self.config.start_epoch,
            "averaged_steps": self.updates,
        }
        if self.config.method == "ema":
            record["decay"] = self.config.decay
        return record
