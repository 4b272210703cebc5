"""Reference electron densities from Kohn-Sham DFT with PySCF (the optional ``[dft]`` extra).

:func:`dft_density` runs one all-electron calculation (restricted for closed shells, unrestricted
otherwise) and evaluates the density on a grid; :func:`generate_density_dataset` labels many
molecules, with rattled copies, into the ``.npz`` + ``index.json`` layout that
:func:`asetools.density.references.read_density_dataset` and ``asetools train-density`` read.

Units at the interface are those of the rest of asetools: positions and spacings in Å, densities in
e/Å³, energies in eV. PySCF works in Bohr and Hartree; the conversions happen here only.

Example::

    from ase.build import molecule
    from asetools.density.dft import DFTDensityConfig, dft_density

    result = dft_density(molecule("H2O"), DFTDensityConfig(xc="PBE", basis="def2-SVP", spacing=0.2))
    result.frame.grid.values  # [nx, ny, nz] e/Å³
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import Bohr

from .._files import atomic_path
from .._optional import optional_import, progress_bar
from ..config import load_yaml
from ..data.scf import SCFSettings, run_scf
from ..io.grid import DensityGrid
from .references import DensityFrame, write_density_npz

__all__ = [
    "DFTDensity",
    "DFTDensityConfig",
    "DatasetConfig",
    "dft_density",
    "generate_density_dataset",
    "g2_molecules",
    "rattled_copies",
]


@dataclasses.dataclass
class DFTDensityConfig(SCFSettings):
    """How one density is computed: the SCF (:class:`SCFSettings`) and the grid.

    Attributes:
        spacing: grid step along x, y and z, Å.
        padding: box margin beyond the outermost atoms, Å.
        chunk_points: grid points evaluated at a time (memory: chunk_points × basis functions × 8 B).
    """

    spacing: float = 0.2
    padding: float = 2.5
    chunk_points: int = 50_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.spacing > 0:
            raise ValueError(f"spacing must be positive (Å), got {self.spacing}")
        if self.padding < 0:
            raise ValueError(f"padding must not be negative (Å), got {self.padding}")
        if self.chunk_points < 1:
            raise ValueError(f"chunk_points must be at least 1, got {self.chunk_points}")


@dataclasses.dataclass
class DatasetConfig:
    """A dataset to generate (``asetools dft-density --config``).

    Attributes:
        output_directory: where the ``.npz`` files and ``index.json`` go.
        structures: files ASE reads; every frame is a molecule. Empty with ``g2`` set uses ASE's G2 set.
        g2_elements: when ``structures`` is empty, the G2 molecules made only of these elements.
        rattled: rattled copies per molecule, besides the geometry as given.
        rattle_std: standard deviation of the Gaussian displacements, Å.
        seed: seed of the displacements.
        dft: the calculation.
    """

    output_directory: str = "density_dataset"
    structures: list[str] = dataclasses.field(default_factory=list)
    g2_elements: str = "HCNOF"
    rattled: int = 2
    rattle_std: float = 0.04
    seed: int = 0
    dft: DFTDensityConfig = dataclasses.field(default_factory=DFTDensityConfig)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> DatasetConfig:
        return load_yaml(cls, path)


@dataclasses.dataclass(frozen=True, eq=False)
class DFTDensity:
    """The result of :func:`dft_density`.

    Attributes:
        frame: the density (e/Å³) on its grid, with the structure.
        energy: total energy, eV.
        spin: unpaired electrons used.
        seconds: wall time of the SCF and the grid evaluation.
    """

    frame: DensityFrame
    energy: float
    spin: int
    seconds: float


def dft_density(
    atoms: Atoms,
    config: DFTDensityConfig | None = None,
    grid: DensityGrid | None = None,
    name: str | None = None,
    molecule: str | None = None,
) -> DFTDensity:
    """All-electron Kohn-Sham density of a molecule on a grid.

    Args:
        atoms: the molecule (positions in Å). Periodic structures are refused.
        config: functional, basis, grid and SCF settings (defaults: PBE/def2-SVP, 0.2 Å).
        grid: evaluate on this grid instead of a padded box (its values are ignored).
        name, molecule: identifiers stored in the frame (default: the chemical formula).

    Raises:
        ImportError: PySCF is not installed (``pip install 'asetools[dft]'``).
        ValueError: a periodic structure, non-finite positions, or a charge/spin the electrons
            cannot have.
        RuntimeError: the SCF did not converge, even with the second-order solver.
    """
    config = config or DFTDensityConfig()
    started = time.perf_counter()
    scf = run_scf(atoms, config, name=name)
    mol = scf.solver.mol
    formula = atoms.get_chemical_formula()
    if grid is None:
        grid = DensityGrid.around(atoms, spacing=config.spacing, padding=config.padding)
    density = _density_on_points(mol, scf.solver.make_rdm1(), grid, config.chunk_points)
    frame = DensityFrame(
        grid=grid.with_values(density.reshape(grid.shape)),
        name=name or formula,
        molecule=molecule or formula,
        n_electrons=float(mol.nelectron),
    )
    return DFTDensity(frame=frame, energy=scf.energy, spin=scf.spin, seconds=time.perf_counter() - started)


def _density_on_points(mol, density_matrix, grid: DensityGrid, chunk_points: int) -> np.ndarray:
    """The density (e/Å³, float32) at the grid's points, in C order, a chunk of points at a time."""
    numint = optional_import("pyscf.dft.numint", extra="dft")
    total = np.asarray(density_matrix)
    if total.ndim == 3:  # unrestricted: alpha + beta
        total = total[0] + total[1]
    values = np.empty(grid.num_points, dtype=np.float32)
    for start in range(0, grid.num_points, chunk_points):
        stop = min(start + chunk_points, grid.num_points)
        orbitals = mol.eval_gto("GTOval", grid.points(start, stop) / Bohr)  # PySCF adds _sph or _cart
        values[start:stop] = numint.eval_rho(mol, orbitals, total, xctype="LDA") / Bohr**3
    return values


