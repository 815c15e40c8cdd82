"""report.html: one self-contained page per run.

The page holds, in order: the run's headline (task, dataset, model), the metrics table
with the baselines beside the model, the loss and metric curves from the CSV log, the
gradient norm before clipping and the clipping rate per epoch, the task's own plots
(every other PNG in the run directory), a language model's generated sample, the
diagnostics of ``rnnkit diagnose`` when present, and the resolved config. Every image
is embedded as a base64 PNG and the style sheet is inline: the file opens in a browser
with no network and no other file.

Training writes it at the end of every run; ``rnnkit report RUN_DIR`` (and ``rnnkit
diagnose``) rebuild it from the files in the run directory alone.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
RUN_FILE = "run.json"  # rnnkit.rundir.RUN_FILE, named here without importing torch
CURVES_PLOT = "curves.png"
TRAINING_GRADIENTS_PLOT = "training_gradients.png"
METRICS_LOG = Path("csv") / "metrics.csv"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em;
     border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.model td { font-weight: 600; }
figure { margin: 1em 0; } figcaption { font-size: .85em; color: #555; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
.note { color: #666; font-style: italic; }
.warning { color: #a40000; font-weight: bold; }
.verdict-vanishing, .verdict-exploding { color: #b00; font-weight: 600; }
.verdict-healthy { color: #070; font-weight: 600; }
"""


def write_report(run_dir: str | Path) -> Path:
    """Build ``report.html`` (and ``curves.png``) from the files of a run directory."""
    from rnnkit.rundir import write_text

    run_dir = Path(run_dir)
    path = run_dir / REPORT_FILE
    write_text(path, build_html(run_dir))
    log.info("report: %s", path)
    return path


