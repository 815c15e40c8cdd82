"""Typed experiment configs: the machinery (:mod:`rnnkit.config.base`), the sections
every task shares (:mod:`rnnkit.config.sections`) and the top level
(:mod:`rnnkit.config.experiment`). A task's own sections live in its folder.

Load a config with :func:`rnnkit.tasks.load_config`: it knows every task's sections.
"""

from rnnkit.config.base import (
    StrictModel,
    changed_settings,
    dotted_keys,
    dump,
    parse_overrides,
    read_settings,
    read_yaml,
    save,
)
from rnnkit.config.experiment import Config
from rnnkit.config.sections import (
    CELLS,
    SCAN_CELLS,
    EarlyStoppingConfig,
    EmbeddingsConfig,
    LoaderConfig,
    OptimizerConfig,
    RangeSpec,
    ScheduleConfig,
    SourceConfig,
    SplitConfig,
    StackConfig,
    TextConfig,
    TrainConfig,
    TuneConfig,
)

__all__ = [
    "CELLS",
    "SCAN_CELLS",
    "Config",
    "EarlyStoppingConfig",
    "EmbeddingsConfig",
    "LoaderConfig",
    "OptimizerConfig",
    "RangeSpec",
    "ScheduleConfig",
    "SourceConfig",
    "SplitConfig",
    "StackConfig",
    "StrictModel",
    "TextConfig",
    "TrainConfig",
    "TuneConfig",
    "changed_settings",
    "dotted_keys",
    "dump",
    "parse_overrides",
    "read_settings",
    "read_yaml",
    "save",
]
