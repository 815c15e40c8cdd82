"""The parallel-scan layers by the name a model config gives them (``model.cell``)."""

from __future__ import annotations

from rnnkit.nn.minimal import MinGRU, MinLSTM, _MinimalRecurrent
from rnnkit.nn.rglru import RGLRU

__all__ = ["MINIMAL_CELLS", "minimal_layer"]

MINIMAL_CELLS: dict[str, type[_MinimalRecurrent]] = {
    "mingru": MinGRU,
    "minlstm": MinLSTM,
    "rglru": RGLRU,
}


def minimal_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    batch_first: bool = False,
    dropout: float = 0.0,
    bidirectional: bool = False,
    residual: bool = False,
    norm: bool = False,
    mlp: bool = False,
) -> _MinimalRecurrent:
    """The layer a model config names with ``cell`` ('mingru', 'minlstm' or 'rglru')."""
    if cell not in MINIMAL_CELLS:
        raise ValueError(
            f"unknown minimal cell {cell!r}: expected one of {', '.join(MINIMAL_CELLS)}"
        )
    return MINIMAL_CELLS[cell](
        input_size,
        hidden_size,
        num_layers,
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=bidirectional,
        residual=residual,
        norm=norm,
        mlp=mlp,
    )
