"""Message-passing models (NequIP, BOTNet and the general design space) against Allegro's physics checks."""

import itertools

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from asetools.calculators import AllegroCalc, PotentialCalc
from asetools.checkpoint import load_checkpoint, save_checkpoint
from asetools.graph import build_graph
from asetools.models import BOTNet, MessagePassing, MessagePassingConfig, NequIP, NequIPConfig, Potential
from asetools.models.equivariant_mpnn import hidden_irreps
from asetools.testing import check_forces_fd, check_invariance, check_stress_fd
from tests.conftest import small_allegro, small_message_passing
from tests.models.test_allegro import cuau_crystal

KINDS = ["nequip", "botnet", "message_passing"]


def model_of_kind(kind, **overrides):
    if kind == "allegro":
        return small_allegro(2, **overrides)
    return small_message_passing(kind, **overrides)


@pytest.mark.parametrize("kind", ["allegro", *KINDS])
def test_invariance_forces_and_stress(kind):
    calc = PotentialCalc(model_of_kind(kind), dtype="float64")
    atoms = cuau_crystal(seed=1)
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() > 1e-3, "forces vanish: the checks below would be empty"
    errors = check_invariance(calc, atoms, seed=3, atol=1e-10, rtol=1e-10)
    assert "reflection/forces" in errors and "permutation/energies" in errors
    check_forces_fd(calc, atoms, delta=1e-5, atol=1e-7, rtol=1e-5)
    check_stress_fd(calc, atoms, delta=1e-6, atol=1e-8, rtol=1e-5)


