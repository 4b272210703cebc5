"""A small built-in data set: fcc copper labelled with ASE's EMT potential."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["emt_copper_dataset"]


def emt_copper_dataset(
    num_structures: int = 100,
    repeat: tuple[int, int, int] = (2, 2, 2),
    max_strain: float = 0.04,
    rattle: tuple[float, float] = (0.01, 0.08),
    seed: int = 0,
) -> list[Atoms]:
    """Rattled and strained fcc Cu cells with EMT energies, forces and stresses.

    Each structure is the cubic fcc cell (a = 3.61 Å) repeated ``repeat`` times,
    deformed by a random symmetric strain with components up to ``max_strain``, and
    rattled with a Gaussian displacement whose width is drawn uniformly from
    ``rattle`` (Å). Labels are attached as a :class:`SinglePointCalculator`
    (``energy`` in eV, ``forces`` in eV/Å, ``stress`` in eV/Å³), as ``ase.io.read``
    gives them for an extxyz file.

    Args:
        num_structures: how many structures.
        repeat: repetitions of the 4-atom cubic cell.
        max_strain: largest absolute strain component.
        rattle: range of displacement widths in Å.
        seed: random seed; the same seed gives the same data set.
    """
    rng = np.random.default_rng(seed)
    template = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    frames = []
    for _ in range(num_structures):
        atoms = template.copy()
        strain = rng.uniform(-max_strain, max_strain, size=(3, 3))
        strain = 0.5 * (strain + strain.T)
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        atoms.positions += rng.normal(scale=rng.uniform(*rattle), size=atoms.positions.shape)
        atoms.wrap()
        atoms.calc = EMT()
        results = {
            "energy": atoms.get_potential_energy(),
            "forces": atoms.get_forces(),
            "stress": atoms.get_stress(),
        }
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    return frames
