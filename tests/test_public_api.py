"""The package-level functions stay callable after their submodules are imported."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import rnnkit


def test_train_is_callable_before_and_after_importing_the_engine(monkeypatch) -> None:
    calls: list[tuple] = []

    def fake_train(config, overrides=None, run_dir=None, **_options):
        calls.append((config, overrides, run_dir))
        return Path("runs/x")

    api = importlib.import_module("rnnkit.engine.api")
    monkeypatch.setattr(api, "train", fake_train)
    assert rnnkit.train("c.yaml", {"model.hidden_size": 8}, "out") == Path("runs/x")
    assert calls == [("c.yaml", {"model.hidden_size": 8}, "out")]


def test_tune_is_callable_after_importing_its_module(monkeypatch) -> None:
    module = importlib.import_module("rnnkit.search")
    seen: list[dict] = []

    def fake_tune(config, overrides=None, **options):
        seen.append({"config": config, **options})
        return "summary"

    monkeypatch.setattr(module, "tune", fake_tune)
    assert rnnkit.tune("c.yaml", trials=3, workers=2) == "summary"
    assert seen == [{"config": "c.yaml", "trials": 3, "workers": 2, "storage": None}]


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = rnnkit.nope
