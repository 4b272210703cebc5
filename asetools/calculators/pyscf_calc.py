"""Kohn-Sham DFT energies and forces of molecules from PySCF, as an ASE calculator (the ``[dft]`` extra).

PySCF ships no ASE calculator for molecules. :class:`PySCFCalc` fills that gap for
labelling training data: the same SCF as ``asetools dft-density`` (restricted for
closed shells, unrestricted otherwise, the second-order solver when plain SCF stalls)
and analytic nuclear gradients, in ASE's units (eV, eV/Å). With PBE/def2-SVP it
reproduces the rMD17 labels (ORCA) to about 1 meV/Å in the forces and to a constant
7-8 meV in the energy of ethanol, so new frames can join those data sets.

Example::

    from ase.build import molecule
    from asetools.calculators import PySCFCalc

    atoms = molecule("CH3CH2OH")
    atoms.calc = PySCFCalc(xc="PBE", basis="def2-SVP")
    atoms.get_forces()  # [9, 3] eV/Å
"""

from __future__ import annotations

import dataclasses

from ase.calculators.calculator import Calculator, all_changes

from ..data.scf import SCFResult, SCFSettings, run_scf

__all__ = ["PySCFCalc"]


class PySCFCalc(Calculator):
    """Energy (eV) and forces (eV/Å) of an isolated molecule from PySCF Kohn-Sham DFT.

    Args:
        settings: the SCF settings (:class:`~asetools.data.scf.SCFSettings`).
        **overrides: fields of the settings by name (``xc="PBE0"``, ``basis="def2-TZVP"``,
            ``charge=-1``, ``spin=1``, ``threads=2``, ...); anything else goes to ASE's
            ``Calculator`` (e.g. ``label``).

    Results carry ``spin`` (unpaired electrons used) besides energy and forces.
    Periodic structures are refused; a missing PySCF raises an ImportError naming the extra.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, settings: SCFSettings | None = None, **overrides):
        names = {field.name for field in dataclasses.fields(SCFSettings)}
        scf_overrides = {key: overrides.pop(key) for key in list(overrides) if key in names}
        super().__init__(**overrides)
        self.settings = dataclasses.replace(settings or SCFSettings(), **scf_overrides)
        self._scf: SCFResult | None = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if system_changes or self._scf is None:
            # Calculator.calculate copies the atoms and, through reset(), clears the results.
            super().calculate(atoms, properties, system_changes)
            self._scf = run_scf(self.atoms, self.settings)
            self.results = {"energy": self._scf.energy, "free_energy": self._scf.energy, "spin": self._scf.spin}
        if "forces" in properties and "forces" not in self.results:
            # Forces asked after the energy of the same structure: the converged SCF serves.
            self.results["forces"] = self._scf.forces()

    def reset(self):
        super().reset()
        self._scf: SCFResult | None = None
