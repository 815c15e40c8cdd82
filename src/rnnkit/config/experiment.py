"""The top level of a config: one experiment.

Each task subclasses :class:`Config` in its folder, narrowing ``task`` to its name and
``data``/``model`` to its own sections.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rnnkit.config.base import StrictModel
from rnnkit.config.sections import LoaderConfig, StackConfig, TrainConfig, TuneConfig


class Config(StrictModel):
    # A folder name under runs/: no separators, so a run directory never lands elsewhere.
    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    seed: int = Field(0, ge=0, lt=2**32)  # numpy's seeds are 32-bit
    task: str
    data: LoaderConfig
    model: StackConfig = Field(default_factory=StackConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig | None = None

    def unread_keys(self) -> set[str]:
        return {"tune"} if self.tune is None else set()

    def memory_span(self, info: dict[str, Any]) -> tuple[int, str] | None:
        """How many steps back the task needs the gradient to reach, and why (a phrase);
        None where that is the whole sequence the model reads (a language model's bptt
        chunk, a classifier's sequence). ``rnnkit diagnose`` judges gradients over this
        distance. ``info`` is the run's preprocess/info.json."""
        return None
