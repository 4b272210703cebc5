"""Analytic ASE calculators for the integrator tests: a stiff bond and a soft tail."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.md.velocitydistribution import Stationary, ZeroRotation

try:  # ASE ≥ 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

from asetools.calculators import MTSCalc


class CountingCalculator(Calculator):
    """Counts how often a model would run (one ``calculate`` call = one evaluation)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.evaluations = 0

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.evaluations += 1
        energy, forces = self.energy_and_forces(self.atoms.get_positions())
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


class HarmonicBonds(CountingCalculator):
    """E = Σ_bonds ½ k (r − r0)², in eV with k in eV/Å² and r0 in Å; no cell."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, bonds, k: float, r0: float, **kwargs):
        super().__init__(**kwargs)
        self.bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
        self.k, self.r0 = k, r0

    def energy_and_forces(self, positions):
        i, j = self.bonds.T
        vectors = positions[j] - positions[i]
        r = np.linalg.norm(vectors, axis=1)
        energy = 0.5 * self.k * np.sum((r - self.r0) ** 2)
        pull = (self.k * (r - self.r0) / r)[:, None] * vectors
        forces = np.zeros_like(positions)
        np.add.at(forces, i, pull)
        np.add.at(forces, j, -pull)
        return energy, forces


class LennardJonesTail(CountingCalculator):
    """E = Σ 4ε[(σ/r)¹² − (σ/r)⁶] over all pairs except the excluded ones; no cutoff, no cell."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, n_atoms: int, epsilon: float, sigma: float, exclude=(), **kwargs):
        super().__init__(**kwargs)
        i, j = np.triu_indices(n_atoms, k=1)
        excluded = {tuple(sorted(pair)) for pair in np.asarray(exclude, dtype=int).reshape(-1, 2).tolist()}
        keep = np.array([(a, b) not in excluded for a, b in zip(i.tolist(), j.tolist())], dtype=bool)
        self.i, self.j = i[keep], j[keep]
        self.epsilon, self.sigma = epsilon, sigma

    def energy_and_forces(self, positions):
        vectors = positions[self.j] - positions[self.i]
        r2 = np.sum(vectors**2, axis=1)
        s6 = (self.sigma**2 / r2) ** 3
        energy = 4 * self.epsilon * np.sum(s6**2 - s6)
        # dE/dr · (1/r): pull on i towards j when attractive.
        dE_over_r = 4 * self.epsilon * (-12 * s6**2 + 6 * s6) / r2
        pull = dE_over_r[:, None] * vectors
        forces = np.zeros_like(positions)
        np.add.at(forces, self.i, pull)
        np.add.at(forces, self.j, -pull)
        return energy, forces


class HarmonicTether(CountingCalculator):
    """E = Σ_atoms ½ k |r − r_anchor|²: independent 3D oscillators; no cell."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, anchors, k: float, **kwargs):
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, dtype=float)
        self.k = k

    def energy_and_forces(self, positions):
        displacement = positions - self.anchors
        return 0.5 * self.k * np.sum(displacement**2), -self.k * displacement


def diatomic_fluid(seed: int = 0, temperature_K: float = 300.0, k: float = 40.0) -> tuple[Atoms, MTSCalc]:
    """Eight molecules of two carbon-mass atoms: a stiff bond (fast) and an LJ tail between molecules (slow).

    The bond (k eV/Å², r0 = 1.2 Å, reduced mass 6 amu; period ≈ 24 fs at k = 40) is
    the fast part; a Lennard-Jones tail (ε = 0.02 eV, σ = 3 Å) between atoms of
    different molecules is the slow part.
    """
    rng = np.random.default_rng(seed)
    centres = 4.2 * np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
    axes = rng.normal(size=(8, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    positions = np.concatenate([centres - 0.6 * axes, centres + 0.6 * axes])
    positions += rng.normal(scale=0.03, size=positions.shape)
    bonds = np.stack([np.arange(8), np.arange(8) + 8], axis=1)
    atoms = Atoms("C16", positions=positions)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    calc = MTSCalc(
        HarmonicBonds(bonds, k=k, r0=1.2),
        LennardJonesTail(len(atoms), epsilon=0.02, sigma=3.0, exclude=bonds),
    )
    return atoms, calc
