"""The fitted valence force field (bonds, angles, Urey-Bradley) and its calculator."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from scipy.spatial.transform import Rotation

from asetools.calculators import MTSCalc, ValenceCalc
from asetools.cli import main
from asetools.valence import (
    DEFAULT_ORDERS,
    ValenceForceField,
    ValenceTopology,
    coordinates_of,
    fit_valence_force_field,
    labile_atom_types,
)

ACAC = Path(__file__).resolve().parents[3] / "shared" / "data" / "botnet" / "acac" / "train_300K.xyz"

ALL_KINDS = {"bond": 4, "angle": 3, "urey_bradley": 2, "stretch_stretch": 1, "stretch_bend": 1, "one_four": 3}


def known_field() -> ValenceForceField:
    """A hand-made force field for ethanol (anharmonic bonds, angles, 1-3 and 1-4 distances, cross terms)."""
    bonds = {"C-C": 1.53, "C-H": 1.10, "C-O": 1.43, "H-O": 0.97}
    angles = {"C-C-H": -0.34, "C-C-O": -0.33, "H-C-H": -0.33, "H-C-O": -0.33, "C-O-H": -0.31}
    distances = {"C-C-H": 2.17, "C-C-O": 2.43, "H-C-H": 1.78, "H-C-O": 2.07, "C-O-H": 1.95}
    one_four = {"C-C-O-H": 2.9, "H-C-C-H": 2.8, "H-C-C-O": 2.9, "H-C-O-H": 2.7}
    return ValenceForceField(
        species_energies={"C": -1000.0, "H": -13.0, "O": -2000.0},
        reference={
            "bond": bonds,
            "angle": angles,
            "urey_bradley": distances,
            "stretch_stretch": dict.fromkeys(angles, 0.0),
            "stretch_bend": dict.fromkeys(angles, 0.0),
            "one_four": one_four,
        },
        coefficients={
            "bond": {name: np.array([0.3, 0.1, 20.0 + i, -30.0, 25.0]) for i, name in enumerate(bonds)},
            "angle": {name: np.array([-0.1, 0.05, 3.0 + i, 1.0]) for i, name in enumerate(angles)},
            "urey_bradley": {name: np.array([0.0, 0.02, 2.0 + 0.5 * i]) for i, name in enumerate(distances)},
            "stretch_stretch": {name: np.array([0.0, 1.5 - 0.2 * i]) for i, name in enumerate(angles)},
            "stretch_bend": {name: np.array([0.0, -0.8 + 0.3 * i]) for i, name in enumerate(angles)},
            "one_four": {name: np.array([0.0, -0.1, 0.4 + 0.1 * i, 0.05]) for i, name in enumerate(one_four)},
        },
    )


def rattled_ethanol(count: int, seed: int, scale: float = 0.06) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = molecule("CH3CH2OH")
        atoms.positions += rng.normal(scale=scale, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def labelled(frames: list[Atoms], field: ValenceForceField) -> list[Atoms]:
    """Copies of ``frames`` carrying ``field``'s energy and forces as reference results."""
    out = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = ValenceCalc(field)
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        out.append(atoms)
    return out


