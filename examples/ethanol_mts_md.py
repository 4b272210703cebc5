"""Multiple-time-step MD of ethanol: a co-trained fast/slow Allegro pair, or one Allegro
model split as a fitted valence force field plus the rest.

1. ``--fast allegro`` (the default): loads a pair checkpoint (``--checkpoint``, e.g.
   ``runs/ethanol_mts/best.pt`` from ``asetools train examples/configs/ethanol_mts.yaml``)
   or, without one, trains a small pair on the BOTNet ethanol data (rMD17, PBE) for
   ``--seconds``.
   ``--fast valence``: loads a single-model checkpoint (or trains a small one), fits a
   valence force field (``ValenceCalc``: bonds, angles, 1-3 distances and cross terms) to
   the training data's forces in a few seconds, saves it as ``<out>/valence.json`` and
   splits the model as ``MTSCalc.from_total(valence, model)``: the potential stays the
   model's, only the integration changes.
2. Runs Langevin MD at ``--temperature`` with ``MTSLangevin``: the fast model every
   ``--inner-fs``, the slow model once per ``--n-inner`` inner steps. Writes the
   trajectory ``<out>/ethanol_mts.traj`` and ASE's MD log ``<out>/ethanol_mts.log``.
3. Plots the energies and temperature along the run (``ethanol_mts_energy.png``) and
   the C–C, C–O, O–H bond-length and C–C–O–H dihedral distributions against the
   training data's (``ethanol_mts_geometry.png``), and prints a summary with the
   speed and the number of slow-model evaluations.

With the environment variable ``CI`` set it trains for a fixed small number of
epochs on 100 frames and runs a short trajectory.

    python examples/ethanol_mts_md.py [--fast allegro|valence] [--checkpoint best.pt] [--steps 2000]
        [--inner-fs 0.5] [--n-inner 4] [--out runs/ethanol_mts_md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.io.trajectory import Trajectory
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from asetools.analysis import Topology, internal_coordinates
from asetools.calculators import MTSCalc, PotentialCalc, ValenceCalc
from asetools.integrators import MTSLangevin
from asetools.training.config import (
    DataConfig,
    ModelSection,
    MTSSection,
    OutputConfig,
    TrainingConfig,
    TrainRunConfig,
)
from asetools.training.run import train_from_config
from asetools.valence import fit_valence_force_field

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "botnet" / "ethanol"


def parse_arguments() -> argparse.Namespace:
    short = bool(os.environ.get("CI"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fast", choices=("allegro", "valence"), default="allegro",
        help="the fast part: a co-trained one-layer Allegro model, or a valence force field fitted to the data",
    )
    parser.add_argument(
        "--checkpoint",
        help="a co-trained pair checkpoint (--fast allegro) or a single model's (--fast valence); "
        "without it a small one is trained",
    )
    parser.add_argument("--data", default=str(DATA), help="directory with the BOTNet ethanol files")
    parser.add_argument("--seconds", type=float, default=240.0, help="training budget when no checkpoint is given")
    parser.add_argument("--steps", type=int, default=100 if short else 2000, help="outer MD steps")
    parser.add_argument("--inner-fs", type=float, default=0.5, help="inner (fast-model) time step in fs")
    parser.add_argument("--n-inner", type=int, default=4, help="inner steps per slow-model evaluation")
    parser.add_argument("--temperature", type=float, default=300.0, help="thermostat temperature in K")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs")
    parser.add_argument("--out", default="runs/ethanol_mts_md", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.short = short
    return args


def training(seconds: float | None, epochs: int, seed: int) -> TrainingConfig:
    return TrainingConfig(
        epochs=epochs, batch_size=5, learning_rate=5e-3, lr_patience=10, max_seconds=seconds, seed=seed
    )


#: The one-layer fast model of a co-trained pair.
FAST_ALLEGRO = {"r_max": 3.0, "l_max": 1, "num_layers": 1, "num_scalar_features": 16, "num_tensor_features": 4,
                "two_body_mlp_hidden": [16], "latent_mlp_hidden": [16], "readout_mlp_hidden": [16]}  # fmt: skip
#: The slow model of a pair, and the single model that ``--fast valence`` splits.
FULL_ALLEGRO = {"r_max": 5.0, "l_max": 1, "num_layers": 2, "num_scalar_features": 32, "num_tensor_features": 8,
                "two_body_mlp_hidden": [32, 32], "latent_mlp_hidden": [32], "readout_mlp_hidden": [16]}  # fmt: skip


def train_model(args: argparse.Namespace, directory: Path) -> Path:
    """Train a small model on ethanol: a fast/slow pair (``--fast allegro``) or one model
    (``--fast valence``); returns its checkpoint, reusing one trained before in ``directory``."""
    what = "fast/slow pair" if args.fast == "allegro" else "single model"
    checkpoint = directory / "best.pt"
    if checkpoint.is_file():
        print(f"using the {what} trained before: {checkpoint}")
        return checkpoint
    epochs, seconds = (8, None) if args.short else (100_000, args.seconds)
    data = DataConfig(
        train_file=str(Path(args.data) / "train.xyz"),
        isolated_atoms_file=str(Path(args.data) / "isolated_atoms.xyz"),
        max_train_frames=100 if args.short else None,
    )
    model = ModelSection(kind="allegro", options=FULL_ALLEGRO)
    output = OutputConfig(directory=str(directory), plot_every=0)
    if args.fast == "allegro":
        config = TrainRunConfig(
            data=data, model=model, output=output,
            training=training(None if seconds is None else 2 * seconds / 3, epochs, args.seed),
            mts=MTSSection(
                fast_model=ModelSection(kind="allegro", options=FAST_ALLEGRO),
                fast_training=training(None if seconds is None else seconds / 3, epochs, args.seed),
                probe_steps=0,
            ),
        )  # fmt: skip
    else:
        config = TrainRunConfig(data=data, model=model, output=output, training=training(seconds, epochs, args.seed))
    print(f"training a {what} on ethanol (asetools train does the same from YAML) ...")
    train_from_config(config, progress=sys.stderr.isatty())
    return checkpoint


def split_calculator(args: argparse.Namespace, checkpoint: Path, data: list[Atoms], out: Path) -> MTSCalc:
    """The fast/slow calculator: the pair in ``checkpoint``, or (``--fast valence``) the single
    model in it split as a valence force field fitted to ``data`` plus the rest."""
    if args.fast == "allegro":
        return MTSCalc.from_checkpoint(checkpoint)
    started = time.perf_counter()
    field = fit_valence_force_field(data)
    field.save(out / "valence.json")
    print(f"valence force field fitted to {len(data)} frames in {time.perf_counter() - started:.1f} s: {out / 'valence.json'}")
    return MTSCalc.from_total(ValenceCalc(field), PotentialCalc(checkpoint))


#: The coordinates shown: bond lengths (Å) and the hydroxyl torsion (degrees), by asetools' element labels.
SHOWN = ("C-C", "C-O", "H-O", "C-C-O-H")


def geometries(frames: list[Atoms], topology: Topology) -> dict[str, np.ndarray]:
    """The ``SHOWN`` internal coordinates of every frame (all values of each kind, flattened)."""
    values = internal_coordinates(np.array([atoms.positions for atoms in frames]), topology)
    return {label: values[label].ravel() for label in SHOWN}


def run_md(calc: MTSCalc, start: Atoms, args: argparse.Namespace, out: Path) -> dict:
    atoms = start.copy()
    atoms.pbc = False
    atoms.center()
    rng = np.random.default_rng(args.seed)
    thermalize_momenta(atoms, temperature_K=args.temperature, rng=rng)
    Stationary(atoms)
    outer_fs = args.inner_fs * args.n_inner
    record_every = max(1, round(10.0 / outer_fs))  # a frame every ~10 fs
    with Trajectory(out / "ethanol_mts.traj", "w", atoms) as trajectory:
        dynamics = MTSLangevin(
            atoms,
            calc,
            timestep=outer_fs * units.fs,
            temperature_K=args.temperature,
            friction=args.friction / units.fs,
            n_inner=args.n_inner,
            rng=rng,
            logfile=str(out / "ethanol_mts.log"),
            loginterval=record_every,
        )
        dynamics.attach(trajectory.write, interval=record_every)
        counts = {"fast": 0, "slow": 0}
        for part in counts:
            _count_calls(getattr(calc, part), counts, part)
        started = time.perf_counter()
        dynamics.run(args.steps)
        seconds = time.perf_counter() - started
    simulated_ps = args.steps * outer_fs / 1000.0
    return {"seconds_per_ps": seconds / simulated_ps, "simulated_ps": simulated_ps, **counts}


def _count_calls(calc, counts: dict[str, int], part: str) -> None:
    """Count the evaluations of one part by wrapping its ``calculate``."""
    calculate = calc.calculate

    def counted(*arguments, **keywords):
        counts[part] += 1
        return calculate(*arguments, **keywords)

    calc.calculate = counted


def plot(out: Path, log: np.ndarray, model: dict, reference: dict) -> None:
    """Energies and temperature along the run; geometry distributions of the run against the training data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_ps, total, potential, kinetic, temperature = log.T
    figure, (energy_axis, temperature_axis) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    energy_axis.plot(time_ps, potential - potential.mean(), label="potential")
    energy_axis.plot(time_ps, kinetic - kinetic.mean(), label="kinetic")
    energy_axis.plot(time_ps, total - total.mean(), label="total")
    energy_axis.set_ylabel("energy − mean (eV)")
    energy_axis.legend(loc="upper right")
    temperature_axis.plot(time_ps, temperature)
    temperature_axis.set_xlabel("time (ps)")
    temperature_axis.set_ylabel("T (K)")
    figure.tight_layout()
    figure.savefig(out / "ethanol_mts_energy.png", dpi=120)
    plt.close(figure)

    figure, axes = plt.subplots(1, 4, figsize=(12, 3))
    for axis, name in zip(axes, model):
        unit = "°" if name == "C-C-O-H" else "Å"
        bins = np.linspace(-180, 180, 37) if name == "C-C-O-H" else np.histogram_bin_edges(reference[name], bins=30)
        axis.hist(reference[name], bins=bins, density=True, alpha=0.5, label="training data")
        axis.hist(model[name], bins=bins, density=True, histtype="step", lw=1.5, label="MTS MD")
        axis.set_xlabel(f"{name} ({unit})")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "ethanol_mts_geometry.png", dpi=120)
    plt.close(figure)


