"""Typed experiment configs.

One YAML file describes one experiment. It is parsed into :class:`Config`, a tree of
pydantic models with one model per component (data, model, train, tune). Unknown keys
are errors that suggest the nearest valid key; every validation error names the dotted
key path and the bad value. Command-line overrides use dotted keys with values parsed as
YAML scalars: ``model.hidden_size=512 train.optimizer.lr=0.5``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnnkit.errors import ConfigError

Task = Literal[
    "classification", "language_model", "forecasting", "sequence_regression", "sequence_labeling"
]


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class SplitConfig(StrictModel):
    """Fractions for datasets that ship without splits; the rest is the training part."""

    valid: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.1, ge=0.0, lt=1.0)
    stratify: bool = True  # classification only: keep class proportions in every split
    group_column: str | None = None  # split by groups (no group in two splits)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.valid + self.test >= 1.0:
            raise ValueError(
                f"valid + test = {self.valid + self.test:g} leaves no training data; "
                "use fractions that sum to less than 1"
            )
        return self


class DataConfig(StrictModel):
    """Where the data comes from and how it becomes batches."""

    # Source: a catalog name, hf://, uci://, kaggle://, https://..., or a local path.
    dataset: str
    cache_dir: str | None = None
    offline: bool = False
    split: SplitConfig = Field(default_factory=SplitConfig)
    text_column: str | None = None
    label_column: str | None = None

    # Text: cleaning, tokenizer, vocabulary, lengths.
    tokenizer: Literal["char", "word", "whitespace", "bpe"] = "whitespace"
    lowercase: bool = False
    unicode_normalization: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = None
    strip_html: bool = False
    remove_stopwords: bool = False
    mask_numbers: bool = False
    min_freq: int = Field(1, ge=1)
    max_vocab_size: int | None = Field(None, ge=4)
    bpe_vocab_size: int = Field(8000, ge=32)
    max_length: int | None = Field(None, ge=1)
    truncate: Literal["head", "tail"] = "tail"  # which end loses tokens beyond max_length
    bucket_by_length: bool = True

    # Language modelling: contiguous streams cut into chunks of bptt steps.
    bptt: int = Field(35, ge=1)
    bptt_jitter: bool = False  # random chunk lengths around bptt (Merity et al. 2017)

    # Time series.
    date_column: str | list[str] | None = None
    target: str | list[str] | None = None
    covariates: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    frequency: str | None = None  # pandas offset alias; inferred from the dates when unset
    fill_missing: Literal["interpolate", "ffill", "bfill", "mean", "median", "drop"] = "interpolate"
    scaler: Literal["standard", "minmax", "none"] = "standard"
    lookback: int = Field(24, ge=1)
    horizon: int = Field(1, ge=1)
    stride: int = Field(1, ge=1)
    season_length: int | None = Field(None, ge=1)

    # Synthetic long-range tasks (adding, copy).
    length: int = Field(100, ge=1)
    train_samples: int = Field(10000, ge=1)
    eval_samples: int = Field(1000, ge=1)

    # Loading.
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)


class ModelConfig(StrictModel):
    """Inputs -> recurrent layers -> task head."""

    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # Elman RNN only
    reset_after: bool = True  # GRU: torch/cuDNN formulation; False is Cho et al. 2014
    embedding_size: int | None = Field(None, ge=1)  # text inputs; defaults to hidden_size
    hidden_size: int = Field(128, ge=1)
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # between stacked layers
    embedding_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # drops whole words
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on inputs
    output_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # locked (variational) on outputs
    layer_norm: bool = False
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    zoneout: float = Field(0.0, ge=0.0, lt=1.0)
    weight_drop: float = Field(0.0, ge=0.0, lt=1.0)
    tie_weights: bool = False
    init: Literal["default", "uniform", "xavier", "orthogonal"] = "default"
    init_range: float = Field(0.1, gt=0.0)  # for init=uniform: U(-a, a)
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    class_weights: Literal["balanced"] | list[float] | None = None
    strategy: Literal["direct", "recursive"] = "direct"  # forecasting


class OptimizerConfig(StrictModel):
    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0.0)


class ScheduleConfig(StrictModel):
    """Learning-rate schedule; `gamma` multiplies the rate at each decay."""

    name: Literal["none", "step", "decay_after", "plateau", "cosine"] = "none"
    gamma: float = Field(0.5, gt=0.0, le=1.0)
    step_size: int = Field(1, ge=1)  # step: epochs between decays
    decay_after: int = Field(4, ge=0)  # decay_after: first epoch after which lr decays
    patience: int = Field(1, ge=0)  # plateau
    min_lr: float = Field(0.0, ge=0.0)
    warmup_steps: int = Field(0, ge=0)


class EarlyStoppingConfig(StrictModel):
    monitor: str = "val/loss"
    patience: int = Field(3, ge=0)
    mode: Literal["min", "max"] = "min"
    min_delta: float = Field(0.0, ge=0.0)
    # End with the weights of the best validation, not of the last epoch (the epochs
    # of patience after the best one would otherwise be kept).
    restore_best: bool = True


class TrainConfig(StrictModel):
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    l1: float = Field(0.0, ge=0.0)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    gradient_clip: float | None = Field(None, gt=0.0)
    gradient_clip_algorithm: Literal["norm", "value"] = "norm"
    max_epochs: int = Field(10, ge=1)
    max_steps: int = Field(-1, ge=-1)
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    val_check_interval: int | float = 1.0
    early_stopping: EarlyStoppingConfig | None = None
    precision: Literal["32", "64", "bf16-mixed", "16-mixed"] = "32"
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    deterministic: bool = False
    checkpoint_every_n_steps: int | None = Field(None, ge=1)
    log_every_n_steps: int = Field(50, ge=1)
    progress_bar: bool = True


class RangeSpec(StrictModel):
    """A numeric search range: `{low, high, log, step}`, integers with `int: true`."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = Field(False, alias="int")

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low:g}")
        return self


