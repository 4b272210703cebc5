"""PotentialCalc: the one ASE calculator over any asetools energy model."""

from __future__ import annotations

import copy
import os

import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .. import allocator
from ..checkpoint import load_potential
from ..graph import MIN_DISTANCE, build_graph
from ..models import EnergyModel, Potential

__all__ = ["PotentialCalc"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


class PotentialCalc(Calculator):
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
        tune_allocator: on CPU, let glibc keep freed memory for reuse between steps
            (:func:`asetools.allocator.tune_allocator`; process-wide, 10-30% faster).
        uncertainty: give the uncertainty results when the model has a fitted
            uncertainty (``False`` skips them).
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
        tune_allocator: bool = True,
        uncertainty: bool = True,
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
        self.dtype = _parse_dtype(dtype)
        self.min_distance = min_distance
        if edges_per_block is not None:
            potential = Potential(potential.model, edges_per_block=edges_per_block, uncertainty=potential.uncertainty)
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
        graph = build_graph(
            self.atoms,
            self.cutoff,
            self.species,
            dtype=self.dtype,
            device=self.device,
            min_distance=self.min_distance,
        )
        # Stress is only computed when asked for (MD and most optimisers need forces only).
        has_cell = self.atoms.cell.rank == 3
        wants_stress = has_cell and "stress" in (properties or ())
        output = self.potential(
            graph, compute_forces=True, compute_stress=wants_stress, compute_uncertainty=self.with_uncertainty
        )
        energy = float(output.energy.detach()[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": output.atom_energies.detach().cpu().double().numpy(),
            "forces": output.forces.detach().cpu().double().numpy(),
        }
        if wants_stress:
            stress = output.stress[0].detach().cpu().double().numpy()
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
        if self.with_uncertainty:
            self._store_uncertainty(output)

    def _store_uncertainty(self, output) -> None:
        scores = output.atom_uncertainty.detach().cpu().double().numpy()
        self.results["energies_uncertainty"] = scores
        self.results["uncertainty"] = float(scores.max()) if scores.size else 0.0
        self.results["uncertainty_mean"] = float(scores.mean()) if scores.size else 0.0
        if output.atom_force_uncertainty is not None:
            errors = output.atom_force_uncertainty.detach().cpu().double().numpy()
            self.results["atom_force_uncertainty"] = errors
            self.results["force_uncertainty"] = float(errors.max()) if errors.size else 0.0
