"""Translation speed: training tokens/s of `rnnkit train` against a plain PyTorch loop,
and beam-search sentences/s at beam 1 and 5, on Multi30k (German -> English).

Training: both sides train the model of configs/multi30k-de-en-attention.yaml (the same
Seq2Seq module, the same batches in the same order, Adam, clipping at 1.0):

* plain: the loop a PyTorch user writes (zero_grad, forward, label-smoothed loss,
  backward, clip, step);
* rnnkit: the training loop `rnnkit train` runs (Lightning Trainer, TranslationModule,
  checkpointing, gradient-norm statistics).

Target tokens (``<eos>`` included, padding not) per second are timed over the same steps
after a warm-up, in rounds that alternate the two sides. Time is the process's CPU time
by default (``--clock cpu``): with one thread it is the compute time and does not count
waiting for a core that other jobs hold; ``--clock wall`` measures elapsed time.

Decoding: the first ``--sentences`` test sentences translated greedily (beam 1) and with
beam 5, batch 64, sentences per second. Give ``--run-dir`` of a trained run to time its
model (an untrained one never ends its sentences and runs to the length limit).

    RNNKIT_MIRROR=../shared/data .venv/bin/python benchmarks/translation.py --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch

from rnnkit.engine.api import prepare_run
from rnnkit.tasks import load_config
from rnnkit.tasks.translation.model import build_model, sequence_loss
from rnnkit.tasks.translation.task import TranslationTask
from rnnkit.tasks.translation.translator import Translator

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "multi30k-de-en-attention.yaml"
Clock = Callable[[], float]


class TokenTimer(L.Callback):
    """Counts target tokens over steps ``warmup .. warmup + steps``, then stops training."""

    def __init__(self, warmup: int, steps: int, clock: Clock) -> None:
        self.warmup, self.steps, self.clock = warmup, steps, clock
        self.started = self.seconds = 0.0
        self.tokens = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.started = self.clock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > self.warmup:
            self.tokens += int((batch[3] != 0).sum())
        if trainer.global_step == self.warmup + self.steps:
            self.seconds = self.clock() - self.started
            trainer.should_stop = True


def rnnkit_tokens_per_second(warmup: int, steps: int, workdir: Path, clock: Clock) -> float:
    config = load_config(CONFIG, {"train.max_epochs": 1})
    timer = TokenTimer(warmup, steps, clock)
    run = prepare_run(config, workdir / f"rnnkit-{time.monotonic_ns()}", callbacks=[timer])
    run.trainer.limit_val_batches = 0  # the plain loop has no validation
    run.trainer.fit(run.module, train_dataloaders=run.prepared.train)
    return timer.tokens / timer.seconds


def plain_tokens_per_second(warmup: int, steps: int, workdir: Path, clock: Clock) -> float:
    config = load_config(CONFIG)
    torch.manual_seed(config.seed)
    prepared = TranslationTask().prepare(config, workdir / "plain-data")
    model = build_model(config, prepared.info)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.optimizer.lr)
    smoothing = config.model.label_smoothing
    model.train()
    started, tokens = 0.0, 0
    for step, (source, lengths, target_in, target_out) in enumerate(prepared.train):
        if step == warmup:
            started = clock()
        optimizer.zero_grad()
        loss = sequence_loss(model(source, lengths, target_in), target_out, 0, smoothing)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.gradient_clip)
        optimizer.step()
        if step >= warmup:
            tokens += int((target_out != 0).sum())
        if step + 1 == warmup + steps:
            break
    return tokens / (clock() - started)


def decoding_speed(run_dir: Path | None, sentences: int, workdir: Path, clock: Clock) -> dict:
    config = load_config(CONFIG)
    prepared = TranslationTask().prepare(config, run_dir or workdir / "decode-data")
    model = build_model(config, prepared.info)
    if run_dir is not None:
        from rnnkit.rundir import WEIGHTS_FILE, load_weights

        load_weights(model, run_dir / WEIGHTS_FILE)
    pairs = prepared.artifacts["pairs"]
    translator = Translator(
        model, pairs.source_pipeline, pairs.target_pipeline, pairs.cleaning, batch_size=64
    )
    ids = pairs.splits["test"].source_ids[:sentences]
    speeds = {}
    for beam in (1, 5):
        started = clock()
        translator.decode_ids(ids, beam_size=beam)
        speeds[beam] = len(ids) / (clock() - started)
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--run-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    results: dict[str, list[float]] = {"plain PyTorch": [], "rnnkit": []}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        for round_index in range(args.rounds):
            # Alternate which side goes first, so drifting load favours neither.
            order = ["plain PyTorch", "rnnkit"][:: 1 if round_index % 2 == 0 else -1]
            for name in order:
                measure = (
                    plain_tokens_per_second if name == "plain PyTorch" else rnnkit_tokens_per_second
                )
                results[name].append(measure(args.warmup, args.steps, workdir, clock))
        speeds = decoding_speed(args.run_dir, args.sentences, workdir, clock)
    paired = [r / p for r, p in zip(results["rnnkit"], results["plain PyTorch"], strict=True)]
    print(
        f"\nMulti30k de-en recipe model, {args.threads} thread(s), {args.clock} clock, "
        f"{args.steps} timed steps x {args.rounds} rounds"
    )
    print(f"{'loop':<16}{'target tokens/s (median)':>26}  rounds")
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:<16}{statistics.median(values):>26.0f}  {rounds}")
    print(
        f"rnnkit / plain: {statistics.median(paired):.3f} (median of paired rounds: "
        f"{', '.join(f'{r:.3f}' for r in paired)})"
    )
    model = "trained" if args.run_dir else "untrained"
    print(f"decoding ({model} model, {args.sentences} test sentences, batch 64):")
    for beam, speed in speeds.items():
        print(f"  beam {beam}: {speed:.1f} sentences/s")


if __name__ == "__main__":
    main()
