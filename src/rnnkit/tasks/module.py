"""The LightningModule every task trains with.

:class:`RecurrentModule` owns what is the same for every task: the optimizer, the
learning-rate schedule (with warmup), the L1 penalty, the check for a NaN or infinite
loss, and the logging of the training loss. A task subclasses it and implements
:meth:`RecurrentModule.step_loss` (and validation). Gradient clipping takes the
Trainer's ``gradient_clip_val`` (see :mod:`rnnkit.engine.trainer`) and records the
gradient norm per epoch on the way.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from rnnkit.config import TrainConfig
from rnnkit.errors import ConfigError, TrainingError


class RecurrentModule(L.LightningModule):
    """Shared training behaviour; subclasses implement :meth:`step_loss`.

    ``step_loss(batch, batch_idx) -> Tensor`` returns the mean training loss of one
    batch (a scalar with a graph). The L1 penalty is added here, and the loss is checked
    for NaN and infinity every ``log_every_n_steps`` steps and before every checkpoint:
    a bad loss raises :class:`rnnkit.errors.TrainingError` before its weights could be
    saved over the last good checkpoint.
    """

    def __init__(self, model: nn.Module, train_config: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.train_config = train_config
        # A flag on the device: checking it needs a host sync, so it is read only every
        # log_every_n_steps steps and before a checkpoint, not after every step.
        self.register_buffer("_nonfinite", torch.zeros((), dtype=torch.bool), persistent=False)
        # Per-epoch sums (gradient statistics here, the training loss in subclasses), kept
        # on the device and logged once per epoch: logging every step through Lightning
        # costs more than computing them. They travel in checkpoints with the epoch they
        # belong to, so an epoch resumed halfway still reports all of its steps.
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_sums_epoch: int | None = None

    # ------------------------------------------------------------------ subclass API

    def step_loss(self, batch: Any, batch_idx: int) -> Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ training

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.step_loss(batch, batch_idx)
        # In place, without reassigning the attribute (nn.Module.__setattr__ is slow).
        torch.logical_or(self._nonfinite, ~torch.isfinite(loss.detach()), out=self._nonfinite)
        if self.train_config.l1 > 0.0:
            penalty = sum(p.abs().sum() for p in self.model.parameters() if p.requires_grad)
            loss = loss + self.train_config.l1 * penalty
        if (self.global_step + 1) % self.train_config.log_every_n_steps == 0:
            self.check_finite()
        return loss

    def check_finite(self) -> None:
        """Raise TrainingError if any loss since the start was NaN or infinite."""
        if bool(self._nonfinite):
            raise TrainingError(
                f"the training loss became NaN or infinite by step {self.global_step}; "
                "lower train.optimizer.lr or set train.gradient_clip (the last good "
                "checkpoint is kept)"
            )

    # ------------------------------------------------------------------ gradients

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip as the config says, and record the total gradient norm before clipping.

        ``clip_grad_norm_`` computes that norm anyway, so the statistics that
        ``grad/norm``, ``grad/norm_max`` and ``grad/clipped`` report per epoch (read by
        the run report) cost nothing extra when clipping by norm.
        """
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if not grads:
            return
        if gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            norm = torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)
            size = norm
        else:
            norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
            size = torch.stack([g.detach().abs().max() for g in grads]).max()
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        norm = norm.detach().double()
        self.add_to_epoch("grad/sum", norm)
        self.add_to_epoch("grad/steps", torch.ones_like(norm))
        self.add_to_epoch("grad/max", norm, torch.maximum)
        if gradient_clip_val:
            self.add_to_epoch("grad/clipped", (size > gradient_clip_val).double())

    def add_to_epoch(self, name: str, value: Tensor, combine: Any = torch.add) -> None:
        """Fold ``value`` into this epoch's ``name`` (a sum, or ``combine`` of the two)."""
        if self._epoch_sums_epoch != self.current_epoch:
            # Left from another epoch: a checkpoint taken at an epoch's end holds that
            # epoch's sums, already logged when the next epoch starts.
            self._epoch_sums, self._epoch_sums_epoch = {}, self.current_epoch
        previous = self._epoch_sums.get(name)
        if previous is None:
            self._epoch_sums[name] = value.detach().clone()
        elif previous.device != value.device:  # restored from a checkpoint, on the CPU
            self._epoch_sums[name] = combine(previous.to(value.device), value.detach())
        else:
            combine(previous, value.detach(), out=previous)  # in place: once per step

    def take_epoch_sums(self) -> dict[str, Tensor]:
        """This epoch's sums, forgotten here (called once, at the epoch's end)."""
        if self._epoch_sums_epoch != self.current_epoch:
            return {}
        sums, self._epoch_sums = self._epoch_sums, {}
        return sums

    def on_train_epoch_end(self) -> None:
        sums = self.take_epoch_sums()
        self.log_epoch_sums(sums)

    def log_epoch_sums(self, sums: dict[str, Tensor]) -> None:
        """Log the gradient statistics of an epoch's sums."""
        if "grad/steps" not in sums:
            return
        steps = sums["grad/steps"]
        self.log("grad/norm", sums["grad/sum"] / steps, sync_dist=True)
        self.log("grad/norm_max", sums["grad/max"], sync_dist=True, reduce_fx="max")
        if self.train_config.gradient_clip:
            clipped = sums.get("grad/clipped", torch.zeros_like(steps))
            self.log("grad/clipped", clipped / steps, sync_dist=True)

    # ------------------------------------------------------------------ resume

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Dropout draws from the global generators: a resumed run continues their
        # streams, so it takes the same random decisions as an uninterrupted one.
        checkpoint["rnnkit_rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and self.device.type == "cuda":
            checkpoint["rnnkit_rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        checkpoint["rnnkit_epoch_sums"] = {
            "epoch": self._epoch_sums_epoch,
            "sums": {name: value.cpu() for name, value in self._epoch_sums.items()},
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        sums = checkpoint.get("rnnkit_epoch_sums")
        if sums is not None:
            self._epoch_sums, self._epoch_sums_epoch = dict(sums["sums"]), sums["epoch"]
        states = checkpoint.get("rnnkit_rng")
        if states is None:
            return
        torch.set_rng_state(states["cpu"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state(states["cuda"])

    # ------------------------------------------------------------------ optimizer

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.train_config)
        schedule = self.train_config.schedule
        if schedule.name == "plateau":
            if schedule.warmup_steps:
                raise ConfigError(
                    "train.schedule.warmup_steps is not supported with schedule plateau; "
                    "set it to 0 or use step, decay_after or cosine"
                )
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=schedule.gamma,
                patience=schedule.patience,
                min_lr=schedule.min_lr,
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": plateau, "monitor": "val/loss", "interval": "epoch"},
            }
        if schedule.name == "none" and not schedule.warmup_steps:
            return optimizer
        # One per-step LambdaLR covers warmup and every epoch-based decay, so the two
        # compose instead of overwriting each other's learning rate.
        factor = LearningRateFactor(self.train_config, self._total_steps, self._steps_per_epoch)
        # A closure, not the object: LambdaLR pickles the attributes of callable objects
        # into the checkpoint, and these refer back to the Trainer.
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def _steps_per_epoch(self) -> int:
        batches = self.trainer.num_training_batches
        return max(1, int(batches)) if math.isfinite(batches) else 1 << 62

    def _total_steps(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches))


class LearningRateFactor:
    """lr(step) / base lr: linear warmup times the epoch schedule's decay.

    ``decay_after`` divides the rate by ``1 / gamma`` at every epoch after epoch
    ``decay_after`` (Zaremba et al. 2014 halve it after epoch 4: epochs 1-4 at the base
    rate, epoch 5 at half of it, ...). ``step`` multiplies by ``gamma`` every
    ``step_size`` epochs; ``cosine`` anneals to ``min_lr`` over all training steps.
    """

    def __init__(self, train_config: TrainConfig, total_steps: Any, steps_per_epoch: Any) -> None:
        self.schedule = train_config.schedule
        self.base_lr = train_config.optimizer.lr
        # Callables: the Trainer knows these only once fitting has started.
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, step: int) -> float:
        """The factor for optimizer step ``step`` (0-based, the step about to be taken)."""
        schedule = self.schedule
        warmup = min(1.0, (step + 1) / schedule.warmup_steps) if schedule.warmup_steps else 1.0
        # From the step count rather than trainer.current_epoch: the rate for the first
        # step of an epoch is set at the end of the previous epoch's last step.
        epoch = step // self.steps_per_epoch()
        if schedule.name == "decay_after":
            decay = schedule.gamma ** max(0, epoch + 1 - schedule.decay_after)
        elif schedule.name == "step":
            decay = schedule.gamma ** (epoch // schedule.step_size)
        elif schedule.name == "cosine":
            progress = min(1.0, step / self.total_steps())
            floor = schedule.min_lr / self.base_lr
            decay = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            decay = 1.0
        return warmup * decay


def build_optimizer(parameters: Any, train_config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer`` names."""
    config = train_config.optimizer
    if config.name == "sgd":
        if config.nesterov and config.momentum == 0.0:
            raise ConfigError(
                "train.optimizer.nesterov=true needs train.optimizer.momentum > 0 (e.g. 0.9)"
            )
        return torch.optim.SGD(
            parameters,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    optimizer_class = torch.optim.Adam if config.name == "adam" else torch.optim.AdamW
    return optimizer_class(
        parameters,
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