class TuneConfig(StrictModel):
    sampler: Literal["grid", "random", "tpe"] = "tpe"
    trials: int = Field(20, ge=1)
    timeout: float | None = Field(None, gt=0.0)
    space: dict[str, list[Any] | RangeSpec] = Field(default_factory=dict)
    metric: str = "loss"
    direction: Literal["minimize", "maximize"] = "minimize"
    pruner: Literal["median", "hyperband", "none"] = "median"
    storage: str | None = None
    study_name: str | None = None
    seed: int | None = None


# The model keys each task reads beyond the recurrent stack's own (cell, sizes, layers,
# dropout between layers, the extended cell options). A key another task reads, set away
# from its default, is an error rather than a setting that silently does nothing.
_STACK_KEYS = {
    "cell",
    "nonlinearity",
    "reset_after",
    "hidden_size",
    "num_layers",
    "dropout",
    "layer_norm",
    "recurrent_dropout",
    "zoneout",
    "weight_drop",
}
TASK_MODEL_KEYS: dict[str, set[str]] = {
    "language_model": {
        "embedding_size",
        "embedding_dropout",
        "input_dropout",
        "output_dropout",
        "tie_weights",
        "init",
        "init_range",
    },
    "classification": {
        "embedding_size",
        "embedding_dropout",
        "input_dropout",
        "output_dropout",
        "bidirectional",
        "pooling",
        "head_dropout",
        "class_weights",
    },
    "forecasting": {"input_dropout", "head_dropout", "strategy"},
    "sequence_regression": {"bidirectional", "head_dropout"},
    "sequence_labeling": {"bidirectional", "head_dropout"},
}


class Config(StrictModel):
    name: str = "run"
    seed: int = 0
    task: Task
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig | None = None

    @model_validator(mode="after")
    def _model_keys_used_by_the_task(self) -> Config:
        used = _STACK_KEYS | TASK_MODEL_KEYS[self.task]
        defaults = ModelConfig()
        for key in ModelConfig.model_fields:
            value = getattr(self.model, key)
            if key in used or value == getattr(defaults, key):
                continue
            readers = sorted(task for task, keys in TASK_MODEL_KEYS.items() if key in keys)
            raise ValueError(
                f"model.{key} = {value!r} has no effect with task '{self.task}' "
                f"(only {', '.join(readers)} read it): remove it"
            )
        return self