def energy_and_forces(field: ValenceForceField, atoms: Atoms) -> tuple[float, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = ValenceCalc(field)
    return atoms.get_potential_energy(), atoms.get_forces()


def test_topology_of_ethanol():
    topology = ValenceTopology.from_atoms(molecule("CH3CH2OH"))
    assert sorted(topology.bond_types) == sorted(["C-C", "C-O", "H-O"] + ["C-H"] * 5)
    # angles: 3 at the CH3 carbon's H-C-H, 3 C-C-H there; at CH2: H-C-H, 2 C-C-H, 2 H-C-O, C-C-O; C-O-H
    assert len(topology.angles) == 13
    assert topology.angle_types.count("C-O-H") == 1
    assert topology.angle_types.count("H-C-H") == 4
    # dihedrals: 3 x 3 about C-C, 3 x 1 about C-O
    assert len(topology.dihedrals) == 12
    assert topology.dihedral_types.count("H-C-C-H") == 6


def test_neighbour_typing_tells_methyl_from_methylene():
    atoms = molecule("CH3CH2OH")
    by_species = ValenceTopology.from_atoms(atoms, atom_typing="species")
    by_neighbours = ValenceTopology.from_atoms(atoms, atom_typing="neighbours")
    assert set(by_species.bond_types) == {"C-C", "C-H", "C-O", "H-O"}
    assert set(by_neighbours.bond_types) == {
        "C(CHHH)-C(CHHO)", "C(CHHH)-H(C)", "C(CHHO)-H(C)", "C(CHHO)-O(CH)", "H(O)-O(CH)",
    }  # fmt: skip
    assert by_neighbours.bond_types.count("C(CHHH)-H(C)") == 3
    with pytest.raises(ValueError, match="unknown atom_typing"):
        ValenceTopology.from_atoms(atoms, atom_typing="elements")


def test_forces_are_the_negative_gradient():
    field = known_field()
    atoms = rattled_ethanol(1, seed=1)[0]
    _, forces = energy_and_forces(field, atoms)
    step = 1e-5
    numerical = np.zeros_like(forces)
    for atom in range(len(atoms)):
        for axis in range(3):
            shifted = atoms.copy()
            shifted.positions[atom, axis] += step
            plus, _ = energy_and_forces(field, shifted)
            shifted.positions[atom, axis] -= 2 * step
            minus, _ = energy_and_forces(field, shifted)
            numerical[atom, axis] = -(plus - minus) / (2 * step)
    assert np.abs(forces).max() > 1.0  # the rattled structure is far from equilibrium
    np.testing.assert_allclose(forces, numerical, atol=1e-6)


def test_invariant_under_rotation_translation_and_permutation():
    field = known_field()
    atoms = rattled_ethanol(1, seed=2)[0]
    energy, forces = energy_and_forces(field, atoms)
    rotation = Rotation.random(random_state=3)
    moved = atoms.copy()
    moved.positions = rotation.apply(atoms.positions) + np.array([3.0, -1.0, 7.5])
    moved_energy, moved_forces = energy_and_forces(field, moved)
    assert moved_energy == pytest.approx(energy, abs=1e-9)
    np.testing.assert_allclose(moved_forces, rotation.apply(forces), atol=1e-9)
    order = np.random.default_rng(4).permutation(len(atoms))
    permuted_energy, permuted_forces = energy_and_forces(field, atoms[order])
    assert permuted_energy == pytest.approx(energy, abs=1e-9)
    np.testing.assert_allclose(permuted_forces, forces[order], atol=1e-9)


def test_fit_recovers_a_known_force_field():
    """Frames labelled by a force field of the same form are fitted to round-off, energies included.

    The cross terms are products of deviations from the bond and angle references, so
    the known force field uses the references the fit will take: the training frames' means.
    """
    frames = rattled_ethanol(40, seed=5)
    zeros = [np.zeros((len(atoms), 3)) for atoms in frames]
    means = fit_valence_force_field(frames, {"bond": 2, "angle": 2}, atom_typing="species", forces=zeros)
    field = known_field()
    field = ValenceForceField(
        field.species_energies, {**field.reference, "bond": means.reference["bond"], "angle": means.reference["angle"]},
        field.coefficients,
    )
    fitted = fit_valence_force_field(labelled(frames, field), ALL_KINDS, energy_weight=1.0, atom_typing="species")
    whole = 0
    for atoms in rattled_ethanol(8, seed=6, scale=0.1):
        expected_energy, expected_forces = energy_and_forces(field, atoms)
        energy, forces = energy_and_forces(fitted, atoms)
        np.testing.assert_allclose(forces, expected_forces, atol=1e-6)
        # How the energy zero splits between species and term constants is only fixed for
        # the bond patterns of the training frames: compare energies of whole molecules.
        if len(ValenceTopology.from_atoms(atoms).bonds) == 8:
            whole += 1
            assert energy == pytest.approx(expected_energy, abs=1e-6)
    assert whole >= 3


def test_fewer_terms_fit_worse_and_forces_only_leave_species_energies_at_zero():
    field = known_field()
    training = labelled(rattled_ethanol(40, seed=7), field)
    without_urey_bradley = fit_valence_force_field(training, {"bond": 4, "angle": 3})
    assert set(without_urey_bradley.coefficients) == {"bond", "angle"}
    assert all(value == 0.0 for value in without_urey_bradley.species_energies.values())
    atoms = rattled_ethanol(1, seed=8)[0]
    _, expected = energy_and_forces(field, atoms)
    _, forces = energy_and_forces(without_urey_bradley, atoms)
    assert np.abs(forces - expected).max() > 1e-3


def test_fit_to_explicit_labels_matches_fit_to_frame_results():
    field = known_field()
    frames = rattled_ethanol(20, seed=9)
    training = labelled(frames, field)
    forces = [atoms.get_forces() for atoms in training]
    from_frames = fit_valence_force_field(training, ALL_KINDS)
    from_labels = fit_valence_force_field(frames, ALL_KINDS, forces=forces)
    atoms = rattled_ethanol(1, seed=10)[0]
    np.testing.assert_allclose(energy_and_forces(from_labels, atoms)[1], energy_and_forces(from_frames, atoms)[1], atol=1e-9)


def test_periodic_bond_across_the_cell_boundary():
    """A molecule split by the periodic boundary has the energy and forces of the whole molecule."""
    field = known_field()
    whole = rattled_ethanol(1, seed=11)[0]
    whole.cell = [8.0, 8.0, 8.0]
    whole.pbc = True
    whole.positions += np.array([7.3, 4.0, 4.0]) - whole.positions[0]
    split = whole.copy()
    split.wrap()
    assert np.abs(split.positions - whole.positions).max() > 1.0
    topology = ValenceTopology.from_atoms(split)
    assert np.abs(topology.bond_shifts).sum() > 0
    energy, forces = energy_and_forces(field, whole)
    split_energy, split_forces = energy_and_forces(field, split)
    assert split_energy == pytest.approx(energy, abs=1e-9)
    np.testing.assert_allclose(split_forces, forces, atol=1e-9)


def test_save_and_load_round_trip(tmp_path):
    field = fit_valence_force_field(labelled(rattled_ethanol(10, seed=12), known_field()), ALL_KINDS, energy_weight=1.0)
    field.save(tmp_path / "valence.json")
    again = ValenceForceField.load(tmp_path / "valence.json")
    assert again.atom_typing == field.atom_typing == "neighbours"
    atoms = rattled_ethanol(1, seed=13)[0]
    energy, forces = energy_and_forces(field, atoms)
    energy_again, forces_again = energy_and_forces(again, atoms)
    assert energy_again == energy
    np.testing.assert_array_equal(forces_again, forces)
    (tmp_path / "broken.json").write_text('{"species_energies": {}}')
    with pytest.raises(ValueError, match="not a valence force field"):
        ValenceForceField.load(tmp_path / "broken.json")


def test_calculator_keeps_its_bonds_until_reset():
    field = known_field()
    atoms = molecule("CH3CH2OH")
    calc = ValenceCalc(field)
    atoms.calc = calc
    atoms.get_forces()
    bonds = calc.topology.bonds.copy()
    # stretch the O-H bond far beyond the bonding distance: still a bond (the topology is fixed)
    oxygen, hydrogen = next((i, j) for i, j in bonds if {atoms[i].symbol, atoms[j].symbol} == {"O", "H"})
    atoms.positions[hydrogen] += 2.0 * (atoms.positions[hydrogen] - atoms.positions[oxygen])
    stretched = atoms.get_forces()
    np.testing.assert_array_equal(calc.topology.bonds, bonds)
    assert np.linalg.norm(stretched[hydrogen]) > 1.0
    calc.reset_topology()
    atoms.get_forces()
    assert len(calc.topology.bonds) == len(bonds) - 1


def test_as_the_fast_part_of_a_split():
    """MTSCalc.from_total(valence, total): the sum is the total and the slow part the difference."""
    field = known_field()
    total_field = fit_valence_force_field(labelled(rattled_ethanol(10, seed=14), field), {"bond": 2, "angle": 2})
    atoms = rattled_ethanol(1, seed=15)[0]
    atoms.calc = MTSCalc.from_total(ValenceCalc(field), ValenceCalc(total_field))
    _, total = energy_and_forces(total_field, atoms)
    _, fast = energy_and_forces(field, atoms)
    np.testing.assert_allclose(atoms.get_forces(), total, atol=1e-12)
    np.testing.assert_allclose(atoms.calc.get_property("slow_forces", atoms), total - fast, atol=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda atoms: atoms.append("N"), "no parameters for species N"),
        (lambda atoms: setattr(atoms, "positions", np.full((len(atoms), 3), np.nan)), "non-finite positions"),
    ],
)
def test_bad_structures_are_refused(change, message):
    atoms = molecule("CH3CH2OH")
    change(atoms)
    atoms.calc = ValenceCalc(known_field())
    with pytest.raises(ValueError, match=message):
        atoms.get_forces()


