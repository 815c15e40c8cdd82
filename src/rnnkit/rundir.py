"""The run directory: where a run's config, weights, preprocessing and metrics live.

::

    runs/<name>-<YYYYmmdd-HHMMSS>/
      config.yaml           the resolved config
      model.safetensors     weights (inference never unpickles anything)
      preprocess/*.json     vocabulary, scaler, label names, info.json (model shapes)
      checkpoints/last.ckpt Lightning checkpoint, for --resume only
      metrics.json          final metrics and baselines
      run.json              parameters, training time, epochs, library versions
      tensorboard/ csv/     logs

Every file is written atomically (a temporary file in the same folder, then a rename),
so a crash or Ctrl-C never leaves a half-written file where a complete one was, with the
permissions the umask gives a new file (a run directory can be shared). Reading checks
what it reads: a truncated or mistyped file is a one-line :class:`RunDirError`.

This module imports no training library: inference reads run directories through it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.config import Config
from rnnkit.config import dump as dump_config
from rnnkit.data.files import file_lock, umask
from rnnkit.errors import RunDirError

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
#: parameter count, training time, epochs, library versions (see rnnkit.engine.record)
RUN_FILE = "run.json"
PREPROCESS_DIR = "preprocess"
INFO_FILE = "info.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"


def new_run_dir(name: str, root: str | Path = "runs", now: datetime | None = None) -> Path:
    """``root/<name>-<YYYYmmdd-HHMMSS>``, with ``-2``, ``-3``... if that exists already."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    candidate, counter = base, 1
    while candidate.exists():
        counter += 1
        candidate = base.with_name(f"{base.name}-{counter}")
    return candidate


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; rename it over ``path`` if no error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        # mkstemp makes the file private (0600), and a writer may replace it: the
        # finished file gets the permissions any new file gets under the umask, like the
        # checkpoints Lightning writes, so a run directory can be shared.
        os.chmod(temporary, 0o666 & ~umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


LOCK_FILE = ".rnnkit.lock"


@contextmanager
def training_lock(run_dir: Path):
    """Hold the run directory's lock while training into it; a second process that tries
    gets a :class:`RunDirError` at once instead of mixing its files with the first's.

    The kernel releases the lock when its holder dies (even by SIGKILL), so a stale lock
    never blocks a resume.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        try:
            held.enter_context(file_lock(run_dir / LOCK_FILE, wait=False))
        except BlockingIOError:
            raise RunDirError(
                f"{run_dir} is in use by another rnnkit process; wait for it to finish "
                "or train into another --run-dir"
            ) from None
        yield


def inside(run_dir: Path, path: Path) -> Path:
    """``path`` resolved (symbolic links followed), refused if it leaves ``run_dir``.

    Run directories are shared and downloaded: a link inside one must not make rnnkit
    read or write a file elsewhere.
    """
    root = Path(run_dir).resolve()
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise RunDirError(
            f"{path} leads outside the run directory {run_dir} (to {resolved}); "
            "rnnkit reads and writes only inside it"
        )
    return resolved


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


#: A preprocessing or metrics file larger than this is not one rnnkit wrote.
MAX_JSON_BYTES = 512 * 2**20


def read_json(path: Path, expect: type = object) -> Any:
    """The JSON in ``path``, checked to be an ``expect`` (dict, list...)."""
    if not path.is_file():
        raise RunDirError(f"{path} is missing; is {path.parent} a complete rnnkit run directory?")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise RunDirError(f"{path} is {size} bytes, too large for an rnnkit file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno})" if isinstance(err, json.JSONDecodeError) else ""
        raise RunDirError(f"{path} is not valid JSON{where}; the file is damaged") from None
    if not isinstance(data, expect):
        raise RunDirError(
            f"{path} holds a JSON {type(data).__name__}, not a {expect.__name__}; "
            "the file is damaged"
        )
    return data


def save_config(run_dir: Path, config: Config) -> None:
    write_text(run_dir / CONFIG_FILE, dump_config(config))


def save_weights(model: nn.Module, path: Path) -> None:
    """Weights as safetensors (tied weights are stored once)."""
    from safetensors.torch import save_model

    with atomic_path(path) as temporary:
        save_model(model, str(temporary), metadata={"format": "pt", "library": "rnnkit"})


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load safetensors weights into ``model``; never unpickles."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    if not path.is_file():
        raise RunDirError(f"{path} is missing; the run did not finish training")
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device="cpu")
    except (SafetensorError, OSError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RunDirError(f"{path} cannot be read ({first}); the file is damaged") from None
    if missing or unexpected:
        raise RunDirError(
            f"{path} does not match the model its config describes "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    return model


def save_info(run_dir: Path, info: dict[str, Any]) -> None:
    write_json(run_dir / PREPROCESS_DIR / INFO_FILE, info)


def load_info(run_dir: Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / PREPROCESS_DIR / INFO_FILE, dict)


def write_metrics(run_dir: Path, update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``metrics.json`` (split or baseline -> metrics)."""
    path = Path(run_dir) / METRICS_FILE
    metrics = read_json(path, dict) if path.is_file() else {}
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(metrics.get(key), dict):
            metrics[key].update(value)
        else:
            metrics[key] = value
    write_json(path, metrics)
    return metrics


def last_checkpoint(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT


def checkpoint_progress(path: Path) -> tuple[int, int]:
    """``(epochs trained in full, global_step)`` of a Lightning checkpoint.

    A checkpoint taken at an epoch's end counts that epoch (Lightning's own ``epoch``
    field still names it as the current one); one taken mid-epoch does not. The file is
    this run's own checkpoint: resuming unpickles it anyway.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    progress = state.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    epochs = progress.get("current", {}).get("processed", state["epoch"])
    return int(epochs), int(state["global_step"])


def load_model(
    run_dir: str | Path,
    config: Config,
    build: Callable[[Config, dict[str, Any]], nn.Module],
) -> tuple[dict[str, Any], nn.Module]:
    """Info and the model with its trained weights, from safetensors + JSON."""
    run_dir = Path(run_dir)
    info = load_info(run_dir)
    try:
        model = build(config, info)
    except (KeyError, TypeError, ValueError) as err:
        raise RunDirError(
            f"{run_dir / PREPROCESS_DIR / INFO_FILE} does not describe a model of this run "
            f"({type(err).__name__}: {err}); the file is damaged"
        ) from None
    load_weights(model, run_dir / WEIGHTS_FILE)
    model.eval()
    return info, model
