"""A rank's share of a strictly local model, checked against the whole periodic system (no LAMMPS needed)."""

import itertools

import numpy as np
import pytest
import torch
from ase.build import bulk

from asetools.calculators import AllegroCalc
from asetools.lammps.domain import VOIGT_LAMMPS, DomainEvaluator
from asetools.models import LennardJones, LennardJonesConfig, Potential
from tests.conftest import small_allegro


def periodic_alloy():
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((3, 2, 2))
    atoms.set_cell(atoms.cell.array + np.array([[0.0, 0.4, 0.0], [0.3, 0.0, 0.0], [0.0, 0.2, 0.0]]), scale_atoms=True)
    atoms.rattle(0.1, seed=7)
    atoms.symbols[[1, 5, 11, 20, 33]] = "Au"
    return atoms


def split_into_domains(atoms, num_domains, shell):
    """Cut the cell along its first axis into slabs; each slab's ghosts are the periodic images within ``shell``.

    Returns, for each slab, the indices of its own atoms in ``atoms`` and the positions,
    species indices and tags (index + 1, shared by images) of local atoms followed by
    ghosts, as a LAMMPS rank holds them.
    """
    fractions = atoms.get_scaled_positions()[:, 0]
    species = np.array([0 if s == "Cu" else 1 for s in atoms.get_chemical_symbols()])
    reach = [int(np.ceil(shell / length)) + 1 for length in atoms.cell.lengths()]
    images = []
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        images.append((atoms.positions + np.array(shift) @ atoms.cell.array, shift))
    domains = []
    for k in range(num_domains):
        own = np.flatnonzero((fractions >= k / num_domains) & (fractions < (k + 1) / num_domains))
        local = atoms.positions[own]
        ghosts, ghost_species, ghost_tags = [], [], []
        for positions, shift in images:
            candidates = np.arange(len(atoms)) if any(shift) else np.setdiff1d(np.arange(len(atoms)), own)
            distance = np.linalg.norm(positions[candidates, None] - local[None], axis=2).min(axis=1)
            chosen = candidates[distance < shell]
            ghosts.append(positions[chosen])
            ghost_species.append(species[chosen])
            ghost_tags.append(chosen + 1)
        domains.append((
            own,
            np.concatenate([local, *ghosts]),
            np.concatenate([species[own], *ghost_species]),
            np.concatenate([own + 1, *ghost_tags]),
        ))
    return domains


@pytest.mark.parametrize("with_tags", [True, False])
@pytest.mark.parametrize("num_domains", [1, 2, 3])
def test_domains_add_up_to_the_periodic_system(num_domains, with_tags):
    model = small_allegro(r_max=3.2)
    atoms = periodic_alloy()
    calc = AllegroCalc(model, dtype="float64")
    atoms.calc = calc
    reference_forces = atoms.get_forces()
    reference_virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
    evaluator = DomainEvaluator(Potential(model))
    energy, virial = 0.0, np.zeros(6)
    forces = np.full((len(atoms), 3), np.nan)
    centres = 0
    for own, positions, species, tags in split_into_domains(atoms, num_domains, evaluator.ghost_cutoff):
        result = evaluator(positions, species, len(own), tags if with_tags else None)
        energy += result.energy
        virial += result.virial
        forces[own] = result.forces
        np.testing.assert_allclose(result.atom_energies, atoms.get_potential_energies()[own], atol=1e-10)
        np.testing.assert_allclose(result.atom_virials.sum(axis=0), result.virial, atol=1e-12)
        centres += result.num_centres
        assert result.num_centres < len(positions)  # far ghosts are neighbours only, never centres
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(forces, reference_forces, atol=1e-10)
    rows, columns = zip(*VOIGT_LAMMPS)
    np.testing.assert_allclose(virial, reference_virial[rows, columns], atol=1e-9)
    if with_tags and num_domains == 1:
        assert centres == len(atoms)  # one rank spanning the cell evaluates each atom once
    elif with_tags:
        assert len(atoms) < centres <= num_domains * len(atoms)  # a rank evaluates no atom twice


