"""Reading labelled frames from files: keys, checks naming file and frame, isolated atoms, splits."""

import logging

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from asetools.data import (
    LabelKeys,
    dataset_statistics,
    emt_copper_dataset,
    frames_fingerprint,
    label_frames,
    read_isolated_atom_energies,
    read_labelled_frames,
    split_frames,
)


def write_frames(path, frames):
    ase.io.write(path, frames, format="extxyz")
    return path


def labelled_water(count=4, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.info["REF_energy"] = float(rng.normal())
        atoms.arrays["REF_forces"] = rng.normal(size=(3, 3))
        frames.append(atoms)
    return frames


def test_custom_keys_and_calculator_labels_round_trip(tmp_path):
    frames = labelled_water()
    path = write_frames(tmp_path / "water.xyz", frames)
    read = read_labelled_frames(path, LabelKeys(energy="REF_energy", forces="REF_forces"))
    assert [f.energy for f in read] == pytest.approx([a.info["REF_energy"] for a in frames], abs=1e-12)
    np.testing.assert_allclose(read[2].forces, frames[2].arrays["REF_forces"], atol=1e-7)  # extxyz keeps 8 decimals
    assert read[1].stress is None and read[1].source == "water.xyz frame 1"

    crystals = emt_copper_dataset(3, seed=1)
    read = read_labelled_frames(write_frames(tmp_path / "cu.xyz", crystals))
    for frame, atoms in zip(read, crystals):
        assert frame.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        voigt = atoms.get_stress()
        assert frame.stress[1, 2] == pytest.approx(voigt[3]) and frame.stress[0, 1] == pytest.approx(voigt[5])
        assert frame.atoms.calc is None


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda a: a.arrays.pop("REF_forces"), "water.xyz frame 2 has no reference forces 'REF_forces'"),
        (lambda a: a.info.pop("REF_energy"), "water.xyz frame 2 has no reference energy"),
        (lambda a: a.positions.__setitem__((0, 0), np.nan), "water.xyz frame 2: positions contain NaN"),
        (lambda a: a.arrays["REF_forces"].__setitem__((1, 1), np.inf), "water.xyz frame 2: forces 'REF_forces' contain NaN"),
        (lambda a: a.set_chemical_symbols(["O", "H", "S"]), r"water.xyz frame 2: element\(s\) S not in the species"),
    ],
)
def test_a_bad_frame_is_named_by_file_and_index(tmp_path, spoil, message):
    frames = labelled_water()
    spoil(frames[2])
    path = tmp_path / "water.xyz"
    if "positions" in message or "inf" in message or "S not" in message:
        # ase's extxyz cannot write some of these; pass the frames as if read from the file.
        with pytest.raises(ValueError, match=message):
            label_frames(frames, LabelKeys("REF_energy", "REF_forces"), ["H", "O"], source="water.xyz")
        return
    write_frames(path, frames)
    with pytest.raises(ValueError, match=message):
        read_labelled_frames(path, LabelKeys("REF_energy", "REF_forces"), ["H", "O"])


def test_mismatched_force_shape_and_skipping(caplog):
    frames = labelled_water(5)
    frames[1].arrays.pop("REF_forces")
    atoms = frames[3]  # labelled under the default keys too, with wrongly shaped forces
    atoms.calc = SinglePointCalculator(atoms, energy=1.0, forces=np.zeros((2, 3)))
    keys = LabelKeys("REF_energy", "REF_forces")
    with pytest.raises(ValueError, match="data.xyz frame 1 has no reference forces"):
        label_frames(frames, keys, source="data.xyz")
    with caplog.at_level(logging.WARNING):
        kept = label_frames(frames, keys, source="data.xyz", skip_bad=True)
    assert [f.source for f in kept] == ["data.xyz frame 0", "data.xyz frame 2", "data.xyz frame 3", "data.xyz frame 4"]
    assert "skipped 1 bad frame(s) of 5 in data.xyz" in caplog.text
    with pytest.raises(ValueError, match=r"structure 0: forces 'forces' have shape \(2, 3\), expected \(3, 3\)"):
        label_frames([atoms])


def test_stress_on_a_molecule_is_rejected():
    atoms = molecule("H2O")
    atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=np.zeros((3, 3)), stress=np.zeros(6))
    with pytest.raises(ValueError, match="not periodic"):
        label_frames([atoms])


def test_isolated_atoms_and_statistics_with_them(tmp_path):
    isolated = []
    for symbol, energy in (("H", -13.6), ("O", -2035.5)):
        atoms = Atoms(symbol)
        atoms.info["energy"] = energy
        isolated.append(atoms)
    energies = read_isolated_atom_energies(write_frames(tmp_path / "iso.xyz", isolated))
    assert energies == {"H": -13.6, "O": -2035.5}
    frames = label_frames(labelled_water(6), LabelKeys("REF_energy", "REF_forces"))
    stats = dataset_statistics(frames, 3.0, ["H", "O"], isolated_atom_energies=energies)
    assert stats.per_species_energy_shifts == [-13.6, -2035.5] and stats.shift_source == "isolated_atoms"
    residual = np.mean([(f.energy - 2 * -13.6 - -2035.5) / 3 for f in frames])
    assert stats.mean_residual_energy_per_atom == pytest.approx(residual)
    hydrogen_forces = np.concatenate([f.forces[1:] for f in frames])
    assert stats.per_species_force_rms[0] == pytest.approx(np.sqrt(np.mean(hydrogen_forces**2)))
    assert stats.per_species_num_atoms == [12, 6]
    # Every atom of a water molecule sees the other two within 3 Å.
    assert stats.per_species_avg_num_neighbors == pytest.approx([2.0, 2.0])
    with pytest.raises(ValueError, match="no isolated-atom energy for C"):
        dataset_statistics(frames, 3.0, ["H", "O", "C"], isolated_atom_energies=energies)


def test_split_is_seeded_disjoint_and_complete():
    frames = label_frames(emt_copper_dataset(10, seed=0))
    train, validation = split_frames(frames, 0.3, seed=4)
    again = split_frames(frames, 0.3, seed=4)
    other = split_frames(frames, 0.3, seed=5)
    assert len(validation) == 3 and len(train) == 7
    assert {f.source for f in train} | {f.source for f in validation} == {f.source for f in frames}
    assert [f.source for f in again[1]] == [f.source for f in validation]
    assert [f.source for f in other[1]] != [f.source for f in validation]
    assert frames_fingerprint(train) == frames_fingerprint(again[0]) != frames_fingerprint(other[0])


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_labelled_frames(tmp_path / "absent.xyz")
    broken = tmp_path / "broken.xyz"
    broken.write_text("3\nnot a comment line\nH 0 0\n")
    with pytest.raises(ValueError, match="cannot read"):
        read_labelled_frames(broken)