# --------------------------------------------------------------------------- loading


def load(
    source: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> Config:
    """Read a config from a YAML path or a mapping, apply dotted overrides, validate.

    ``overrides`` is either a mapping ``{"model.hidden_size": 512}`` or strings
    ``["model.hidden_size=512"]`` whose values are parsed as YAML scalars.
    """
    if isinstance(source, Config):
        raw: dict[str, Any] = source.model_dump(mode="json", by_alias=True)
    elif isinstance(source, Mapping):
        raw = _deep_copy(dict(source))
    else:
        raw = read_yaml(Path(source))
    for key, value in parse_overrides(overrides).items():
        set_dotted(raw, key, value)
    return validate(raw)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(raw).__name__}")
    return raw


def parse_overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value (e.g. model.hidden_size=512)")
        try:
            parsed[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from err
    return parsed


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw["a"]["b"] = value`` for key ``"a.b"``, checking each part is a known key."""
    parts = key.split(".")
    node: dict[str, Any] = raw
    model: type[BaseModel] | None = Config
    for depth, part in enumerate(parts):
        fields = _field_names(model) if model is not None else None
        if fields is not None and part not in fields:
            prefix = ".".join(parts[:depth])
            raise ConfigError(_unknown_key_message(prefix, part, fields))
        if depth == len(parts) - 1:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
        model = _submodel(model, part) if model is not None else None


def validate(raw: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def dump(config: Config) -> str:
    """The config as YAML, with every default filled in."""
    return yaml.safe_dump(
        config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True
    )


def save(config: Config, path: Path) -> None:
    path.write_text(dump(config), encoding="utf-8")


def dotted_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every leaf key a config accepts, dotted (for help texts and tuning spaces)."""
    keys: list[str] = []
    for name in _field_names(model):
        sub = _submodel(model, name)
        dotted = f"{prefix}{name}"
        if sub is None:
            keys.append(dotted)
        else:
            keys.extend(dotted_keys(sub, dotted + "."))
    return keys


# --------------------------------------------------------------------------- helpers


def _field_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(info.alias or name)
    return names


def _submodel(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The config model stored under ``key``, if that field holds one."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            for candidate in _annotation_types(info.annotation):
                if isinstance(candidate, type) and issubclass(candidate, StrictModel):
                    return candidate
    return None


def _annotation_types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    out: list[Any] = []
    for arg in args:
        out.extend(_annotation_types(arg))
    return out


def _unknown_key_message(prefix: str, key: str, valid: list[str]) -> str:
    where = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f"; did you mean '{(prefix + '.') if prefix else ''}{close[0]}'?" if close else ""
    section = f"'{prefix}'" if prefix else "the top level"
    return f"unknown config key '{where}'{hint} (valid keys in {section}: {', '.join(valid)})"


def _describe(err: ValidationError) -> str:
    """One line for the first problem, naming the dotted key and the bad value."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if not _is_union_tag(p)]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        model: type[BaseModel] | None = Config
        for part in loc[:-1]:
            model = _submodel(model, part) if model is not None else None
        valid = _field_names(model) if model is not None else []
        return _unknown_key_message(".".join(loc[:-1]), loc[-1], valid)
    if first["type"] == "missing":
        return f"config key '{key}' is required"
    message = first["msg"].removeprefix("Value error, ")
    if "input" in first and first["type"] != "model_type":
        bad = first["input"]
        if loc:
            return f"config key '{key}' = {bad!r}: {message}"
        return f"config: {message}"
    return f"config key '{key}': {message}" if key else f"config: {message}"


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the tried union member into the location: `list[...]`, `RangeSpec`,
    # `literal[...]`, `function-after[...]`; they mean nothing to a user.
    text = str(part)
    return (
        "[" in text
        or text in {"RangeSpec", "int", "float", "str", "bool"}
        or (text[:1].isupper() and text != text.upper())
    )


def _deep_copy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _deep_copy(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_deep_copy(v) for v in raw]
    return raw
