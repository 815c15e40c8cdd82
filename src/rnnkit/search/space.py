"""The search space: checks of dotted keys and ranges, grid points, suggestions."""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import optuna

from rnnkit import config as config_module
from rnnkit import tasks
from rnnkit.config import Config, RangeSpec, TuneConfig
from rnnkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    pass


log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- search space


def check_space(config: Config, tune_config: TuneConfig) -> dict[str, list[Any] | RangeSpec]:
    """Validate ``tune.space`` against the config before anything runs.

    Every key must be a config key; every choice, and both ends of every range, must be
    a valid value for its key on its own. Combinations are checked per trial: a bad one
    is a failed trial, not a failed study.
    """
    space = tune_config.space
    if not space:
        raise ConfigError(
            "tune.space is empty; map dotted config keys to choices or ranges, e.g. "
            "tune.space: {train.optimizer.lr: {low: 0.0001, high: 0.01, log: true}}"
        )
    valid_keys = [k for k in config_module.dotted_keys(type(config)) if not k.startswith("tune.")]
    for key, spec in space.items():
        if key not in valid_keys:
            raise ConfigError(
                f"tune.space: unknown config key '{key}'; {_key_hint(key, valid_keys)}"
            )
        if isinstance(spec, RangeSpec):
            _check_range(key, spec, tune_config.sampler)
            ends: list[Any] = [spec.low, spec.high]
            if spec.integer:
                ends = [int(spec.low), int(spec.high)]
        else:
            if not spec:
                raise ConfigError(f"tune.space['{key}'] has no choices; give at least one value")
            for choice in spec:
                if choice is not None and not isinstance(choice, bool | int | float | str):
                    raise ConfigError(
                        f"tune.space['{key}'] choice {choice!r} is a {type(choice).__name__}; "
                        "choices are numbers, strings, booleans or null"
                    )
            ends = list(spec)
        for value in ends:
            try:
                tasks.load_config(config, {key: value})
            except ConfigError as err:
                raise ConfigError(f"tune.space: {err}") from None
    return dict(space)


def _key_hint(key: str, valid_keys: list[str]) -> str:
    close = difflib.get_close_matches(key, valid_keys, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    section = key.split(".", 1)[0] + "."
    siblings = [k for k in valid_keys if k.startswith(section)]
    if siblings:
        return f"valid keys under '{section[:-1]}': {', '.join(siblings)}"
    sections = sorted({k.split(".", 1)[0] for k in valid_keys})
    return f"keys start with one of: {', '.join(sections)}"


def _check_range(key: str, spec: RangeSpec, sampler: str) -> None:
    if spec.integer and (spec.low != int(spec.low) or spec.high != int(spec.high)):
        raise ConfigError(
            f"tune.space['{key}'] is an integer range but low={spec.low:g}, "
            f"high={spec.high:g}; use whole numbers or drop int: true"
        )
    if spec.step is not None and spec.step <= 0:
        raise ConfigError(f"tune.space['{key}'] step = {spec.step:g}; use a step above 0")
    if spec.log and spec.step is not None and not spec.integer:
        raise ConfigError(f"tune.space['{key}'] has both log and step; use one of them")
    if spec.log and spec.step not in (None, 1):
        raise ConfigError(f"tune.space['{key}'] has both log and step; use one of them")
    if sampler == "grid" and spec.step is None and not spec.integer:
        raise ConfigError(
            f"tune.space['{key}'] is a continuous range, which a grid cannot enumerate; "
            "give a list of choices or a step"
        )


def grid_points(space: Mapping[str, list[Any] | RangeSpec]) -> list[dict[str, Any]]:
    """Every combination of the space's values, in a fixed order (first key slowest)."""
    axes = [(key, _grid_values(spec)) for key, spec in space.items()]
    points: list[dict[str, Any]] = [{}]
    for key, values in axes:
        points = [{**point, key: value} for point in points for value in values]
    return points


def _grid_values(spec: list[Any] | RangeSpec) -> list[Any]:
    if not isinstance(spec, RangeSpec):
        return list(spec)
    step = spec.step if spec.step is not None else 1
    count = math.floor((spec.high - spec.low) / step + 1e-9) + 1
    values = [spec.low + i * step for i in range(count)]
    if spec.integer:
        return [round(v) for v in values]
    # Round away the float noise of low + i * step (0.30000000000000004).
    return [float(f"{v:.12g}") for v in values]


def suggest(
    trial: optuna.Trial, space: Mapping[str, list[Any] | RangeSpec], sampler: str
) -> dict[str, Any]:
    """Draw (or, for a queued grid point, read) the trial's value for every space key."""
    params: dict[str, Any] = {}
    for key, spec in space.items():
        if not isinstance(spec, RangeSpec):
            params[key] = trial.suggest_categorical(key, list(spec))
        elif sampler == "grid":
            params[key] = trial.suggest_categorical(key, _grid_values(spec))
        elif spec.integer:
            params[key] = trial.suggest_int(
                key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log
            )
        else:
            params[key] = trial.suggest_float(
                key, spec.low, spec.high, step=spec.step, log=spec.log
            )
    return params