def rattled_copies(atoms: Atoms, count: int, std: float, rng: np.random.Generator) -> list[Atoms]:
    """``count`` copies of ``atoms`` with Gaussian displacements of standard deviation ``std`` Å."""
    if count < 0 or std < 0:
        raise ValueError(f"rattled copies need count >= 0 and std >= 0, got {count} and {std}")
    copies = []
    for _ in range(count):
        copy = atoms.copy()
        copy.positions += rng.normal(0.0, std, size=copy.positions.shape)
        copies.append(copy)
    return copies


def g2_molecules(elements: str | Iterable[str] = "HCNOF", include_atoms: bool = False) -> dict[str, Atoms]:
    """ASE's G2 molecules made only of ``elements`` (a string like ``"HCNOF"`` or a list of symbols).

    The set's isolated atoms (``H``, ``O``, ...) are left out unless ``include_atoms``.
    """
    from ase.collections import g2
    from ase.data import chemical_symbols

    wanted = _parse_elements(elements)
    unknown = sorted(wanted - set(chemical_symbols[1:]))
    if unknown:
        raise ValueError(f"unknown element symbol(s) {unknown}")
    chosen = {}
    for name in g2.names:
        atoms = g2[name]
        if set(atoms.get_chemical_symbols()) <= wanted and (include_atoms or len(atoms) > 1):
            chosen[name] = atoms
    if not chosen:
        raise ValueError(f"no G2 molecule is made only of {sorted(wanted)}")
    return chosen


def _parse_elements(elements: str | Iterable[str]) -> set[str]:
    if not isinstance(elements, str):
        return set(elements)
    symbols, current = [], ""
    for char in elements.replace(",", " ").replace(" ", ""):
        if char.isupper():
            if current:
                symbols.append(current)
            current = char
        elif char.islower() and current:
            current += char
        else:
            raise ValueError(f"cannot read element symbols from {elements!r}; write them like 'HCNOF' or 'H,C,Si'")
    if current:
        symbols.append(current)
    return set(symbols)


