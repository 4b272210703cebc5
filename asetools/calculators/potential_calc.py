"""PotentialCalc: the one ASE calculator over any asetools energy model."""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .. import allocator
from ..checkpoint import load_potential
from ..graph import MIN_DISTANCE, AtomicGraph, build_graph
from ..models import EnergyModel, Potential
from ._state import QuickStateCheck

__all__ = ["PotentialCalc"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


class PotentialCalc(QuickStateCheck, Calculator):
    """ASE calculator for any asetools energy model.

    Results: ``energy`` and ``free_energy`` (eV), ``energies`` (per atom, eV),
    ``forces`` (eV/Å), and ``stress`` (eV/Å³, Voigt order xx yy zz yz xz xy, ASE
    sign) when the cell is three-dimensional. Structures without a 3D cell have
    no stress, and asking for it raises ASE's ``PropertyNotImplementedError``.

    When the checkpoint carries a fitted single-model uncertainty
    (``asetools fit-uncertainty``), every calculation also gives, from the same
    model evaluation:

    - ``energies_uncertainty``: ``[N]`` per-atom score, the negative log-likelihood of
      the atom's latent features under the mixture fitted to the training set
      (dimensionless; higher means less like the training data);
    - ``uncertainty``: the structure's score, the largest per-atom score;
    - ``uncertainty_mean``: the mean per-atom score;
    - if the uncertainty was calibrated on validation data, ``atom_force_uncertainty``
      (``[N]``, the expected norm of each atom's force error in eV/Å) and
      ``force_uncertainty`` (its largest value, eV/Å).

    Read them with ``calc.results[...]`` or ``calc.get_property(name, atoms)``.

    Args:
        model: an :class:`~asetools.models.EnergyModel`, a
            :class:`~asetools.models.Potential`, or the path of a checkpoint. A model
            object is copied, so the calculator never changes the caller's model.
        device: torch device to evaluate on (``"cpu"``, ``"cuda"``, ...).
        dtype: ``"float32"`` (fast) or ``"float64"`` (for gradient checks and tight
            energy conservation).
        min_distance: raise if two atoms come closer than this many Å.
        edges_per_block: strictly local models are evaluated in blocks of centre atoms
            with at most this many edges each; peak memory grows with it, not with the
            number of atoms (see :class:`~asetools.models.Potential`). ``None`` keeps
            the model's setting (a :class:`~asetools.models.Potential` passed in) or
            the default.
        max_memory: a memory budget for one evaluation (bytes, ``"4 GiB"``, or
            ``"auto"`` for 90% of what the device has free): blocks shrink below
            ``edges_per_block`` when needed to fit, and a system that cannot fit
            raises a MemoryError saying how much it needs, before any large
            allocation. ``None`` keeps the model's setting (default: no budget).
        tune_allocator: on CPU, let glibc keep freed memory for reuse between steps
            (:func:`asetools.allocator.tune_allocator`; process-wide, 10-30% faster).
        uncertainty: give the uncertainty results when the model has a fitted
            uncertainty (``False`` skips them).
        compile: evaluate the model through ``torch.compile`` (strictly local models;
            see :class:`~asetools.models.Potential`): the first force call compiles
            for tens of seconds, after which MD ran 1.3-1.5× faster on a CPU
            (``benchmarks/RESULTS.md``). ``None`` keeps the setting of a Potential passed
            in (default off).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    #: The model class this calculator accepts; subclasses for one model narrow it.
    model_class: type[EnergyModel] = EnergyModel

    def __init__(
        self,
        model: EnergyModel | Potential | str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        min_distance: float | None = MIN_DISTANCE,
        edges_per_block: int | None = None,
        max_memory: int | str | None = None,
        tune_allocator: bool = True,
        uncertainty: bool = True,
        compile: bool | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        source = "the model"
        if isinstance(model, (str, os.PathLike)):
            source = f"the checkpoint {os.fspath(model)!r}"
            model = load_potential(model)
        elif isinstance(model, torch.nn.Module):
            model = copy.deepcopy(model)
        else:
            raise TypeError(
                f"{type(self).__name__} needs a model, a Potential or a checkpoint path, got {type(model).__name__}"
            )
        potential = model if isinstance(model, Potential) else Potential(model)
        if not isinstance(potential.model, self.model_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.model_class.__name__} model, but {source} is a "
                f"{type(potential.model).__name__}; use asetools.calculators.PotentialCalc for other models"
            )
        self.device = torch.device(device)
        self.dtype = parse_dtype(dtype)
        self.min_distance = min_distance
        if edges_per_block is not None or max_memory is not None or compile is not None:
            potential = Potential(
                potential.model,
                edges_per_block=potential.edges_per_block if edges_per_block is None else edges_per_block,
                uncertainty=potential.uncertainty,
                max_memory=potential.max_memory if max_memory is None else max_memory,
                compile=potential.compile if compile is None else compile,
            )
        self.potential = potential.to(device=self.device, dtype=self.dtype).eval()
        for parameter in self.potential.parameters():
            parameter.requires_grad_(False)
        if tune_allocator and self.device.type == "cpu":
            allocator.tune_allocator()
        self.with_uncertainty = bool(uncertainty) and self.potential.uncertainty is not None
        if self.with_uncertainty:
            extra = ["energies_uncertainty", "uncertainty", "uncertainty_mean"]
            if self.potential.uncertainty.calibrated:
                extra += ["atom_force_uncertainty", "force_uncertainty"]
            self.implemented_properties = [*type(self).implemented_properties, *extra]

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs) -> PotentialCalc:
        """Load the model in the checkpoint at ``path`` and wrap it in a calculator."""
        return cls(os.fspath(path), **kwargs)

    @property
    def model(self) -> EnergyModel:
        """The energy model this calculator evaluates."""
        return self.potential.model

    @property
    def species(self) -> list[str]:
        return self.potential.species

    @property
    def cutoff(self) -> float:
        return self.potential.cutoff

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties or ["energy"], system_changes)
        # Stress is only computed when asked for (MD and most optimisers need forces only).
        wants_stress = self.atoms.cell.rank == 3 and "stress" in (properties or ())
        self.results = self.evaluate(self.graph(self.atoms), wants_stress)

    def graph(self, atoms) -> AtomicGraph:
        """The neighbour graph of ``atoms`` this calculator's model needs (its cutoff, dtype and device)."""
        return build_graph(
            atoms, self.cutoff, self.species, dtype=self.dtype, device=self.device, min_distance=self.min_distance
        )

    def evaluate(self, graph: AtomicGraph, stress: bool = False) -> dict:
        """ASE results (NumPy, float64) of the model on a one-structure ``graph``; stress in Voigt order if asked for."""
        output = self.potential(graph, compute_forces=True, compute_stress=stress, compute_uncertainty=self.with_uncertainty)
        energy = float(output.energy.detach()[0])
        results = {
            "energy": energy,
            "free_energy": energy,
            "energies": _numpy(output.atom_energies),
            "forces": _numpy(output.forces),
        }
        if stress:
            results["stress"] = full_3x3_to_voigt_6_stress(_numpy(output.stress[0]))
        if self.with_uncertainty:
            errors = None if output.atom_force_uncertainty is None else _numpy(output.atom_force_uncertainty)
            scores = _numpy(output.atom_uncertainty)
            results["energies_uncertainty"] = scores
            results.update(uncertainty_summary(scores, errors))
        return results


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


def uncertainty_summary(atom_scores: np.ndarray, atom_force_errors: np.ndarray | None) -> dict[str, object]:
    """The per-structure uncertainty results from per-atom ``[N]`` scores and force errors (eV/Å).

    ``uncertainty`` and ``uncertainty_mean`` are the largest and the mean score (0 without
    atoms); with force errors, ``atom_force_uncertainty`` holds them and
    ``force_uncertainty`` is the largest.
    """
    results = {
        "uncertainty": float(atom_scores.max()) if atom_scores.size else 0.0,
        "uncertainty_mean": float(atom_scores.mean()) if atom_scores.size else 0.0,
    }
    if atom_force_errors is not None:
        results["atom_force_uncertainty"] = atom_force_errors
        results["force_uncertainty"] = float(atom_force_errors.max()) if atom_force_errors.size else 0.0
    return results
