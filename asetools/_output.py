"""Files the analyses write: CSV tables of columns and PNG figures, both written atomically."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

import numpy as np

from ._files import atomic_path
from ._optional import optional_import

__all__ = ["pyplot", "save_png", "write_columns"]


def write_columns(path: str | os.PathLike, columns: Mapping[str, np.ndarray]) -> None:
    """Write equally long ``columns`` (name -> values) as a CSV table with a header row."""
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(zip(*([f"{v:.8g}" for v in column] for column in columns.values())))


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (needs the optional matplotlib)."""
    matplotlib = optional_import("matplotlib", extra="plot")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_png(figure, path: str | os.PathLike) -> None:
    """Save ``figure`` as a PNG at ``path`` and close it."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    pyplot().close(figure)