@pytest.mark.parametrize("kind", ["allegro", *KINDS])
def test_periodic_images_are_consistent(kind):
    """A 2x2x2 supercell has eight times the energy, the same stress and tiled forces."""
    calc = PotentialCalc(model_of_kind(kind), dtype="float64")
    atoms = cuau_crystal(seed=4)
    atoms.calc = calc
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    supercell = atoms.repeat((2, 2, 2))
    supercell.calc = calc
    assert supercell.get_potential_energy() == pytest.approx(8 * energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(supercell.get_forces(), np.tile(forces, (8, 1)), atol=1e-10)
    np.testing.assert_allclose(supercell.get_stress(), stress, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_molecule_with_parity_and_high_degree(kind):
    model = small_message_passing(kind, species=("H", "C", "O"), l_max=3, parity=True)
    calc = PotentialCalc(model, dtype="float64")
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=2)
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() > 1e-3
    check_invariance(calc, atoms, seed=5, atol=1e-10, rtol=1e-10)
    check_forces_fd(calc, atoms, delta=1e-5, atol=1e-7, rtol=1e-5)


def test_hidden_irreps_lead_with_scalars_and_follow_parity():
    assert str(hidden_irreps(4, 2, False)) == "4x0e+4x1o+4x2e"
    assert str(hidden_irreps(4, 1, True)) == "4x0e+4x0o+4x1o+4x1e"


def cluster_energy_terms(calc, atoms, order):
    """The ``order``-body term of the cluster expansion of a structure of ``order`` atoms
    (inclusion–exclusion over its subsets): zero when the energy has lower body order."""
    total = 0.0
    for size in range(1, len(atoms) + 1):
        for subset in itertools.combinations(range(len(atoms)), size):
            part = atoms[list(subset)]
            part.calc = calc
            total += (-1) ** (order - size) * part.get_potential_energy()
    return total


def test_botnet_is_body_ordered_and_nequip_is_not():
    """Without a nonlinearity, and with linear readouts, T layers give at most (T+1)-body energies."""
    atoms = Atoms("CuAuCuAu", positions=[[0, 0, 0], [2.4, 0.2, 0], [1.1, 2.1, 0.3], [1.0, 0.9, 2.2]])
    for layers in (1, 2):
        order = layers + 2  # the first body order that must vanish
        body_ordered = small_message_passing("botnet", num_layers=layers, readout_mlp_hidden=[])
        calc = PotentialCalc(body_ordered, dtype="float64")
        assert abs(cluster_energy_terms(calc, atoms[:order], order)) < 1e-11
        lower = cluster_energy_terms(calc, atoms[: order - 1], order - 1)
        assert abs(lower) > 1e-5, "the (T+1)-body term is there"
    gated = PotentialCalc(small_message_passing("nequip", num_layers=1), dtype="float64")
    assert abs(cluster_energy_terms(gated, atoms[:3], 3)) > 1e-8  # round-off is ~1e-14
    nonlinear_readout = PotentialCalc(small_message_passing("botnet", num_layers=1), dtype="float64")
    assert abs(cluster_energy_terms(nonlinear_readout, atoms[:3], 3)) > 1e-8


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_receptive_field_is_layers_times_cutoff(layers):
    """Atom 0 feels atom k of a chain (spacing 0.8 r_max) only when k hops fit in the layers."""
    model = small_message_passing("nequip", num_layers=layers, species=("Cu",))
    calc = PotentialCalc(model, dtype="float64")
    spacing = 0.8 * model.cutoff
    for k in range(1, 5):
        chain = Atoms(f"Cu{k + 1}", positions=[[i * spacing, 0, 0] for i in range(k + 1)])
        chain.calc = calc
        before = chain.get_potential_energies()[0]
        chain.positions[k] += [0.1, 0.05, 0.0]
        change = abs(chain.get_potential_energies()[0] - before)
        if k <= layers:
            assert change > 1e-9, f"atom {k} is {k} hops away and should be felt with {layers} layers"
        else:
            assert change < 1e-14, f"atom {k} is beyond {layers} hops"


def test_energy_vanishes_smoothly_at_the_cutoff():
    model = small_message_passing("nequip")
    calc = PotentialCalc(model, dtype="float64")
    shifts = model.config.per_species_energy_shifts

    def dimer(distance):
        atoms = Atoms("CuAu", positions=[[0, 0, 0], [distance, 0, 0]])
        atoms.calc = calc
        return atoms.get_potential_energy(), atoms.get_forces()

    isolated, _ = dimer(model.cutoff + 1e-6)
    bound, _ = dimer(0.7 * model.cutoff)
    assert abs(bound - isolated) > 1e-5
    near, forces = dimer(model.cutoff - 1e-3)
    assert abs(near - isolated) < 1e-7 and np.abs(forces).max() < 1e-5
    # An atom without neighbours has exactly its species' shift (e.g. its isolated-atom energy).
    assert isolated == pytest.approx(shifts[0] + shifts[1], abs=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_matches_single_structures(kind):
    model = small_message_passing(kind).double()
    potential = Potential(model)
    structures = [cuau_crystal(seed=s) for s in range(3)]
    structures[1] = structures[1].repeat((1, 1, 2))
    structures.append(Atoms("CuAu", positions=[[0, 0, 0], [9.0, 0, 0]]))
    batch = potential(build_graph(structures, model.cutoff, model.species), compute_stress=False)
    start = 0
    for index, atoms in enumerate(structures):
        single = potential(build_graph(atoms, model.cutoff, model.species))
        torch.testing.assert_close(batch.energy[index], single.energy[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(batch.forces[start : start + len(atoms)], single.forces, rtol=1e-10, atol=1e-12)
        start += len(atoms)


@pytest.mark.parametrize("kind, model_class", [("nequip", NequIP), ("botnet", BOTNet), ("message_passing", MessagePassing)])
def test_checkpoint_round_trip_keeps_the_kind(tmp_path, kind, model_class):
    model = small_message_passing(kind, resnet=True, l_max=1)
    path = tmp_path / f"{kind}.pt"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path)
    assert type(loaded) is model_class and loaded.config == model.config
    atoms = cuau_crystal(seed=6)
    atoms.calc = PotentialCalc(model, dtype="float64")
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = PotentialCalc(path, dtype="float64")
    assert atoms.get_potential_energy() == energy
    np.testing.assert_array_equal(atoms.get_forces(), forces)
    with pytest.raises(TypeError, match="PotentialCalc"):
        AllegroCalc(path)


def test_presets_set_the_published_choices():
    nequip, botnet = NequIPConfig(species=["H"]), small_message_passing("botnet").config
    assert (nequip.nonlinearity, nequip.readout, nequip.parity) == ("gate", "final", True)
    assert (botnet.nonlinearity, botnet.readout) == ("none", "per_layer")
    model = small_message_passing("botnet", num_layers=3)
    assert len(model.readouts) == 3  # one per layer; the last one is the MLP
    assert len(small_message_passing("nequip", num_layers=3).readouts) == 1


def test_neighbour_normalisation_and_resnet_change_the_model():
    atoms = cuau_crystal(seed=8)
    energies = {}
    for name, overrides in {"plain": {}, "unnormalised": {"normalize_by_neighbours": False},
                            "resnet": {"resnet": True, "l_max": 0}, "plain_l0": {"l_max": 0}}.items():
        atoms.calc = PotentialCalc(small_message_passing("message_passing", seed=1, **overrides), dtype="float64")
        energies[name] = atoms.get_potential_energy()
    assert energies["plain"] != pytest.approx(energies["unnormalised"], abs=1e-6)
    assert energies["resnet"] != pytest.approx(energies["plain_l0"], abs=1e-6)


def test_latent_features_are_invariant_and_feed_the_uncertainty():
    model = small_message_passing("nequip").double()
    potential = Potential(model)
    atoms = cuau_crystal(seed=9)
    output = potential(build_graph(atoms, model.cutoff, model.species), compute_features=True)
    assert output.atom_features.shape == (len(atoms), model.num_latent_features)
    rotated = atoms.copy()
    rotated.rotate(70, (1, 2, 3), rotate_cell=True)
    again = potential(build_graph(rotated, model.cutoff, model.species), compute_features=True)
    torch.testing.assert_close(again.atom_features, output.atom_features, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(output.energy, potential(build_graph(atoms, model.cutoff, model.species)).energy)


def test_not_evaluated_in_blocks_and_refused_by_lammps():
    from asetools.lammps.domain import DomainEvaluator

    model = small_message_passing("botnet")
    with pytest.raises(TypeError, match="not strictly local"):
        DomainEvaluator(Potential(model))
    with pytest.raises(ValueError, match="strictly local"):
        potential = Potential(model.double())
        with torch.no_grad():
            potential(build_graph(cuau_crystal(), model.cutoff, model.species), compute_atom_virials=True)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"nonlinearity": "relu"}, "nonlinearity"),
        ({"readout": "sum"}, "readout"),
        ({"l_max": 4}, "l_max"),
        ({"num_layers": 0}, "num_layers"),
        ({"radial_mlp_hidden": [0]}, "radial_mlp_hidden"),
        ({"per_species_energy_shifts": [1.0]}, "per_species_energy_shifts"),
        ({"species": ["Cu", "Cu"]}, "species"),
        ({"resnet": "yes"}, "resnet"),
    ],
)
def test_bad_config_names_the_field(change, field):
    settings = {"species": ["Cu", "Au"], **change}
    with pytest.raises(ValueError, match=field):
        MessagePassingConfig(**settings)


