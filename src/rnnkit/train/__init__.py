"""Training: the engine every task uses (Lightning), and the task interface.

``rnnkit.train`` is also the public function that trains a config. Importing this
subpackage binds it to the same attribute of ``rnnkit``, so the module itself is made
callable: ``rnnkit.train(config)`` works whichever of the two the name holds.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(
        self,
        config: str | Path | Mapping[str, Any],
        overrides: Mapping[str, Any] | Sequence[str] | None = None,
        run_dir: str | Path | None = None,
    ) -> Path:
        # Imported here: lightning is slow to import and the CLI's --help must stay fast.
        from rnnkit.train.api import train

        return train(config, overrides=overrides, run_dir=run_dir)


sys.modules[__name__].__class__ = _CallableModule
