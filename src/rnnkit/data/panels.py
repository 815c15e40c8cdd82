"""Panels (many series in one long table) derived reproducibly from mirrored files.

``monthly-panel``: five monthly series of the Time Series Data Library copies in
jbrownlee/Datasets (the data mirror's ``timeseries/`` folder), stacked in long format
``series,month,value`` (715 rows):

==================  ===========================================  ======  ===========
series              file                                          months  span
==================  ===========================================  ======  ===========
airline             airline-passengers.csv (thousands)            144     1949-1960
car_sales           monthly-car-sales.csv (Quebec)                108     1960-1968
champagne           monthly_champagne_sales.csv (Perrin Freres)   105     1964-1972
robberies           monthly-robberies.csv (Boston)                118     1966-1975
temperature         monthly-mean-temp.csv (Nottingham, deg F)     240     1920-1939
==================  ===========================================  ======  ===========

Each file is checked against the sha256 the mirror's MANIFEST gives. Write it with

    RNNKIT_MIRROR=../shared/data python -m rnnkit.data.panels monthly-panel.csv
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pandas as pd

from rnnkit.errors import DataError

# series name -> (file under timeseries/, sha256 from the mirror's MANIFEST)
MONTHLY_PANEL: dict[str, tuple[str, str]] = {
    "airline": (
        "airline-passengers.csv",
        "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
    ),
    "car_sales": (
        "monthly-car-sales.csv",
        "a4194226eb1d0eba5fd503e829b1279f1a10683d8009f2871aca05e7fb648f70",
    ),
    "champagne": (
        "monthly_champagne_sales.csv",
        "bf2179f9c4df80a355146ce80da5c29d5cd5f36918d98f8b07cb04cda59e59eb",
    ),
    "robberies": (
        "monthly-robberies.csv",
        "df5e8a8c2d8fbfb01dd652232863986e0a9fab2d7a30dc29c4a42f6794b0b50f",
    ),
    "temperature": (
        "monthly-mean-temp.csv",
        "4190d815eb6d66f7c6abf25de2ef69addcf4647659fb94102215bd2dab1916ef",
    ),
}


def monthly_panel(mirror: str | Path | None = None) -> pd.DataFrame:
    """The five series stacked: columns ``series``, ``month`` (YYYY-MM), ``value``."""
    folder = Path(mirror or os.environ.get("RNNKIT_MIRROR") or "") / "timeseries"
    frames = []
    for name, (file, sha256) in MONTHLY_PANEL.items():
        path = folder / file
        if not path.is_file():
            raise DataError(f"{path} not found: set RNNKIT_MIRROR to the data mirror")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise DataError(f"{path}: sha256 {digest} is not the MANIFEST's {sha256}")
        frame = pd.read_csv(path)
        month, value = frame.columns[:2]
        frames.append(pd.DataFrame({"series": name, "month": frame[month], "value": frame[value]}))
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit("usage: python -m rnnkit.data.panels OUT.csv")
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    monthly_panel().to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
