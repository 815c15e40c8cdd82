"""The tagger's part of report.html: the most confused tags and the per-tag scores of
the test split (from ``test_tags.json``, written by the evaluation)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

TAGS_FILE = "{split}_tags.json"


def sections(run_dir: Path, config: dict[str, Any]) -> list[tuple[str, str]]:
    """ "Most confused tags" and "Per-tag scores" for the last split evaluated."""
    for split in ("test", "val"):
        path = Path(run_dir) / TAGS_FILE.format(split=split)
        if path.is_file():
            break
    else:
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    confused = "".join(
        f"<tr><td>{html.escape(row['gold'])}</td><td>{html.escape(row['predicted'])}</td>"
        f"<td>{row['count']}</td></tr>"
        for row in data.get("most_confused", [])
    )
    scores = "".join(
        f"<tr><td>{html.escape(tag)}</td><td>{s['precision']:.4f}</td><td>{s['recall']:.4f}</td>"
        f"<td>{s['f1']:.4f}</td><td>{int(s['support'])}</td></tr>"
        for tag, s in sorted(data.get("per_tag", {}).items(), key=lambda item: item[1]["f1"])
    )
    note = f'<p class="note">{split} split; tokens whose gold tag differs from the prediction.</p>'
    return [
        (
            "Most confused tags",
            note + "<table><tr><th>gold</th><th>predicted</th><th>tokens</th></tr>"
            f"{confused}</table>",
        ),
        (
            "Per-tag scores",
            "<table><tr><th>tag</th><th>precision</th><th>recall</th><th>F1</th>"
            f"<th>support</th></tr>{scores}</table>",
        ),
    ]
