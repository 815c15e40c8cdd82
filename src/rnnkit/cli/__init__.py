"""The `rnnkit` command line.

Each command is a thin wrapper: it parses arguments and calls the library. A
:class:`rnnkit.errors.UserError` becomes one line on stderr and exit code 2 (no
traceback unless ``--verbose``); anything else is a bug and exits with 1.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from rnnkit.errors import UserError, environment_error

log = logging.getLogger("rnnkit")

app = typer.Typer(
    name="rnnkit",
    help="Recurrent neural networks from open dataset to tuned, evaluated model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Find, describe and fetch datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    if value:
        from rnnkit import __version__

        typer.echo(f"rnnkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging; tracebacks for errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print rnnkit's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[_log_handler()],
        force=True,
    )


def _log_handler() -> logging.Handler:
    from rich.logging import RichHandler

    from rnnkit.console import stderr_console

    return RichHandler(console=stderr_console(), show_path=False, show_time=False)


# ----------------------------------------------------------------------------- quickstart


@app.command()
def quickstart(
    run_dir: Annotated[
        Path | None, typer.Option(help="Where to write the run directory (default: runs/).")
    ] = None,
) -> None:
    """Offline demo: forecast Mauna Loa CO2 with a small LSTM against baselines.

    Example: rnnkit quickstart --run-dir runs/demo
    """
    from rnnkit.quickstart import run as run_quickstart

    run_quickstart(run_dir)


# ----------------------------------------------------------------------------- train


@app.command("train")
def train_command(
    config: Annotated[
        Path | None, typer.Argument(help="Experiment config (YAML); omit with --resume.")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Dotted overrides: model.hidden_size=512 ...")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: runs/<name>-<time>).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue RUN_DIR from checkpoints/last.ckpt.")
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option(help="With --resume: train up to this many epochs in all (extends a run)."),
    ] = None,
) -> None:
    """Train the experiment a config describes; writes a run directory.

    Example: rnnkit train configs/ptb-word-small.yaml train.max_epochs=1
    Continue it to 13 epochs: rnnkit train --resume RUN_DIR --max-epochs 13
    """
    if resume is not None:
        if config is not None or overrides:
            raise UserError(
                "--resume RUN_DIR takes no CONFIG or overrides: it reuses the run's "
                "(--max-epochs N extends it)"
            )
        from rnnkit.engine import api

        result = api.resume(resume, max_epochs=max_epochs)
    else:
        if max_epochs is not None:
            raise UserError(
                f"--max-epochs {max_epochs} extends a resumed run (--resume RUN_DIR); "
                f"for a new run set train.max_epochs={max_epochs}"
            )
        if config is None:
            raise UserError("rnnkit train needs a CONFIG file (or --resume RUN_DIR)")
        from rnnkit.tasks import load_config

        # Checked before the engine (and Lightning) is imported: a bad key is reported at once.
        resolved = load_config(config, overrides or None)
        from rnnkit.engine import api

        result = api.train(resolved, run_dir=run_dir)
    if result is not None:
        _print_comparison(result)
        typer.echo(str(result))


def _print_comparison(run_dir: Path) -> None:
    """The model's metrics beside its baselines, as the quickstart prints them, and a
    line for any baseline that does better."""
    import json

    from rich.table import Table

    from rnnkit.console import stdout_console
    from rnnkit.evaluate.compare import beaten_by, model_split
    from rnnkit.tasks import get_spec, load_run_config

    path = run_dir / "metrics.json"
    if not path.is_file():
        return
    metrics = json.loads(path.read_text(encoding="utf-8"))
    split = model_split(metrics)
    if split is None:
        return
    rows = [(f"rnnkit ({split})", metrics[split]), *(metrics.get("baselines") or {}).items()]
    columns: list[str] = []
    for _, values in rows:
        columns.extend(k for k in values if k not in columns)
    table = Table("model", *columns)
    for name, values in rows:
        table.add_row(name, *(_cell(values.get(c)) for c in columns))
    stdout_console().print(table)
    spec = get_spec(load_run_config(run_dir).task)
    for baseline, names in beaten_by(metrics, spec.metrics, spec.nominal).items():
        typer.echo(f"note: baseline {baseline} does better than the model on {', '.join(names)}")


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("-" if value is None else str(value))


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from rnnkit train.")],
    split: Annotated[str, typer.Option(help="Which split: val or test.")] = "test",
) -> None:
    """Evaluate a trained run; updates its metrics.json and prints a table.

    Example: rnnkit evaluate runs/ptb-word-small-20260101-120000 --split test
    """
    from rich.table import Table

    from rnnkit.console import stdout_console
    from rnnkit.engine.api import evaluate

    results = evaluate(run_dir, split)
    table = Table("model", "metric", "value")
    split_name = next(iter(results))
    rows = [("rnnkit", results[split_name]), *results.get("baselines", {}).items()]
    for name, metrics in rows:
        for metric, value in metrics.items():
            table.add_row(name, metric, f"{value:.4f}")
    stdout_console().print(table)


@app.command("diagnose")
def diagnose_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from rnnkit train.")],
    split: Annotated[str, typer.Option(help="Which split: train, val or test.")] = "val",
    batches: Annotated[int, typer.Option(help="How many batches to average over.")] = 4,
) -> None:
    """Gradient norm per time step, gate saturation and a verdict; updates the report.

    Writes diagnostics.json, gradient_norms.png and gate_histograms.png into the run
    directory and rebuilds report.html.

    Example: rnnkit diagnose runs/adding-rnn-20260101-120000 --split val --batches 8
    """
    from rich.table import Table

    from rnnkit.console import stdout_console
    from rnnkit.diagnose import TABLE_COLUMNS, diagnose, table_rows, thresholds_text
    from rnnkit.report import write_report

    result = diagnose(run_dir, split=split, batches=batches)
    title = f"diagnostics ({result['split']}, {result['batches']} batches)"
    table = Table(*TABLE_COLUMNS, title=title)
    for row in table_rows(result):
        table.add_row(*row)
    stdout_console().print(table)
    typer.echo(thresholds_text(result))
    typer.echo(f"verdict: {result['verdict']}")
    typer.echo(f"written: {Path(run_dir) / 'diagnostics.json'}, {write_report(run_dir)}")


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from rnnkit train.")],
) -> None:
    """Rebuild the run's self-contained report.html (config, curves, metrics, plots).

    Example: rnnkit report runs/adding-lstm-20260101-120000
    """
    from rnnkit.errors import RunDirError
    from rnnkit.report import write_report
    from rnnkit.rundir import check_writable

    if not (run_dir / "config.yaml").is_file():
        raise RunDirError(f"{run_dir} has no config.yaml; is it an rnnkit run directory?")
    check_writable(run_dir, "report writes report.html and its plots there")
    typer.echo(str(write_report(run_dir)))


@app.command("export")
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from rnnkit train.")],
    export_format: Annotated[
        str, typer.Option("--format", help="onnx (needs rnnkit\\[export]) or torchscript.")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Folder to write into (default: RUN_DIR/export).")
    ] = None,
) -> None:
    """Export the model with dynamic batch and time axes, checked against PyTorch.

    Writes the model, io.json and the preprocessing JSON; prints the model's path (one
    line per graph for a model of several, such as an encoder and a decoder step).

    Example: rnnkit export runs/ptb-word-small-20260101-120000 --format onnx
    """
    from rnnkit.export import export_files

    for path in export_files(run_dir, export_format, output):
        typer.echo(str(path))


# ----------------------------------------------------------------------------- data


@data_app.command("list")
def data_list() -> None:
    """List the catalog: name, task, download size, licence, and whether it is local.

    Example: rnnkit data list
    """
    from rich.table import Table

    from rnnkit.console import stdout_console
    from rnnkit.data import catalog, download

    table = Table("name", "task", "size", "licence", "local", title="rnnkit datasets")
    for entry in catalog.entries():
        table.add_row(
            entry.name,
            entry.task,
            _human_size(entry.size),
            entry.licence_short or entry.licence,
            "generated" if entry.kind == "synthetic" else download.availability(entry.files),
        )
    stdout_console().print(table)


@data_app.command("info")
def data_info(name: Annotated[str, typer.Argument(help="A catalog name.")]) -> None:
    """Describe a catalog dataset: description, files, splits, licence, citation.

    Example: rnnkit data info ptb
    """
    from rnnkit.data import catalog

    entry = catalog.lookup(name)
    lines = [
        f"{entry.name}: {entry.description}",
        f"task: {entry.task} ({entry.kind})",
        f"splits: {', '.join(entry.splits) or 'none (split it in preprocessing)'}",
        f"size: {_human_size(entry.size) if entry.files else 'nothing to download'}",
        f"homepage: {entry.homepage}",
        f"licence: {entry.licence}",
        f"citation: {entry.citation}",
        *(f"{key}: {value}" for key, value in entry.defaults.items()),
        "files:" if entry.files else "files: none",
    ]
    for file in entry.files:
        for n, copy in enumerate(file.candidates):
            prefix = "  - " if n == 0 else "    or "
            lines.append(
                f"{prefix}{copy.mirror_path} ({_human_size(copy.size)}) "
                f"sha256 {copy.sha256 or 'unknown (unverified)'}"
            )
            lines.append(f"      {copy.url or 'mirror only'}")
    typer.echo("\n".join(lines))


@data_app.command("get")
def data_get(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="NAME_OR_URI",
            help="A catalog name, hf://owner/name, uci://ID, kaggle://owner/dataset, "
            "https://...[#sha256=HEX] or a local path.",
        ),
    ],
    cache_dir: Annotated[
        Path | None, typer.Option(help="Download cache (default: $RNNKIT_CACHE or the user cache).")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="No network: use only the cache and a mirror folder.")
    ] = False,
    copy: Annotated[
        bool,
        typer.Option("--copy", help="Copy files found in a mirror folder into the cache."),
    ] = False,
) -> None:
    """Fetch and verify a dataset; print the local path of each file, one per line.

    Example: rnnkit data get ptb --offline
    """
    from rnnkit.data import get

    for path in get(dataset, cache_dir=cache_dir, offline=offline, copy=copy):
        typer.echo(str(path))


def _human_size(size: int | None) -> str:
    if size is None:
        return "-"  # bundled, or not known before downloading
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


# ----------------------------------------------------------------------------- tune


@app.command("tune")
def tune_command(
    config: Annotated[Path, typer.Argument(help="A config file with a tune: section.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Dotted overrides of the base config: key=value.")
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(min=1, help="The study's total budget of trials (default: tune.trials)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes sharing the study through its storage.")
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: a journal file path or an RDB URL such as postgresql://... "
            "(default: runs/<study>/study.journal)."
        ),
    ] = None,
) -> None:
    """Search hyperparameters with Optuna; re-running continues the same study.

    Example: rnnkit tune configs/ptb-word-small-tune.yaml --workers 2
    """
    from rnnkit.console import stdout_console
    from rnnkit.search import trials_table
    from rnnkit.search import tune as run_tune

    summary = run_tune(config, overrides, trials=trials, workers=workers, storage=storage)
    stdout_console().print(trials_table(summary))
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(summary.counts.items()))
    typer.echo(f"study {summary.study_name}: {counts or 'no trials'} (storage {summary.storage})")
    if summary.queued:
        typer.echo(f"{summary.queued} trial(s) still queued: run the command again to go on")
    if summary.best_config is None:
        typer.echo("no trial completed: no best.yaml", err=True)
        raise typer.Exit(1 if summary.trials else 0)
    typer.echo(f"best: trial {summary.best_trial}, val/{summary.metric} = {summary.best_value:.6g}")
    typer.echo(f"best config: {summary.best_config}  (rnnkit train {summary.best_config})")
    for plot in summary.plots:
        typer.echo(f"plot: {plot}")


# ----------------------------------------------------------------------------- task commands


def _register_task_commands() -> None:
    """Each task's own command (``rnnkit forecast``, ``rnnkit generate``...), from its spec."""
    from rnnkit.tasks import specs
    from rnnkit.tasks.spec import resolve

    for spec in specs():
        if spec.cli is not None:
            resolve(spec.cli)(app)