def test_unfitted_bond_type_is_named():
    atoms = molecule("CH3OH")  # a subset of ethanol's bond and angle types
    training = labelled(rattled_ethanol(5, seed=16), known_field())
    field = fit_valence_force_field(training, {"bond": 2, "angle": 2}, atom_typing="species")
    peroxide = molecule("H2O2")
    peroxide.calc = ValenceCalc(field)
    with pytest.raises(ValueError, match="bond O-O"):
        peroxide.get_forces()
    atoms.calc = ValenceCalc(field)
    assert np.isfinite(atoms.get_forces()).all()


def test_fit_refuses_bad_input():
    frames = rattled_ethanol(2, seed=17)
    with pytest.raises(ValueError, match="no reference forces"):
        fit_valence_force_field(frames)
    training = labelled(frames, known_field())
    with pytest.raises(ValueError, match="at least 2"):
        fit_valence_force_field(training, {"bond": 1, "angle": 2})
    with pytest.raises(ValueError, match="unknown coordinate kinds"):
        fit_valence_force_field(training, {"bond": 2, "angle": 2, "dihedral": 3})
    with pytest.raises(ValueError, match="needs the bond and angle terms"):
        fit_valence_force_field(training, {"bond": 2, "stretch_bend": 1})
    with pytest.raises(ValueError, match="at least one frame"):
        fit_valence_force_field([])
    with pytest.raises(ValueError, match="no bonds"):
        neon = Atoms("Ne2", positions=[[0, 0, 0], [0, 0, 3.0]])
        neon.calc = SinglePointCalculator(neon, energy=0.0, forces=np.zeros((2, 3)))
        fit_valence_force_field([neon])
    with pytest.raises(ValueError, match="every bond has a labile atom"):
        fit_valence_force_field(training, labile_types=("C", "H", "O"), atom_typing="species")



