"""Building, caching and turning off the native time loops (rnnkit.nn.native)."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from rnnkit.nn import native

needs_native = pytest.mark.skipif(
    not native.available(), reason="no C++ compiler here: the native loops are not built"
)


def test_switch_turns_the_native_loops_off(monkeypatch):
    monkeypatch.setenv(native.SWITCH, "0")
    assert not native.enabled()
    assert not native.usable(torch.zeros(2))
    monkeypatch.setenv(native.SWITCH, "1")
    assert native.enabled()


@pytest.mark.parametrize(
    "tensors",
    [
        (torch.zeros(2, device="meta"),),  # any device but the CPU (CUDA alike)
        (torch.zeros(2, dtype=torch.float16),),
        (torch.zeros(2, dtype=torch.bfloat16),),
        (torch.zeros(2), torch.zeros(2, dtype=torch.float64)),  # mixed dtypes
    ],
    ids=["meta-device", "float16", "bfloat16", "mixed"],
)
def test_usable_refuses_other_devices_and_dtypes(tensors):
    assert not native.usable(*tensors)


def test_build_without_a_compiler_names_the_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv(native.CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++"))
    with pytest.raises(RuntimeError, match=r"no C\+\+ compiler \(.*no-such-c\+\+\) on PATH"):
        native.build()


def test_failed_build_reports_the_compilers_error_line(monkeypatch, tmp_path):
    fake = tmp_path / "fake-c++"
    fake.write_text(
        "#!/bin/sh\necho 'note: something' >&2\necho 'x.cpp:1: error: boom' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv(native.CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(fake))
    with pytest.raises(RuntimeError, match=r"fake-c\+\+ failed: x.cpp:1: error: boom"):
        native.build()
    # Nothing half-built is left where a later process would load it.
    assert not list((tmp_path / "cache").glob("*.so"))


def test_failed_load_logs_one_warning_and_falls_back(monkeypatch, caplog):
    def broken() -> None:
        raise RuntimeError("c++ failed: boom")

    monkeypatch.setattr(native, "build", broken)
    with caplog.at_level(logging.WARNING, logger="rnnkit.nn.native"):
        assert native._load.__wrapped__() is False
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "rnnkit.nn: native recurrent loops unavailable (c++ failed: boom); using Python"
    ]


def test_library_name_follows_the_source_and_the_torch_version(monkeypatch, tmp_path):
    monkeypatch.setenv(native.CACHE_VARIABLE, str(tmp_path))
    first = native.library_path("c++")
    assert first.parent == tmp_path and first.name.startswith("rnnkit_native-")
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert native.library_path("c++") != first


@needs_native
def test_built_library_is_reused_without_compiling(monkeypatch):
    path = native.build()  # built and loaded by available() above
    stamp = path.stat().st_mtime_ns

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(native.subprocess, "run", no_compiling)
    assert native.build() == path
    assert path.stat().st_mtime_ns == stamp
    assert hasattr(native.ops(), "lstm_forward")


def test_default_cache_folder_is_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(native.CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert native.cache_dir() == tmp_path / "rnnkit" / "native"
    assert os.fspath(native.SOURCE).endswith("native.cpp") and native.SOURCE.exists()
