"""report.html: self-contained (every image embedded and decodable, no network), every
metric in the table, rebuilt by ``rnnkit report`` and after ``rnnkit diagnose``."""

from __future__ import annotations

import base64
import io
import json
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from rnnkit.cli import main
from rnnkit.engine.api import train
from rnnkit.report import (
    REPORT_FILE,
    build_html,
    clipping_sentence,
    config_section,
    curve_panels,
    draw_curves,
    metrics_table,
    plot_training_gradients,
    run_facts,
    step_series,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ReportParser(HTMLParser):
    """Collects images, table cells and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.cells: list[str] = []
        self.urls: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(values)
        for key in ("src", "href"):
            if key in values and tag != "img":
                self.urls.append(values[key])
        if tag in ("td", "th", "h2"):
            self._in = tag
            self._text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.cells.append(self._text.strip())
        elif tag == "h2":
            self.headings.append(self._text.strip())
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text += data


def parse(path: Path) -> tuple[ReportParser, str]:
    text = path.read_text(encoding="utf-8")
    parser = ReportParser()
    parser.feed(text)
    return parser, text


def decoded_images(parser: ReportParser) -> dict[str, bytes]:
    images = {}
    for image in parser.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix), image["alt"]
        data = base64.b64decode(image["src"][len(prefix) :], validate=True)
        assert data.startswith(PNG_SIGNATURE)
        array = imread(io.BytesIO(data), format="png")  # decodes the whole image
        assert array.ndim == 3 and min(array.shape[:2]) > 50
        images[image["alt"]] = data
    return images


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "copy"
    config = {
        "name": "copy-tiny",
        "seed": 0,
        "task": "copy",
        "data": {
            "dataset": "copy",
            "length": 5,
            "train_samples": 64,
            "eval_samples": 32,
            "batch_size": 16,
        },
        "model": {"cell": "gru", "hidden_size": 8},
        "train": {"max_epochs": 2, "gradient_clip": 0.5, "progress_bar": False},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(config, run_dir=run_dir)


@pytest.mark.slow
def test_training_writes_a_self_contained_report(copy_run: Path) -> None:
    parser, text = parse(copy_run / REPORT_FILE)
    assert parser.urls == []  # no stylesheet, script or link to fetch
    assert "http://" not in text and "https://" not in text
    images = decoded_images(parser)
    assert set(images) == {"curves.png", "training_gradients.png", "predictions.png"}
    for name, data in images.items():
        assert data == (copy_run / name).read_bytes()
    assert parser.headings == [
        "Metrics",
        "Training curves",
        "Task plots",
        "Resolved config",
    ]
    assert "task: copy" in text and "dataset: copy" in text  # resolved config


@pytest.mark.slow
def test_every_metric_and_baseline_is_in_the_table(copy_run: Path) -> None:
    parser, _ = parse(copy_run / REPORT_FILE)
    metrics = json.loads((copy_run / "metrics.json").read_text())
    assert {"val", "test", "baselines"} <= set(metrics)
    for split in ("val", "test"):
        assert f"model ({split})" in parser.cells
        for name, value in metrics[split].items():
            assert name in parser.cells and f"{value:.4g}" in parser.cells
    assert "baseline: memoryless" in parser.cells
    assert f"{metrics['baselines']['memoryless']['loss']:.4g}" in parser.cells
    # The training monitor's per-epoch values: two epochs, clipping rate in [0, 1].
    assert "grad/clipped" in parser.cells and "grad/norm" in parser.cells


@pytest.mark.slow
def test_report_command_rebuilds_it_with_the_diagnostics(copy_run: Path, capsys) -> None:
    (copy_run / REPORT_FILE).unlink()
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(copy_run)])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == str(copy_run / REPORT_FILE)
    parser, _ = parse(copy_run / REPORT_FILE)
    assert "Diagnostics" not in parser.headings
    with warnings.catch_warnings(), pytest.raises(SystemExit):
        warnings.simplefilter("ignore")
        main(["diagnose", str(copy_run), "--batches", "1"])
    parser, text = parse(copy_run / REPORT_FILE)
    assert "Diagnostics" in parser.headings
    images = decoded_images(parser)
    assert {"gradient_norms.png", "gate_histograms.png"} <= set(images)
    verdict = json.loads((copy_run / "diagnostics.json").read_text())["verdict"]
    assert f'class="verdict-{verdict}"' in text


def test_report_of_an_unfinished_run_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: half\ntask: forecasting\ndata:\n  dataset: co2\n")
    path = write_report(tmp_path)
    parser, text = parse(path)
    assert parser.images == []
    assert "No metrics.json" in text and "No CSV log" in text
    assert "half" in text


def test_report_command_refuses_a_folder_without_a_config(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"{tmp_path} has no config.yaml" in capsys.readouterr().err


def test_metrics_table_lists_splits_then_baselines_with_every_column() -> None:
    table = metrics_table(
        {
            "test": {"mse": 0.01234567, "mae": 0.08},
            "val": {"mse": 0.02},
            "baselines": {"predict_mean": {"mse": 0.1667, "rmse": 0.408}},
        }
    )
    parser = ReportParser()
    parser.feed(table)
    assert parser.cells[:4] == ["", "mse", "mae", "rmse"]
    assert parser.cells[4:8] == ["model (val)", "0.02", "", ""]
    assert parser.cells[8:12] == ["model (test)", "0.01235", "0.08", ""]
    assert parser.cells[12:] == ["baseline: predict_mean", "0.1667", "", "0.408"]


def test_text_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: <script>x</script>\ntask: forecasting\n")
    assert "<script>" not in build_html(tmp_path)


@pytest.mark.slow
def test_headline_gives_size_time_epochs_and_versions(copy_run: Path) -> None:
    import torch

    import rnnkit

    parser, _ = parse(copy_run / REPORT_FILE)
    facts = dict(zip(parser.cells[::2], parser.cells[1::2], strict=False))
    model = rnnkit.load(copy_run).model
    assert facts["parameters"] == f"{sum(p.numel() for p in model.parameters()):,} trainable"
    assert facts["training time"].endswith(" s") and "final evaluation" in facts["training time"]
    assert facts["epochs"] == "2 of at most 2"
    record = json.loads((copy_run / "run.json").read_text())
    best = record["best"]
    assert facts["best epoch"] == f"{best['epoch']} (val/loss {best['value']:.4g}, lowest)"
    assert f"torch {torch.__version__}" in facts["versions"]


def test_run_facts_of_a_resumed_run_stopped_early() -> None:
    facts = dict(
        run_facts(
            {
                "parameters": 1200,
                "parameters_total": 1500,
                "training_seconds": 3725.0,
                "evaluation_seconds": 61.0,
                "sessions": 2,
                "epochs": 7,
                "max_epochs": 20,
                "stopped_early": True,
                "best": {"monitor": "val/accuracy", "mode": "max", "epoch": 4, "value": 0.91},
                "final_weights_epoch": 4,
            }
        )
    )
    assert facts == {
        "parameters": "1,200 trainable (1,500 with frozen ones)",
        "training time": "1 h 02 min over 2 sessions (resumed); final evaluation 1 min 01 s",
        "epochs": "7 of at most 20, stopped early",
        "best epoch": "4 (val/accuracy 0.91, highest)",
        "weights saved from epoch": "4",
    }


def _log(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_step_losses_sit_at_their_fraction_of_the_epoch() -> None:
    # Two epochs of 10 steps (0-9, 10-19), a loss logged every 5th step.
    frame = _log(
        [
            {"epoch": 0, "step": 4, "train/loss": 3.0},
            {"epoch": 0, "step": 9, "train/loss": 2.0},
            {"epoch": 0, "step": 9, "train/loss_epoch": 2.6},
            {"epoch": 1, "step": 14, "train/loss": 1.5},
            {"epoch": 1, "step": 19, "train/loss": 1.0},
            {"epoch": 1, "step": 19, "train/loss_epoch": 1.3},
        ]
    )
    assert step_series(frame, "train/loss") == ([0.5, 1.0, 1.5, 2.0], [3.0, 2.0, 1.5, 1.0])
    panels = curve_panels(frame)
    assert list(panels) == ["loss"]
    assert panels["loss"]["train/loss"] == ([1.0, 2.0], [2.6, 1.3])
    assert panels["loss"]["train/loss (steps)"][0] == [0.5, 1.0, 1.5, 2.0]


def test_every_validation_metric_has_its_own_axis_with_whole_epochs(tmp_path: Path) -> None:
    frame = _log(
        [
            {
                "epoch": e,
                "step": 3 + 4 * e,
                "val/loss": 1.0 - e / 10,
                "val/bpc": 1.4 - e / 10,
                "val/ppl": 2.6 - e / 5,
                "train/loss_epoch": 1.1 - e / 10,
            }
            for e in range(3)
        ]
    )
    panels = curve_panels(frame)
    assert list(panels) == ["loss", "val/bpc", "val/ppl"]
    assert set(panels["loss"]) == {"train/loss", "val/loss"}
    figure = draw_curves(panels)
    axes = figure.get_axes()
    assert [a.get_ylabel() for a in axes] == ["loss", "val/bpc", "val/ppl"]
    for a in axes:  # three epochs: ticks at whole epochs only
        ticks = [t for t in a.get_xticks() if a.get_xlim()[0] <= t <= a.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


@pytest.mark.parametrize(
    ("clipped", "sentence", "panels"),
    [
        (None, "No gradient clipping was set (train.gradient_clip).", 1),
        ([0.0, 0.0], "Gradient clipping was set but fired on no step", 1),
        ([0.25, 0.5], "Gradient clipping fired on 37.5% of steps on average (at most 50.0%", 2),
    ],
)
def test_clipping_plot_only_when_clipping_fired(tmp_path, clipped, sentence, panels) -> None:
    rows = [{"epoch": e, "step": e, "grad/norm": 1.0, "grad/norm_max": 2.0} for e in range(2)]
    if clipped is not None:
        for row, rate in zip(rows, clipped, strict=True):
            row["grad/clipped"] = rate
    frame = _log(rows)
    assert clipping_sentence(frame).startswith(sentence)
    path = plot_training_gradients(frame, tmp_path / "g.png")
    width = imread(path).shape[1]
    assert (width > 700) == (panels == 2)  # one panel is 5 in wide at 100 dpi, two 10 in


def test_config_section_shows_only_what_the_task_reads() -> None:
    config = {
        "name": "fc",
        "task": "forecasting",
        "data": {"dataset": "series.csv", "target": "value", "lookback": 30},
        "model": {"cell": "gru", "hidden_size": 16},
    }
    body = config_section(config, "name: fc\n")
    changed, _, everything = body.partition("<details>")
    assert "hidden_size: 16" in changed and "lookback: 30" in changed
    assert "task: forecasting" in changed and "max_epochs" not in changed
    assert "max_epochs: 10" in everything and "reset_after: true" in everything  # a GRU's
    for unread in ("residual", "nonlinearity", "momentum", "nesterov", "mlflow_uri", "tune:"):
        assert unread not in everything, unread
    # A config that no longer loads is shown as written.
    assert config_section({"task": "nope"}, "task: nope\n") == "<pre>task: nope\n</pre>"