@pytest.fixture(scope="module")
def acetylacetone() -> list[Atoms]:
    """100 frames of enol acetylacetone at 300 K (DFT forces), in which the O-H...O proton
    sits on either oxygen."""
    if not ACAC.is_file():
        pytest.skip("needs ../shared/data/botnet/acac")
    return ase.io.read(ACAC, ":100")


def test_labile_atoms_are_those_that_change_partner_not_a_stretched_bond(acetylacetone):
    topologies = [ValenceTopology.from_atoms(atoms, atom_typing="neighbours") for atoms in acetylacetone]
    first = topologies[0].bonded_neighbours()
    other_side = [topology.bonded_neighbours() != first for topology in topologies]
    assert 5 < sum(other_side) < 95  # both tautomers are in the data
    assert labile_atom_types(topologies) == ("H(O)", "O(C)", "O(CH)")
    # one tautomer only, plus a frame with a methyl C-H stretched past the bonding cutoff: nothing labile
    same_side = [atoms for atoms, moved in zip(acetylacetone, other_side) if not moved]
    stretched = same_side[0].copy()
    carbon, hydrogen = next((i, j) for i, j in topologies[0].bonds if {stretched[i].symbol, stretched[j].symbol} == {"C", "H"})
    stretched.set_distance(carbon, hydrogen, 1.6, fix=0)
    assert len(ValenceTopology.from_atoms(stretched).bonds) == len(topologies[0].bonds) - 1
    snapshots = [ValenceTopology.from_atoms(atoms, atom_typing="neighbours") for atoms in [*same_side, stretched]]
    assert labile_atom_types(snapshots) == ()


