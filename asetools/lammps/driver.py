"""Molecular dynamics in LAMMPS with a strictly local asetools model on every MPI rank.

LAMMPS does what it is built for: domain decomposition, atom migration, ghost
atoms, integration, thermostats and barostats. The model enters through
``fix external`` in its ``pf/callback`` mode: at every force evaluation each rank
hands its local and ghost positions to a :class:`~asetools.lammps.DomainEvaluator`
and gets back the forces on its local atoms, its share of the energy and its
virial; the forces its atoms' energies put on other ranks' atoms are sent to those
ranks (:class:`~asetools.lammps.exchange.GhostForceExchange`). The ghost shell is
``r_max`` plus the neighbour skin (``comm_modify cutoff``; ``2 r_max`` + skin when
ghost forces are not sent), so it stays complete until LAMMPS next rebuilds it.

Start the same script on every rank (``mpirun -np 4 python script.py`` or
``mpirun -np 4 asetools lammps-md ...``); rank 0 writes the trajectory and log.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.lammps.coordinatetransform import Prism
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_masses, atomic_numbers
from ase.io import write
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from .._optional import progress_bar
from ..checkpoint import load_potential
from ..models import Potential
from .domain import VOIGT_LAMMPS, DomainEvaluator, DomainResult
from .exchange import GhostForceExchange
from .library import import_lammps, new_lammps

__all__ = ["ENSEMBLES", "LammpsMD"]

log = logging.getLogger(__name__)

#: Ensembles and the LAMMPS fixes that integrate them.
ENSEMBLES = ("nve", "langevin", "nvt", "npt")

PS = 1000.0 * units.fs  # one picosecond (LAMMPS metal time unit) in ASE time units
BAR = 1e5 * units.Pascal  # one bar (LAMMPS metal pressure unit) in eV/Å³
FIX_ID = "asetools"


@dataclass
class ThermoState:
    """One logged step. Energies in eV, time in ps, temperature in K, pressure in GPa."""

    step: int
    time_ps: float
    potential_energy: float
    kinetic_energy: float
    temperature: float
    pressure_gpa: float


class LammpsMD:
    """Run MD in LAMMPS with an asetools model, on all ranks of an MPI communicator.

    Every rank constructs the object with the same arguments (the same script runs
    on each). Integration is LAMMPS's: ``nve`` velocity Verlet (``fix nve``, the same
    scheme as :class:`ase.md.verlet.VelocityVerlet`), ``langevin`` (``fix nve`` +
    ``fix langevin``), ``nvt`` Nosé-Hoover chains (``fix nvt``) or ``npt``
    (``fix npt iso``, using the model's virial).

    Args:
        model: a strictly local model: a checkpoint path or a
            :class:`~asetools.models.Potential`.
        atoms: the starting structure (positions in Å; velocities are used when
            present). Fully periodic, or non-periodic along some axes (LAMMPS
            shrink-wraps those; a fully non-periodic structure may have no cell).
        timestep: time step in ASE time units (``1 * ase.units.fs`` for 1 fs).
        ensemble: one of :data:`ENSEMBLES`.
        temperature_K: thermostat target; also the temperature of fresh
            Maxwell-Boltzmann velocities when ``atoms`` has none.
        pressure_au: barostat target for ``npt`` in eV/Å³ (ASE's unit; ``1e4 *
            ase.units.bar`` is 1 GPa).
        tdamp: thermostat time constant (Langevin: inverse friction), ASE time
            units; default 100 time steps.
        pdamp: barostat time constant, ASE time units; default 1000 time steps.
        seed: seed of the initial velocities and of the Langevin noise.
        dtype: ``"float64"`` (default, LAMMPS's own precision) or ``"float32"``.
        device: ``"cpu"`` or ``"cuda"``; with CUDA each rank takes the GPU
            ``local rank % number of GPUs``.
        threads: torch threads per rank; default: this process's cores divided
            among the ranks on the machine.
        skin: neighbour skin in Å: LAMMPS rebuilds the ghost shell once an atom has
            moved by half of it.
        send_ghost_forces: each rank evaluates only its own atoms and sends the forces
            on ghosts to their owners (ghost shell ``r_max`` + skin; default). ``False``
            evaluates the ghosts within ``r_max`` as centres too, so nothing is sent
            (ghost shell ``2 r_max`` + skin); both give the same forces.
        comm: an mpi4py communicator; default ``MPI.COMM_WORLD``.
    """

    def __init__(
        self,
        model: str | os.PathLike | Potential,
        atoms: Atoms,
        timestep: float,
        *,
        ensemble: str = "nve",
        temperature_K: float | None = None,
        pressure_au: float | None = None,
        tdamp: float | None = None,
        pdamp: float | None = None,
        seed: int = 0,
        dtype: str = "float64",
        device: str = "cpu",
        threads: int | None = None,
        skin: float = 1.0,
        send_ghost_forces: bool = True,
        comm=None,
    ):
        _check_arguments(atoms, timestep, ensemble, temperature_K, pressure_au, skin)
        lammps, mpi = import_lammps()
        self.comm = mpi.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        potential = load_potential(model) if isinstance(model, (str, os.PathLike)) else model
        node_rank, ranks_on_node = _place_on_node(self.comm, mpi)
        torch.set_num_threads(threads or _threads_per_rank(ranks_on_node))
        self.evaluator = DomainEvaluator(
            potential, dtype=getattr(torch, dtype), device=_rank_device(device, node_rank),
            send_ghost_forces=send_ghost_forces,
        )
        self.ghost_force_exchange = GhostForceExchange(self.comm, mpi) if send_ghost_forces else None
        self.atoms = atoms.copy()
        self.timestep = float(timestep)
        self.ensemble = ensemble
        self.species = list(potential.species)
        self._types = _lammps_types(atoms, self.species)
        self._prism = Prism(_box_cell(atoms, self.evaluator.cutoff), atoms.pbc)
        self._failure: str | None = None
        self._last: DomainResult | None = None
        self._last_tags = np.zeros(0, dtype=np.int64)
        self._energy = math.nan
        self._virial = np.zeros(6)
        self._started = False
        self.nsteps = 0

        self.lmp = new_lammps(lammps, self.comm)
        self._set_up_system(atoms, skin, temperature_K, seed)
        self._set_up_integration(temperature_K, pressure_au, tdamp, pdamp, seed)

    # ---------------------------------------------------------------- set-up

    def _set_up_system(self, atoms: Atoms, skin: float, temperature_K: float | None, seed: int) -> None:
        xhi, yhi, zhi, xy, xz, yz = self._prism.get_lammps_prism()
        boundary = " ".join("p" if periodic else "s" for periodic in atoms.pbc)
        commands = [
            "units metal",
            "atom_style atomic",
            "atom_modify map array",
            f"boundary {boundary}",
            f"region cell prism 0 {_num(xhi)} 0 {_num(yhi)} 0 {_num(zhi)} {_num(xy)} {_num(xz)} {_num(yz)} units box",
            f"create_box {len(self.species)} cell",
        ]
        masses = _type_masses(atoms, self._types, self.species)
        commands += [f"mass {index + 1} {_num(mass)}" for index, mass in enumerate(masses)]
        self.lmp.commands_list(commands)

        start = atoms.copy()
        if not start.get_momenta().any() and temperature_K:
            thermalize_momenta(start, temperature_K=temperature_K, rng=np.random.default_rng(seed))
            Stationary(start)
        positions, images = _wrapped(self._prism, start.positions, start.pbc)
        velocities = self._prism.vector_to_lammps(start.get_velocities()) * PS
        flags = [self.lmp.encode_image_flags(*image) for image in images.tolist()]
        self.lmp.create_atoms(
            len(start), list(range(1, len(start) + 1)), (self._types + 1).tolist(),
            positions.ravel().tolist(), velocities.ravel().tolist(), flags,
            shrinkexceed=not start.pbc.all(),  # shrink-wrapped axes grow to hold every atom
        )
        if self.lmp.get_natoms() != len(start):
            raise ValueError(
                f"LAMMPS kept {self.lmp.get_natoms()} of {len(start)} atoms: some lie outside the cell "
                "along a non-periodic axis; give the structure a cell that holds every atom"
            )
        ghost = self.evaluator.ghost_cutoff + skin
        self.lmp.commands_list([
            f"neighbor {_num(skin)} bin",
            "neigh_modify every 1 delay 0 check yes",
            f"comm_modify cutoff {_num(ghost)}",
            "compute unwrapped all property/atom xu yu zu",
            f"fix {FIX_ID} all external pf/callback 1 1",
            f"fix_modify {FIX_ID} energy yes virial yes",
            f"timestep {self.timestep / PS!r}",
        ])
        self.lmp.set_fix_external_callback(FIX_ID, self._callback, None)

    def _set_up_integration(self, temperature_K, pressure_au, tdamp, pdamp, seed) -> None:
        tdamp_ps = (tdamp if tdamp is not None else 100 * self.timestep) / PS
        pdamp_ps = (pdamp if pdamp is not None else 1000 * self.timestep) / PS
        temperature = "" if temperature_K is None else f"{_num(temperature_K)} {_num(temperature_K)}"
        if self.ensemble in ("nve", "langevin"):
            commands = ["fix integrate all nve"]
            if self.ensemble == "langevin":
                commands.append(f"fix thermostat all langevin {temperature} {_num(tdamp_ps)} {seed % 900_000_000 + 1} zero yes")
        elif self.ensemble == "nvt":
            commands = [f"fix integrate all nvt temp {temperature} {_num(tdamp_ps)}"]
        else:
            pressure = pressure_au / BAR
            commands = [f"fix integrate all npt temp {temperature} {_num(tdamp_ps)} iso {_num(pressure)} {_num(pressure)} {_num(pdamp_ps)}"]
        self.lmp.commands_list(commands + ["thermo_style custom step time pe ke temp press", "thermo_modify norm no"])

    # ---------------------------------------------------------------- forces

    def _callback(self, caller, step, nlocal, tags, x, forces) -> None:
        """LAMMPS's force call on this rank: model forces into ``forces``, energy and virial set on the fix."""
        energy, virial = math.nan, np.zeros(6)
        nall = nlocal + self.lmp.extract_setting("nghost")
        ids = np.asarray(self.lmp.numpy.extract_atom("id", nelem=nall), dtype=np.int64)
        local_forces, ghost_forces = np.zeros((nlocal, 3)), np.zeros((nall - nlocal, 3))
        try:
            positions = self.lmp.numpy.extract_atom("x", nelem=nall, dim=3)
            types = self.lmp.numpy.extract_atom("type", nelem=nall)
            result = self.evaluator(positions, np.asarray(types) - 1, nlocal, ids)
            local_forces = result.forces
            if result.ghost_forces is not None:
                ghost_forces = result.ghost_forces
            energy, virial = result.energy, result.virial
            self._last, self._last_tags = result, np.array(tags, dtype=np.int64)
            if nlocal:
                self.lmp.numpy.fix_external_set_energy_peratom(FIX_ID, result.atom_energies)
                self.lmp.numpy.fix_external_set_virial_peratom(FIX_ID, np.ascontiguousarray(result.atom_virials))
        except Exception as error:  # an exception must not escape into C, and every rank must reach the sum
            self._failure = self._failure or f"rank {self.rank}, step {step}: {type(error).__name__}: {error}"
        if self.ghost_force_exchange is not None:  # collective: every rank takes part, failed or not
            try:
                self.ghost_force_exchange(ids, nlocal, local_forces, ghost_forces)
            except RuntimeError as error:
                self._failure = self._failure or f"rank {self.rank}, step {step}: {error}"
        forces[:] = local_forces if self._failure is None else 0.0
        # LAMMPS sums fix virials over ranks itself, but not a fix's global energy.
        totals = self.comm.allreduce(np.concatenate([[energy], virial]))  # one collective per force call
        self._energy, self._virial = float(totals[0]), totals[1:]
        self.lmp.fix_external_set_energy_global(FIX_ID, self._energy if math.isfinite(self._energy) else 0.0)
        self.lmp.fix_external_set_virial_global(FIX_ID, virial.tolist())

    def _raise_if_failed(self) -> None:
        """Raise on every rank if the model failed on any rank during the last run."""
        messages = [m for m in self.comm.allgather(self._failure) if m]
        if messages or not math.isfinite(self._energy):
            detail = "; ".join(messages) or "the energy is not finite"
            raise RuntimeError(f"the model failed inside LAMMPS ({detail})")

    # ---------------------------------------------------------------- running

    def run(
        self,
        steps: int,
        trajectory: str | os.PathLike | None = None,
        logfile: str | os.PathLike | None = None,
        loginterval: int = 10,
        progress: bool = False,
    ) -> Atoms:
        """Advance ``steps`` time steps; returns the final structure (on every rank).

        Rank 0 appends a frame to ``trajectory`` (any ASE format that can append,
        such as ``.xyz`` or ``.traj``) and a line to ``logfile`` every
        ``loginterval`` steps, including the first call's starting point. Frames
        hold positions (unwrapped, Å), velocities, cell, the model's energy,
        per-atom energies, forces and stress. The trajectory is written to a
        ``.partial`` file beside it and renamed when the run ends, also when it
        fails, so no frame is lost.
        """
        if steps < 0 or loginterval < 1:
            raise ValueError(f"need steps >= 0 and loginterval >= 1, got {steps} and {loginterval}")
        writer = _Output(trajectory, logfile, active=self.rank == 0)
        try:
            if not self._started:
                self.lmp.command("run 0 post no")
                self._started = True
                self._raise_if_failed()
                writer.write(*self._snapshot())
            chunks = [loginterval] * (steps // loginterval) + ([steps % loginterval] if steps % loginterval else [])
            for chunk in progress_bar(chunks, len(chunks), "LAMMPS MD", "blocks") if progress and self.rank == 0 else chunks:
                self.lmp.command(f"run {chunk} pre no post no")
                self.nsteps += chunk
                self._raise_if_failed()
                writer.write(*self._snapshot())
        finally:
            writer.close()
        return self.atoms

    def thermo(self) -> ThermoState:
        """The current step's energies, temperature and pressure (collective: call on every rank)."""
        return ThermoState(
            step=self.nsteps,
            time_ps=self.nsteps * self.timestep / PS,
            potential_energy=self._energy,
            kinetic_energy=self.lmp.get_thermo("ke"),
            temperature=self.lmp.get_thermo("temp"),
            pressure_gpa=self.lmp.get_thermo("press") * BAR / units.GPa,
        )

    def _snapshot(self) -> tuple[Atoms, ThermoState]:
        """The current structure with the model's results (assembled on every rank), and the thermo state."""
        natoms = len(self.atoms)
        positions = np.ctypeslib.as_array(self.lmp.gather("c_unwrapped", 1, 3)).reshape(natoms, 3)
        velocities = np.ctypeslib.as_array(self.lmp.gather_atoms("v", 1, 3)).reshape(natoms, 3)
        pieces = self.comm.allgather(
            (self._last_tags, self._last.forces, self._last.atom_energies) if self._last is not None else None
        )
        forces, energies = np.zeros((natoms, 3)), np.zeros(natoms)
        for piece in filter(None, pieces):
            tags, piece_forces, piece_energies = piece
            forces[tags - 1], energies[tags - 1] = piece_forces, piece_energies
        state = self.thermo()
        atoms = self.atoms.copy()
        atoms.set_cell(self._current_cell())
        atoms.positions = self._prism.vector_to_ase(positions)
        atoms.set_velocities(self._prism.vector_to_ase(velocities) / PS)
        virial = np.zeros((3, 3))
        for index, (row, column) in enumerate(VOIGT_LAMMPS):
            virial[row, column] = virial[column, row] = self._virial[index]
        stress = None
        if atoms.pbc.all():
            stress = -self._prism.tensor2_to_ase(virial) / atoms.get_volume()
        atoms.calc = SinglePointCalculator(
            atoms, energy=self._energy, free_energy=self._energy, energies=energies,
            forces=self._prism.vector_to_ase(forces), stress=stress,
        )
        self.atoms = atoms
        return atoms, state

    def _current_cell(self) -> np.ndarray:
        """The LAMMPS box (it changes under NPT and shrink-wrapping) in the structure's own frame."""
        low, high, xy, yz, xz, _, _ = self.lmp.extract_box()
        lengths = np.subtract(high, low)
        box = np.array([[lengths[0], 0, 0], [xy, lengths[1], 0], [xz, yz, lengths[2]]])
        cell = self._prism.update_cell(box)
        original = self.atoms.cell.array
        # shrink-wrapped axes keep the structure's own cell vectors (LAMMPS's wrap is only a search box)
        return np.where(self.atoms.pbc[:, None], cell, original)

    def close(self) -> None:
        """Free the LAMMPS instance."""
        if getattr(self, "lmp", None) is not None:
            self.lmp.close()
            self.lmp = None

    def __enter__(self) -> LammpsMD:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Output:
    """Rank 0's trajectory (a ``.partial`` file renamed at the end) and log."""

    def __init__(self, trajectory, logfile, active: bool):
        self.active = active
        self.trajectory = None if trajectory is None else Path(trajectory)
        self.partial = None
        self.log = None
        if not active:
            return
        if self.trajectory is not None:
            self.partial = self.trajectory.with_name(f"{self.trajectory.stem}.partial{self.trajectory.suffix}")
            self.partial.unlink(missing_ok=True)
        if logfile is not None:
            self.log = open(logfile, "a")
            self.log.write(f"{'Time[ps]':>10} {'Etot[eV]':>14} {'Epot[eV]':>14} {'Ekin[eV]':>12} {'T[K]':>9} {'P[GPa]':>9}\n")

    def write(self, atoms: Atoms, state: ThermoState) -> None:
        if not self.active:
            return
        if self.partial is not None:
            write(self.partial, atoms, append=True)
        if self.log is not None:
            total = state.potential_energy + state.kinetic_energy
            self.log.write(
                f"{state.time_ps:10.4f} {total:14.5f} {state.potential_energy:14.5f} {state.kinetic_energy:12.5f} "
                f"{state.temperature:9.2f} {state.pressure_gpa:9.4f}\n"
            )
            self.log.flush()

    def close(self) -> None:
        if self.partial is not None and self.partial.exists():
            os.replace(self.partial, self.trajectory)
        if self.log is not None:
            self.log.close()


def _num(value: float) -> str:
    """A number as LAMMPS reads it, at full precision."""
    return repr(float(value))


def _check_arguments(atoms, timestep, ensemble, temperature_K, pressure_au, skin) -> None:
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise ValueError("LammpsMD needs a non-empty ase.Atoms structure")
    if not np.isfinite(atoms.positions).all():
        raise ValueError("the structure's positions contain NaN or inf")
    if not timestep > 0:
        raise ValueError(f"timestep must be positive (ASE time units), got {timestep}")
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLES)}; got {ensemble!r}")
    if ensemble != "nve" and not (temperature_K and temperature_K > 0):
        raise ValueError(f"the {ensemble} ensemble needs a positive temperature_K")
    if ensemble == "npt":
        if pressure_au is None:
            raise ValueError("the npt ensemble needs pressure_au (eV/Å³; 1e4 * ase.units.bar is 1 GPa)")
        if not atoms.pbc.all():
            raise ValueError("the npt ensemble needs a structure periodic along all three axes")
    if not skin > 0:
        raise ValueError(f"skin must be positive (Å), got {skin}")


def _lammps_types(atoms: Atoms, species: list[str]) -> np.ndarray:
    """Index of each atom's element in ``species`` (LAMMPS type = index + 1); unknown elements refused."""
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(species))
    if unknown:
        raise ValueError(
            f"element(s) {', '.join(unknown)} not in the model's species {species}; "
            "use a model trained on these elements"
        )
    return np.array([species.index(symbol) for symbol in symbols], dtype=np.int64)