@pytest.mark.parametrize("num_domains", [1, 2, 3])
def test_sent_ghost_forces_complete_the_owners_forces(num_domains):
    """Only local centres on each slab, a shell of r_max, ghost forces added to their owners by tag."""
    model = small_allegro(r_max=3.2)
    atoms = periodic_alloy()
    atoms.calc = AllegroCalc(model, dtype="float64")
    evaluator = DomainEvaluator(Potential(model), send_ghost_forces=True)
    assert evaluator.ghost_cutoff == pytest.approx(3.2)
    energy, virial, centres = 0.0, np.zeros(6), 0
    forces = np.zeros((len(atoms), 3))
    for own, positions, species, tags in split_into_domains(atoms, num_domains, evaluator.ghost_cutoff):
        result = evaluator(positions, species, len(own), tags)
        energy += result.energy
        virial += result.virial
        centres += result.num_centres
        forces[own] += result.forces
        assert result.ghost_forces.shape == (len(positions) - len(own), 3)
        np.add.at(forces, tags[len(own):] - 1, result.ghost_forces)  # what the owners receive
        if num_domains > 1:
            assert np.abs(result.ghost_forces).max() > 1e-3  # there is something to send
    assert centres == len(atoms)  # every atom evaluated exactly once over all domains
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-10)
    rows, columns = zip(*VOIGT_LAMMPS)
    np.testing.assert_allclose(virial, (-atoms.get_stress(voigt=False) * atoms.get_volume())[rows, columns], atol=1e-9)


def test_a_too_thin_ghost_shell_gives_wrong_forces():
    """The check above has teeth: with a shell of one cutoff, ghosts near the edge lack neighbours."""
    model = small_allegro(r_max=3.2)
    atoms = periodic_alloy()
    atoms.calc = AllegroCalc(model, dtype="float64")
    reference = atoms.get_forces()
    evaluator = DomainEvaluator(Potential(model))
    own, positions, species, tags = split_into_domains(atoms, 2, evaluator.cutoff)[0]
    assert np.abs(evaluator(positions, species, len(own), tags).forces - reference[own]).max() > 1e-6  # vs 1e-10 with the full shell


def test_per_atom_virials_sum_to_the_stress():
    model = small_allegro(r_max=3.2)
    atoms = periodic_alloy()
    atoms.calc = AllegroCalc(model, dtype="float64")
    graph = atoms.calc.graph(atoms)
    output = atoms.calc.potential(graph, compute_forces=True, compute_atom_virials=True)
    volume = atoms.get_volume()
    np.testing.assert_allclose(
        output.atom_virials.sum(dim=0).numpy(), -atoms.get_stress(voigt=False) * volume, atol=1e-9
    )


def test_empty_domain_and_bad_input():
    evaluator = DomainEvaluator(Potential(small_allegro()))
    result = evaluator(np.zeros((0, 3)), np.zeros(0, dtype=int), 0)
    assert result.energy == 0.0 and result.forces.shape == (0, 3) and result.virial.shape == (6,)
    with pytest.raises(ValueError, match="species indices"):
        evaluator(np.zeros((2, 3)) + [[0, 0, 0], [2, 0, 0]], np.array([0, 5]), 1)
    with pytest.raises(ValueError, match="nlocal"):
        evaluator(np.zeros((1, 3)), np.array([0]), 2)


def test_refuses_models_that_are_not_strictly_local():
    class MessagePassing(torch.nn.Module):
        species = ["Cu"]
        cutoff = 3.0

        def forward(self, graph):
            return graph.positions.sum(dim=1)

    with pytest.raises(TypeError, match="not strictly local"):
        DomainEvaluator(Potential(MessagePassing()))
    DomainEvaluator(Potential(LennardJones(LennardJonesConfig(species=["Ar"], sigma=[[3.4]], epsilon=[[0.01]], cutoff=8.0))))
