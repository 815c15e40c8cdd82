"""Quality of the parallel-scan cells against GRU and LSTM on the adding problem.

Each variant (a cell, optionally deeper) trains ``configs/adding-gru.yaml`` with
``model.cell`` switched and the same budget for all: ``--train-samples`` sequences per
epoch for ``--epochs`` epochs, the config's optimizer (Adam 1e-3, clipping 1.0), batch
32, seed 0 (the same data for every variant). The table gives the parameter count, the
validation MSE after given epochs (``--at``: equal budgets even where some runs are
unfinished), the test MSE of the final weights, and the wall time of training (the
machine may be shared: compare times only within one table; a run stopped and resumed
counts from its last start). ``--report`` trains
nothing and tabulates the runs as they stand.
Predicting the mean scores MSE 1/6 ≈ 0.167.

A finished run (its ``metrics.json`` exists) is read, not trained again; a run that
stopped after a checkpoint is resumed. So the runs can be spread over processes (give
each a part of ``--variants`` or ``--lengths``) and the table printed by a last call
with everything.

    OMP_NUM_THREADS=1 python benchmarks/scan_quality.py --out /tmp/scan-quality \\
        --lengths 200,400 --train-samples 4000 --epochs 12
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import rnnkit

logger = logging.getLogger(__name__)

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "adding-gru.yaml"
DEEP = {"model.num_layers": 3, "model.residual": True, "model.norm": True}
# name -> the overrides that make it from the GRU config (hidden size 128 throughout)
VARIANTS: dict[str, dict[str, object]] = {
    "gru": {"model.cell": "gru"},
    "lstm": {"model.cell": "lstm"},
    "mingru": {"model.cell": "mingru"},
    "minlstm": {"model.cell": "minlstm"},
    "rglru": {"model.cell": "rglru"},
    # three residual pre-norm layers: MinGRU x3 has about as many parameters as the LSTM
    "mingru-x3": {"model.cell": "mingru", **DEEP},
    "minlstm-x3": {"model.cell": "minlstm", **DEEP},
}


def parameter_count(run_dir: Path) -> int | None:
    """Parameters of the run's model, built from its saved config (None before it has one)."""
    from rnnkit.tasks import get_spec, load_run_config

    if not (run_dir / "preprocess" / "info.json").is_file():
        return None
    config = load_run_config(run_dir)
    info = json.loads((run_dir / "preprocess" / "info.json").read_text())
    model = get_spec(config.task).build_model(config, info)
    return sum(p.numel() for p in model.parameters())


def validation_curve(run_dir: Path) -> dict[int, float]:
    """Validation MSE after each epoch (1-based), from the run's CSV log."""
    values = {}
    for path in sorted(run_dir.rglob("metrics.csv")):
        with path.open() as handle:
            for row in csv.DictReader(handle):
                if row.get("val/loss"):
                    values[int(row["epoch"]) + 1] = float(row["val/loss"])
    return values


def run(variant: str, length: int, args: argparse.Namespace) -> dict[str, object]:
    run_dir = args.out / f"adding-{variant}-t{length}"
    timing = run_dir / "wall_seconds.json"
    if not args.report and not (run_dir / "metrics.json").is_file():
        start = time.monotonic()
        previous = json.loads(timing.read_text()) if timing.is_file() else 0.0
        if (run_dir / "checkpoints" / "last.ckpt").is_file():
            logger.info("resuming %s", run_dir)
            from rnnkit.engine.api import resume

            resume(run_dir)
        else:
            logger.info("training %s", run_dir)
            overrides = {
                **VARIANTS[variant],
                "name": f"adding-{variant}-t{length}",
                "data.length": length,
                "data.train_samples": args.train_samples,
                "train.max_epochs": args.epochs,
            }
            rnnkit.train(CONFIG, overrides, run_dir=run_dir)
        timing.write_text(json.dumps(previous + time.monotonic() - start))
    finished = (run_dir / "metrics.json").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text()) if finished else {}
    curve = validation_curve(run_dir) if run_dir.is_dir() else {}
    return {
        "variant": variant,
        "T": length,
        "params": parameter_count(run_dir),
        "epochs": max(curve, default=0),
        "curve": curve,
        "test": metrics["test"]["mse"] if finished else None,
        "seconds": json.loads(timing.read_text()) if timing.is_file() else None,
    }


def _number(value: float | None, text: str = "{:.4f}") -> str:
    return "-" if value is None else text.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the run folders")
    parser.add_argument("--variants", default="gru,lstm,mingru,minlstm,rglru")
    parser.add_argument("--lengths", default="200,400", help="sequence lengths T")
    parser.add_argument("--train-samples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--at", default="3,6,12", help="epochs at which the table gives the validation MSE"
    )
    parser.add_argument(
        "--report", action="store_true", help="train nothing: tabulate the runs as they are"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}: expected some of {', '.join(VARIANTS)}")
    lengths = [int(t) for t in args.lengths.split(",")]
    at = [int(e) for e in args.at.split(",")]
    rows = [run(variant, length, args) for length in lengths for variant in variants]
    print(
        f"adding problem, {args.train_samples} training sequences per epoch, batch 32, "
        "Adam 1e-3, clip 1.0 (mean predictor: MSE 0.167)"
    )
    columns = " | ".join(f"val MSE @{e}" for e in at)
    print(f"| T | cell | parameters | epochs done | {columns} | test MSE (final) | train s |")
    print("|---|---|---|---|" + "---|" * len(at) + "---|---|")
    for row in rows:
        values = " | ".join(_number(row["curve"].get(e)) for e in at)
        print(
            f"| {row['T']} | {row['variant']} | {_number(row['params'], '{:,}')} "
            f"| {row['epochs']} | {values} | {_number(row['test'])} "
            f"| {_number(row['seconds'], '{:.0f}')} |"
        )


if __name__ == "__main__":
    main()