def _type_masses(atoms: Atoms, types: np.ndarray, species: list[str]) -> list[float]:
    """One mass per LAMMPS type (amu); LAMMPS's atomic style has no per-atom masses."""
    masses = []
    for index, symbol in enumerate(species):
        of_type = atoms.get_masses()[types == index]
        if len(of_type) and np.ptp(of_type) > 1e-8:
            raise ValueError(f"the {symbol} atoms have different masses; LAMMPS gives one mass per element")
        masses.append(float(of_type[0]) if len(of_type) else float(atomic_masses[atomic_numbers[symbol]]))
    return masses


def _box_cell(atoms: Atoms, cutoff: float) -> np.ndarray:
    """The cell LAMMPS starts from: the structure's own, or for a cell-less molecule a box around it."""
    cell = atoms.cell.array.copy()
    if atoms.pbc.all() or atoms.cell.rank == 3:
        return cell
    if atoms.pbc.any():
        raise ValueError(
            "a structure periodic along some axes needs a full cell (set the non-periodic cell vectors, "
            "e.g. atoms.center(vacuum=10.0, axis=2))"
        )
    extent = np.ptp(atoms.positions, axis=0)
    return np.diag(extent + 2 * cutoff)


def _wrapped(prism: Prism, positions: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in LAMMPS's frame wrapped into its cell along periodic axes, and the image flags."""
    xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
    box = np.array([[xhi, 0, 0], [xy, yhi, 0], [xz, yz, zhi]])
    fractions = prism.vector_to_lammps(positions) @ np.linalg.inv(box)
    images = np.where(pbc, np.floor(fractions), 0.0)
    return (fractions - images) @ box, images.astype(np.int64)


def _place_on_node(comm, mpi) -> tuple[int, int]:
    """This rank's index among the ranks on its machine, and how many ranks that machine runs."""
    node = comm.Split_type(mpi.COMM_TYPE_SHARED, key=comm.Get_rank())
    place = node.Get_rank(), node.Get_size()
    node.Free()
    return place


def _threads_per_rank(ranks_on_node: int) -> int:
    """This process's cores shared among the ranks on this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // ranks_on_node)


def _rank_device(device: str, node_rank: int) -> str:
    """``cuda`` becomes ``cuda:k`` with k the rank's index on its machine modulo the GPUs there."""
    if device != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA GPU")
    return f"cuda:{node_rank % torch.cuda.device_count()}"
