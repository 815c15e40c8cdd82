"""The output symbols of a CTC model: characters or words, with the blank at index 0.

Fitted on the training transcripts and saved as JSON with the run, so that decoding at
inference maps indices back to the same symbols::

    tokens = CTCTokens.fit(["one two", "three"], units="word")
    tokens.encode("two one")        # [2, 1]   (0 is the blank)
    tokens.decode([2, 1])           # "two one"
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from rnnkit.errors import DataError

BLANK = "<blank>"
Units = Literal["char", "word"]


@dataclass(frozen=True)
class CTCTokens:
    """Symbols by index (``symbols[0]`` is the blank); ``units`` says how text splits."""

    units: Units
    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.units not in ("char", "word"):
            raise DataError(f"unknown CTC units {self.units!r}: use char or word")
        if not self.symbols or self.symbols[0] != BLANK:
            raise DataError(f"CTC symbols must start with {BLANK!r}")

    @classmethod
    def fit(cls, texts: Iterable[str], units: Units) -> CTCTokens:
        """Every symbol of ``texts``, sorted (characters include the space between words)."""
        seen: set[str] = set()
        for text in texts:
            seen.update(_split(text, units))
        if not seen:
            raise DataError("the training transcripts are empty: no symbols to recognise")
        return cls(units, (BLANK, *sorted(seen)))

    @property
    def blank(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.symbols)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {symbol: i for i, symbol in enumerate(self.symbols)}

    def encode(self, text: str) -> list[int]:
        """Indices of ``text``'s symbols; a symbol not seen in training is a DataError."""
        index = self._index
        ids = []
        for symbol in _split(text, self.units):
            if symbol not in index:
                raise DataError(
                    f"transcript {text[:60]!r} has the {self.units} {symbol!r}, which no "
                    "training transcript has"
                )
            ids.append(index[symbol])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a label sequence (blanks, if any, are skipped)."""
        symbols = [self.symbols[i] for i in ids if i != self.blank]
        text = "".join(symbols) if self.units == "char" else " ".join(symbols)
        return " ".join(text.split())

    def to_dict(self) -> dict:
        return {"units": self.units, "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, data: dict) -> CTCTokens:
        return cls(data["units"], tuple(data["symbols"]))


def _split(text: str, units: Units) -> list[str]:
    words = text.split()
    return list(" ".join(words)) if units == "char" else words


__all__ = ["BLANK", "CTCTokens"]