def build_html(run_dir: Path) -> str:
    """The report's HTML text; writes the curve plots into ``run_dir`` on the way."""
    config_text = _read_text(run_dir / "config.yaml")
    config = _parse_yaml(config_text)
    metrics = _read_json(run_dir / "metrics.json") or {}
    diagnostics = _read_json(run_dir / "diagnostics.json")
    sections = [
        _headline(run_dir, config),
        _section("Metrics", metrics_table(metrics) + _beaten_note(config, metrics)),
        _section("Training curves", _curves(run_dir)),
        _section("Task plots", _task_plots(run_dir)),
    ]
    for title, body in _task_sections(run_dir, config):
        sections.append(_section(title, body))
    if diagnostics is not None:
        sections.append(_section("Diagnostics", _diagnostics(run_dir, diagnostics)))
    sections.append(_section("Resolved config", config_section(config, config_text)))
    title = html.escape(str(config.get("name", run_dir.name)))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>rnnkit report: {title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- sections


def _headline(run_dir: Path, config: dict[str, Any]) -> str:
    data, model = config.get("data", {}) or {}, config.get("model", {}) or {}
    record = _read_json(run_dir / RUN_FILE)
    facts: list[tuple[str, Any]] = [
        ("task", config.get("task", "?")),
        ("dataset", data.get("dataset", "?")),
        (
            "model",
            f"{model.get('num_layers', '?')} x {model.get('hidden_size', '?')} "
            f"{str(model.get('cell', '?')).upper()}"
            + (" (bidirectional)" if model.get("bidirectional") else ""),
        ),
        ("seed", config.get("seed", "?")),
    ]
    if isinstance(record, dict):
        facts.extend(run_facts(record))
    facts += [
        ("run directory", str(run_dir)),
        ("report written", datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in facts
    )
    name = html.escape(str(config.get("name", run_dir.name)))
    return f"<h1>rnnkit run: {name}</h1>\n<table>{rows}</table>"


def run_facts(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows of the headline from ``run.json``: size, time, epochs, versions."""
    facts = []
    if isinstance(record.get("parameters"), int):
        total = record.get("parameters_total", record["parameters"])
        frozen = f" ({total:,} with frozen ones)" if total != record["parameters"] else ""
        facts.append(("parameters", f"{record['parameters']:,} trainable{frozen}"))
    if isinstance(record.get("training_seconds"), int | float):
        sessions = record.get("sessions", 1)
        resumed = f" over {sessions} sessions (resumed)" if sessions > 1 else ""
        text = _duration(record["training_seconds"]) + resumed
        if isinstance(record.get("evaluation_seconds"), int | float):
            text += f"; final evaluation {_duration(record['evaluation_seconds'])}"
        facts.append(("training time", text))
    if isinstance(record.get("epochs"), int):
        text = f"{record['epochs']} of at most {record.get('max_epochs', '?')}"
        if record.get("stopped_early"):
            text += ", stopped early"
        facts.append(("epochs", text))
    best = record.get("best")
    if isinstance(best, dict) and "epoch" in best:
        facts.append(
            (
                "best epoch",
                f"{best['epoch']} ({best.get('monitor', '?')} {_number(best.get('value'))}, "
                f"{'lowest' if best.get('mode') == 'min' else 'highest'})",
            )
        )
    if isinstance(record.get("final_weights_epoch"), int):
        facts.append(("weights saved from epoch", str(record["final_weights_epoch"])))
    versions = record.get("versions")
    if isinstance(versions, dict):
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return facts


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def metrics_table(metrics: dict[str, Any]) -> str:
    """The model's splits then every baseline, one column per metric name."""
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for split in ("val", "test"):
        if isinstance(metrics.get(split), dict):
            rows.append(("model", f"model ({split})", metrics[split]))
    for key, value in metrics.items():
        if key not in ("val", "test", "baselines") and isinstance(value, dict):
            rows.append(("model", f"model ({key})", value))
    for name, values in (metrics.get("baselines") or {}).items():
        if isinstance(values, dict):
            rows.append(("baseline", f"baseline: {name}", values))
    if not rows:
        return '<p class="note">No metrics.json: the run has not finished evaluating.</p>'
    columns: list[str] = []
    for _, _, values in rows:
        columns.extend(k for k in values if k not in columns)
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    body = []
    for kind, label, values in rows:
        cells = "".join(f"<td>{_number(values.get(c))}</td>" for c in columns)
        body.append(f'<tr class="{kind}"><td>{html.escape(label)}</td>{cells}</tr>')
    return f'<table class="metrics">{head}{"".join(body)}</table>'


def _curves(run_dir: Path) -> str:
    frame = _read_metrics_log(run_dir)
    if frame is None:
        return '<p class="note">No CSV log (csv/metrics.csv) in the run directory.</p>'
    parts = []
    curves = plot_curves(frame, run_dir / CURVES_PLOT)
    if curves is not None:
        parts.append(_image(curves, "Loss and metrics per epoch (training and validation)."))
    gradients = plot_training_gradients(frame, run_dir / TRAINING_GRADIENTS_PLOT)
    if gradients is not None:
        clipped = clipping_fired(frame)
        caption = "Total gradient norm before clipping (mean and max over each epoch's steps)"
        caption += " and the fraction of steps where clipping fired." if clipped else "."
        parts.append(_image(gradients, caption))
        parts.append(f'<p class="note">{html.escape(clipping_sentence(frame))}</p>')
        parts.append(_gradient_table(frame))
    return "\n".join(parts) or '<p class="note">The CSV log holds no per-epoch values.</p>'


def _task_plots(run_dir: Path) -> str:
    from rnnkit.diagnose import GATES_PLOT, GRADIENT_PLOT

    own = {CURVES_PLOT, TRAINING_GRADIENTS_PLOT, GRADIENT_PLOT, GATES_PLOT}
    plots = [
        p for p in sorted(run_dir.glob("*.png")) if p.name not in own and _own_file(run_dir, p)
    ]
    if not plots:
        return '<p class="note">This task wrote no plots.</p>'
    return "\n".join(_image(p, p.stem.replace("_", " ")) for p in plots)


def _beaten_note(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """A warning line for each baseline that does better than the model."""
    from rnnkit.errors import ConfigError
    from rnnkit.evaluate.compare import beaten_by
    from rnnkit.tasks import get_spec

    try:
        spec = get_spec(str(config.get("task")))
    except ConfigError:
        return ""
    notes = [
        f"Baseline {name} does better than the model on {', '.join(names)}."
        for name, names in beaten_by(metrics, spec.metrics, spec.nominal).items()
    ]
    return "".join(f'<p class="warning">{html.escape(n)}</p>' for n in notes)


def _task_sections(run_dir: Path, config: dict[str, Any]) -> list[tuple[str, str]]:
    """The sections the run's task adds (its spec's ``report``), as (title, HTML)."""
    from rnnkit.errors import ConfigError
    from rnnkit.tasks import get_spec
    from rnnkit.tasks.spec import resolve

    try:
        spec = get_spec(str(config.get("task")))
    except ConfigError:
        return []
    if spec.report is None:
        return []
    return resolve(spec.report)(run_dir, config)


def _diagnostics(run_dir: Path, diagnostics: dict[str, Any]) -> str:
    from rnnkit.diagnose import (
        GATES_PLOT,
        GRADIENT_PLOT,
        TABLE_COLUMNS,
        table_rows,
        thresholds_text,
    )

    verdict = html.escape(str(diagnostics.get("verdict", "?")))
    parts = [
        f'<p>Verdict: <span class="verdict-{verdict}">{verdict}</span> '
        f"({html.escape(str(diagnostics.get('batches', '?')))} batches of the "
        f"{html.escape(str(diagnostics.get('split', '?')))} split).</p>",
        f'<p class="note">{html.escape(thresholds_text(diagnostics))}</p>',
    ]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in TABLE_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table_rows(diagnostics)
    )
    parts.append(f"<table><tr>{head}</tr>{rows}</table>")
    for name, caption in (
        (GRADIENT_PLOT, "||dL/dh_t|| against the time step t (log scale)."),
        (GATES_PLOT, "Histograms of gate activations and hidden states."),
    ):
        if (run_dir / name).is_file():
            parts.append(_image(run_dir / name, caption))
    return "\n".join(parts)


def config_section(config: dict[str, Any], text: str) -> str:
    """The settings the run changed from the defaults, then (folded) every setting its
    task read; config.yaml keeps every key. The whole file where it does not load."""
    import yaml

    from rnnkit.config import changed_settings, read_settings
    from rnnkit.errors import UserError
    from rnnkit.tasks import load_config

    if not text:
        return "<pre>(missing)</pre>"
    try:
        loaded = load_config(config)
    except UserError:
        return f"<pre>{html.escape(text)}</pre>"

    def as_yaml(tree: dict[str, Any]) -> str:
        dumped = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
        return f"<pre>{html.escape(dumped)}</pre>"

    read = read_settings(loaded)
    count = len(_leaves(read))
    return (
        '<p class="note">Settings given in the config or changed from their defaults:</p>'
        + as_yaml({"task": loaded.task, **changed_settings(loaded)})
        + f"<details><summary>All {count} settings this run read, defaults included "
        "(config.yaml in the run directory holds every key)</summary>"
        + as_yaml(read)
        + "</details>"
    )


def _leaves(tree: dict[str, Any]) -> list[Any]:
    found = []
    for value in tree.values():
        found.extend(_leaves(value) if isinstance(value, dict) and value else [value])
    return found


def _gradient_table(frame: Any) -> str:
    columns = [c for c in ("grad/norm", "grad/norm_max", "grad/clipped") if c in frame.columns]
    rows = frame.dropna(subset=columns, how="all")[["epoch", *columns]]
    head = "<tr><th>epoch</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{int(row['epoch']) + 1}</td>"
        + "".join(f"<td>{_number(row[c])}</td>" for c in columns)
        + "</tr>"
        for _, row in rows.iterrows()
    )
    return f"<table>{head}</tr>{body}</table>"


# ----------------------------------------------------------------------------- plots


def _read_metrics_log(run_dir: Path) -> Any:
    import pandas as pd

    path = run_dir / METRICS_LOG
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError) as err:  # empty or malformed: the report goes on without
        log.warning("report: cannot read %s: %s", path, err)
        return None
    return frame if "epoch" in frame.columns else None


def _epoch_series(frame: Any, column: str) -> tuple[list[float], list[float]]:
    """(epochs counted from 1, values) of the rows where ``column`` has a value."""
    rows = frame.dropna(subset=[column])
    if rows.empty:
        return [], []
    last = rows.groupby("epoch")[column].last()
    return [float(e) + 1 for e in last.index], [float(v) for v in last.values]


def step_series(frame: Any, column: str) -> tuple[list[float], list[float]]:
    """(fractional epochs, values) of a value logged every few steps.

    A step logged in epoch e (from 0) sits at e + its share of that epoch's steps, so the
    last step of epoch e lands at e + 1, where the epoch's own value is drawn.
    """
    if column not in frame.columns or "step" not in frame.columns:
        return [], []
    ends = frame.groupby("epoch")["step"].max()  # the last step of each epoch
    rows = frame.dropna(subset=[column])
    xs, values = [], []
    for epoch, step, value in zip(rows["epoch"], rows["step"], rows[column], strict=True):
        previous = ends.get(epoch - 1, -1)
        span = max(ends[epoch] - previous, 1)
        xs.append(float(epoch) + (float(step) - previous) / span)
        values.append(float(value))
    return xs, values


def _integer_epochs(axes: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")


#: Columns of per-step training loss, by the name a task logs them under.
_STEP_LOSSES = ("train/loss_step", "train/loss")


Series = tuple[list[float], list[float]]


def curve_panels(frame: Any) -> dict[str, dict[str, Series]]:
    """The curves of the CSV log, by panel: "loss" (training and validation), then one
    panel per other val/ metric, each with its own axis (a perplexity in the hundreds
    would flatten a bpc near 1 on a shared one).

    The training loss is its mean over each epoch; the values logged every few steps
    are added as "train/loss (steps)", at their fraction of the epoch.
    """
    losses: dict[str, Series] = {}
    for column in _STEP_LOSSES:
        steps = step_series(frame, column)
        if steps[0]:
            losses["train/loss (steps)"] = steps
            break
    for label, column in (("train/loss", "train/loss_epoch"), ("val/loss", "val/loss")):
        if column in frame.columns and _epoch_series(frame, column)[0]:
            losses[label] = _epoch_series(frame, column)
    panels = {"loss": losses} if losses else {}
    for column in sorted(frame.columns):
        if column.startswith("val/") and column != "val/loss" and not column.endswith("_step"):
            series = _epoch_series(frame, column)
            if series[0]:
                panels[column] = {column: series}
    return panels


def draw_curves(panels: dict[str, dict[str, Series]]) -> Any:
    """A figure of :func:`curve_panels`, up to three panels a row, epochs as whole numbers."""
    from rnnkit.evaluate.plots import _figure

    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure = _figure(4.6 * columns, 3.4 * rows)
    for index, (title, curves) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(rows, columns, index)
        for label, (xs, values) in curves.items():
            if label.endswith("(steps)"):
                axes.plot(xs, values, lw=0.8, alpha=0.45, color="tab:blue", label=label)
            else:
                color = None if title == "loss" else f"C{index}"
                axes.plot(xs, values, marker="o", ms=3, color=color, label=label)
        shown = [v for _, values in curves.values() for v in values]
        if min(shown) > 0 and max(shown) / min(shown) > 20:  # log where it spans decades
            axes.set_yscale("log")
        axes.set_ylabel(title)
        axes.grid(alpha=0.3, which="both")
        if len(curves) > 1:
            axes.legend(fontsize="small")
        _integer_epochs(axes)
    figure.tight_layout()
    return figure


def plot_curves(frame: Any, path: Path) -> Path | None:
    """``curves.png``: the loss and every validation metric per epoch (None if the log
    holds none)."""
    from rnnkit.evaluate.plots import _save

    panels = curve_panels(frame)
    return _save(draw_curves(panels), path) if panels else None


def clipping_fired(frame: Any) -> bool:
    """Whether gradient clipping changed any step's gradient."""
    if "grad/clipped" not in frame.columns:
        return False
    return bool((frame["grad/clipped"].dropna() > 0).any())


def clipping_sentence(frame: Any) -> str:
    """What clipping did, in words (the plot shows its rate only when it fired)."""
    if "grad/clipped" not in frame.columns:
        return "No gradient clipping was set (train.gradient_clip)."
    if not clipping_fired(frame):
        return "Gradient clipping was set but fired on no step: no gradient was larger."
    rates = frame["grad/clipped"].dropna()
    return (
        f"Gradient clipping fired on {rates.mean():.1%} of steps on average "
        f"(at most {rates.max():.1%} in one epoch)."
    )


def plot_training_gradients(frame: Any, path: Path) -> Path | None:
    """Gradient norm before clipping (mean, max) and, where clipping ever fired, the
    fraction of steps it fired on, per epoch."""
    from rnnkit.evaluate.plots import _figure, _save

    if "grad/norm" not in frame.columns:
        return None
    mean = _epoch_series(frame, "grad/norm")
    if not mean[0]:
        return None
    has_clipping = clipping_fired(frame)
    figure = _figure(10.0 if has_clipping else 5.0, 3.2)
    axes = figure.add_subplot(1, 2 if has_clipping else 1, 1)
    axes.plot(*mean, marker="o", ms=3, label="mean")
    if "grad/norm_max" in frame.columns:
        axes.plot(*_epoch_series(frame, "grad/norm_max"), marker="o", ms=3, label="max")
    axes.set_yscale("log")
    axes.set_ylabel("gradient norm before clipping")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    _integer_epochs(axes)
    if has_clipping:
        axes = figure.add_subplot(1, 2, 2)
        axes.plot(*_epoch_series(frame, "grad/clipped"), marker="o", ms=3, color="tab:red")
        axes.set_ylim(0, 1)
        axes.set_ylabel("fraction of steps clipped")
        axes.grid(alpha=0.3)
        _integer_epochs(axes)
    figure.tight_layout()
    return _save(figure, path)


# ----------------------------------------------------------------------------- helpers


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{html.escape(title)}</h2>\n{body}\n</section>"


def _own_file(run_dir: Path, path: Path) -> bool:
    """Whether ``path`` stays inside the run directory (a linked PNG from elsewhere is
    left out of the report, with a warning, rather than embedded)."""
    from rnnkit.errors import RunDirError
    from rnnkit.rundir import inside

    try:
        inside(run_dir, path)
    except RunDirError as err:
        log.warning("report: %s", err)
        return False
    return True


def _image(path: Path, caption: str) -> str:
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    alt = html.escape(Path(path).name)
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{alt}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int | float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        log.warning("report: %s is not valid JSON (line %d); left out", path, err.lineno)
        return None


def _parse_yaml(text: str) -> dict[str, Any]:
    import yaml

    try:
        parsed = yaml.safe_load(text) if text else {}
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
