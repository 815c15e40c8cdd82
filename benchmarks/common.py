"""What the benchmark scripts share (run them as `python benchmarks/<name>.py`)."""

from __future__ import annotations


def parse_sizes(text: str) -> list[tuple[int, int, int, int]]:
    """'32x100x128x256,...' -> [(batch, time, input, hidden), ...]."""
    sizes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise SystemExit(
                f"bad size {item!r}: expected BATCHxTIMExINPUTxHIDDEN, e.g. 32x100x128x256"
            )
        sizes.append(tuple(int(p) for p in parts))
    return sizes
