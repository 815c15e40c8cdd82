"""train.weight_averaging: the saved and validated weights are the average of the live
weights of every optimizer step, computed here by hand from those steps."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.engine.api import _fit, train
from rnnkit.engine.averaging import ema_update
from rnnkit.errors import ConfigError
from rnnkit.rundir import last_checkpoint
from rnnkit.tasks import get_spec, load_config, load_run_config


class StepRecorder(L.Callback):
    """The live weights after every optimizer step, with the epoch it belongs to."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, dict[str, torch.Tensor]]] = []

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args) -> None:
        weights = {k: v.detach().clone() for k, v in module.model.state_dict().items()}
        self.steps.append((trainer.current_epoch, weights))


def _config(folder: Path, epochs: int, averaging: dict | None, **train: object) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    config = get_spec("forecasting").tiny_config(folder)
    config["seed"] = 3
    config["train"]["max_epochs"] = epochs
    config["train"].update(train)
    if averaging is not None:
        config["train"]["weight_averaging"] = averaging
    return config


def _train(folder: Path, config: dict, callbacks=()) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(config, run_dir=folder / "run", callbacks=callbacks)


def _saved(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def _ema_by_hand(steps: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    average = {k: v.double() for k, v in steps[0].items()}
    for n, weights in enumerate(steps[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        average = {k: d * average[k] + (1 - d) * weights[k].double() for k in average}
    return average


def _val_losses(run: Path) -> list[float]:
    lines = (run / "csv" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("val/loss")
    return [float(row.split(",")[column]) for row in lines[1:] if row.split(",")[column]]


def test_the_update_warms_its_decay_up_and_copies_integer_buffers() -> None:
    average = [torch.tensor([1.0, 2.0]), torch.tensor([4], dtype=torch.long)]
    current = [torch.tensor([3.0, 6.0]), torch.tensor([9], dtype=torch.long)]
    ema_update(0.999)(average, current, torch.tensor(5))
    d = 6 / 15  # min(0.999, (1 + 5) / (10 + 5))
    torch.testing.assert_close(average[0], torch.tensor([d * 1 + (1 - d) * 3, d * 2 + (1 - d) * 6]))
    assert average[1].tolist() == [9]
    late = [torch.tensor([1.0])]
    ema_update(0.9)(late, [torch.tensor([2.0])], torch.tensor(10_000))
    torch.testing.assert_close(late[0], torch.tensor([1.1]))  # the decay caps at 0.9


def test_ema_from_the_second_epoch_is_what_is_saved(tmp_path: Path) -> None:
    recorder = StepRecorder()
    averaging = {"method": "ema", "decay": 0.95, "start_epoch": 2}
    run = _train(tmp_path / "ema", _config(tmp_path / "ema", 3, averaging), [recorder])
    averaged = [w for epoch, w in recorder.steps if epoch >= 1]
    expected = _ema_by_hand(averaged, 0.95)
    saved = _saved(run)
    for name, value in expected.items():
        torch.testing.assert_close(saved[name].double(), value, rtol=1e-5, atol=1e-6)
    # ... and not the live weights of the last step.
    last = recorder.steps[-1][1]
    assert any(not torch.allclose(saved[k], v) for k, v in last.items())
    record = json.loads((run / "run.json").read_text())
    assert record["weight_averaging"] == {
        "method": "ema",
        "decay": 0.95,
        "start_epoch": 2,
        "averaged_steps": len(averaged),
    }

    # Before averaging starts, validation sees the live weights: epoch 1 scores as a run
    # without averaging does (same seed); later epochs score the average, and differ.
    plain = _train(tmp_path / "plain", _config(tmp_path / "plain", 3, None))
    with_average, without = _val_losses(run), _val_losses(plain)
    assert with_average[0] == pytest.approx(without[0], rel=1e-6)
    assert with_average[2] != pytest.approx(without[2], rel=1e-4)


def test_mean_is_the_equal_average_of_the_steps(tmp_path: Path) -> None:
    recorder = StepRecorder()
    averaging = {"method": "mean", "start_epoch": 2}
    run = _train(tmp_path, _config(tmp_path, 2, averaging), [recorder])
    averaged = [w for epoch, w in recorder.steps if epoch >= 1]
    saved = _saved(run)
    for name in averaged[0]:
        mean = torch.stack([w[name].double() for w in averaged]).mean(0)
        torch.testing.assert_close(saved[name].double(), mean, rtol=1e-5, atol=1e-6)


def test_a_resumed_run_continues_the_same_average(tmp_path: Path) -> None:
    decay = 0.9
    run = _train(tmp_path, _config(tmp_path, 2, {"method": "ema", "decay": decay}))
    checkpoint = last_checkpoint(run)
    state = torch.load(checkpoint, weights_only=False)
    # The checkpoint holds the average where a plain one holds the weights, and the live
    # weights beside it.
    average = {k.removeprefix("model."): v.double() for k, v in state["state_dict"].items()}
    updates = int(state["averaging_state"]["n_averaged"])
    assert updates == state["global_step"]
    live = state["current_model_state"]
    assert any(not torch.equal(live[k], state["state_dict"][k]) for k in live)

    recorder = StepRecorder()
    config = load_config(load_run_config(run), {"train.max_epochs": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fit(config, run, resume_from=checkpoint, callbacks=[recorder])
    for _, weights in recorder.steps:
        d = min(decay, (1 + updates) / (10 + updates))
        average = {k: d * average[k] + (1 - d) * weights[k].double() for k in average}
        updates += 1
    saved = _saved(run)
    for name, value in average.items():
        torch.testing.assert_close(saved[name].double(), value, rtol=1e-5, atol=1e-6)
    assert json.loads((run / "run.json").read_text())["weight_averaging"]["averaged_steps"] == (
        updates
    )


def test_early_stopping_keeps_the_average_of_the_best_epoch(tmp_path: Path) -> None:
    recorder = StepRecorder()
    averaging = {"method": "ema", "decay": 0.9}
    stopping = {"monitor": "val/loss", "patience": 10, "restore_best": True}
    config = _config(tmp_path, 3, averaging, early_stopping=stopping)
    run = _train(tmp_path, config, [recorder])
    losses = _val_losses(run)
    best = min(range(len(losses)), key=losses.__getitem__)
    upto = [w for epoch, w in recorder.steps if epoch <= best]
    expected = _ema_by_hand(upto, 0.9)
    saved = _saved(run)
    for name, value in expected.items():
        torch.testing.assert_close(saved[name].double(), value, rtol=1e-5, atol=1e-6)


def test_a_bad_setting_is_named() -> None:
    base = {"name": "x", "task": "forecasting", "data": {"dataset": "airline-passengers"}}
    with pytest.raises(ConfigError, match="decay"):
        load_config(base, {"train.weight_averaging.decay": 1.0})
    with pytest.raises(ConfigError, match="method"):
        load_config(base, {"train.weight_averaging.method": "swa"})
