"""Language modelling: corpus -> token streams -> truncated BPTT -> perplexity.

The training split is cut into ``batch_size`` contiguous streams (one column each of a
``(T, B)`` tensor) and read ``bptt`` tokens at a time, in order. The recurrent state at
the end of one chunk is the start state of the next chunk of the same streams, so the
model conditions on everything it has read since the epoch began, while gradients flow
back through only ``bptt`` steps (truncated BPTT, Williams & Peng 1990).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.config import Config
from rnnkit.data.batches import batchify, sample_bptt_length, shard_streams
from rnnkit.data.sources import load as load_source
from rnnkit.data.text import TextPipeline, encode_corpus
from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR, write_text
from rnnkit.tasks.language_model.model import LanguageModel, State, detach_state
from rnnkit.tasks.language_model.predictor import LanguageModelPredictor
from rnnkit.tasks.language_model.report import SAMPLE_FILE, sample_length
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: the text sampled from the trained model at the end of a run (see write_sample).


# --------------------------------------------------------------------------- streams


class StreamChunks:
    """Consecutive ``(inputs, targets)`` chunks, each ``(bptt, B)``, of parallel streams.

    Iterating gives the chunks of one epoch in order; ``len()`` is their number. In a
    distributed run every process reads its own ``batch_size`` streams
    (:meth:`shard`). The object is resumable: ``state_dict`` records how many chunks
    the model has trained on (set by the LightningModule through :attr:`consumed`, not
    counted here, because the Trainer fetches a batch ahead), so a run restarted from a
    mid-epoch checkpoint carries on with the next chunk instead of the first.
    """

    def __init__(
        self,
        ids: Tensor,
        batch_size: int,
        bptt: int,
        *,
        jitter: bool = False,
        seed: int = 0,
    ) -> None:
        self.ids = ids
        self.batch_size = batch_size
        self.bptt = bptt
        self.jitter = jitter
        self.seed = seed
        self.rank, self.world_size = 0, 1
        self.consumed = 0
        self.epoch = 0  # set by the training loop; seeds the jittered lengths
        self._resume_at = 0
        self._streams = batchify(ids, batch_size)  # (T, B)

    def shard(self, rank: int, world_size: int) -> None:
        """Read streams ``rank * B .. (rank + 1) * B`` of ``world_size * B``."""
        if (rank, world_size) == (self.rank, self.world_size):
            return
        self.rank, self.world_size = rank, world_size
        self._streams = shard_streams(self.ids, self.batch_size, rank, world_size)  # (T, B)

    def _lengths(self) -> list[int]:
        """Chunk lengths of the current epoch (bptt, or random around it with jitter)."""
        total = self._streams.size(0) - 1
        if not self.jitter:
            return [min(self.bptt, total - start) for start in range(0, total, self.bptt)]
        # Random lengths stop the model from always seeing the same chunk boundaries
        # (Merity et al. 2017, see rnnkit.data.batches.sample_bptt_length). Every epoch
        # has the same number of chunks, the unjittered count: the training loop takes
        # an epoch's length from its first epoch, and an epoch that ran out of chunks
        # early would end without its validation. The draws are scaled to fill the
        # stream exactly (cumulative rounding keeps the sum at the stream's length).
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        count = -(-total // self.bptt)
        draws = [sample_bptt_length(self.bptt, generator) for _ in range(count)]
        scale, running, bounds = total / sum(draws), 0, [0]
        for draw in draws:
            running += draw
            bounds.append(max(bounds[-1] + 1, round(running * scale)))
        bounds[-1] = total
        return [end - start for start, end in itertools.pairwise(bounds)]

    def __len__(self) -> int:
        return len(self._lengths())

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        lengths = self._lengths()
        start_index, self._resume_at = self._resume_at, 0
        position = sum(lengths[:start_index])
        for length in lengths[start_index:]:
            inputs = self._streams[position : position + length]  # (t, B)
            targets = self._streams[position + 1 : position + 1 + length]  # (t, B)
            position += length
            yield inputs, targets

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = state["epoch"]
        self._resume_at = state["consumed"] if state["consumed"] < len(self) else 0
        self.consumed = self._resume_at


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def stream_loss(model: LanguageModel, chunks: StreamChunks) -> tuple[float, int]:
    """Mean loss in nats per token over every chunk, state carried across chunks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    state: State | None = None
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for inputs, targets in chunks:
        logits, state = model(inputs.to(device), state)
        total += F.cross_entropy(
            logits.flatten(0, 1).float(), targets.to(device).flatten(), reduction="sum"
        )
        count += targets.numel()
    model.train(was_training)
    return float(total) / max(count, 1), count


