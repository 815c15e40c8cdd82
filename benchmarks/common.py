"""What the benchmark scripts share (run them as `python benchmarks/<name>.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


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


def saved_bytes(step: Callable[[], None], excluded: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the distinct storages autograd saves for backward during ``step``.

    Storages of ``excluded`` tensors (inputs, parameters: alive anyway) are not counted.
    """
    skip = {t.untyped_storage().data_ptr() for t in excluded}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(storages.values())
