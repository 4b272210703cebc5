"""PySCF energies and forces: gradients, units, the rMD17 labels, resumable labelling and the CLI."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.units import Hartree

from asetools.cli import main
from asetools.data import read_labelled_frames
from asetools.testing import check_forces_fd

pytest.importorskip("pyscf")

from asetools.calculators import PySCFCalc  # noqa: E402
from asetools.data.dft_labels import label_structures  # noqa: E402
from asetools.data.scf import SCFSettings  # noqa: E402

ETHANOL = Path(__file__).resolve().parents[3] / "shared" / "data" / "botnet" / "ethanol" / "train.xyz"

FAST = dict(basis="sto-3g", conv_tol=1e-11)


def water(seed=1) -> Atoms:
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_forces_are_the_negative_gradient_of_the_energy():
    # Central differences of 1e-3 Å; the analytic gradient leaves out the (tiny) response of
    # the integration grid, hence the 1 meV/Å tolerance.
    check_forces_fd(PySCFCalc(**FAST), water(), delta=1e-3, atol=1e-3, rtol=1e-3, indices=[0])


def test_energy_in_ev_matches_pyscf_in_hartree():
    from pyscf import dft, gto

    atoms = water(seed=2)
    atoms.calc = PySCFCalc(**FAST)
    mol = gto.M(atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)], basis="sto-3g", verbose=0)
    solver = dft.RKS(mol)
    solver.xc = "PBE"
    solver.conv_tol = 1e-11
    assert atoms.get_potential_energy() == pytest.approx(solver.kernel() * Hartree, abs=1e-6)


def test_one_scf_serves_energy_then_forces(monkeypatch):
    from asetools.calculators import pyscf_calc

    calls = []
    real = pyscf_calc.run_scf

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyscf_calc, "run_scf", counting)
    atoms = water()
    atoms.calc = PySCFCalc(**FAST)
    atoms.get_potential_energy()
    atoms.get_forces()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert len(calls) == 2


def test_open_shell_and_overrides():
    calc = PySCFCalc(SCFSettings(basis="sto-3g"), xc="LDA", charge=0)
    assert calc.settings.xc == "LDA" and calc.settings.basis == "sto-3g"
    oh = Atoms("OH", positions=[[0, 0, 0], [0.97, 0, 0]])
    oh.calc = PySCFCalc(**FAST)
    forces = oh.get_forces()
    assert oh.calc.results["spin"] == 1
    # Newton's third law up to the atom-centred integration grid (1e-4 of a 5 eV/Å force).
    assert np.abs(forces).max() > 1.0
    assert np.allclose(forces.sum(axis=0), 0.0, atol=1e-3), "momentum conservation"


def test_periodic_structures_are_refused():
    atoms = water()
    atoms.cell = [8, 8, 8]
    atoms.pbc = True
    atoms.calc = PySCFCalc(**FAST)
    with pytest.raises(ValueError, match="periodic"):
        atoms.get_potential_energy()


@pytest.mark.skipif(not ETHANOL.is_file(), reason="needs ../shared/data/botnet")
def test_reproduces_the_rmd17_pbe_def2svp_labels():
    reference = ase.io.read(ETHANOL, index=0)
    atoms = Atoms(numbers=reference.numbers, positions=reference.positions)
    atoms.calc = PySCFCalc(xc="PBE", basis="def2-SVP", conv_tol=1e-10)
    forces = atoms.get_forces()
    # ORCA (rMD17) and PySCF differ in grids and SCF details: about 1 meV/Å in the forces
    # and a near-constant 7-8 meV in the energy.
    assert np.abs(forces - reference.get_forces()).mean() < 3e-3
    assert abs(atoms.get_potential_energy() - reference.get_potential_energy()) < 0.02


def test_labelled_file_trains_and_resumes(tmp_path, monkeypatch):
    structures = [water(seed) for seed in range(3)]
    output = tmp_path / "labelled.xyz"
    from asetools.data import dft_labels

    # First run dies after two frames: the partial file keeps them.
    original = dft_labels.SinglePointCalculator
    made = []

    def failing(*args, **kwargs):
        if len(made) == 2:
            raise RuntimeError("killed")
        made.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(dft_labels, "SinglePointCalculator", failing)
    with pytest.raises(RuntimeError, match="killed"):
        label_structures(structures, output, SCFSettings(**FAST), progress=False)
    assert not output.exists()
    assert len(ase.io.read(tmp_path / "labelled.xyz.partial", ":", format="extxyz")) == 2
    monkeypatch.setattr(dft_labels, "SinglePointCalculator", original)

    calls = []
    real = dft_labels.run_scf

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dft_labels, "run_scf", counting)
    frames = label_structures(structures, output, SCFSettings(**FAST), progress=False)
    assert len(frames) == 3 and output.is_file() and not (tmp_path / "labelled.xyz.partial").exists()
    assert 1 <= len(calls) <= 2, "only the third frame is computed again (energy, then forces)"
    labelled = read_labelled_frames(str(output))
    assert len(labelled) == 3
    fresh = structures[2].copy()
    fresh.calc = PySCFCalc(**FAST)
    assert labelled[2].energy == pytest.approx(fresh.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(labelled[2].forces, fresh.get_forces(), atol=1e-6)


def test_partial_file_from_other_structures_is_refused(tmp_path):
    output = tmp_path / "labelled.xyz"
    label_structures([water(0)], output, SCFSettings(**FAST), progress=False)
    output.rename(tmp_path / "labelled.xyz.partial")
    with pytest.raises(ValueError, match="other inputs"):
        label_structures([water(5)], output, SCFSettings(**FAST), progress=False)


def test_cli(tmp_path, capsys):
    source = tmp_path / "in.xyz"
    ase.io.write(source, [water(0), water(1)])
    output = tmp_path / "out.xyz"
    assert main(["dft-label", str(source), "-o", str(output), "--basis", "sto-3g", "--index", "1:"]) == 0
    assert "1 structures (PBE/sto-3g)" in capsys.readouterr().out
    frames = ase.io.read(output, ":")
    assert len(frames) == 1 and frames[0].info["dft"] == "PBE/sto-3g"
    np.testing.assert_allclose(frames[0].positions, water(1).positions, atol=1e-8)