def main() -> None:
    args = parse_arguments()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_file = Path(args.data) / "train.xyz"
    if not train_file.is_file():
        sys.exit(f"no ethanol data at {train_file}: pass --data with the directory of the BOTNet ethanol files")
    default_directory = out / ("pair" if args.fast == "allegro" else "single")
    checkpoint = Path(args.checkpoint) if args.checkpoint else train_model(args, default_directory)
    data = ase.io.read(train_file, ":")
    md = run_md(split_calculator(args, checkpoint, data, out), data[0], args, out)
    frames = ase.io.read(out / "ethanol_mts.traj", ":")
    log = np.loadtxt(out / "ethanol_mts.log", skiprows=1)  # time (ps), total, potential, kinetic energy (eV), T (K)
    topology = Topology.from_atoms(data[0])
    model, reference = geometries(frames[len(frames) // 5 :], topology), geometries(data, topology)
    plot(out, log, model, reference)

    outer_fs = args.inner_fs * args.n_inner
    print(
        f"MTS Langevin MD ({args.fast} fast part): {args.steps} outer steps of {outer_fs:g} fs "
        f"({args.n_inner} × {args.inner_fs:g} fs), {md['simulated_ps']:.2f} ps at {args.temperature:g} K"
    )
    print(f"evaluations: fast {md['fast']}, slow {md['slow']} (slow once per outer step)")
    print(f"speed {md['seconds_per_ps']:.1f} s per simulated ps")
    print(f"mean temperature {log[len(log) // 5 :, 4].mean():.0f} K (target {args.temperature:g} K)")
    for name in model:
        unit = "deg" if name == "C-C-O-H" else "Å"
        print(f"{name:8s} MD {model[name].mean():7.3f} ± {model[name].std():.3f} {unit}   "
              f"training data {reference[name].mean():7.3f} ± {reference[name].std():.3f} {unit}")  # fmt: skip
    print(f"written: {out / 'ethanol_mts.traj'}, {out / 'ethanol_mts.log'}, {out / 'ethanol_mts_energy.png'}, "
          f"{out / 'ethanol_mts_geometry.png'}")  # fmt: skip


if __name__ == "__main__":
    main()
