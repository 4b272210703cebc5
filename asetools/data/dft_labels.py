"""Label molecules with DFT energies and forces (PySCF) into an extended-XYZ training file.

:func:`label_structures` runs the Kohn-Sham SCF of :mod:`asetools.data.scf` (the one
:class:`~asetools.calculators.PySCFCalc` runs) on every structure and writes them, with ``energy`` (eV) and ``forces`` (eV/Å) attached the way
``asetools train`` reads them, to one extended-XYZ file. Work is kept as it goes: the
frames done so far sit in ``<output>.partial`` (rewritten atomically after each
frame), and a rerun with the same structures continues from there. The output itself
appears, atomically, only when every frame is labelled.

Typical use: frames where a model misbehaves in MD (too-short contacts, stretched
bonds), labelled and added to its training set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from .._files import atomic_path
from .._optional import progress_bar
from .scf import SCFSettings, check_molecule, run_scf

__all__ = ["label_structures"]


def _bare(atoms: Atoms) -> Atoms:
    bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    bare.info.update({key: value for key, value in atoms.info.items() if np.isscalar(value)})
    return bare


def _check_resumable(done: list[Atoms], structures: Sequence[Atoms], partial: Path) -> None:
    if len(done) > len(structures):
        raise ValueError(f"{partial} holds {len(done)} frames but only {len(structures)} structures were given")
    for index, (labelled, structure) in enumerate(zip(done, structures)):
        same = np.array_equal(labelled.numbers, structure.numbers) and np.allclose(
            labelled.positions, structure.positions, atol=1e-6
        )
        if not same:
            raise ValueError(
                f"{partial} frame {index} is not structure {index} of this run: it comes from other inputs. "
                f"Delete {partial} to start over"
            )


def label_structures(
    structures: Sequence[Atoms],
    output: str | os.PathLike,
    settings: SCFSettings | None = None,
    progress: bool = True,
) -> list[Atoms]:
    """DFT energy and forces of each molecule, written to ``output`` (extended XYZ).

    Args:
        structures: isolated molecules (positions in Å).
        output: the labelled file to write.
        settings: functional, basis, charge, spin and SCF controls (default PBE/def2-SVP).
        progress: show a progress bar (tqdm, when installed).

    Returns:
        the labelled frames, each with a SinglePointCalculator (energy eV, forces eV/Å)
        and ``info["dft"]`` naming the method.

    Raises:
        ValueError: a periodic structure or NaN positions (before any calculation), or a
            ``<output>.partial`` file left by a run on other structures.
        RuntimeError: an SCF that does not converge (frames done so far are kept).
    """
    settings = settings or SCFSettings()
    for index, atoms in enumerate(structures):
        # Every structure is checked before the first (slow) calculation.
        try:
            check_molecule(atoms)
        except ValueError as error:
            raise ValueError(f"structure {index}: {error}") from None
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    done = ase.io.read(partial, ":", format="extxyz") if partial.is_file() else []
    _check_resumable(done, structures, partial)
    method = f"{settings.xc}/{settings.basis}"
    remaining = structures[len(done):]
    if progress:
        remaining = progress_bar(remaining, total=len(remaining), description=f"DFT {method}", unit="frame")
    for atoms in remaining:
        labelled = _bare(atoms)
        scf = run_scf(labelled, settings)
        labelled.calc = SinglePointCalculator(labelled, energy=scf.energy, forces=scf.forces())
        labelled.info["dft"] = method
        done.append(labelled)
        with atomic_path(partial) as temporary:
            ase.io.write(temporary, done, format="extxyz")
    with atomic_path(output) as temporary:
        ase.io.write(temporary, done, format="extxyz")
    partial.unlink(missing_ok=True)
    return done