def test_labile_atoms_are_left_out_so_a_proton_hop_leaves_the_rest_small(acetylacetone, tmp_path):
    """With a fixed topology, the proton's old O-H bond pulls it back once it has moved to the
    other oxygen: the rest (reference minus valence forces) is then tens of eV/Å. Leaving out
    the labile atoms' terms keeps the rest near the size of the forces themselves."""
    field = fit_valence_force_field(acetylacetone, shared=False)
    assert field.labile_types == ("H(O)", "O(C)", "O(CH)")
    everything = fit_valence_force_field(acetylacetone, labile_types=())
    assert everything.labile_types == ()
    field.save(tmp_path / "valence.json")
    loaded = ValenceForceField.load(tmp_path / "valence.json")
    assert loaded.labile_types == field.labile_types

    def rest(force_field: ValenceForceField) -> np.ndarray:
        """Reference minus valence forces, ``[frames, N]`` norms, with the first frame's bonds throughout."""
        calc = ValenceCalc(force_field)
        norms = []
        for atoms in acetylacetone:
            reference = atoms.get_forces()
            atoms = atoms.copy()
            atoms.calc = calc
            norms.append(np.linalg.norm(reference - atoms.get_forces(), axis=1))
        return np.array(norms)

    topology = ValenceTopology.from_atoms(acetylacetone[0], atom_typing="neighbours")
    labile = topology.of_types(field.labile_types)
    assert sorted(np.array(topology.symbols)[labile]) == ["H", "O", "O"]
    atoms = acetylacetone[0].copy()
    atoms.calc = ValenceCalc(loaded)
    assert np.abs(atoms.get_forces()[labile]).max() == 0.0  # no term touches them
    reference = np.linalg.norm(np.array([atoms.get_forces() for atoms in acetylacetone]), axis=2)
    assert rest(everything).max() > 5 * reference.max()
    assert rest(field).max() < reference.max()


def test_valence_fit_command(tmp_path, capsys):
    """``asetools valence-fit`` writes a field that reproduces the one fitted in Python, and
    reports the force residual against an exactly fitted field as ~0."""
    training = labelled(rattled_ethanol(30, seed=18), known_field())
    ase.io.write(tmp_path / "train.xyz", training)
    assert main(["valence-fit", str(tmp_path / "train.xyz"), "-o", str(tmp_path / "valence.json"), "--one-four", "3"]) == 0
    out = capsys.readouterr().out
    assert "fitted to 30 frames" in out and "labile" not in out
    residual = float(out.split("RMS ")[1].split()[0])
    assert residual < 1e-2
    loaded = ValenceForceField.load(tmp_path / "valence.json")
    direct = fit_valence_force_field(ase.io.read(tmp_path / "train.xyz", ":"), ALL_KINDS)
    atoms = rattled_ethanol(1, seed=19)[0]
    np.testing.assert_allclose(energy_and_forces(loaded, atoms)[1], energy_and_forces(direct, atoms)[1], atol=1e-9)
    assert main(["valence-fit", str(tmp_path / "missing.xyz")]) == 2


