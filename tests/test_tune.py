"""Study mechanics with a stand-in trial (fast), then the pruning callback in Lightning.

The stand-in trains nothing: it scores a trial by a known function of its config and
writes the run directory's metrics.json the way the training engine does, so every
expected best value below is a hand computation.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from pathlib import Path

import optuna
import pytest
import torch
from rich.console import Console

from rnnkit import config as config_module
from rnnkit.config import Config
from rnnkit.errors import ConfigError, DataError, TrainingError
from rnnkit.search import TrialPruning, grid_points, summarize, trials_table, tune
from rnnkit.tasks import load_config

tune_module = importlib.import_module("rnnkit.search.study")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def score(config: Config) -> float:
    """Lowest at lr = 0.01; a smaller model is a little better."""
    return (math.log10(config.train.optimizer.lr) + 2) ** 2 + config.model.hidden_size / 1000


def write_metrics(run_dir: Path, value: float) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"val": {"loss": value, "perplexity": math.exp(min(value, 50))}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run_dir


def scored_trial(config: Config, run_dir: Path, pruning: TrialPruning) -> Path:
    if config.train.optimizer.lr >= 1.0:
        raise TrainingError("the training loss became nan at step 3; lower train.optimizer.lr")
    return write_metrics(run_dir, score(config))


def slow_trial(config: Config, run_dir: Path, pruning: TrialPruning) -> Path:
    time.sleep(0.5)  # long enough for two workers to run side by side
    return scored_trial(config, run_dir, pruning)


def interrupted_once_trial(config: Config, run_dir: Path, pruning: TrialPruning) -> Path:
    """Ctrl-C during the trial with hidden size 32, the first time only."""
    marker = run_dir.parent / "interrupted"
    if config.model.hidden_size == 32 and not marker.exists():
        marker.touch()
        raise KeyboardInterrupt
    return scored_trial(config, run_dir, pruning)


def missing_data_trial(config: Config, run_dir: Path, pruning: TrialPruning) -> Path:
    raise DataError("data.dataset='tiny.txt' is not a file")


def curve_trial(config: Config, run_dir: Path, pruning: TrialPruning) -> Path:
    """Reports a loss curve after each of 4 validations, as the Lightning callback would."""
    final = score(config)
    for epoch in range(4):
        loss = float("nan") if config.train.optimizer.lr >= 1.0 else final + (3 - epoch)
        pruning.report(loss)
    return write_metrics(run_dir, final)


def base_config(**tune_section) -> dict:
    return {
        "name": "tiny",
        "task": "language_model",
        "data": {"dataset": "tiny.txt"},
        "model": {"hidden_size": 16},
        "tune": {"pruner": "none", **tune_section},
    }


def completed_params(summary) -> list[dict]:
    return [row.params for row in summary.trials if row.state == "COMPLETE"]


# ----------------------------------------------------------------------------- grid


@pytest.mark.slow  # two worker processes import torch and Lightning
def test_grid_2x2_with_two_workers_runs_each_point_exactly_once(tmp_path: Path) -> None:
    space = {"train.optimizer.lr": [0.001, 0.01], "model.hidden_size": [16, 32]}
    config = base_config(sampler="grid", trials=10, space=space)
    summary = tune(config, workers=2, study_dir=tmp_path / "study", run_trial=slow_trial)

    assert len(summary.trials) == 4
    assert [row.state for row in summary.trials] == ["COMPLETE"] * 4
    seen = {json.dumps(p, sort_keys=True) for p in completed_params(summary)}
    assert seen == {json.dumps(p, sort_keys=True) for p in grid_points(space)}
    for row in summary.trials:
        assert row.run_dir == tmp_path / "study" / f"trial-{row.number:04d}"
        assert json.loads((row.run_dir / "metrics.json").read_text())["val"]["loss"] == row.value
    # (log10 0.01 + 2)^2 + 16/1000
    assert summary.best_params == {"train.optimizer.lr": 0.01, "model.hidden_size": 16}
    assert summary.best_value == pytest.approx(0.016)

    # Re-running a finished grid runs nothing again.
    again = tune(config, workers=2, study_dir=tmp_path / "study", run_trial=scored_trial)
    assert [row.number for row in again.trials] == [0, 1, 2, 3]


def test_rnnkit_tune_returns_the_summary(tmp_path: Path, monkeypatch) -> None:
    import rnnkit

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tune_module, "train_trial", scored_trial)
    config = base_config(sampler="grid", space={"model.hidden_size": [8, 16]})
    # The name is the function even though the submodule rnnkit.tune is imported.
    summary = rnnkit.tune(config, {"name": "api"}, trials=3)
    assert isinstance(summary, rnnkit.search.StudySummary)
    assert summary.study_name == "api" and summary.study_dir == tmp_path / "runs" / "api"
    assert summary.best_params == {"model.hidden_size": 8}
    assert summary.best_run_dir == tmp_path / "runs" / "api" / "trial-0000"
    assert (summary.best_run_dir / "metrics.json").is_file()


def test_best_yaml_is_the_best_trials_full_training_config(tmp_path: Path) -> None:
    config = base_config(sampler="grid", space={"train.optimizer.lr": [0.1, 0.01, 0.001]})
    summary = tune(config, study_dir=tmp_path, run_trial=scored_trial)

    assert summary.best_config == tmp_path / "best.yaml"
    text = summary.best_config.read_text()
    assert text.startswith("# Best trial 1 of this study")
    best = load_config(summary.best_config)
    assert best.train.optimizer.lr == 0.01
    assert best.model.hidden_size == 16 and best.name == "tiny"
    assert best.tune is None  # a training config, not another search


def test_grid_range_with_step_is_enumerated() -> None:
    spec = config_module.RangeSpec(low=0.1, high=0.3, step=0.1)
    ints = config_module.RangeSpec.model_validate({"low": 1, "high": 3, "int": True})
    points = grid_points({"model.dropout": spec, "model.num_layers": ints})
    assert [p["model.dropout"] for p in points[::3]] == [0.1, 0.2, 0.3]
    assert [p["model.num_layers"] for p in points[:3]] == [1, 2, 3]


# ----------------------------------------------------------------------------- random, resume


def random_config(seed: int, trials: int) -> dict:
    space = {
        "train.optimizer.lr": {"low": 1e-4, "high": 1e-1, "log": True},
        "model.hidden_size": {"low": 8, "high": 64, "int": True, "step": 8},
        "model.cell": ["lstm", "gru"],
    }
    return base_config(sampler="random", seed=seed, trials=trials, space=space)


def test_seeded_random_search_is_reproducible(tmp_path: Path) -> None:
    first = tune(random_config(7, 3), study_dir=tmp_path / "a", run_trial=scored_trial)
    second = tune(random_config(7, 3), study_dir=tmp_path / "b", run_trial=scored_trial)
    other = tune(random_config(8, 3), study_dir=tmp_path / "c", run_trial=scored_trial)

    assert completed_params(first) == completed_params(second)
    assert len(completed_params(first)) == 3
    assert completed_params(first) != completed_params(other)
    for params in completed_params(first):
        assert 1e-4 <= params["train.optimizer.lr"] <= 1e-1
        assert params["model.hidden_size"] in range(8, 65, 8)


def test_workers_launched_alike_propose_different_points(tmp_path: Path) -> None:
    # Two `rnnkit tune` commands started on one study (another machine, a second
    # terminal) run the same code with the same seed: the draws must still differ, so
    # they are tied to the trial number, not to the worker.
    study = tmp_path / "shared"
    tune(random_config(7, 2), study_dir=study, run_trial=scored_trial)
    first_launch = completed_params(
        tune(random_config(7, 2), study_dir=study, run_trial=scored_trial)
    )
    summary = tune(random_config(7, 4), study_dir=study, run_trial=scored_trial)
    params = completed_params(summary)
    assert params[:2] == first_launch and len(params) == 4
    assert len({p["train.optimizer.lr"] for p in params}) == 4
    # Each trial number draws the same point in a new study with the same seed.
    again = completed_params(
        tune(random_config(7, 4), study_dir=tmp_path / "again", run_trial=scored_trial)
    )
    assert again == params


def test_resumed_study_adds_trials_instead_of_starting_over(tmp_path: Path) -> None:
    study = tmp_path / "study"
    first = tune(random_config(1, 2), study_dir=study, run_trial=scored_trial)
    grown = tune(random_config(1, 2), trials=4, study_dir=study, run_trial=scored_trial)

    assert [row.number for row in grown.trials] == [0, 1, 2, 3]
    assert completed_params(grown)[:2] == completed_params(first)
    # New trials draw new points rather than replaying the first launch's stream.
    assert completed_params(grown)[2] not in completed_params(first)
    # The budget is reached: the same command again runs nothing.
    again = tune(random_config(1, 2), trials=4, study_dir=study, run_trial=scored_trial)
    assert len(again.trials) == 4
    assert sorted(p.name for p in study.glob("trial-*")) == [f"trial-000{i}" for i in range(4)]


def test_grid_larger_than_the_budget_runs_in_order_and_continues(tmp_path: Path) -> None:
    config = base_config(sampler="grid", trials=2, space={"model.hidden_size": [8, 16, 32]})
    first = tune(config, study_dir=tmp_path, run_trial=scored_trial)
    assert [row.params["model.hidden_size"] for row in first.trials] == [8, 16]
    rest = tune(config, trials=10, study_dir=tmp_path, run_trial=scored_trial)
    assert [row.params["model.hidden_size"] for row in rest.trials] == [8, 16, 32]


def test_interrupted_grid_continues_and_reruns_only_the_interrupted_point(tmp_path: Path) -> None:
    config = base_config(sampler="grid", space={"model.hidden_size": [16, 32, 64, 128]})
    with pytest.raises(KeyboardInterrupt):
        tune(config, study_dir=tmp_path, run_trial=interrupted_once_trial)
    summary = tune(config, study_dir=tmp_path, run_trial=interrupted_once_trial)

    states = [(row.params["model.hidden_size"], row.state, row.reason) for row in summary.trials]
    assert states == [
        (16, "COMPLETE", None),
        (32, "FAIL", "interrupted"),
        (64, "COMPLETE", None),
        (128, "COMPLETE", None),
        (32, "COMPLETE", None),
    ]
    assert summary.queued == 0


def test_trial_of_a_dead_worker_is_failed_and_run_again(tmp_path: Path, monkeypatch) -> None:
    config = base_config(sampler="grid", space={"model.hidden_size": [16, 32]})
    tune_config = load_config(config).tune
    study = tune_module._open_study("tiny", str(tmp_path / "study.journal"), tune_config)
    tune_module._fill_queue(study, tune_config)
    # A worker takes the first point and dies without a word: no heartbeat, no result.
    assert tune_module._claim(study).number == 0
    monkeypatch.setattr(tune_module, "HEARTBEAT_GRACE_SECONDS", 0.0)
    summary = tune(config, study_dir=tmp_path, run_trial=scored_trial)

    rows = [(row.params.get("model.hidden_size"), row.state, row.reason) for row in summary.trials]
    assert rows == [
        (None, "FAIL", "abandoned: its worker stopped"),
        (32, "COMPLETE", None),
        (16, "COMPLETE", None),
    ]


def test_resume_with_another_space_is_refused(tmp_path: Path) -> None:
    tune(random_config(1, 1), study_dir=tmp_path, run_trial=scored_trial)
    changed = random_config(1, 2)
    changed["tune"]["space"]["model.cell"] = ["rnn"]
    with pytest.raises(ConfigError, match=r"study 'tiny' .* was started with tune\.space"):
        tune(changed, study_dir=tmp_path, run_trial=scored_trial)


def test_resume_from_another_base_config_is_refused(tmp_path: Path) -> None:
    tune(random_config(1, 1), study_dir=tmp_path, run_trial=scored_trial)
    # How a run is shown may change; what it computes may not.
    tune(
        random_config(1, 2),
        {"train.progress_bar": False},
        study_dir=tmp_path,
        run_trial=scored_trial,
    )
    with pytest.raises(ConfigError) as error:
        tune(
            random_config(1, 3), ["train.max_epochs=3"], study_dir=tmp_path, run_trial=scored_trial
        )
    assert str(error.value) == (
        f"study 'tiny' in {tmp_path / 'study.journal'} was started from another config "
        "(train.max_epochs: 10 -> 3); its trials would not compare: set tune.study_name to "
        "start a new study"
    )


def test_sqlite_url_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    config = base_config(sampler="grid", space={"model.hidden_size": [8, 16]})
    summary = tune(config, storage=url, study_dir=tmp_path, run_trial=scored_trial)
    assert summary.storage == url and len(completed_params(summary)) == 2
    assert len(summarize("tiny", url, tmp_path).trials) == 2


# ----------------------------------------------------------------------------- failures, pruning


def test_failing_trial_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    config = base_config(sampler="grid", space={"train.optimizer.lr": [0.01, 10.0, 0.001]})
    summary = tune(config, study_dir=tmp_path, run_trial=scored_trial)

    states = {row.params["train.optimizer.lr"]: row for row in summary.trials}
    assert states[10.0].state == "FAIL"
    assert states[10.0].reason == (
        "TrainingError: the training loss became nan at step 3; lower train.optimizer.lr"
    )
    assert states[0.01].state == states[0.001].state == "COMPLETE"
    assert summary.best_params == {"train.optimizer.lr": 0.01}


def test_a_failure_every_trial_meets_stops_the_search_early(tmp_path: Path) -> None:
    config = base_config(sampler="grid", space={"model.hidden_size": [8, 16, 32, 64, 128]})
    summary = tune(config, study_dir=tmp_path, run_trial=missing_data_trial)
    assert [row.state for row in summary.trials] == ["FAIL"] * 3
    assert summary.trials[0].reason == "DataError: data.dataset='tiny.txt' is not a file"
    assert summary.queued == 2 and summary.best_config is None


def test_bad_combination_is_a_failed_trial_not_a_crash(tmp_path: Path) -> None:
    # Each value is valid alone; valid 0.6 + test 0.5 leaves no training data.
    space = {"data.split.val": [0.2, 0.6], "data.split.test": [0.5]}
    config = base_config(sampler="grid", space=space)
    summary = tune(config, study_dir=tmp_path, run_trial=scored_trial)

    bad = next(r for r in summary.trials if r.params["data.split.val"] == 0.6)
    assert bad.state == "FAIL"
    assert "ConfigError" in bad.reason and "leaves no training data" in bad.reason
    assert [r.state for r in summary.trials if r is not bad] == ["COMPLETE"]


def test_diverging_trial_is_pruned_and_worse_trials_are_pruned_early(tmp_path: Path) -> None:
    lrs = [0.01, 0.02, 0.005, 10.0, 0.0001]  # 10.0 diverges; 1e-4 is far worse than the rest
    config = base_config(sampler="grid", pruner="median", space={"train.optimizer.lr": lrs})
    summary = tune(config, study_dir=tmp_path, run_trial=curve_trial)

    rows = {row.params["train.optimizer.lr"]: row for row in summary.trials}
    assert rows[10.0].state == "PRUNED"
    assert rows[10.0].reason == "val/loss = nan at validation 1 (diverged)"
    # After 3 finished trials the median pruner stops the bad one at its 2nd validation.
    assert rows[0.0001].state == "PRUNED"
    assert rows[0.0001].reason.startswith("pruned at validation 2")
    assert [rows[lr].state for lr in (0.01, 0.02, 0.005)] == ["COMPLETE"] * 3


def fit_regression(tmp_path: Path, pruning: TrialPruning, *, lr: float = 0.1, epochs: int = 5):
    """Fit y = 3x with Lightning, logging val/loss only; returns the trainer."""
    import lightning

    class Regression(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=lr)

    torch.manual_seed(0)
    x = torch.randn(32, 1)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 3 * x), batch_size=8)
    trainer = lightning.Trainer(
        max_epochs=epochs,
        callbacks=[pruning],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(Regression(), data, data)
    return trainer


def test_pruning_callback_reports_each_validation_in_lightning(tmp_path: Path) -> None:
    # Prune as soon as the loss is above 0: the first real validation must stop the fit.
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    pruning = TrialPruning(study.ask(), "loss")
    with pytest.raises(optuna.TrialPruned):
        fit_regression(tmp_path, pruning)

    reported = study.trials[0].intermediate_values
    assert list(reported) == [1]  # the sanity check is not reported; epoch 1 is step 1
    assert reported[1] > 0
    assert pruning.pruned_reason.startswith("pruned at validation 1: val/loss = ")


def test_pruning_callback_without_the_metric_logged_stops_only_a_diverging_run(
    tmp_path: Path,
) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    # rmse is computed at the end of a run only: nothing to report, nothing pruned.
    trainer = fit_regression(tmp_path, TrialPruning(study.ask(), "rmse"), epochs=2)
    assert trainer.current_epoch == 2 and study.trials[0].intermediate_values == {}
    # A step of 1e30 overflows the weights: the NaN/inf validation loss stops the run.
    pruning = TrialPruning(study.ask(), "rmse")
    with pytest.raises(optuna.TrialPruned):
        fit_regression(tmp_path, pruning, lr=1e30)
    assert pruning.pruned_reason.startswith("val/loss = ")
    assert pruning.pruned_reason.endswith("at validation 1 (diverged)")


# ----------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("tune_section", "message"),
    [
        (
            {"space": {"optimizer.lr": [8]}},
            "tune.space: unknown config key 'optimizer.lr'; did you mean 'train.optimizer.lr'?",
        ),
        (
            {"space": {"model.hiden_size": [8]}},
            "tune.space: unknown config key 'model.hiden_size'; did you mean 'model.hidden_size'?",
        ),
        (
            {"space": {"model.cell": ["lstm", "gur"]}},
            "tune.space: config key 'model.cell' = 'gur': Input should be 'lstm', 'gru', 'rnn', 'mingru', 'minlstm' or 'rglru'",
        ),
        (
            {"sampler": "grid", "space": {"model.dropout": {"low": 0.0, "high": 0.5}}},
            "tune.space['model.dropout'] is a continuous range, which a grid cannot enumerate",
        ),
        (
            {"space": {"model.qqqqqqqqqqqq": [1]}},
            "tune.space: unknown config key 'model.qqqqqqqqqqqq'; valid keys under 'model': model.cell,",
        ),
        (
            {"space": {"xyz.q": [1]}},
            "tune.space: unknown config key 'xyz.q'; keys start with one of: data, model, "
            "name, seed, task, train",
        ),
        ({"space": {}}, "tune.space is empty"),
        (
            {"metric": "accuracy", "space": {"model.hidden_size": [8]}},
            "tune.metric = 'accuracy' is not a validation metric of a language_model run; "
            "valid: loss, perplexity, bpc",
        ),
        (
            {"space": {"model.hidden_size": {"low": 1.5, "high": 8, "int": True}}},
            "tune.space['model.hidden_size'] is an integer range but low=1.5",
        ),
    ],
)
def test_bad_search_space_is_a_config_error(tmp_path, tune_section, message) -> None:
    with pytest.raises(ConfigError) as error:
        tune(base_config(**tune_section), study_dir=tmp_path, run_trial=scored_trial)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_distributed_trials_are_refused(tmp_path: Path) -> None:
    config = base_config(space={"model.hidden_size": [8]})
    with pytest.raises(
        ConfigError, match=r"tuning runs each trial in one process, but train\.devices=2"
    ):
        tune(config, ["train.devices=2"], study_dir=tmp_path, run_trial=scored_trial)


def test_config_without_tune_section_is_a_config_error(tmp_path: Path) -> None:
    config = base_config()
    del config["tune"]
    with pytest.raises(ConfigError, match="the config has no 'tune' section"):
        tune(config, study_dir=tmp_path, run_trial=scored_trial)


# ----------------------------------------------------------------------------- output


def test_plots_trials_csv_and_table(tmp_path: Path) -> None:
    space = {"train.optimizer.lr": [0.1, 0.01, 10.0], "model.hidden_size": [16]}
    summary = tune(
        base_config(sampler="grid", space=space), study_dir=tmp_path, run_trial=scored_trial
    )

    # hidden_size never varied: importances over lr only; both files are PNGs.
    assert summary.plots == (tmp_path / "history.png", tmp_path / "importances.png")
    for plot in summary.plots:
        assert plot.read_bytes()[:8] == PNG_SIGNATURE
    lines = (tmp_path / "trials.csv").read_text().splitlines()
    assert (
        lines[0]
        == "number,state,model.hidden_size,train.optimizer.lr,val_loss,duration_s,run_dir,reason"
    )
    assert lines[3].startswith("2,FAIL,16,10.0,,")

    console = Console(record=True, width=200)
    console.print(trials_table(summary))
    text = console.export_text()
    assert "1*" in text and " lr " in text  # the best trial is starred; short headers
    assert "TrainingError: the training loss became nan" in text
    assert "complete" in text and "fail" in text


def test_small_study_gets_a_history_but_no_importances(tmp_path: Path) -> None:
    config = base_config(sampler="grid", space={"train.optimizer.lr": [0.01]})
    summary = tune(config, study_dir=tmp_path, run_trial=scored_trial)
    assert summary.plots == (tmp_path / "history.png",)
    assert not (tmp_path / "importances.png").exists()


def test_cli_tune_prints_the_table_and_exits_2_on_a_bad_key(tmp_path, monkeypatch, capsys) -> None:
    from rnnkit import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tune_module, "train_trial", scored_trial)
    path = tmp_path / "tune.yaml"
    config = base_config(sampler="grid", space={"train.optimizer.lr": [0.1, 0.01]})
    path.write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tune", str(path), "model.hidden_size=32", "--trials", "5"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "┃   lr ┃" in out and "best: trial 1, val/loss = 0.032" in out
    assert (tmp_path / "runs" / "tiny" / "best.yaml").is_file()
    assert load_config(tmp_path / "runs" / "tiny" / "best.yaml").model.hidden_size == 32

    config["tune"]["space"] = {"model.hidden_sise": [8]}
    path.write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tune", str(path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: tune.space: unknown config key 'model.hidden_sise'; did you mean "
        "'model.hidden_size'?\n"
    )


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow  # two real (tiny) training runs
def test_real_training_trials_report_each_validation_and_a_diverging_lr_fails(
    tmp_path: Path,
) -> None:
    words = [
        "the",
        "cat",
        "sat",
        "on",
        "a",
        "mat",
        "and",
        "the",
        "dog",
        "ran",
        "to",
        "the",
        "park",
        "while",
        "birds",
        "sang",
    ]
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(len(words), (200, 10), generator=generator).tolist()
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("".join(" ".join(words[i] for i in line) + "\n" for line in picks))
    config = {
        "name": "tiny-lm",
        "task": "language_model",
        "data": {"dataset": str(corpus), "batch_size": 4, "bptt": 8},
        # A ReLU RNN has nothing to bound its state: a huge step overflows it to inf/NaN.
        "model": {"cell": "rnn", "nonlinearity": "relu", "hidden_size": 8, "embedding_size": 8},
        "train": {
            "optimizer": {"name": "sgd", "lr": 1.0},
            "gradient_clip": 1.0,
            "max_epochs": 2,
            "accelerator": "cpu",
            "log_every_n_steps": 1000,
        },
        "tune": {
            "sampler": "grid",
            "metric": "perplexity",  # logged during training as val/ppl
            "pruner": "none",
            "space": {"train.optimizer.lr": [1.0, 1e12]},
        },
    }
    summary = tune(config, study_dir=tmp_path / "study")

    good, diverged = summary.trials
    assert good.state == "COMPLETE" and good.params == {"train.optimizer.lr": 1.0}
    metrics = json.loads((good.run_dir / "metrics.json").read_text())
    assert good.value == metrics["val"]["perplexity"] < len(words) + 1
    # The corpus has a test split (the default split keeps one), yet no trial touches it.
    assert "test" not in metrics
    assert (good.run_dir / "model.safetensors").is_file()
    assert diverged.state in {"FAIL", "PRUNED"}
    assert "nan" in diverged.reason.lower() or "inf" in diverged.reason.lower()
    # The pruning callback reported the validation perplexity after each of the 2 epochs.
    storage = tune_module.open_storage(summary.storage)
    reported = optuna.load_study(study_name="tiny-lm", storage=storage).trials[0]
    assert sorted(reported.intermediate_values) == [1, 2]
    assert load_config(summary.best_config).train.optimizer.lr == 1.0
    assert summary.plots == (tmp_path / "study" / "history.png",)


def test_a_metric_logged_only_at_the_end_warns_only_when_a_pruner_would_use_it(caplog) -> None:
    from types import SimpleNamespace

    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={"val/loss": 1.0})
    study = optuna.create_study()
    for pruner_on, expected in ((True, 1), (False, 0)):
        caplog.clear()
        pruning = TrialPruning(study.ask(), "rmse", pruner_on=pruner_on)
        pruning.on_validation_end(trainer, None)
        warned = [r for r in caplog.records if "cannot be pruned early" in r.getMessage()]
        assert len(warned) == expected


def test_a_metric_with_a_nominal_value_cannot_be_tuned(tmp_path) -> None:
    """Interval coverage should be near 0.8, neither minimised nor maximised."""
    from rnnkit.config.sections import TuneConfig
    from rnnkit.search.study import _check_metric
    from rnnkit.tasks import get_spec

    config = load_config(get_spec("forecasting").tiny_config(tmp_path))
    with pytest.raises(ConfigError, match="'coverage_80' should be near a nominal value"):
        _check_metric(config, TuneConfig(metric="coverage_80"))
    _check_metric(config, TuneConfig(metric="crps"))  # a scoring rule is fine
