"""What every case of the bad-input corpus asserts about the CLI: exit code 2, exactly one
``error:`` line (the last thing printed) naming the file, value or folder, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.cli import MAX_ERROR_CHARS, main


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time (ns)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``rnnkit ARGV`` as the console script does; assert the user-error contract
    (exit 2, one ``error:`` line of bounded length, no traceback) and return that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    # The error is the last thing printed, on a line of its own.
    assert err.rstrip("\n").splitlines()[-1] == errors[0], err
    assert len(errors[0]) <= len("error: ") + MAX_ERROR_CHARS + 40, err
    return errors[0]