def test_valence_fit_command_names_the_labile_atoms(acetylacetone, tmp_path, capsys):
    ase.io.write(tmp_path / "acac.xyz", acetylacetone[:40])
    assert main(["valence-fit", str(tmp_path / "acac.xyz"), "-o", str(tmp_path / "valence.json")]) == 0
    out = capsys.readouterr().out
    assert "labile atom types (they change bonded partners): H(O), O(C), O(CH)" in out
    assert "shared terms O-H-O for the atoms that hop (H(O))" in out
    assert "bonds whose rest length follows the hop: C(CCH)-C(CCO), C(CCO)-C(CHHH), C(CCO)-O(C)[H]" in out
    assert "bends of the hopping atom at whichever partner holds it: C(CCO)-O(C)[H]-H" in out
    assert main(["valence-fit", str(tmp_path / "acac.xyz"), "-o", str(tmp_path / "apart.json"), "--no-shared"]) == 0
    out = capsys.readouterr().out
    assert "shared terms" not in out and "left out (they change bonded partners): H(O), O(C), O(CH)" in out
    assert ValenceForceField.load(tmp_path / "apart.json").hopping_types == ()
    assert main(["valence-fit", str(tmp_path / "acac.xyz"), "-o", str(tmp_path / "all.json"), "--keep-labile"]) == 0
    assert ValenceForceField.load(tmp_path / "all.json").labile_types == ()


@pytest.fixture(scope="module")
def acetylacetone_field(acetylacetone) -> ValenceForceField:
    """The valence force field of the acetylacetone frames, with the shared O-H-O term."""
    return fit_valence_force_field(acetylacetone)


def test_hopping_proton_gets_a_shared_term_with_both_oxygens(acetylacetone, acetylacetone_field):
    field = acetylacetone_field
    assert field.hopping_types == ("H(O)",)
    assert {kind: list(table) for kind, table in field.coefficients.items() if kind.startswith("shared")} == {
        **{kind: ["O-H-O"] for kind in ("shared_sum", "shared_difference", "shared_angle", "shared_cross")},
        # the bonds of the chain O=C-C=C-O whose order swaps with the proton, and the methyl C-C
        "shared_bond": ["C(CCH)-C(CCO)", "C(CCO)-C(CHHH)", "C(CCO)-O(C)[H]"],
        # the proton's bend at either oxygen
        "shared_bend": ["C(CCO)-O(C)[H]-H"],
        "shared_bend_cross": ["C(CCO)-O(C)[H]-H"],
    }
    for atoms in acetylacetone[:20]:
        topology = field.topology(atoms)
        (first, proton, second), = topology.shared
        assert atoms[proton].symbol == "H"
        assert [atoms[first].symbol, atoms[second].symbol] == ["O", "O"]
        # both oxygens keep their terms, under one name whichever holds the proton
        assert [topology.atom_types[first], topology.atom_types[second]] == ["O(C)[H]", "O(C)[H]"]
        assert sorted(topology.bond_types).count("C(CCO)-O(C)[H]") == 2
        # whichever oxygen holds the proton, the partners are the same two
        oxygens = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "O")
        assert sorted((first, second)) == sorted(oxygens)
    assert len(topology.excluding([proton]).shared) == 0
    without = fit_valence_force_field(acetylacetone, shared=False)
    assert without.hopping_types == () and not any(kind.startswith("shared") for kind in without.coefficients)
    assert fit_valence_force_field(acetylacetone, labile_types=()).hopping_types == ()


