"""Config sections of the synthetic long-range tasks (adding, copy)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnkit.config import Config, LoaderConfig, StackConfig


class SyntheticData(LoaderConfig):
    """A generated dataset: ``length`` is T; the same seed always gives the same data."""

    dataset: str  # the task's own name: adding or copy
    length: int = Field(100, ge=1)
    train_samples: int = Field(10000, ge=1)
    eval_samples: int = Field(1000, ge=1)


class SyntheticModel(StackConfig):
    bidirectional: bool = False
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0)


class SyntheticConfig(Config):
    data: SyntheticData
    model: SyntheticModel = Field(default_factory=SyntheticModel)


class AddingConfig(SyntheticConfig):
    task: Literal["adding"] = "adding"


class CopyConfig(SyntheticConfig):
    task: Literal["copy"] = "copy"
