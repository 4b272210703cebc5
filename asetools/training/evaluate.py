"""Evaluate a trained model on a labelled data file, and write its predictions as extxyz."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from .._files import atomic_path
from ..data.frames import LabelledFrame
from ..models import EnergyModel, Potential
from .metrics import ErrorMetrics, Predictions, evaluate_errors, predict_samples
from .samples import make_samples

__all__ = ["evaluate_model", "write_predictions", "format_report"]


def evaluate_model(
    model: EnergyModel,
    frames: Sequence[LabelledFrame],
    batch_size: int = 16,
    dtype: str = "float32",
    device: str = "cpu",
) -> tuple[ErrorMetrics, Predictions]:
    """Errors and predictions of ``model`` on ``frames`` (stresses where the frames have them)."""
    torch_dtype = getattr(torch, dtype)
    model = model.to(device=device, dtype=torch_dtype).eval()
    samples = make_samples(frames, model.cutoff, model.species, torch_dtype, device)
    potential = Potential(model)
    with_stress = any(frame.stress is not None for frame in frames)
    predictions = predict_samples(potential, samples, batch_size, compute_stress=with_stress)
    return evaluate_errors(potential, samples, batch_size, predictions), predictions


def write_predictions(frames: Sequence[LabelledFrame], predictions: Predictions, path: str | os.PathLike) -> None:
    """Write extxyz frames whose calculator results are the predictions.

    The references are kept as ``REF_energy`` (info), ``REF_forces`` (arrays) and
    ``REF_stress`` (info, Voigt), so ``ase.io.read`` gives predictions through
    ``get_potential_energy()``/``get_forces()`` and references through the ``REF_`` keys.
    """
    import ase.io

    written = []
    for index, frame in enumerate(frames):
        atoms: Atoms = frame.atoms.copy()
        atoms.info["REF_energy"] = frame.energy
        atoms.arrays["REF_forces"] = frame.forces.copy()
        results = {"energy": float(predictions.energies[index]), "forces": predictions.forces[index]}
        if frame.stress is not None:
            atoms.info["REF_stress"] = full_3x3_to_voigt_6_stress(frame.stress)
            results["stress"] = full_3x3_to_voigt_6_stress(predictions.stresses[index])
        atoms.calc = SinglePointCalculator(atoms, **results)
        written.append(atoms)
    with atomic_path(path) as temporary:
        ase.io.write(temporary, written, format="extxyz")


def format_report(metrics: ErrorMetrics) -> str:
    """A plain-text table of the errors in meV units."""
    lines = [
        f"structures            {metrics.num_structures}",
        f"energy  MAE  {1e3 * metrics.energy_mae:10.3f} meV/atom   RMSE {1e3 * metrics.energy_rmse:10.3f} meV/atom",
        f"forces  MAE  {1e3 * metrics.force_mae:10.3f} meV/Å      RMSE {1e3 * metrics.force_rmse:10.3f} meV/Å",
    ]
    if metrics.stress_mae is not None:
        lines.append(
            f"stress  MAE  {1e3 * metrics.stress_mae:10.4f} meV/Å³     RMSE {1e3 * metrics.stress_rmse:10.4f} meV/Å³"
        )
    for element, mae in metrics.per_element_force_mae.items():
        rmse = metrics.per_element_force_rmse[element]
        lines.append(f"forces on {element:<3} MAE {1e3 * mae:10.3f} meV/Å      RMSE {1e3 * rmse:10.3f} meV/Å")
    return "\n".join(lines)