_register_task_commands()


# ----------------------------------------------------------------------------- entry point


def command() -> Any:
    """The click command tree of :data:`app`, as ``rnnkit`` runs it.

    Typer's help panels print a flag's Python type beside it (``--offline <bool>``), as
    if the flag took a value. A flag takes none, so its type column is left empty here:
    an empty metavar is what Typer prints instead of the type.
    """
    root = typer.main.get_command(app)
    pending = [root]
    while pending:
        current = pending.pop()
        # (Typer carries its own copy of click: its classes, not click's, are used here.)
        context = current.context_class(current, info_name=current.name)
        for param in current.get_params(context):  # the --help option included
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        pending.extend(getattr(current, "commands", {}).values())
    return root


#: Commands that train: they keep OpenMP's default wait policy (see _passive_waits).
TRAINING_COMMANDS = ("train", "tune", "quickstart")


def _passive_waits(args: list[str]) -> None:
    """Let torch's idle OpenMP threads sleep instead of spin in commands that only run a
    trained model (evaluate, predict, forecast, generate, diagnose...).

    By default an idle OpenMP thread spins, waiting for the next parallel region. Where
    other jobs hold the cores, the spinning threads compete with the working one:
    evaluating PTB small's test split on a shared 2-core machine took 200 s of wall time
    (64 s CPU) with torch's two threads, 57 s (18 s CPU) with one, and two threads that
    sleep matched one thread. Set before torch is imported (OpenMP reads it once); a
    value the user set is kept. Training is left alone: on a machine of its own, spinning
    is what keeps short recurrent steps fast.
    """
    command = next((a for a in args if not a.startswith("-")), None)
    if command is not None and command not in TRAINING_COMMANDS:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps UserError to exit 2 with one line."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args
    _passive_waits(args)
    try:
        try:
            command()(args=args, prog_name="rnnkit", standalone_mode=True)
        except OSError as err:
            # A read-only folder or a full disk is the machine's state, not a bug.
            user_error = environment_error(err)
            if user_error is None or verbose:
                raise
            raise user_error from None
    except UserError as err:
        if verbose:
            raise
        typer.echo(f"error: {one_line(str(err))}", err=True)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None


#: An error line longer than this is cut: a message quoting data must stay readable.
MAX_ERROR_CHARS = 600


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` on one line, at most ``limit`` characters (the cut says how much).

    Only line breaks become spaces: runs of spaces stay, as they may be part of a quoted
    value the message names.
    """
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


if __name__ == "__main__":  # pragma: no cover
    main()
