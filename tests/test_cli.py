from __future__ import annotations

import pytest

from rnnkit import cli
from rnnkit.errors import UserError


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "quickstart" in out
    assert "data" in out


def test_user_error_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    @cli.app.command("boom-for-test")
    def boom() -> None:
        raise UserError("unknown dataset 'ptbb'; valid: ptb, wikitext-2")

    try:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["boom-for-test"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err == "error: unknown dataset 'ptbb'; valid: ptb, wikitext-2\n"
        # --verbose lets the traceback through
        with pytest.raises(UserError):
            cli.main(["--verbose", "boom-for-test"])
    finally:
        cli.app.registered_commands = [
            c for c in cli.app.registered_commands if c.name != "boom-for-test"
        ]


def test_unknown_option_is_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["quickstart", "--no-such-option"])
    assert exit_info.value.code == 2


def _command_paths(command, prefix=()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


def test_help_shows_no_type_beside_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # Typer prints a flag's Python type (`--offline <bool>`) as if it took a value.
    paths = _command_paths(cli.command())
    assert ("data", "get") in paths and ("forecast",) in paths
    seen = {}
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*path, "--help"])
        assert exit_info.value.code == 0
        seen[path] = capsys.readouterr().out
        assert "<bool>" not in seen[path], path
        assert "--help" in seen[path]
    offline = next(
        line
        for line in seen[("data", "get")].splitlines()
        if line.lstrip("│ ").startswith("--offline")
    )
    assert offline.split("--offline")[1].split()[0] == "No"  # its help text follows the flag
    # Options that take a value still show its type.
    horizon = next(
        line
        for line in seen[("forecast",)].splitlines()
        if line.lstrip("│ ").startswith("--horizon")
    )
    assert "<int>" in horizon


def test_commands_that_run_a_trained_model_let_idle_threads_sleep(monkeypatch) -> None:
    # Spinning OpenMP threads slowed evaluation 3.5-fold on a shared machine.
    import os

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    cli._passive_waits(["train", "config.yaml"])
    assert "OMP_WAIT_POLICY" not in os.environ
    cli._passive_waits(["--verbose", "evaluate", "runs/x", "--split", "test"])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice stays
    cli._passive_waits(["forecast", "runs/x"])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    with pytest.raises(SystemExit):
        cli.main(["predict", "/nonexistent/run", "text"])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
