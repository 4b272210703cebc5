"""The systems of the MTS benchmark: what to train on, where MD starts, and which observables
decide "equal accuracy".

- ``Copper``: liquid Cu at 1500 K; reference = MD with ASE's EMT itself; observables
  are the RDF and the self-diffusivity.
- ``Molecules``: a box of independent copies of one molecule in vacuum (BOTNet data);
  reference = the distributions in the data set at the same temperature; observables
  are the bond-length and dihedral distributions, each element-labelled kind of
  coordinate separately.

Every observable carries a statistical error from independent blocks; two runs are
compared by the RMS difference of a distribution over its bins against the RMS of the
combined standard error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.emt import EMT
from ase.md.velocitydistribution import thermalize_momenta
from ase.neighborlist import neighbor_list
from scipy.spatial.transform import Rotation

from asetools._files import atomic_path
from asetools.analysis import Topology, diffusivity, internal_coordinates, msd, rdf
from asetools.data import emt_liquid_copper, emt_liquid_copper_dataset
from mts_md import Run

#: The BOTNet data sets beside the project (../shared/data/botnet).
BOTNET = Path(__file__).resolve().parents[2] / "shared" / "data" / "botnet"


@dataclass
class DataFiles:
    """Training data of one system: extxyz files; without ``validation`` a random tenth of ``train`` is held out."""

    train: str
    test: str
    validation: str | None = None
    isolated_atoms: str | None = None


def concatenated_frames(target: Path, sources: list[str | Path]) -> str:
    """Write every frame of ``sources`` to the extxyz file ``target`` (atomically, once) and return its path."""
    if not target.is_file():
        frames = [atoms for source in sources for atoms in ase.io.read(source, ":")]
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as temporary:
            ase.io.write(temporary, frames, format="extxyz")
        print(f"training set: {len(frames)} frames in {target}", flush=True)
    return str(target)


def rms_difference(a: np.ndarray, a_error: np.ndarray, b: np.ndarray, b_error: np.ndarray) -> tuple[float, float]:
    """RMS difference of two binned distributions, and the RMS of their combined standard error."""
    return float(np.sqrt(np.mean((a - b) ** 2))), float(np.sqrt(np.mean(a_error**2 + b_error**2)))


def mean_and_error(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis and its standard error."""
    return blocks.mean(axis=0), blocks.std(axis=0, ddof=1) / np.sqrt(len(blocks))


