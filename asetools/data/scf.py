"""Kohn-Sham DFT of molecules with PySCF (the optional ``[dft]`` extra): the one SCF every asetools DFT label uses.

:func:`run_scf` converges restricted (closed shells) or unrestricted Kohn-Sham DFT for an isolated
molecule, with the second-order solver when plain SCF stalls; :class:`SCFSettings` says how. The
energy labels of :func:`asetools.data.dft_labels.label_structures`, the calculator
:class:`~asetools.calculators.PySCFCalc` and the reference densities of :mod:`asetools.density.dft`
all come from it. Positions are in Å and energies in eV at the interface; PySCF's Bohr and Hartree
stay inside.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from ase import Atoms
from ase.units import Bohr, Hartree

from .._optional import optional_import

__all__ = ["SCFResult", "SCFSettings", "check_molecule", "run_scf"]


@dataclasses.dataclass
class SCFSettings:
    """How one Kohn-Sham calculation is run (shared by the density generator and :class:`PySCFCalc`).

    Attributes:
        xc: exchange-correlation functional, as PySCF names it (``PBE``, ``B3LYP``, ``PBE0``, ...).
        basis: Gaussian basis set, as PySCF names it (``def2-SVP``, ``cc-pVDZ``, ...).
        charge: total charge of every molecule, e.
        spin: number of unpaired electrons (2S). None takes the sum of the structure's initial
            magnetic moments when they are set (ASE's G2 radicals carry them), else 0 or 1 by the
            parity of the electron count.
        grid_level: PySCF's quadrature level for the exchange-correlation integrals (0-9).
        conv_tol: SCF convergence threshold on the energy, Hartree.
        max_cycle: SCF iterations before the second-order solver is tried.
        threads: OpenMP threads for PySCF (None leaves PySCF's default).
        max_memory_mb: memory PySCF may use, MB.
    """

    xc: str = "PBE"
    basis: str = "def2-SVP"
    charge: int = 0
    spin: int | None = None
    grid_level: int = 3
    conv_tol: float = 1e-9
    max_cycle: int = 100
    threads: int | None = None
    max_memory_mb: int = 4000

    def __post_init__(self) -> None:
        if self.spin is not None and self.spin < 0:
            raise ValueError(f"spin is the number of unpaired electrons and must be >= 0, got {self.spin}")
        if not 0 <= self.grid_level <= 9:
            raise ValueError(f"grid_level must be between 0 and 9, got {self.grid_level}")
        if not self.conv_tol > 0:
            raise ValueError(f"conv_tol must be positive (Hartree), got {self.conv_tol}")


@dataclasses.dataclass(frozen=True, eq=False)
class SCFResult:
    """A converged Kohn-Sham calculation.

    Attributes:
        solver: PySCF's converged mean-field object (``solver.mol`` is the molecule, in Bohr inside).
        energy: total energy, eV.
        spin: unpaired electrons used.
    """

    solver: Any
    energy: float
    spin: int

    def forces(self) -> np.ndarray:
        """Analytic forces ``[N, 3]`` (eV/Å): the negative nuclear gradient of the converged SCF."""
        gradient = self.solver.nuc_grad_method().kernel()  # [N, 3] Hartree/Bohr
        return -np.asarray(gradient) * (Hartree / Bohr)


def run_scf(atoms: Atoms, settings: SCFSettings, name: str | None = None) -> SCFResult:
    """Converge restricted (closed shell) or unrestricted Kohn-Sham DFT for a molecule with PySCF.

    Args:
        atoms: the molecule (positions in Å). Periodic structures are refused.
        settings: functional, basis, charge, spin and SCF controls.
        name: what to call the molecule in messages (default: its formula).

    Raises:
        ImportError: PySCF is not installed (``pip install 'asetools[dft]'``).
        ValueError: a periodic structure, non-finite positions, or a charge/spin the electrons
            cannot have.
        RuntimeError: the SCF did not converge, even with the second-order solver.
    """
    check_molecule(atoms)
    gto = optional_import("pyscf.gto", extra="dft")
    dft = optional_import("pyscf.dft", extra="dft")
    lib = optional_import("pyscf.lib", extra="dft")
    if settings.threads is not None:
        lib.num_threads(settings.threads)
    spin = _spin_of(atoms, settings)
    mol = gto.M(
        atom=[(int(z), tuple(float(x) for x in position)) for z, position in zip(atoms.numbers, atoms.positions)],
        unit="Angstrom",
        basis=settings.basis,
        charge=settings.charge,
        spin=spin,
        verbose=0,
        max_memory=settings.max_memory_mb,
    )
    solver = dft.RKS(mol) if spin == 0 else dft.UKS(mol)
    solver.xc = settings.xc
    solver.grids.level = settings.grid_level
    solver.conv_tol = settings.conv_tol
    solver.max_cycle = settings.max_cycle
    energy = solver.kernel()
    if not solver.converged:
        solver = solver.newton()
        energy = solver.kernel(solver.make_rdm1())
    if not solver.converged:
        raise RuntimeError(
            f"the SCF of {name or atoms.get_chemical_formula()} ({settings.xc}/{settings.basis}, spin {spin}) did "
            f"not converge in {settings.max_cycle} iterations, nor with the second-order solver; check the "
            "geometry, charge and spin, or raise max_cycle"
        )
    return SCFResult(solver=solver, energy=float(energy) * Hartree, spin=spin)


def check_molecule(atoms: Atoms) -> None:
    """Raise ``ValueError`` unless ``atoms`` is a non-empty, non-periodic molecule with finite positions."""
    if len(atoms) == 0:
        raise ValueError("the structure has no atoms")
    if atoms.pbc.any():
        raise ValueError(
            f"{atoms.get_chemical_formula()} is periodic (pbc={atoms.pbc.tolist()}); asetools runs PySCF "
            "for molecules only. Set atoms.pbc = False for an isolated molecule, or read densities of crystals "
            "from VASP CHGCAR files"
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"{atoms.get_chemical_formula()} has NaN or infinite positions")


def _spin_of(atoms: Atoms, config: SCFSettings) -> int:
    """Unpaired electrons: the configured value, the initial magnetic moments, or the parity."""
    electrons = int(atoms.numbers.sum()) - config.charge
    if electrons < 1:
        raise ValueError(f"{atoms.get_chemical_formula()} with charge {config.charge} has no electrons")
    if config.spin is not None:
        spin = config.spin
    elif atoms.has("initial_magmoms"):
        spin = int(round(abs(float(atoms.get_initial_magnetic_moments().sum()))))
    else:
        spin = electrons % 2
    if spin % 2 != electrons % 2 or spin > electrons:
        raise ValueError(
            f"{atoms.get_chemical_formula()} with charge {config.charge} has {electrons} electrons, which "
            f"cannot have {spin} unpaired; set spin (2S) to a value of the same parity"
        )
    return spin
