"""Run logs: the per-epoch metrics as CSV and the learning curves as a PNG."""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Sequence

from .._files import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["CSV_COLUMNS", "write_history_csv", "write_metrics_csv", "write_learning_curves"]

#: CSV column -> (history key, factor from the history's eV-based unit).
CSV_COLUMNS = {
    "epoch": ("epoch", 1),
    "train_loss": ("train_loss", 1.0),
    "validation_loss": ("validation_loss", 1.0),
    "energy_mae_meV_per_atom": ("energy_mae", 1e3),
    "energy_rmse_meV_per_atom": ("energy_rmse", 1e3),
    "force_mae_meV_per_A": ("force_mae", 1e3),
    "force_rmse_meV_per_A": ("force_rmse", 1e3),
    "stress_mae_meV_per_A3": ("stress_mae", 1e3),
    "learning_rate": ("learning_rate", 1.0),
    "seconds": ("seconds", 1.0),
}

#: Columns written when the history has them (co-training runs).
OPTIONAL_CSV_COLUMNS = {
    "fast_force_mae_meV_per_A": ("fast_force_mae", 1e3),
    "fast_force_rmse_meV_per_A": ("fast_force_rmse", 1e3),
    "slow_force_rms_meV_per_A": ("slow_force_rms", 1e3),
}


def write_metrics_csv(history: Sequence[dict[str, float]], path: str | os.PathLike) -> None:
    """Write one row per epoch of an energy run (validation errors in meV units), atomically."""
    columns = dict(CSV_COLUMNS)
    if history:
        columns.update({name: spec for name, spec in OPTIONAL_CSV_COLUMNS.items() if spec[0] in history[0]})
    write_history_csv(history, path, columns)


def write_history_csv(
    history: Sequence[dict[str, float]],
    path: str | os.PathLike,
    columns: dict[str, tuple[str, float]],
    line_end: str = "\r\n",
) -> None:
    """Write a training history as CSV, one row per record, atomically.

    Args:
        history: one dict per epoch (or other step), keyed by quantity.
        path: the CSV file.
        columns: CSV column -> (history key, factor the value is multiplied by), in column order.
            The ``epoch`` key is written as it is, every other value to six significant digits,
            and a key a record lacks (a quantity not measured that epoch) as an empty field.
        line_end: what ends each line (by default the csv module's, carriage return and line feed).
    """
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=line_end)
        writer.writerow(columns)
        for record in history:
            row = []
            for key, factor in columns.values():
                if key not in record:
                    row.append("")
                    continue
                value = record[key] * factor
                row.append(value if key == "epoch" else f"{value:.6g}")
            writer.writerow(row)


def write_learning_curves(history: Sequence[dict[str, float]], path: str | os.PathLike) -> bool:
    """Plot losses, validation errors and learning rate against epoch into a PNG.

    Returns False (and logs why) when matplotlib is not installed or there is nothing to plot.
    """
    if not history:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed, so no learning-curve plot; pip install 'asetools[plot]'")
        return False
    epochs = [r["epoch"] for r in history]
    figure, (losses, errors, rates) = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    losses.semilogy(epochs, [r["train_loss"] for r in history], label="training")
    losses.semilogy(epochs, [r["validation_loss"] for r in history], label="validation")
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    losses.legend()
    errors.semilogy(epochs, [1e3 * r["force_mae"] for r in history], label="force MAE (meV/Å)")
    errors.semilogy(epochs, [1e3 * r["energy_mae"] for r in history], label="energy MAE (meV/atom)")
    if any(not math.isnan(r["stress_mae"]) for r in history):
        errors.semilogy(epochs, [1e3 * r["stress_mae"] for r in history], label="stress MAE (meV/Å³)")
    if "fast_force_mae" in history[0]:
        errors.semilogy(epochs, [1e3 * r["fast_force_mae"] for r in history], "--", label="fast model force MAE (meV/Å)")
        errors.semilogy(epochs, [1e3 * r["slow_force_rms"] for r in history], ":", label="slow force RMS (meV/Å)")
    errors.set(xlabel="epoch", title="validation errors")
    errors.legend()
    rates.semilogy(epochs, [r["learning_rate"] for r in history])
    rates.set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return True
