"""Plain data types shared across rnnkit.data (no imports of its other modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset read from its source, split as the source splits it."""

    name: str
    # corpus | labelled_text | series | sequences | synthetic | audio_classes | transcribed_audio
    kind: str
    splits: dict[str, Any]
    meta: dict = field(default_factory=dict)
