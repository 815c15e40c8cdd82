"""The C++ time loops of the fused kernels: compiled at first use, cached, optional.

:mod:`rnnkit.nn.fused` runs each time step as ~25 small tensor operations from Python;
at small sizes their dispatch costs more than the arithmetic, and with several threads
each pays a fork/join. ``native.cpp`` (beside this file) runs the whole loop of one layer
and direction in C++: per step one BLAS product and one fused pass over the batch rows.

The library is built with the machine's C++ compiler (``$CXX`` or ``c++``) against the
installed torch's headers the first time a kernel needs it, in about 10-30 seconds, into
a cache folder (``$RNNKIT_NATIVE_DIR``, default ``~/.cache/rnnkit/native``) under a name
that hashes the source, the flags, torch's version and the CPU, so later processes load
it in milliseconds. ``python -c "from rnnkit.nn import native; native.main()"`` builds
it ahead of time (``make setup`` does). Where there is no compiler or the build fails, one warning is
logged and the Python loops run instead, with the same results; ``RNNKIT_NATIVE=0``
turns the native loops off. They run CPU tensors in float32 and float64 only: other
devices (CUDA) and dtypes take the Python loops.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("native.cpp")
SWITCH = "RNNKIT_NATIVE"  # "0" turns the native loops off
CACHE_VARIABLE = "RNNKIT_NATIVE_DIR"
DTYPES = (torch.float32, torch.float64)
BUILD_TIMEOUT_S = 600


def enabled() -> bool:
    """Whether the environment allows the native loops (``RNNKIT_NATIVE`` is not 0)."""
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Where built libraries are kept."""
    given = os.environ.get(CACHE_VARIABLE)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnnkit" / "native"


def _cpu_signature() -> str:
    """What ``-march=native`` depends on: the CPU's feature flags where Linux lists them."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    import platform

    return platform.machine() + platform.processor()


def _command(compiler: str, output: Path) -> list[str]:
    torch_dir = Path(torch.__file__).parent
    include = torch_dir / "include"
    lib = torch_dir / "lib"
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return [
        compiler,
        "-shared",
        "-fPIC",
        "-std=c++20",
        "-O3",
        "-march=native",
        # at::parallel_for is OpenMP in the header; the runtime is the one torch loaded.
        "-fopenmp",
        f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        "-isystem",
        str(include),
        "-isystem",
        str(include / "torch" / "csrc" / "api" / "include"),
        str(SOURCE),
        "-o",
        str(output),
        f"-L{lib}",
        "-lc10",
        "-ltorch_cpu",
        f"-Wl,-rpath,{lib}",
    ]


def library_path(compiler: str) -> Path:
    """The cached library's path for this source, compiler, torch and CPU."""
    key = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        " ".join(_command(compiler, Path("out"))).encode(),
        torch.__version__.encode(),
        _cpu_signature().encode(),
    ):
        key.update(part)
    return cache_dir() / f"rnnkit_native-{key.hexdigest()[:16]}.so"


@contextlib.contextmanager
def _build_lock(folder: Path):
    """One build at a time per cache folder (test workers start together)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): builds may race; the rename stays atomic
        yield
        return
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build() -> Path:
    """Compile ``native.cpp`` into the cache (unless it is there); returns the library.

    Raises RuntimeError with the compiler's message when there is no compiler or the
    build fails.
    """
    if sys.platform not in ("linux", "darwin"):
        raise RuntimeError(f"native loops are built on Linux and macOS only, not {sys.platform}")
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        raise RuntimeError(f"no C++ compiler ({os.environ.get('CXX', 'c++')}) on PATH")
    target = library_path(compiler)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target.parent):
        if target.exists():  # another process built it while this one waited
            return target
        logger.info("rnnkit.nn: compiling the native recurrent loops into %s", target.parent)
        handle, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(handle)
        try:
            result = subprocess.run(
                _command(compiler, Path(temporary)),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
            if result.returncode != 0:
                errors = [line for line in result.stderr.splitlines() if "error" in line]
                detail = (errors or result.stderr.splitlines() or ["no message"])[0]
                raise RuntimeError(f"{compiler} failed: {detail}")
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
    return target


@functools.cache
def _load() -> bool:
    """Build (if needed) and load the library once per process; False where it failed."""
    try:
        torch.ops.load_library(str(build()))
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        logger.warning("rnnkit.nn: native recurrent loops unavailable (%s); using Python", error)
        return False
    return True


def available() -> bool:
    """Whether the native loops are enabled, and built and loaded (building them now)."""
    return enabled() and _load()


def usable(*tensors: Tensor | None) -> bool:
    """Whether the native loops can run these tensors: CPU, float32/float64, one dtype.

    Not while torch.jit traces or scripts (the trace would record an op that exporters
    do not know); the Python loops serve there.
    """
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    if dtype not in DTYPES or any(t.device.type != "cpu" or t.dtype != dtype for t in present):
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    return available()


def ops():
    """The loaded operators (``torch.ops.rnnkit_native``)."""
    return torch.ops.rnnkit_native


def main() -> None:
    """Build the library now and say where it is (``make setup`` calls this)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not enabled():
        logger.info("%s=0: native recurrent loops turned off, nothing built", SWITCH)
        return
    try:
        path = build()
    except RuntimeError as error:
        logger.warning("native recurrent loops not built: %s (the Python loops will run)", error)
        return
    torch.ops.load_library(str(path))
    logger.info("native recurrent loops ready: %s", path)