class Copper:
    """Liquid copper at 1500 K and the liquid density, with EMT as the reference."""

    name = "cu"
    temperature_K = 1500.0
    reference_name = "emt"
    defaults = {
        "weights": [0.1, 1.0, 10.0],
        "timesteps": [2.0, 4.0, 6.0, 8.0, 10.0],
        "inner_steps": None,
        "n_inner": [2, 3, 4, 5, 6, 8],
        "fast_r_max": 3.5,
        "max_drift": 0.5,
        "max_fluctuation": 0.3,
        "record_fs": 24.0,
        "production_ps": 20.0,
        "blocks": 4,
    }

    def data(self, work: Path, seed: int) -> DataFiles:
        """Write (once) EMT-labelled 108-atom snapshots at 1200, 1500 and 1800 K, and a 1500 K test set."""
        files = DataFiles(*(str(work / "data" / f"{name}.xyz") for name in ("train", "test", "validation")))
        if all(Path(name).is_file() for name in (files.train, files.test, files.validation)):
            return files
        (work / "data").mkdir(parents=True, exist_ok=True)
        print("making EMT liquid copper data (108 atoms per frame) ...", flush=True)
        frames = emt_liquid_copper_dataset(280, repeat=3, temperatures_K=(1200.0, 1500.0, 1800.0), seed=seed)
        order = np.random.default_rng(seed).permutation(len(frames))
        test = emt_liquid_copper_dataset(40, repeat=3, temperatures_K=(self.temperature_K,), seed=seed + 100)
        ase.io.write(files.validation, [frames[i] for i in sorted(order[:40])], format="extxyz")
        ase.io.write(files.train, [frames[i] for i in sorted(order[40:])], format="extxyz")
        ase.io.write(files.test, test, format="extxyz")
        return files

    def start(self, seed: int) -> Atoms:
        """256 atoms of EMT-equilibrated liquid."""
        return emt_liquid_copper(repeat=4, temperature_K=self.temperature_K, seed=seed + 7)

    def remove_drift(self, atoms: Atoms) -> None:
        """Nothing to do: the diffusivity removes the centre-of-mass motion."""

    def temperature_factor(self, n_atoms: int) -> float:
        """ASE's temperature (3N degrees of freedom) times this is the temperature of the free ones."""
        return 1.0

    def intact(self, positions: np.ndarray) -> bool:
        """A liquid cannot come apart."""
        return True

    def reference_calculator(self):
        return EMT()

    def reference_observables(self, blocks: int) -> None:
        """None: the reference observables come from an EMT run."""
        return None

    def observables(self, run: Run, cell: np.ndarray, blocks: int) -> dict:
        g, r = self._rdf(run, cell, r_max=min(7.0, 0.49 * np.min(np.linalg.norm(cell, axis=1))), bins=70, blocks=blocks)
        block_ps = run.simulated_ps / blocks
        d = self._diffusivity(run, cell, blocks, fit_ps=(min(0.5, 0.2 * block_ps), min(2.0, 0.5 * block_ps)))
        g_mean, g_error = mean_and_error(g)
        d_mean, d_error = mean_and_error(d)
        return {"r": r, "g": g_mean, "g_error": g_error, "D": float(d_mean), "D_error": float(d_error)}

    @staticmethod
    def _rdf(run: Run, cell: np.ndarray, r_max: float, bins: int, blocks: int) -> tuple[np.ndarray, np.ndarray]:
        """g(r) of each block of the run: ``[blocks, bins]``, and the bin centres (Å)."""
        result = []
        for block in np.array_split(run.positions, blocks):
            result.append(rdf(_frames(block, cell), r_max, bins))
        return np.array([g.g for g in result]), result[0].r

    @staticmethod
    def _diffusivity(run: Run, cell: np.ndarray, blocks: int, fit_ps: tuple[float, float]) -> np.ndarray:
        """Self-diffusivity (Å²/ps) of each block: slope of the MSD over lags ``fit_ps``, all time origins, / 6."""
        window = (fit_ps[0] * 1000 * units.fs, fit_ps[1] * 1000 * units.fs)
        values = []
        for block in np.array_split(run.positions, blocks):
            displacement = msd(_frames(block, cell), run.record_fs * units.fs, blocks=1)
            values.append(diffusivity(displacement, fit=window).D)
        return np.array(values)

    def compare(self, model: dict, reference: dict) -> dict[str, tuple[float, float]]:
        return {"rdf": rms_difference(model["g"], model["g_error"], reference["g"], reference["g_error"])}

    def summary(self, result: dict) -> str:
        return f"D {result['D']:.3f} ± {result['D_error']:.3f} Å²/ps"

    def table_columns(self, entry: dict) -> dict[str, str]:
        difference = "–" if "vs_emt" not in entry else "{:.3f} ({:.3f})".format(*entry["vs_emt"]["rdf"])
        return {
            "D (Å²/ps)": f"{entry['D']:.3f} ± {entry['D_error']:.3f}",
            "RDF rms diff vs EMT (stat. err.)": difference,
        }

    def report_entry(self, result: dict) -> dict:
        return {"D": result["D"], "D_error": result["D_error"]}

    def plot(self, results: dict, path: Path) -> None:
        plt = _pyplot()
        figure, axis = plt.subplots(figsize=(6, 4))
        for name, result in results.items():
            axis.plot(result["r"], result["g"], label=name, lw=1.2)
        axis.set_xlabel("r (Å)")
        axis.set_ylabel("g(r)")
        axis.set_title(f"liquid Cu, {self.temperature_K:g} K")
        axis.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


