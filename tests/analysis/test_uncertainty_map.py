"""Uncertainty-vs-PES maps: analytic scans, constrained relaxation, projections, real models, plots."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import all_changes
from ase.calculators.morse import MorsePotential
from ase.io import read

from asetools.analysis import InternalCoordinate, plot_uncertainty_map, uncertainty_map
from asetools.analysis.uncertainty_map import _spans_decades
from asetools.calculators import EnsembleCalc, PotentialCalc
from asetools.models import Potential
from asetools.uncertainty import fit_uncertainty
from tests.conftest import rattled_molecules, small_allegro

EPSILON, R0, RHO0 = 0.8, 1.1, 5.0


class ScoredMorse(MorsePotential):
    """A Morse potential whose 'uncertainty' is the longest interatomic distance, a known function of geometry."""

    implemented_properties = [*MorsePotential.implemented_properties, "uncertainty"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["uncertainty"] = float(self.atoms.get_all_distances().max())


def morse(distance):
    decay = np.exp(RHO0 * (1.0 - distance / R0))
    return EPSILON * decay * (decay - 2.0)


def test_a_dimer_scan_follows_the_analytic_curve(tmp_path):
    dimer = Atoms("H2", positions=[[0, 0, 0], [0, 0, R0]])
    lengths = np.linspace(0.9, 1.6, 8)
    result = uncertainty_map(dimer, ScoredMorse(epsilon=EPSILON, r0=R0, rho0=RHO0), ["bond:0,1"], [lengths])
    np.testing.assert_allclose(result.energy, morse(lengths), rtol=1e-10)
    np.testing.assert_allclose(result.uncertainties["uncertainty"], lengths, rtol=1e-12)
    np.testing.assert_allclose(result.achieved[:, 0], lengths, rtol=1e-12)
    assert result.quantity == "uncertainty" and result.converged is None
    assert result.relative_energy.min() == 0.0 and np.argmin(result.energy) == np.argmin(np.abs(lengths - R0))
    np.testing.assert_allclose(dimer.positions, [[0, 0, 0], [0, 0, R0]])  # the reference is left alone
    result.to_csv(tmp_path / "scan.csv")
    table = np.loadtxt(tmp_path / "scan.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 0], lengths, rtol=1e-7)
    np.testing.assert_allclose(table[:, 2], result.energy, rtol=1e-7)
    result.write_structures(tmp_path / "scan.xyz")
    frames = read(tmp_path / "scan.xyz", ":")
    assert [f.get_distance(0, 1) for f in frames] == pytest.approx(lengths)
    assert frames[3].info["uncertainty"] == pytest.approx(lengths[3])
    plot_uncertainty_map(result, tmp_path / "scan.png")
    assert (tmp_path / "scan.png").stat().st_size > 5000
    assert "highest at bond 0-1 (Å) = 1.6" in result.summary()


class HoleyMorse(ScoredMorse):
    """ScoredMorse that refuses every structure whose free atom has moved off its start, as a model with a hole might."""

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.start = np.array(start)

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        if np.linalg.norm(atoms.positions[2] - self.start) > 1e-3:
            raise ValueError("atoms 0 and 2 are 0.05 Å apart, closer than 0.1 Å")
        super().calculate(atoms, properties, system_changes)


def test_a_relaxation_that_breaks_off_leaves_that_point_unrelaxed_and_the_scan_goes_on():
    trimer = Atoms("H3", positions=[[0, 0, 0], [R0, 0, 0], [0.3, 1.4, 0.2]])
    lengths = np.linspace(0.95, 1.5, 4)
    rigid = uncertainty_map(trimer, ScoredMorse(epsilon=EPSILON, r0=R0, rho0=RHO0), ["bond:0,1"], [lengths])
    holey = HoleyMorse(trimer.positions[2], epsilon=EPSILON, r0=R0, rho0=RHO0)
    with pytest.warns(UserWarning, match="relaxation at bond 0-1 .* broke off .*closer than 0.1"):
        broken = uncertainty_map(trimer, holey, ["bond:0,1"], [lengths], relax=True, fmax=0.01)
    assert not broken.converged.any()
    np.testing.assert_allclose(broken.energy, rigid.energy, rtol=1e-12)
    np.testing.assert_allclose(broken.achieved[:, 0], lengths, atol=1e-12)
    assert all(structure.constraints == [] for structure in broken.structures)
    assert "4 constrained relaxations did not converge" in broken.summary()


def test_constrained_relaxation_holds_the_scanned_bond_and_lowers_the_energy():
    trimer = Atoms("H3", positions=[[0, 0, 0], [R0, 0, 0], [0.3, 1.4, 0.2]])
    calc = ScoredMorse(epsilon=EPSILON, r0=R0, rho0=RHO0)
    lengths = np.linspace(0.95, 1.5, 5)
    rigid = uncertainty_map(trimer, calc, ["bond:0,1"], [lengths])
    relaxed = uncertainty_map(trimer, calc, ["bond:0,1"], [lengths], relax=True, fmax=0.01)
    assert relaxed.converged.all()
    np.testing.assert_allclose(relaxed.achieved[:, 0], lengths, atol=1e-5)
    assert np.all(relaxed.energy < rigid.energy - 1e-3)
    for structure in relaxed.structures:
        structure.calc = calc
        forces = structure.get_forces()
        assert np.linalg.norm(forces[2]) < 0.01  # the free atom is at rest
        bond = structure.positions[1] - structure.positions[0]
        # What is left on the held atoms acts along the held bond only.
        sideways = forces[1] - bond * np.dot(forces[1], bond) / np.dot(bond, bond)
        assert np.linalg.norm(sideways) < 0.02
        assert structure.constraints == []


def test_calculators_without_an_uncertainty_are_refused():
    dimer = Atoms("H2", positions=[[0, 0, 0], [0, 0, R0]])
    with pytest.raises(ValueError, match="fit-uncertainty"):
        uncertainty_map(dimer, MorsePotential(), ["bond:0,1"], [[1.0]])
    with pytest.raises(ValueError, match="one or two coordinates"):
        uncertainty_map(dimer, MorsePotential(), [])
    with pytest.raises(ValueError, match="non-finite"):
        uncertainty_map(Atoms("H2", positions=[[0, 0, 0], [0, 0, np.nan]]), ScoredMorse(), ["bond:0,1"])


@pytest.fixture(scope="module")
def ethanol_frames():
    return rattled_molecules("CH3CH2OH", 12, seed=3)


@pytest.fixture(scope="module")
def ethanol_model():
    return small_allegro(species=("H", "C", "O")).double()


def test_a_two_coordinate_map_with_a_single_model_uncertainty(tmp_path, ethanol_model, ethanol_frames):
    fit = fit_uncertainty(ethanol_model, ethanol_frames, num_components=2, seed=0)
    calc = PotentialCalc(Potential(ethanol_model, uncertainty=fit.uncertainty), dtype="float64")
    torsion, bend = InternalCoordinate("dihedral", (0, 1, 2, 3)), InternalCoordinate("angle", (0, 1, 2))
    reference = molecule("CH3CH2OH")
    result = uncertainty_map(
        reference, calc, [torsion, bend], [np.linspace(0, 360, 4), [100.0, 110.0, 125.0]], training=ethanol_frames
    )
    assert result.shape == (4, 3) and result.achieved.shape == (4, 3, 2)
    np.testing.assert_allclose(result.achieved[..., 0], np.array([0.0, 120.0, -120.0, 0.0])[:, None] * np.ones(3), atol=1e-6)
    np.testing.assert_allclose(result.achieved[..., 1], np.array([100.0, 110.0, 125.0]) * np.ones((4, 1)), atol=1e-6)
    assert set(result.uncertainties) == {"uncertainty", "uncertainty_mean"}
    # Every grid point carries exactly what the calculator gives for its structure.
    probe = result.structures[5].copy()
    probe.calc = calc
    assert probe.get_potential_energy() == pytest.approx(result.energy[1, 2], rel=1e-12)
    assert calc.results["uncertainty"] == pytest.approx(result.uncertainties["uncertainty"][1, 2], rel=1e-12)
    # The training structures are projected with the angles in the scanned range.
    expected = [[torsion.measure(f) % 360.0, bend.measure(f)] for f in ethanol_frames]
    np.testing.assert_allclose(result.training, expected, atol=1e-9)
    assert np.all((result.training[:, 0] > 0) & (result.training[:, 0] <= 360))
    plot_uncertainty_map(result, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 10000
    # Values over five decades (a calibrated tail far from the data) get a logarithmic colour scale.
    result.uncertainties["uncertainty"] = np.logspace(-2, 3, 12).reshape(4, 3)
    plot_uncertainty_map(result, tmp_path / "wide.png")
    assert (tmp_path / "wide.png").stat().st_size > 10000


def test_wide_positive_ranges_are_plotted_on_a_log_scale():
    assert _spans_decades(np.array([0.05, 0.2, 400.0]))
    assert not _spans_decades(np.array([0.05, 0.2, 4.0]))
    assert not _spans_decades(np.array([-250.0, 0.2, 6e9]))  # scores (NLL) can be negative
    assert not _spans_decades(np.array([0.0, 1.0, 1e3]))
    assert _spans_decades(np.array([np.nan, 1e-3, 1.0]))


def test_an_ensemble_gives_force_uncertainties_in_ev_per_angstrom(ethanol_frames):
    members = [small_allegro(species=("H", "C", "O"), seed=s) for s in (1, 2)]
    methane = molecule("CH4")
    result = uncertainty_map(
        methane, EnsembleCalc(members), ["bond:0,1"], [[0.9, 1.1, 1.5]], training=ethanol_frames
    )
    assert result.quantity == "force_uncertainty"
    assert {"force_uncertainty", "energy_uncertainty", "uncertainty"} <= set(result.uncertainties)
    assert np.all(result.uncertainties["force_uncertainty"] > 0)
    # Frames of another molecule cannot be projected onto methane's coordinates.
    assert result.training is None and result.skipped_training == len(ethanol_frames)
