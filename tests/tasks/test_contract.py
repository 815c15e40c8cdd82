"""The task plug-in contract, run over every registered task.

Each task trains one tiny epoch on the fixture its spec provides, writes metrics.json
with the metrics it declares, loads with ``rnnkit.load`` (no training library), runs its
predictor, exports (or refuses with its declared reason) and resumes. A new task that
forgets a piece fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit
from rnnkit.engine.api import resume
from rnnkit.engine.api import train as train_run
from rnnkit.errors import UserError
from rnnkit.export import export
from rnnkit.rundir import checkpoint_progress, last_checkpoint
from rnnkit.tasks import TASKS, get_spec
from rnnkit.tasks.predictor import Predictor

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")


@pytest.fixture(scope="module", params=sorted(TASKS))
def trained(request, tmp_path_factory) -> tuple[str, Path]:
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    config = get_spec(name).tiny_config(folder)
    run_dir = train_run(config, run_dir=folder / "run")
    return name, run_dir


def test_metrics_json_holds_the_declared_metrics(trained) -> None:
    name, run_dir = trained
    spec = get_spec(name)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val"] and set(metrics["val"]) <= set(spec.metrics), name
    assert all(isinstance(v, float) for v in metrics["val"].values())


def test_the_spec_declares_what_validation_logs(trained) -> None:
    """Early stopping and pruning are checked against ``spec.logged`` before any work, so
    it must name every ``val/`` column the module writes (some only with some data: a
    character language model adds bpc)."""
    name, run_dir = trained
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    written = {column.removeprefix("val/") for column in header if column.startswith("val/")}
    assert "loss" in written and written <= set(get_spec(name).logged), (name, written)


def test_every_recipe_passes_the_checks_made_before_training() -> None:
    from rnnkit.engine.api import check_settings
    from rnnkit.tasks import load_config

    recipes = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))
    assert len(recipes) >= 15
    for recipe in recipes:
        check_settings(load_config(recipe, []))


def test_load_gives_the_declared_predictor(trained) -> None:
    name, run_dir = trained
    predictor = rnnkit.load(run_dir)
    assert isinstance(predictor, get_spec(name).predictor_class())
    assert isinstance(predictor, Predictor) and predictor.task == name
    # Another task's verb is a one-line user error naming the task that has it.
    own = set(dir(type(predictor)))
    for other in TASKS:
        verbs = set(dir(get_spec(other).predictor_class())) - own
        for verb in sorted(v for v in verbs if not v.startswith("_")):
            with pytest.raises(UserError, match=rf"{verb}\(\) needs a .*{other}.* run"):
                getattr(predictor, verb)
            assert not hasattr(predictor, verb)  # still a plain question


def test_export_writes_a_checked_model_or_refuses_clearly(trained) -> None:
    name, run_dir = trained
    spec = get_spec(name)
    if spec.export is None:
        with pytest.raises(UserError, match="cannot be exported"):
            export(run_dir, "torchscript")
        return
    path = export(run_dir, "torchscript")
    assert path.is_file() and (path.parent / "io.json").is_file()


def test_resume_extends_the_run(trained) -> None:
    _, run_dir = trained
    before, _ = checkpoint_progress(last_checkpoint(run_dir))
    resume(run_dir, max_epochs=before + 1)
    after, _ = checkpoint_progress(last_checkpoint(run_dir))
    assert after == before + 1


def test_every_spec_names_importable_parts() -> None:
    for name in TASKS:
        spec = get_spec(name)
        assert spec.name == name
        assert spec.config.model_fields["task"].default == name
        assert callable(spec.predictor_class())
        assert "loss" in spec.metrics and set(spec.metrics.values()) <= {"min", "max", "near"}


def test_the_data_layer_names_tasks_that_read_its_kinds() -> None:
    """rnnkit.data cannot ask the registry (it sits below it), so its table of which task
    a local dataset suits is checked here against the specs' own dataset kinds."""
    from rnnkit.data.catalog import entries
    from rnnkit.data.sources import _TASK_OF_KIND

    for kind, task in _TASK_OF_KIND.items():
        assert kind in get_spec(task).dataset_kinds, (kind, task)
    for entry in entries():
        assert entry.kind in get_spec(entry.task).dataset_kinds, (entry.name, entry.kind)


def test_inference_imports_no_training_library(trained) -> None:
    """rnnkit.load and the predictor run without Lightning or Optuna being imported, nor
    torch's compiler stack (torch._dynamo and sympy: about a second per command)."""
    _, run_dir = trained
    code = (
        "import sys, rnnkit\n"
        f"p = rnnkit.load({str(run_dir)!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'lightning', 'pytorch_lightning', 'optuna', 'lightning_fabric', 'sympy'} "
        "or m == 'torch._dynamo')\n"
        "print(repr(p)); print('heavy:', bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "heavy: []" in done.stdout, done.stdout + done.stderr
