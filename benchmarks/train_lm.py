"""Training throughput of `rnnkit train` against a plain PyTorch loop, on PTB.

Both sides train the Zaremba et al. (2014) small model (2 x 200 LSTM, 10k vocabulary)
on the same PTB token stream, batch 20, 20 unrolled steps, SGD with clipping, on CPU:

* plain: Embedding -> torch.nn.LSTM -> Linear and the loop of pytorch/examples'
  word_language_model (repackage the hidden state, backward, clip, step), written here;
* rnnkit: the training loop `rnnkit train configs/ptb-word-small.yaml` runs (Lightning
  Trainer, LanguageModelModule, checkpoint, progress bar and gradient-norm callbacks).

Tokens per second are timed over the same steps after a warm-up, in rounds that
alternate the two, so that load from other processes hits both alike; the ratio of
the medians is printed. Needs the PTB files: RNNKIT_MIRROR=../shared/data.

    RNNKIT_MIRROR=../shared/data .venv/bin/python benchmarks/train_lm.py --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch import nn

from rnnkit.engine.api import prepare_run
from rnnkit.tasks import load_config

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "ptb-word-small.yaml"


class StepTimer(L.Callback):
    """Times optimizer steps ``warmup .. warmup + steps`` and then stops training."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.started = self.seconds = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup + self.steps:
            self.seconds = time.perf_counter() - self.started
            trainer.should_stop = True


def rnnkit_tokens_per_second(warmup: int, steps: int, workdir: Path) -> float:
    config = load_config(CONFIG, {"train.max_epochs": 1})
    timer = StepTimer(warmup, steps)
    run = prepare_run(config, workdir / f"rnnkit-{time.monotonic_ns()}", callbacks=[timer])
    # Validation is not part of the comparison: the plain loop has none.
    run.trainer.limit_val_batches = 0
    run.trainer.fit(run.module, train_dataloaders=run.prepared.train)
    return steps * config.data.bptt * config.data.batch_size / timer.seconds


class PlainLM(nn.Module):
    def __init__(self, vocab_size: int, size: int, layers: int) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab_size, size)
        self.rnn = nn.LSTM(size, size, layers)
        self.decoder = nn.Linear(size, vocab_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1)

    def forward(self, tokens, hidden):
        output, hidden = self.rnn(self.encoder(tokens), hidden)
        return self.decoder(output), hidden


def plain_tokens_per_second(warmup: int, steps: int, workdir: Path) -> float:
    config = load_config(CONFIG)
    torch.manual_seed(config.seed)
    run_dir = workdir / "plain-data"
    from rnnkit.tasks.language_model.task import LanguageModelTask

    prepared = LanguageModelTask().prepare(config, run_dir)  # the same token stream
    vocab_size = prepared.info["vocab_size"]
    model = PlainLM(vocab_size, config.model.hidden_size, config.model.num_layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.train.optimizer.lr)
    criterion = nn.CrossEntropyLoss()
    hidden = None
    started = 0.0
    model.train()
    for step, (inputs, targets) in enumerate(prepared.train):
        if step == warmup:
            started = time.perf_counter()
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        optimizer.zero_grad()
        output, hidden = model(inputs, hidden)
        loss = criterion(output.view(-1, vocab_size), targets.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.train.gradient_clip)
        optimizer.step()
        if step % 200 == 0:
            loss.item()  # the example prints the loss every log-interval batches
        if step + 1 == warmup + steps:
            break
    seconds = time.perf_counter() - started
    return steps * config.data.bptt * config.data.batch_size / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, list[float]] = {"plain PyTorch": [], "rnnkit": []}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        for round_index in range(args.rounds):
            # Alternate which side goes first, so drifting load favours neither.
            order = (
                ["plain PyTorch", "rnnkit"] if round_index % 2 == 0 else ["rnnkit", "plain PyTorch"]
            )
            for name in order:
                measure = (
                    plain_tokens_per_second if name == "plain PyTorch" else rnnkit_tokens_per_second
                )
                results[name].append(measure(args.warmup, args.steps, workdir))
    plain = statistics.median(results["plain PyTorch"])
    # Each round's two measurements ran back to back: their ratio cancels slow drifts
    # in the machine's load, so the median of those ratios is the figure to quote.
    paired = [r / p for r, p in zip(results["rnnkit"], results["plain PyTorch"], strict=True)]
    print(
        f"\nPTB small (2 x 200 LSTM), batch 20, bptt 20, {args.threads} thread(s), "
        f"{args.steps} timed steps x {args.rounds} rounds"
    )
    print(f"{'loop':<16}{'tokens/s (median)':>20}  rounds")
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:<16}{statistics.median(values):>20.0f}  {rounds}")
    print(
        f"rnnkit / plain: {statistics.median(paired):.3f} (median of paired rounds: "
        f"{', '.join(f'{r:.3f}' for r in paired)}); ratio of medians "
        f"{statistics.median(results['rnnkit']) / plain:.3f}"
    )


if __name__ == "__main__":
    main()
