"""The config sections every task shares: where data comes from, text options, the
recurrent stack, training and tuning.

A task's own ``data:`` and ``model:`` sections live in its folder
(``rnnkit/tasks/<name>/config.py``) and extend :class:`SourceConfig` (or
:class:`TextConfig`) and :class:`StackConfig`, so a key only another task reads is an
unknown key, not a setting that silently does nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from rnnkit.config.base import StrictModel


class SplitConfig(StrictModel):
    """Fractions for datasets that ship without splits; the rest is the training part."""

    # `valid` is the older spelling, still read.
    val: float = Field(0.1, ge=0.0, lt=1.0, validation_alias=AliasChoices("val", "valid"))
    test: float = Field(0.1, ge=0.0, lt=1.0)
    stratify: bool = True  # classification only: keep class proportions in every split
    group_column: str | None = None  # split by groups (no group in two splits)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.val + self.test >= 1.0:
            raise ValueError(
                f"val + test = {self.val + self.test:g} leaves no training data; "
                "use fractions that sum to less than 1"
            )
        return self


class LoaderConfig(StrictModel):
    """Batching, common to every task."""

    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)


class SourceConfig(LoaderConfig):
    """Where the data comes from: a catalog name, hf://, uci://, kaggle://, https://...,
    or a local path; and how a dataset that ships unsplit is split."""

    dataset: str
    cache_dir: str | None = None
    offline: bool = False
    split: SplitConfig = Field(default_factory=SplitConfig)


class TextConfig(SourceConfig):
    """Text cleaning, tokenizer and vocabulary (see :class:`rnnkit.data.text.TextPipeline`)."""

    tokenizer: Literal["char", "word", "whitespace", "bpe"] = "whitespace"
    lowercase: bool = False
    unicode_normalization: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = None
    strip_html: bool = False
    remove_stopwords: bool = False
    mask_numbers: bool = False
    min_freq: int = Field(1, ge=1)
    max_vocab_size: int | None = Field(None, ge=4)
    bpe_vocab_size: int = Field(8000, ge=32)

    def unread_keys(self) -> set[str]:
        return set() if self.tokenizer == "bpe" else {"bpe_vocab_size"}


class EmbeddingsConfig(StrictModel):
    """Pretrained word vectors for a model's word embedding (see
    :mod:`rnnkit.data.vectors` and :mod:`rnnkit.tasks.embeddings`).

    ``pretrained_embeddings``: a word2vec/fastText ``.vec`` or GloVe text file (plain,
    ``.gz`` or ``.xz``), a path absolute or relative to the working directory like
    ``data.dataset``. Its words join the vocabulary after the training words (external
    knowledge, not the evaluation data), its vectors initialise their rows, and the
    embedding size must equal its dimension. Read when the vocabulary is fitted only: a
    resumed run, ``rnnkit evaluate`` and inference use the saved vocabulary and weights.
    """

    pretrained_embeddings: str | None = None
    pretrained_max_words: int | None = Field(None, ge=1)  # the file's first N words only
    freeze_embeddings: bool = False  # keep the word vectors as loaded

    @model_validator(mode="after")
    def _freeze_needs_vectors(self) -> EmbeddingsConfig:
        if self.freeze_embeddings and not self.pretrained_embeddings:
            raise ValueError(
                "freeze_embeddings=true keeps random vectors fixed: set "
                "pretrained_embeddings to a word vectors file, or freeze_embeddings=false"
            )
        return self

    def unread_keys(self) -> set[str]:
        return set() if self.pretrained_embeddings else {"pretrained_max_words"}


CELLS = ("lstm", "gru", "rnn", "mingru", "minlstm", "rglru")
#: The parallel-scan cells (rnnkit.nn.MinGRU, MinLSTM, RGLRU).
SCAN_CELLS = ("mingru", "minlstm", "rglru")
#: Options of the classic cells only, and of the parallel-scan cells only.
CLASSIC_OPTIONS = ("layer_norm", "recurrent_dropout", "zoneout", "weight_drop")
MINIMAL_OPTIONS = ("residual", "norm", "mlp")


class StackConfig(StrictModel):
    """The recurrent layers every task's model is built around (see
    :func:`rnnkit.tasks.stack.make_recurrent`)."""

    # mingru / minlstm: the parallel-scan layers of Feng et al. 2024 (rnnkit.nn.MinGRU/MinLSTM);
    # rglru: Griffin's RG-LRU, De et al. 2024 (rnnkit.nn.RGLRU)
    cell: Literal["lstm", "gru", "rnn", "mingru", "minlstm", "rglru"] = "lstm"
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # Elman RNN only
    reset_after: bool = True  # GRU: torch/cuDNN formulation; False is Cho et al. 2014
    hidden_size: int = Field(128, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # between stacked layers
    layer_norm: bool = False
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    zoneout: float = Field(0.0, ge=0.0, lt=1.0)
    weight_drop: float = Field(0.0, ge=0.0, lt=1.0)
    # mingru / minlstm / rglru stacking: residual connections, pre-LayerNorm, an MLP per layer
    residual: bool = False
    norm: bool = False
    mlp: bool = False

    def unread_keys(self) -> set[str]:
        minimal = self.cell in ("mingru", "minlstm")
        unread = set(CLASSIC_OPTIONS if minimal else MINIMAL_OPTIONS)
        if self.cell != "rnn":
            unread.add("nonlinearity")
        if self.cell != "gru":
            unread.add("reset_after")
        return unread

    @model_validator(mode="after")
    def _options_of_the_cell(self) -> StackConfig:
        minimal = self.cell in SCAN_CELLS
        for name in MINIMAL_OPTIONS if not minimal else CLASSIC_OPTIONS:
            if getattr(self, name):
                cells = "mingru, minlstm or rglru" if not minimal else "lstm, gru or rnn"
                raise ValueError(
                    f"{name} is an option of cell {cells}, not of cell {self.cell}: remove it "
                    "or change the cell"
                )
        return self


class OptimizerConfig(StrictModel):
    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0.0)

    def unread_keys(self) -> set[str]:
        return {"betas", "eps"} if self.name == "sgd" else {"momentum", "nesterov"}


class ScheduleConfig(StrictModel):
    """Learning-rate schedule; `gamma` multiplies the rate at each decay."""

    name: Literal["none", "step", "decay_after", "plateau", "cosine"] = "none"
    gamma: float = Field(0.5, gt=0.0, le=1.0)
    step_size: int = Field(1, ge=1)  # step: epochs between decays
    decay_after: int = Field(4, ge=0)  # decay_after: first epoch after which lr decays
    patience: int = Field(1, ge=0)  # plateau
    min_lr: float = Field(0.0, ge=0.0)
    warmup_steps: int = Field(0, ge=0)

    def unread_keys(self) -> set[str]:
        read = {
            "none": set(),
            "step": {"gamma", "step_size"},
            "decay_after": {"gamma", "decay_after"},
            "plateau": {"gamma", "patience", "min_lr"},
            "cosine": {"min_lr"},
        }[self.name]
        return {"gamma", "step_size", "decay_after", "patience", "min_lr"} - read


class EarlyStoppingConfig(StrictModel):
    monitor: str = "val/loss"
    patience: int = Field(3, ge=0)
    mode: Literal["min", "max"] = "min"
    min_delta: float = Field(0.0, ge=0.0)
    # End with the weights of the best validation, not of the last epoch (the epochs
    # of patience after the best one would otherwise be kept).
    restore_best: bool = True


class WeightAveragingConfig(StrictModel):
    """`train.weight_averaging`: validate, test and save an average of the weights of
    many optimizer steps (rnnkit.engine.averaging)."""

    method: Literal["ema", "mean"] = "ema"
    decay: float = Field(0.999, gt=0.0, lt=1.0)  # ema: the average keeps this much per step
    start_epoch: int = Field(1, ge=1)  # the first epoch (from 1) whose steps are averaged

    def unread_keys(self) -> set[str]:
        return {"decay"} if self.method == "mean" else set()


class TrainConfig(StrictModel):
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    l1: float = Field(0.0, ge=0.0)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    gradient_clip: float | None = Field(None, gt=0.0)
    gradient_clip_algorithm: Literal["norm", "value"] = "norm"
    max_epochs: int = Field(10, ge=1)
    max_steps: int = Field(-1, ge=-1)  # -1: no limit; 0 would save an untrained model
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    val_check_interval: int | float = Field(1.0, gt=0)
    early_stopping: EarlyStoppingConfig | None = None
    weight_averaging: WeightAveragingConfig | None = None
    precision: Literal["32", "64", "bf16-mixed", "16-mixed"] = "32"
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | str | list[int] = 1  # a count >= 1, "auto", or device indices
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    deterministic: bool = False
    checkpoint_every_n_steps: int | None = Field(None, ge=1)
    log_every_n_steps: int = Field(50, ge=1)
    progress_bar: bool = True
    # Where curves go besides csv/ (which the report reads): TensorBoard event files in
    # tensorboard/, an MLflow tracking store (the `mlflow` extra), or nowhere else.
    logger: Literal["tensorboard", "mlflow", "none"] = "tensorboard"
    # MLflow tracking URI (a server, sqlite:///..., file:...); default: file:RUN_DIR/mlruns
    mlflow_uri: str | None = None

    def unread_keys(self) -> set[str]:
        unread = set() if self.logger == "mlflow" else {"mlflow_uri"}
        if self.gradient_clip is None:
            unread.add("gradient_clip_algorithm")
        if self.early_stopping is None:
            unread.add("early_stopping")
        if self.weight_averaging is None:
            unread.add("weight_averaging")
        return unread

    @model_validator(mode="after")
    def _trains_something(self) -> TrainConfig:
        if isinstance(self.devices, int) and self.devices < 1:
            raise ValueError(f"devices = {self.devices}: use 1 or more, 'auto', or a list")
        if self.max_steps == 0:
            raise ValueError("max_steps = 0 trains nothing; use -1 (no limit) or at least 1")
        if self.limit_train_batches is not None and self.limit_train_batches <= 0:
            raise ValueError(
                f"limit_train_batches = {self.limit_train_batches} trains nothing; "
                "use a fraction in (0, 1] or a number of batches >= 1"
            )
        return self


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