@dataclass
class Molecules:
    """``copies`` independent copies of one molecule in vacuum, at the temperature of its reference data.

    Attributes:
        name: system name (``--system``).
        train: training files (under ``BOTNET``); several are concatenated.
        test: test file.
        reference: file whose geometry distributions are the reference (sampled at ``temperature_K``).
        reference_label: what the reference is, for the report.
        isolated_atoms: one-atom frames with the per-species energy shifts.
        temperature_K: MD temperature.
        copies: molecules in the box; each is a separate sample, so the statistical
            errors come from groups of molecules.
        spacing: distance between neighbouring molecules' centres, Å; the molecules never
            come within a model's cutoff of each other (checked after every run).
        max_bond: a bond longer than this (Å) means the molecule came apart and the run failed.
    """

    name: str
    train: list[str]
    test: str
    reference: str
    reference_label: str
    isolated_atoms: str
    temperature_K: float
    copies: int = 64
    spacing: float = 16.0
    cutoff: float = 5.0
    max_bond: float = 2.5
    defaults: dict = field(
        default_factory=lambda: {
            "weights": [1.0, 10.0],
            "timesteps": [0.5, 1.0, 1.5, 2.0],
            "inner_steps": [0.5, 1.0],
            "n_inner": [1, 2, 4, 6, 8, 12],
            "fast_r_max": 3.0,
            "max_drift": 0.5,
            "max_fluctuation": 0.3,
            "record_fs": 10.0,
            "production_ps": 5.0,
            "blocks": 8,
        }
    )
    reference_name = "data"

    @cached_property
    def frames(self) -> list[Atoms]:
        """The reference data."""
        return ase.io.read(BOTNET / self.reference, ":")

    @cached_property
    def topology(self) -> Topology:
        """Bonds and dihedrals of one molecule, from the first reference frame."""
        return Topology.from_atoms(self.frames[0])

    @cached_property
    def reference_values(self) -> dict[str, np.ndarray]:
        """label -> ``[frames, n]`` internal coordinates of the reference data."""
        return internal_coordinates(np.array([atoms.positions for atoms in self.frames]), self.topology)

    @cached_property
    def edges(self) -> dict[str, np.ndarray]:
        """Histogram bins: 10° for dihedrals, 40 over the reference range (± 0.05 Å) for bonds."""
        return {
            label: np.linspace(-180.0, 180.0, 37)
            if label.count("-") == 3
            else np.linspace(samples.min() - 0.05, samples.max() + 0.05, 41)
            for label, samples in self.reference_values.items()
        }

    def data(self, work: Path, seed: int) -> DataFiles:
        missing = [name for name in (*self.train, self.test, self.isolated_atoms) if not (BOTNET / name).is_file()]
        if missing:
            raise SystemExit(f"the {self.name} benchmark needs the BOTNet data in {BOTNET}; missing {missing}")
        train = str(BOTNET / self.train[0])
        if len(self.train) > 1:
            train = concatenated_frames(work / "data" / "train.xyz", [BOTNET / name for name in self.train])
        return DataFiles(train=train, test=str(BOTNET / self.test), isolated_atoms=str(BOTNET / self.isolated_atoms))

    def start(self, seed: int) -> Atoms:
        """``copies`` randomly chosen and rotated reference frames on a cubic grid, thermalised at ``temperature_K``."""
        rng = np.random.default_rng(seed)
        side = int(np.ceil(self.copies ** (1 / 3)))
        box = Atoms(cell=[side * self.spacing] * 3, pbc=False)
        for copy, index in enumerate(rng.choice(len(self.frames), size=self.copies, replace=False)):
            atoms = self.frames[index].copy()
            atoms.calc = None
            centred = atoms.positions - atoms.get_center_of_mass()
            grid = np.array(np.unravel_index(copy, (side,) * 3)) + 0.5
            atoms.positions = Rotation.random(random_state=rng).apply(centred) + grid * self.spacing
            box += atoms
        box.pbc = False
        thermalize_momenta(box, temperature_K=self.temperature_K, rng=rng)
        self.remove_drift(box)
        return box

    def remove_drift(self, atoms: Atoms) -> None:
        """Stop each molecule's centre of mass, so that they never meet.

        Called before NVE and, under a thermostat, after every step: Langevin noise makes
        the molecules diffuse (about 13 Å in 6 ps at 500 K and 0.002/fs). In vacuum the
        centre-of-mass motion is separable from the internal one, and BAOAB's friction is
        the same for every atom, so removing it leaves the internal dynamics untouched.
        """
        per_molecule = len(atoms) // self.copies
        momenta = atoms.get_momenta().reshape(self.copies, per_molecule, 3)
        masses = atoms.get_masses().reshape(self.copies, per_molecule, 1)
        velocity = momenta.sum(axis=1, keepdims=True) / masses.sum(axis=1, keepdims=True)
        atoms.set_momenta((momenta - masses * velocity).reshape(-1, 3))

    def temperature_factor(self, n_atoms: int) -> float:
        """3N / (3N − 3M): the molecules' centre-of-mass motion is removed (``remove_drift``)."""
        return 3 * n_atoms / (3 * n_atoms - 3 * self.copies)

    def intact(self, positions: np.ndarray) -> bool:
        """Every bond of every molecule shorter than ``max_bond`` (Å) in ``positions`` ``[N, 3]``."""
        molecules = positions.reshape(self.copies, -1, 3)
        first, second = self.topology.bonds.T
        return bool(np.linalg.norm(molecules[:, second] - molecules[:, first], axis=-1).max() < self.max_bond)

    def reference_calculator(self) -> None:
        return None

    def reference_observables(self, blocks: int) -> dict:
        """The distributions of the reference data, with errors from ``blocks`` groups of frames."""
        groups = np.array_split(np.arange(len(self.frames)), blocks)
        values = self.reference_values
        return self._distributions({label: [samples[group].ravel() for group in groups] for label, samples in values.items()})

    def _distributions(self, blocks: dict[str, list[np.ndarray]]) -> dict:
        """label -> (bin centres, density, its standard error) from each block's samples."""
        result = {}
        for label, samples in blocks.items():
            edges = self.edges[label]
            densities = np.array([np.histogram(values, bins=edges, density=True)[0] for values in samples])
            density, error = mean_and_error(densities)
            result[label] = (0.5 * (edges[1:] + edges[:-1]), density, error)
        return result

    def observables(self, run: Run, cell: np.ndarray, blocks: int) -> dict:
        """The distributions of the run, with errors from ``blocks`` groups of molecules."""
        self._check_separated(run)
        frames, n_atoms, _ = run.positions.shape
        molecules = run.positions.reshape(frames * self.copies, n_atoms // self.copies, 3)  # the box is tiled
        values = internal_coordinates(molecules, self.topology)
        groups = np.array_split(np.arange(self.copies), blocks)
        return self._distributions({
            label: [samples.reshape(frames, self.copies, -1)[:, group].ravel() for group in groups]
            for label, samples in values.items()
        })  # fmt: skip

    def _check_separated(self, run: Run) -> None:
        last = Atoms(positions=run.positions[-1], numbers=np.ones(run.positions.shape[1]))
        first, second = neighbor_list("ij", last, self.cutoff)
        per_molecule = run.positions.shape[1] // self.copies
        if np.any(first // per_molecule != second // per_molecule):
            raise RuntimeError(f"molecules came within {self.cutoff} Å of each other; increase the spacing")

    def compare(self, model: dict, reference: dict) -> dict[str, tuple[float, float]]:
        return {label: rms_difference(*model[label][1:], *reference[label][1:]) for label in model}

    def summary(self, result: dict) -> str:
        return ""

    @staticmethod
    def worst(differences: dict[str, tuple[float, float]]) -> str:
        """The coordinate whose distribution differs most in units of its error: 'label ratio'."""
        label = max(differences, key=lambda key: differences[key][0] / differences[key][1])
        return f"{label} {differences[label][0] / differences[label][1]:.1f}"

    def table_columns(self, entry: dict) -> dict[str, str]:
        return {
            "worst distribution vs single: diff/err": self.worst(entry["vs_single"]) if "vs_single" in entry else "–",
            f"worst vs data ({self.reference_label}): diff/err": self.worst(entry["vs_data"]),
        }

    def report_entry(self, result: dict) -> dict:
        return {}

    def plot(self, results: dict, path: Path) -> None:
        plt = _pyplot()
        labels = list(results[self.reference_name])
        columns = 4
        rows = int(np.ceil(len(labels) / columns))
        figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
        for axis, label in zip(axes.ravel(), labels):
            for name, result in results.items():
                centres, density, _ = result[label]
                if name == self.reference_name:
                    axis.fill_between(centres, density, step="mid", alpha=0.3, label=self.reference_label)
                else:
                    axis.step(centres, density, where="mid", lw=1.2, label=name)
            axis.set_xlabel(f"{label} ({'°' if label.count('-') == 3 else 'Å'})")
        for axis in axes.ravel()[len(labels) :]:
            axis.axis("off")
        axes[0, 0].legend(fontsize=7)
        figure.suptitle(f"{self.name}, {self.temperature_K:g} K: {self.copies} molecules")
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def _frames(positions: np.ndarray, cell: np.ndarray) -> list[Atoms]:
    """Cu atoms at ``positions`` ``[frames, atoms, 3]`` in a periodic ``cell``."""
    n = positions.shape[1]
    return [Atoms(f"Cu{n}", positions=p, cell=cell, pbc=True) for p in positions]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SYSTEMS = {
    "cu": Copper(),
    "ethanol": Molecules(
        name="ethanol",
        train=["ethanol/train.xyz"],
        test="ethanol/test_MD.xyz",
        reference="ethanol/train.xyz",
        reference_label="rMD17 (AIMD, 500 K)",
        isolated_atoms="ethanol/isolated_atoms.xyz",
        temperature_K=500.0,
    ),
    "acac": Molecules(
        name="acac",
        train=["acac/train_300K.xyz", "acac/train_600K.xyz"],
        test="acac/test_MD_300K.xyz",
        reference="acac/train_300K.xyz",
        reference_label="xTB MD, 300 K",
        isolated_atoms="acac/isolated_atoms.xyz",
        temperature_K=300.0,
    ),
}
