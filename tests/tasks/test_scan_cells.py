"""model.cell: mingru | minlstm | rglru in the tasks: the same configs train, load,
predict and export (TorchScript; ONNX refused with its reason); diagnose refuses them by
name; options of the other kind of cell are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnkit
from rnnkit.config import CELLS, SCAN_CELLS
from rnnkit.diagnose import diagnose
from rnnkit.engine.api import train
from rnnkit.errors import ConfigError, UserError
from rnnkit.export import export
from rnnkit.nn.scan_layers import MINIMAL_CELLS
from rnnkit.tasks import get_spec, load_config

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")


@pytest.mark.parametrize(
    ("task", "cell"),
    [
        ("adding", "mingru"),
        ("language_model", "minlstm"),
        ("forecasting", "mingru"),
        ("adding", "rglru"),
        ("language_model", "rglru"),
    ],
)
def test_a_scan_cell_trains_loads_and_exports(tmp_path: Path, task: str, cell: str) -> None:
    config = get_spec(task).tiny_config(tmp_path)
    config["model"]["cell"] = cell
    run_dir = train(config, run_dir=tmp_path / "run")
    predictor = rnnkit.load(run_dir)
    layer = next(m for m in predictor.model.modules() if type(m).__name__.lower() == cell)
    assert layer.hidden_size == config["model"]["hidden_size"]
    if task == "language_model":
        assert predictor.generate("the cat", length=5, seed=1) == predictor.generate(
            "the cat", length=5, seed=1
        )
    assert export(run_dir, "torchscript").is_file()
    with pytest.raises(UserError, match=r"mingru/minlstm/rglru exports with --format torchscript"):
        export(run_dir, "onnx")
    with pytest.raises(ConfigError, match=rf"model.cell={cell} is a parallel-scan layer"):
        diagnose(run_dir, batches=1, plots=False)


def test_options_of_the_other_kind_of_cell_are_refused() -> None:
    base = {"task": "adding", "data": {"dataset": "adding"}}
    with pytest.raises(ConfigError, match=r"layer_norm is an option of cell lstm, gru or rnn"):
        load_config(base, {"model.cell": "mingru", "model.layer_norm": True})
    with pytest.raises(
        ConfigError, match=r"residual is an option of cell mingru, minlstm or rglru"
    ):
        load_config(base, {"model.residual": True})
    assert load_config(base, {"model.cell": "minlstm", "model.norm": True}).model.norm
    with pytest.raises(ConfigError, match=r"zoneout is an option of cell lstm, gru or rnn"):
        load_config(base, {"model.cell": "rglru", "model.zoneout": 0.1})
    assert load_config(base, {"model.cell": "rglru", "model.mlp": True}).model.mlp


def test_the_config_cells_and_the_layer_registry_agree() -> None:
    assert tuple(MINIMAL_CELLS) == SCAN_CELLS
    assert set(SCAN_CELLS) < set(CELLS)