@pytest.mark.parametrize("l_max, parity", [(1, False), (2, True), (3, False)])
def test_fused_edge_product_equals_e3nn_tensor_product(l_max, parity):
    """The fused convolution computes e3nn's weighted 'uvu' tensor product: same paths, coefficients, weights."""
    from e3nn import o3

    from asetools.models.message_passing import EdgeTensorProduct

    block = small_message_passing("message_passing", l_max=l_max, parity=parity, num_layers=3).blocks[1]
    fused = block.tensor_product
    assert isinstance(fused, EdgeTensorProduct) and fused.num_paths > 3
    reference = o3.TensorProduct(fused.irreps_in, fused.edge_irreps, fused.irreps_out, fused.instructions,
                                 shared_weights=False, internal_weights=False).double()
    generator = torch.Generator().manual_seed(l_max)
    x = torch.randn(11, fused.irreps_in.dim, dtype=torch.float64, generator=generator)
    harmonics = torch.randn(11, fused.edge_irreps.dim, dtype=torch.float64, generator=generator)
    weights = torch.randn(11, fused.weight_numel, dtype=torch.float64, generator=generator)
    expected = reference(x, harmonics, weights)
    # e3nn keeps its coefficients in float32 buffers: agreement to float32 precision.
    torch.testing.assert_close(fused(x, harmonics, weights), expected, rtol=1e-6, atol=1e-6 * expected.abs().max().item())

