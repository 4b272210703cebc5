"""Potential: forces and stress by autograd, for single structures and batches."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from asetools.calculators import PotentialCalc
from asetools.graph import build_graph
from asetools.models import LennardJones, Potential
from asetools.testing import check_forces_fd, check_invariance, check_stress_fd
from tests.conftest import ARGON, argon_cluster, rattled_argon, triclinic_argon


@pytest.fixture
def calc():
    return PotentialCalc(LennardJones(species=["Ar"], smooth=True, **ARGON), dtype="float64")


@pytest.mark.parametrize("make", [rattled_argon, triclinic_argon, argon_cluster])
def test_forces_are_minus_the_energy_gradient(calc, make):
    error = check_forces_fd(calc, make(), delta=1e-5, atol=1e-7)
    assert error < 1e-7


@pytest.mark.parametrize("make", [rattled_argon, triclinic_argon])
def test_stress_is_the_strain_derivative(calc, make):
    atoms = make()
    atoms.set_cell(atoms.cell.array * 0.97, scale_atoms=True)  # compressed: sizeable stress
    assert check_stress_fd(calc, atoms, atol=1e-9) < 1e-9
    atoms.calc = calc
    assert np.trace(atoms.get_stress(voigt=False)) < 0  # compressed crystal: ASE sign convention


@pytest.mark.parametrize("make", [triclinic_argon, argon_cluster])
def test_rotation_translation_permutation_symmetry(calc, make):
    errors = check_invariance(calc, make(), seed=11)
    assert max(errors.values()) < 1e-10


def test_batch_equals_structures_one_by_one():
    model = LennardJones(species=["Ar"], **ARGON).double()
    potential = Potential(model)
    frames = [rattled_argon(seed=1), argon_cluster(seed=2), triclinic_argon(seed=3)]
    batch = potential(build_graph(frames, model.cutoff, model.species), compute_stress=True)
    start = 0
    for k, frame in enumerate(frames):
        single = potential(build_graph(frame, model.cutoff, model.species), compute_stress=True)
        stop = start + len(frame)
        assert batch.energy[k].item() == pytest.approx(single.energy.item(), rel=1e-12)
        torch.testing.assert_close(batch.forces[start:stop], single.forces, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(batch.virial[k], single.virial[0], rtol=1e-12, atol=1e-14)
        if frame.cell.rank == 3:
            torch.testing.assert_close(batch.stress[k], single.stress[0], rtol=1e-12, atol=1e-16)
        else:
            assert torch.isnan(batch.stress[k]).all()
        start = stop


def test_virial_of_a_molecule_is_minus_sum_r_outer_f():
    model = LennardJones(species=["Ar"], **ARGON).double()
    out = Potential(model)(build_graph(argon_cluster(), model.cutoff, model.species), compute_stress=True)
    graph = build_graph(argon_cluster(), model.cutoff, model.species)
    expected = torch.einsum("ni,nj->ij", graph.positions, out.forces)  # -dE/d eps = sum r (x) F
    torch.testing.assert_close(out.virial[0], 0.5 * (expected + expected.T), rtol=1e-10, atol=1e-12)


def test_energy_only_needs_no_gradient():
    model = LennardJones(species=["Ar"], **ARGON).double()
    out = Potential(model)(build_graph(bulk("Ar", "fcc", a=5.26), model.cutoff, model.species), compute_forces=False)
    assert out.forces is None and out.stress is None and not out.energy.requires_grad


def test_create_graph_allows_a_loss_on_forces():
    model = LennardJones(species=["Ar"], **ARGON).double()
    graph = build_graph(rattled_argon(), model.cutoff, model.species)
    out = Potential(model)(graph, create_graph=True)
    assert out.forces.requires_grad
