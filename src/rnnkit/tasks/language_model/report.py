"""The language model's part of report.html: the sample written at the end of training."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

SAMPLE_FILE = "sample.txt"


def sample_length(char_level: bool) -> int:
    """Tokens in the run's ``sample.txt``: a paragraph of characters, or of words."""
    return 400 if char_level else 100


def sections(run_dir: Path, config: dict[str, Any]) -> list[tuple[str, str]]:
    """The "Generated sample" section: ``sample.txt`` with how to reproduce it."""
    path = run_dir / SAMPLE_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if not text:
        return []
    char_level = (config.get("data", {}) or {}).get("tokenizer") == "char"
    length, seed = sample_length(char_level), config.get("seed", "?")
    unit = "characters" if char_level else "tokens"
    note = (
        f"{length} {unit} sampled from the trained model at temperature 1 with seed {seed}; "
        f"rnnkit generate RUN_DIR --length {length} --seed {seed} gives the same text."
    )
    body = f'<p class="note">{html.escape(note)}</p>\n<pre>{html.escape(text)}</pre>'
    return [("Generated sample", body)]