def test_shared_term_forces_are_the_negative_gradient(acetylacetone, acetylacetone_field):
    """Finite differences through every shared kind, with the proton on either side and midway,
    on the proton, its two oxygens and the atoms of the bonds that follow the hop."""
    calc_atoms = acetylacetone[0].copy()
    topology = acetylacetone_field.topology(calc_atoms)
    first, proton, second = topology.shared[0]
    touched = np.unique(topology.atoms_of("shared_bond"))
    assert len(touched) == 3 + 5  # the proton, both oxygens and the five carbons (the central one on both sides)
    for fraction in (0.35, 0.5, 0.65):
        atoms = calc_atoms.copy()
        atoms.positions[proton] = (1 - fraction) * atoms.positions[first] + fraction * atoms.positions[second]
        atoms.positions[proton] += np.array([0.05, -0.08, 0.1])  # off the O...O line
        bound = acetylacetone_field.bind(topology)
        _, forces = bound.energy_and_forces(atoms.positions, atoms.cell.array)
        numerical = np.zeros((len(touched), 3))
        for row, atom in enumerate(touched):
            for axis in range(3):
                shifted = atoms.positions.copy()
                shifted[atom, axis] += 1e-5
                plus, _ = bound.energy_and_forces(shifted, atoms.cell.array)
                shifted[atom, axis] -= 2e-5
                minus, _ = bound.energy_and_forces(shifted, atoms.cell.array)
                numerical[row, axis] = -(plus - minus) / 2e-5
        assert np.abs(forces[proton]).max() > 0.1
        np.testing.assert_allclose(forces[touched], numerical, atol=1e-5)


def test_fit_recovers_a_known_shared_term(acetylacetone, acetylacetone_field, tmp_path):
    """Acetylacetone frames labelled by a field with a shared term, each with its own bonds
    (the proton on either oxygen), give back that field's coefficients; save/load keeps it."""
    training = labelled(acetylacetone, acetylacetone_field)  # the same frames: the same references
    refitted = fit_valence_force_field(training)
    assert refitted.hopping_types == acetylacetone_field.hopping_types
    for kind, table in acetylacetone_field.coefficients.items():
        for name, values in table.items():
            np.testing.assert_allclose(refitted.coefficients[kind][name][1:], values[1:], rtol=1e-5, atol=1e-6)
    acetylacetone_field.save(tmp_path / "valence.json")
    loaded = ValenceForceField.load(tmp_path / "valence.json")
    assert loaded.hopping_types == ("H(O)",)
    atoms = acetylacetone[3]
    np.testing.assert_allclose(energy_and_forces(loaded, atoms)[1], energy_and_forces(acetylacetone_field, atoms)[1], atol=1e-10)


def test_shared_term_takes_the_proton_stretch_across_a_hop(acetylacetone, acetylacetone_field):
    """With the first frame's bonds held fixed, the shared term carries most of the force on
    the proton in every frame, on either oxygen: the rest on it is well below the rest
    without the term (where no valence term touches it)."""
    without = fit_valence_force_field(acetylacetone, shared=False)
    proton = int(acetylacetone_field.topology(acetylacetone[0]).shared[0, 1])

    def rest_on_proton(field: ValenceForceField) -> np.ndarray:
        calc = ValenceCalc(field)
        rests = []
        for atoms in acetylacetone:
            reference = atoms.get_forces()[proton]
            atoms = atoms.copy()
            atoms.calc = calc
            rests.append(np.linalg.norm(reference - atoms.get_forces()[proton]))
        return np.array(rests)

    first = ValenceTopology.from_atoms(acetylacetone[0]).bonded_neighbours()
    moved = np.array([ValenceTopology.from_atoms(atoms).bonded_neighbours() != first for atoms in acetylacetone])
    shared, excluded = rest_on_proton(acetylacetone_field), rest_on_proton(without)
    for frames in (moved, ~moved):
        assert np.sqrt(np.mean(shared[frames] ** 2)) < 0.6 * np.sqrt(np.mean(excluded[frames] ** 2))