def generate_density_dataset(
    molecules: Mapping[str, Atoms] | Sequence[Atoms],
    directory: str | os.PathLike,
    config: DFTDensityConfig | None = None,
    rattled: int = 2,
    rattle_std: float = 0.04,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Label molecules and rattled copies of them with DFT densities; returns the ``index.json`` path.

    Frame ``<name>_0`` is each molecule as given and ``<name>_1`` ... ``<name>_<rattled>`` its
    rattled copies. Each frame is written as soon as it is done and the index after it, both
    atomically, so an interrupted run loses at most the frame in progress; running again with the
    same arguments skips the frames the index lists and computes the rest. The displacements of a
    molecule depend only on ``seed`` and its name, so a resumed run, a run with more rattled copies
    or with more molecules makes the same frames for the ones already there.

    Args:
        molecules: name -> molecule, or a list (named by chemical formula, numbered if repeated).
        directory: output directory (created if needed).
        config: the calculation (see :class:`DFTDensityConfig`).
        rattled: rattled copies per molecule.
        rattle_std: displacement standard deviation, Å.
        seed: seed of the displacements.
        progress: show a progress bar (needs tqdm).
    """
    config = config or DFTDensityConfig()
    named = _named_molecules(molecules)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / "index.json"
    index = _read_or_start_index(index_path, config, rattle_std, seed)
    done = {entry["id"] for entry in index["frames"] if (directory / f"{entry['id']}.npz").exists()}
    index["frames"] = [entry for entry in index["frames"] if entry["id"] in done]
    jobs = []
    for name, atoms in named.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        for number, geometry in enumerate([atoms.copy(), *rattled_copies(atoms, rattled, rattle_std, rng)]):
            frame_id = f"{name}_{number}"
            if frame_id not in done:
                jobs.append((frame_id, name, geometry))
    items = progress_bar(jobs, total=len(jobs), description="DFT densities", unit="frame") if progress else jobs
    for frame_id, name, geometry in items:
        result = dft_density(geometry, config, name=frame_id, molecule=name)
        write_density_npz(directory / f"{frame_id}.npz", result.frame, energy=result.energy)
        grid = result.frame.grid
        index["frames"].append(
            {
                "id": frame_id,
                "molecule": name,
                "natoms": len(geometry),
                "n_electrons": result.frame.n_electrons,
                "spin": result.spin,
                "grid_electrons": float(grid.integrate()),
                "shape": list(grid.shape),
                "energy_eV": result.energy,
                "seconds": round(result.seconds, 2),
            }
        )
        _write_index(index_path, index)
    if not index_path.exists():
        _write_index(index_path, index)
    return index_path


def _named_molecules(molecules: Mapping[str, Atoms] | Sequence[Atoms]) -> dict[str, Atoms]:
    if isinstance(molecules, Mapping):
        named = dict(molecules)
    else:
        named, seen = {}, {}
        for atoms in molecules:
            base = str(atoms.info.get("name") or atoms.get_chemical_formula())
            seen[base] = seen.get(base, 0) + 1
            named[base if seen[base] == 1 else f"{base}-{seen[base]}"] = atoms
    if not named:
        raise ValueError("no molecules to label")
    for name in named:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"molecule name {name!r} cannot be a file name; rename it")
    return named


def _read_or_start_index(path: Path, config: DFTDensityConfig, rattle_std: float, seed: int) -> dict:
    method = f"{config.xc}/{config.basis} (PySCF)"
    settings = {
        "spacing_A": config.spacing, "padding_A": config.padding, "charge": config.charge,
        "rattle_std_A": rattle_std, "seed": seed,
    }
    if not path.exists():
        return {"method": method, "units": "density e/A^3, positions A, energy eV", **settings, "frames": []}
    with open(path, encoding="utf-8") as handle:
        index = json.load(handle)
    written = index.get("method", "").split(" ")[0]
    if written != method.split(" ")[0] or any(index.get(key) != value for key, value in settings.items()):
        raise ValueError(
            f"{path} was made with {index.get('method')} and spacing/padding/charge/rattle_std/seed "
            f"{[index.get(key) for key in settings]}, not {method} and {list(settings.values())}; "
            "write to a new directory, or delete it to start over"
        )
    return index


def _write_index(path: Path, index: dict) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(index, handle, indent=1)
            handle.write("\n")
