"""A small built-in data set: fcc copper labelled with ASE's EMT potential."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary
from ase.units import fs

__all__ = ["LIQUID_COPPER_DENSITY", "emt_copper_dataset", "emt_liquid_copper", "emt_liquid_copper_dataset"]

#: Number density of liquid copper near 1500 K in atoms/Å³ (7.9 g/cm³).
LIQUID_COPPER_DENSITY = 0.0747


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
        frames.append(_labelled_with_emt(atoms))
    return frames


def _labelled_with_emt(atoms: Atoms) -> Atoms:
    """Attach the EMT energy, forces and stress of ``atoms`` as a :class:`SinglePointCalculator`; returns ``atoms``."""
    atoms.calc = EMT()
    results = {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces(),
        "stress": atoms.get_stress(),
    }
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _langevin(atoms: Atoms, temperature_K: float, timestep_fs: float, rng: np.random.Generator) -> Langevin:
    """ASE's Langevin thermostat with a 100 fs velocity relaxation time."""
    return Langevin(atoms, timestep_fs * fs, temperature_K=temperature_K, friction=0.01 / fs, fixcm=False, rng=rng)


def emt_liquid_copper(
    repeat: int = 3,
    temperature_K: float = 1500.0,
    number_density: float = LIQUID_COPPER_DENSITY,
    melt_temperature_K: float = 3000.0,
    equilibration_ps: float = 2.0,
    timestep_fs: float = 5.0,
    seed: int = 0,
) -> Atoms:
    """Liquid copper equilibrated with ASE's EMT at constant volume.

    A cubic fcc cell of ``4 * repeat**3`` atoms is scaled to ``number_density``,
    melted by 1 ps of Langevin dynamics at ``melt_temperature_K`` and equilibrated at
    ``temperature_K`` for ``equilibration_ps``. The result has positions (Å, wrapped
    into the cell), momenta at ``temperature_K`` with no centre-of-mass motion, and an
    ``EMT`` calculator attached.

    Args:
        repeat: repetitions of the 4-atom cubic cell along each axis (3: 108 atoms, 4: 256).
        temperature_K: temperature of the liquid.
        number_density: atoms per Å³ (default: the experimental density near 1500 K).
        melt_temperature_K: temperature of the melting run.
        equilibration_ps: length of the run at ``temperature_K``.
        timestep_fs: Langevin time step (EMT copper stays stable well beyond 5 fs).
        seed: random seed; the same seed gives the same liquid.
    """
    if repeat < 1 or number_density <= 0 or temperature_K <= 0 or melt_temperature_K <= 0:
        raise ValueError("repeat, number_density and the temperatures must be positive")
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    side = (len(atoms) / number_density) ** (1.0 / 3.0)
    atoms.set_cell(np.eye(3) * side, scale_atoms=True)
    atoms.calc = EMT()
    steps_per_ps = max(1, round(1000.0 / timestep_fs))
    _langevin(atoms, melt_temperature_K, timestep_fs, rng).run(steps_per_ps)
    _langevin(atoms, temperature_K, timestep_fs, rng).run(max(1, round(equilibration_ps * steps_per_ps)))
    Stationary(atoms)
    atoms.wrap()
    return atoms


def emt_liquid_copper_dataset(
    num_structures: int = 200,
    repeat: int = 3,
    temperatures_K: tuple[float, ...] = (1200.0, 1500.0, 1800.0),
    interval_fs: float = 100.0,
    number_density: float = LIQUID_COPPER_DENSITY,
    equilibration_ps: float = 1.0,
    timestep_fs: float = 5.0,
    seed: int = 0,
) -> list[Atoms]:
    """Snapshots of liquid copper along EMT Langevin runs, labelled with EMT.

    The structures are shared out evenly over ``temperatures_K``; for each temperature
    a liquid is prepared with :func:`emt_liquid_copper` and sampled every
    ``interval_fs``. Labels (``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³) are
    attached as a :class:`SinglePointCalculator`, as ``ase.io.read`` gives them for
    an extxyz file.

    Args:
        num_structures: how many snapshots in all.
        repeat: cell size, ``4 * repeat**3`` atoms.
        temperatures_K: temperatures to sample; several give a margin around the
            temperature a model trained on them will be run at.
        interval_fs: time between snapshots of one run.
        number_density: atoms per Å³.
        equilibration_ps: equilibration at each temperature before sampling.
        timestep_fs: Langevin time step.
        seed: random seed; the same seed gives the same data set.
    """
    if num_structures < 1 or not temperatures_K or interval_fs <= 0:
        raise ValueError("num_structures, temperatures_K and interval_fs must be positive and non-empty")
    frames = []
    counts = np.diff(np.linspace(0, num_structures, len(temperatures_K) + 1).round().astype(int))
    for index, (temperature, count) in enumerate(zip(temperatures_K, counts)):
        atoms = emt_liquid_copper(
            repeat, temperature, number_density, equilibration_ps, timestep_fs=timestep_fs, seed=seed + index
        )
        dynamics = _langevin(atoms, temperature, timestep_fs, np.random.default_rng([seed, index]))
        for _ in range(count):
            dynamics.run(max(1, round(interval_fs / timestep_fs)))
            snapshot = atoms.copy()
            snapshot.wrap()
            frames.append(_labelled_with_emt(snapshot))
    return frames