def lm_metrics(loss: float, char_level: bool) -> dict[str, float]:
    """``loss`` (nats per token), ``perplexity`` and, for characters, ``bpc``."""
    metrics = {"loss": loss, "perplexity": math.exp(min(loss, 700.0))}
    if char_level:
        metrics["bpc"] = loss / math.log(2.0)
    return metrics


# --------------------------------------------------------------------------- module


class LanguageModelModule(RecurrentModule):
    """Truncated BPTT over :class:`StreamChunks`, perplexity on the whole valid stream."""

    def __init__(
        self,
        model: LanguageModel,
        config: Config,
        train_chunks: StreamChunks,
        val_chunks: StreamChunks | None,
        char_level: bool,
    ) -> None:
        super().__init__(model, config.train)
        self.train_chunks = train_chunks
        self.val_chunks = val_chunks
        self.char_level = char_level
        self._train_state: State | None = None
        self._restored_state = False
        self._val_state: State | None = None
        self._val_sum = torch.zeros((), dtype=torch.float64)
        self._val_count = 0
        self._log_every = config.train.log_every_n_steps
        self._jitter, self._bptt = config.data.bptt_jitter, config.data.bptt

    def setup(self, stage: str) -> None:
        # In a distributed run each process trains on its own streams; validation reads
        # the whole stream on every process, so it gives the single-process numbers.
        self.train_chunks.shard(self.global_rank, self.trainer.world_size)

    def on_train_epoch_start(self) -> None:
        # A new epoch starts the streams from their beginning: the old state belongs to
        # their end. A state restored from a mid-epoch checkpoint is kept (Lightning may
        # or may not call this hook for the epoch it resumes; the flag covers both).
        if not self._restored_state:
            self._train_state = None
        self.train_chunks.epoch = self.current_epoch  # seeds the jittered chunk lengths

    def step_loss(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch  # (t, B) each
        # Detach at the chunk boundary: the values carry over, so the model still sees
        # the whole history, but backpropagation stops here, which bounds its memory and
        # time to bptt steps instead of growing with the epoch.
        state = detach_state(self._train_state)
        logits, self._train_state = self.model(inputs, state)  # (t, B, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # nats per token
        self.add_to_epoch("train/loss_sum", loss.double())
        self.add_to_epoch("train/steps", loss.new_ones((), dtype=torch.float64))
        objective = loss
        if self._jitter:
            # A short chunk should not weigh as much as a full one (Merity et al. 2017
            # scale the learning rate by length / bptt; scaling the loss does the same
            # for SGD). Only the objective is scaled: the logged loss stays per token.
            objective = loss * (targets.size(0) / self._bptt)
        # Counted here, not in on_train_batch_end: the checkpoint callback runs before
        # the module's hooks, and its snapshot must include this chunk.
        self.train_chunks.consumed += 1
        if (self.global_step + 1) % self._log_every == 0:
            # Logged every n steps, not every step: each log is a host sync and a
            # dictionary update that costs a few percent on small models. These are the
            # steps whose logs Lightning writes out, so every CSV row holds its own step's
            # loss; a value logged in an earlier batch would live only in memory, and a
            # run resumed between the two would write no row for that step.
            self.log("train/loss", loss, prog_bar=True, batch_size=targets.numel())
            self.log("train/ppl", torch.exp(loss.detach()), prog_bar=True)
        return objective

    def on_train_epoch_end(self) -> None:
        sums = self.take_epoch_sums()
        self.log_epoch_sums(sums)
        self.train_chunks.consumed = 0
        self._restored_state = False
        if "train/steps" not in sums:
            return
        # The epoch's mean over every chunk, from sums kept anyway: one point per epoch
        # for the report's curve, whatever log_every_n_steps is.
        mean = (sums["train/loss_sum"] / sums["train/steps"]).float()
        self.log("train/loss_epoch", mean, sync_dist=True)
        if self.trainer.is_global_zero:
            train_loss = float(mean)
            val = self.trainer.callback_metrics.get("val/ppl")
            log.info(
                "epoch %d: train loss %.4f (ppl %.2f)%s, lr %.4g",
                self.current_epoch + 1,
                train_loss,
                math.exp(min(train_loss, 700.0)),
                f", val ppl {float(val):.2f}" if val is not None else "",
                self.trainer.optimizers[0].param_groups[0]["lr"],
            )

    def on_validation_epoch_start(self) -> None:
        self._val_state = None  # evaluation starts the valid stream from zeros
        self._val_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._val_count = 0

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        logits, self._val_state = self.model(inputs, self._val_state)
        self._val_sum += F.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), reduction="sum"
        )
        self._val_count += targets.numel()

    def on_validation_epoch_end(self) -> None:
        if self._val_count == 0:
            return
        loss = self._val_sum / self._val_count
        metrics = lm_metrics(float(loss), self.char_level)
        self.log("val/loss", metrics["loss"], prog_bar=True, sync_dist=True)
        self.log("val/ppl", metrics["perplexity"], prog_bar=True, sync_dist=True)
        if self.char_level:
            self.log("val/bpc", metrics["bpc"], sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        # The carried state matters only mid-epoch: after the last chunk, the next
        # epoch starts from zeros.
        mid_epoch = 0 < self.train_chunks.consumed < len(self.train_chunks)
        checkpoint["rnnkit_train_state"] = detach_state(self._train_state) if mid_epoch else None

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self._train_state = checkpoint.get("rnnkit_train_state")
        self._restored_state = self._train_state is not None


# --------------------------------------------------------------------------- task


class LanguageModelTask:
    """The ``language_model`` task (see :class:`rnnkit.tasks.spec.Task`)."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        data = config.data
        files = corpus_files(config)
        preprocess = Path(run_dir) / PREPROCESS_DIR
        char_level = data.tokenizer == "char"
        # Word models end every line with <eos>; a character model keeps "\n" as a
        # character of its own, so generated text has line breaks where the corpus has.
        add_eos = not char_level
        ids: dict[str, Tensor] = {}
        if (preprocess / TextPipeline.FILE_NAME).is_file():
            pipeline = TextPipeline.load(preprocess)
        else:
            pipeline = TextPipeline.from_config(data)
            if "train" in files:
                pipeline.fit(_read_lines(files["train"]))
            else:
                pipeline.fit(_read_lines(files["all"], fraction=_train_fraction(config)))
            pipeline.save(preprocess)
        cache = data.cache_dir
        if "train" in files:
            for split, path in files.items():
                encoded = encode_corpus(path, pipeline, add_eos=add_eos, cache_dir=cache)
                ids[split] = torch.from_numpy(np.asarray(encoded, dtype=np.int64))
        else:
            # A corpus without splits (Tiny Shakespeare) is split by position:
            # train, then val, then test, so no text leaks between them.
            encoded = encode_corpus(files["all"], pipeline, add_eos=add_eos, cache_dir=cache)
            everything = torch.from_numpy(np.asarray(encoded, dtype=np.int64))
            n = everything.numel()
            n_valid, n_test = int(n * data.split.val), int(n * data.split.test)
            n_train = n - n_valid - n_test
            ids["train"] = everything[:n_train]
            if n_valid:
                ids["val"] = everything[n_train : n_train + n_valid]
            if n_test:
                ids["test"] = everything[n_train + n_valid :]
        eval_batch_size = data.eval_batch_size or data.batch_size
        train = StreamChunks(
            ids["train"], data.batch_size, data.bptt, jitter=data.bptt_jitter, seed=config.seed
        )
        val = StreamChunks(ids["val"], eval_batch_size, data.bptt) if "val" in ids else None
        test = StreamChunks(ids["test"], eval_batch_size, data.bptt) if "test" in ids else None
        vocab = pipeline.vocab
        info = {
            "vocab_size": len(vocab),
            "tokenizer": data.tokenizer,
            "char_level": char_level,
            "tokens": {split: int(t.numel()) for split, t in ids.items()},
        }
        artifacts = {"pipeline": pipeline, "ids": ids, "run_dir": Path(run_dir)}
        return PreparedData(train, val, test, info, artifacts)

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> LanguageModelModule:
        return LanguageModelModule(
            model, config, prepared.train, prepared.val, prepared.info["char_level"]
        )

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        chunks = prepared.val if split == "val" else prepared.test
        if chunks is None:
            return {}
        loss, _ = stream_loss(model, chunks)
        if split == "test":
            write_sample(config, model, prepared)
        return lm_metrics(loss, prepared.info["char_level"])

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        """A unigram model (add-one smoothed training frequencies) on the same stream."""
        ids = prepared.artifacts.get("ids", {})
        target_split = split
        if "train" not in ids or target_split not in ids:
            return {}
        vocab_size = prepared.info["vocab_size"]
        counts = torch.bincount(ids["train"], minlength=vocab_size).double() + 1.0
        log_probs = torch.log(counts / counts.sum())
        loss = float(-log_probs[ids[target_split]].mean())
        return {"unigram": lm_metrics(loss, prepared.info["char_level"])}


def write_sample(config: Config, model: LanguageModel, prepared: PreparedData) -> Path:
    """A text sampled from the trained model into ``sample.txt``, for the report.

    Temperature 1 (the model's own distribution), seeded with the run's seed:
    ``rnnkit generate RUN_DIR --length N --seed SEED`` gives the same text.
    """
    run_dir = prepared.artifacts["run_dir"]
    predictor = LanguageModelPredictor(run_dir, config, prepared.info, model)
    length = sample_length(prepared.info["char_level"])
    text = predictor.generate(length=length, seed=config.seed)
    path = run_dir / SAMPLE_FILE
    write_text(path, text + "\n")
    return path


# --------------------------------------------------------------------------- data files


def corpus_files(config: Config) -> dict[str, Path]:
    """``{"train": ..., "val": ..., "test": ...}``, or ``{"all": ...}`` for a corpus
    that ships as one file."""
    data = config.data
    loaded = load_source(data.dataset, cache_dir=data.cache_dir, offline=data.offline)
    if loaded.kind != "corpus":
        raise DataError(
            f"data.dataset={data.dataset!r} is a {loaded.kind} dataset; a language model "
            "needs a text corpus (e.g. ptb, wikitext-2, tinyshakespeare or a .txt file)"
        )
    splits = {split: Path(path) for split, path in loaded.splits.items()}
    if "train" in splits and len(splits) == 1:
        return {"all": splits["train"]}
    return splits


def _read_lines(path: Path, fraction: float = 1.0) -> list[str]:
    """The text of a corpus file (its first ``fraction`` by characters) as lines."""
    text = path.read_text(encoding="utf-8")
    if fraction < 1.0:
        text = text[: int(len(text) * fraction)]
    return text.splitlines(keepends=True)


def _train_fraction(config: Config) -> float:
    return 1.0 - config.data.split.val - config.data.split.test