def test_a_hop_changes_no_term(acetylacetone, acetylacetone_field):
    """The field built on a frame with the proton on one oxygen gives the same energy and
    forces as the one built on a frame with it on the other, at any positions: a hop in MD
    (where the bonds are found once) leaves the fast part as it would have been."""
    first = ValenceTopology.from_atoms(acetylacetone[0]).bonded_neighbours()
    moved = [atoms for atoms in acetylacetone if ValenceTopology.from_atoms(atoms).bonded_neighbours() != first]
    assert moved
    start = acetylacetone_field.bind(acetylacetone_field.topology(acetylacetone[0]))
    for atoms in moved[:5]:
        own = acetylacetone_field.bind(acetylacetone_field.topology(atoms))
        energy, forces = own.energy_and_forces(atoms.positions, atoms.cell.array)
        kept_energy, kept_forces = start.energy_and_forces(atoms.positions, atoms.cell.array)
        assert kept_energy == pytest.approx(energy, abs=1e-9)
        np.testing.assert_allclose(kept_forces, forces, atol=1e-9)


def test_oxygens_and_their_bonds_follow_the_hop(acetylacetone, acetylacetone_field):
    """Keeping the oxygens' terms and letting the chain's bonds follow the proton takes most of
    the force on the oxygens and carbons into the fast part: the rest on them, with the first
    frame's bonds throughout (both tautomers occur), falls well below the rest when the
    oxygens are left out, and below the rest without the bonds that follow the hop."""
    no_partners = fit_valence_force_field(acetylacetone, shared=False)
    no_following = fit_valence_force_field(acetylacetone, {**DEFAULT_ORDERS, "shared_bond": 0})
    assert "shared_bond" not in no_following.coefficients
    heavy = np.isin(acetylacetone[0].get_chemical_symbols(), ["C", "O"])

    def rest_on_heavy_atoms(field: ValenceForceField) -> float:
        bound = field.bind(field.topology(acetylacetone[0]))
        rests = [atoms.get_forces() - bound.energy_and_forces(atoms.positions, atoms.cell.array)[1] for atoms in acetylacetone]
        return float(np.sqrt(np.mean(np.array(rests)[:, heavy] ** 2)))

    full, partners_only, left_out = (rest_on_heavy_atoms(f) for f in (acetylacetone_field, no_following, no_partners))
    assert full < 0.7 * partners_only < 0.7 * left_out


def test_proton_bends_at_either_oxygen(acetylacetone, acetylacetone_field):
    """One bend per oxygen, C-O...H with the oxygen's own carbon, at the angle ASE measures;
    with them the rest on the proton falls well below the rest without them."""
    atoms = acetylacetone[0]
    topology = acetylacetone_field.topology(atoms)
    (first, proton, second), = topology.shared
    bends = topology.shared_bends
    assert sorted(bends[:, 1]) == sorted([first, second]) and set(bends[:, 2]) == {proton}
    for carbon, oxygen, _, _ in bends:
        assert atoms[carbon].symbol == "C" and atoms.get_distance(carbon, oxygen) < 1.5
    cosines, _ = coordinates_of(topology, "shared_bend", atoms.positions, atoms.cell.array)
    angles = [atoms.get_angle(carbon, oxygen, proton) for carbon, oxygen, _, _ in bends]
    np.testing.assert_allclose(cosines, np.cos(np.radians(angles)), atol=1e-12)

    unbent = fit_valence_force_field(acetylacetone, {**DEFAULT_ORDERS, "shared_bend": 0, "shared_bend_cross": 0})
    assert not {"shared_bend", "shared_bend_cross"} & set(unbent.coefficients)

    def rest_on_proton(field: ValenceForceField) -> float:
        bound = field.bind(field.topology(atoms))
        rests = [frame.get_forces()[proton] - bound.energy_and_forces(frame.positions, frame.cell.array)[1][proton] for frame in acetylacetone]
        return float(np.sqrt(np.mean(np.square(rests))))

    assert rest_on_proton(acetylacetone_field) < 0.8 * rest_on_proton(unbent)
