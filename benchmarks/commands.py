"""Wall time of the inference commands, and where their start-up goes.

Trains a tiny run of each task that has an inference command (the tasks' own contract
fixtures, a few seconds each), then runs every command as a user would, in a fresh
process: ``rnnkit predict``, ``forecast`` (with and without its plot), ``generate``,
``tag``, ``translate``, ``transcribe``, and ``rnnkit --help`` for reference. For each
it prints the median and the fastest of ``--repeats`` runs, the import time
``python -X importtime`` measures in one more run, and the libraries that import time
goes to. Run times on a shared machine vary with its load: compare rows of one table.

    python benchmarks/commands.py --repeats 5 [--runs DIR]

``--runs DIR`` keeps the trained runs in DIR (and reuses the ones found there).
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

#: task -> the command line after ``rnnkit`` ({run} is the run directory, {folder} the
#: fixture's data folder).
COMMANDS = {
    "classification": [["predict", "{run}", "a fine film"]],
    "forecasting": [["forecast", "{run}"], ["forecast", "{run}", "--no-plot"]],
    "language_model": [["generate", "{run}", "--length", "20", "--seed", "0"]],
    "tagging": [["tag", "{run}", "the cat sat ."]],
    "translation": [["translate", "{run}", "eins zwei"]],
    "speech_recognition": [["transcribe", "{run}", "{folder}/speech/000.wav"]],
}


def trained_run(task: str, root: Path) -> tuple[Path, Path]:
    """(run directory, fixture folder) of a tiny run of ``task``, trained if missing."""
    import rnnkit
    from rnnkit.tasks import get_spec

    folder = root / task
    run_dir = folder / "run"
    if not (run_dir / "model.safetensors").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        config = get_spec(task).tiny_config(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rnnkit.train(config, run_dir=run_dir, quiet=True)
    return run_dir, folder


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"rnnkit {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def import_profile(args: list[str]) -> tuple[float, list[tuple[str, float]]]:
    """(total import seconds, [(top-level package, seconds)] largest first)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rnnkit.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    by_package: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            by_package[match.group(2).split(".")[0]] += int(match.group(1))
    total = sum(by_package.values()) / 1e6
    return total, [(name, us / 1e6) for name, us in by_package.most_common(4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=Path, default=None, help="keep the tiny runs here")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = options.runs or Path(tempfile.mkdtemp(prefix="rnnkit-bench-"))
    lines = [["--help"]]
    for task, commands in COMMANDS.items():
        run_dir, folder = trained_run(task, root)
        for command in commands:
            lines.append([part.format(run=run_dir, folder=folder) for part in command])
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; runs in {root}")
    print(f"| {'command':<34} | median s | min s | import s | largest imports (s)")
    print(f"|{'-' * 36}|---------:|------:|---------:|---")
    for args in lines:
        times = [timed(args) for _ in range(options.repeats)]
        total, packages = import_profile(args)
        shown = " ".join(a if not a.startswith("/") else Path(a).name for a in args[:3])
        largest = ", ".join(f"{name} {seconds:.2f}" for name, seconds in packages)
        print(
            f"| {shown:<34} | {statistics.median(times):8.2f} | {min(times):5.2f} "
            f"| {total:8.2f} | {largest}"
        )


if __name__ == "__main__":
    main()
