"""The main job: train a small Allegro model on EMT copper, then run MD with it.

1. Generates rattled and strained fcc Cu cells labelled with ASE's EMT.
2. Trains a small Allegro model on them for about a minute (``--seconds``).
3. Fits the single-model uncertainty (a Gaussian mixture on the model's per-atom latent
   features, calibrated to force errors on the validation cells) and saves the checkpoint
   with it (``--out``, default ``quickstart/cu_allegro.pt``).
4. Runs NVE molecular dynamics of a 108-atom Cu crystal with ``AllegroCalc`` loaded
   from that checkpoint.
5. Prints the validation errors, the MD's total-energy drift, its speed in
   atom-steps per second, and the force error against EMT along the trajectory.
6. Analyses the trajectory (``md.traj``): radial distribution function with the
   first-shell coordination, and the mean-squared displacement; writes CSV and PNG files.
7. Compares the uncertainty of the MD frames with that of a crystal stretched by 10 %,
   unlike anything in the training data.
8. Maps energy and uncertainty along one Cu-Cu distance of a training cell, pushing one
   atom towards its neighbour, with the training data's distances marked (``uq_map.png``).
9. Charge density: trains a small density model (atomic and bond-midpoint orbitals) on the
   PBE densities of a dozen small molecules (``../shared/data/density_g2``, skipped with a
   message when absent) for about 30 s, reports its error on molecules it never saw, and
   writes the predicted density of one of them as a cube file and a CHGCAR for VESTA.

With the environment variable ``CI`` set it runs a short version with a fixed number of epochs
(so its result does not depend on how fast the machine is).

    python examples/allegro_cu_quickstart.py [--seconds 60 | --epochs N] [--steps 200] [--out quickstart]
"""

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from asetools.analysis import diffusivity, msd, plot_msd, plot_rdf, plot_uncertainty_map, rdf, uncertainty_map
from asetools.calculators import AllegroCalc
from asetools.checkpoint import save_checkpoint
from asetools.data import dataset_statistics, emt_copper_dataset
from asetools.density import DensityCalculator
from asetools.models import Allegro, AllegroConfig, Potential
from asetools.training import fit
from asetools.uncertainty import fit_uncertainty

RECORD_EVERY = 2  # MD steps between trajectory frames
DENSITY_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "density_g2"
DENSITY_MOLECULES = [
    "CH4", "H2O", "NH3", "C2H2", "C2H4", "C2H6", "HCN", "CO", "H2CO", "CH3OH", "CO2", "N2", "CH3CH2OH", "HCOOH",
]


def parse_arguments() -> argparse.Namespace:
    short = bool(os.environ.get("CI"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=60 if short else 120, help="EMT structures (1/6 for validation)")
    parser.add_argument("--seconds", type=float, default=60, help="training time budget in s")
    parser.add_argument(
        "--epochs", type=int, default=25 if short else None, help="train this many epochs instead of for --seconds"
    )
    parser.add_argument("--steps", type=int, default=50 if short else 200, help="MD steps")
    parser.add_argument("--timestep", type=float, default=2.0, help="MD time step in fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial MD temperature in K")
    parser.add_argument("--out", default="quickstart", help="output directory for the checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--density-data", default=str(DENSITY_DATA), help="reference densities (index.json + .npz) for step 9"
    )
    parser.add_argument("--density-seconds", type=float, default=30.0, help="density training time budget in s")
    return parser.parse_args()


def train(args: argparse.Namespace) -> tuple[Allegro, dict, list, list]:
    frames = emt_copper_dataset(args.structures, max_strain=0.02, seed=args.seed)
    n_validation = max(1, len(frames) // 6)
    training, validation = frames[n_validation:], frames[:n_validation]
    r_max = 4.5
    stats = dataset_statistics(training, r_max, ["Cu"])
    torch.manual_seed(args.seed)
    model = Allegro(
        AllegroConfig(
            species=["Cu"],
            r_max=r_max,
            l_max=1,
            num_layers=2,
            num_scalar_features=32,
            num_tensor_features=8,
            two_body_mlp_hidden=[32],
            latent_mlp_hidden=[32],
            readout_mlp_hidden=[16],
            **stats.normalisation(),
        )
    )
    print(f"training on {len(training)} EMT Cu cells ({stats.num_atoms} atoms), validating on {len(validation)}")
    result = fit(
        model,
        training,
        validation,
        epochs=10_000 if args.epochs is None else args.epochs,
        batch_size=4,
        learning_rate=1e-2,
        energy_weight=10.0,
        forces_weight=1.0,
        seed=args.seed,
        max_seconds=args.seconds if args.epochs is None else None,
        progress=sys.stderr.isatty(),
    )
    metrics = {
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "train_seconds": result.seconds,
        "validation_energy_mae_meV_per_atom": 1e3 * result.final.energy_mae,
        "validation_force_mae_meV_per_A": 1e3 * result.final.force_mae,
        "initial_validation_force_mae_meV_per_A": 1e3 * result.initial.force_mae,
    }
    return model, metrics, training, validation


def run_md(checkpoint: str, args: argparse.Namespace) -> dict:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    atoms.calc = AllegroCalc(checkpoint)
    thermalize_momenta(atoms, temperature_K=2 * args.temperature, rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    trajectory = os.path.join(args.out, "md.traj")
    dynamics = VelocityVerlet(atoms, timestep=args.timestep * units.fs, trajectory=trajectory, loginterval=RECORD_EVERY)
    energies, snapshots, scores = [], [], []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dynamics.attach(lambda: scores.append(atoms.calc.results["uncertainty"]), interval=1)
    dynamics.attach(lambda: snapshots.append(atoms.copy()), interval=max(1, args.steps // 5))
    atoms.get_forces()  # the first evaluation is not part of the timing
    start = time.perf_counter()
    dynamics.run(args.steps)
    elapsed = time.perf_counter() - start

    times_ps = np.arange(len(energies)) * args.timestep * 1e-3
    slope = np.polyfit(times_ps, np.asarray(energies) / len(atoms), 1)[0]
    emt, model = EMT(), AllegroCalc(checkpoint)
    errors = []
    for snapshot in snapshots[1:]:
        reference = snapshot.copy()
        reference.calc = emt
        snapshot.calc = model
        errors.append(np.abs(snapshot.get_forces() - reference.get_forces()).mean())
    return {
        "atoms": len(atoms),
        "steps": args.steps,
        "temperature_K": atoms.get_temperature(),
        "drift_meV_per_atom_per_ps": 1e3 * slope,
        "energy_fluctuation_meV_per_atom": 1e3 * np.ptp(energies) / len(atoms),
        "atom_steps_per_second": len(atoms) * args.steps / elapsed,
        "md_force_mae_vs_emt_meV_per_A": 1e3 * float(np.mean(errors)) if errors else float("nan"),
        "md_max_uncertainty": max(scores),
    }


def analyse(args: argparse.Namespace) -> None:
    """RDF and MSD of the MD trajectory, printed and written as CSV and PNG next to the checkpoint."""
    trajectory = os.path.join(args.out, "md.traj")
    g = rdf(trajectory, rmax=5.0, nbins=100)
    peak, height = g.first_peak()
    first_shell = g.total_coordination[np.searchsorted(g.edges[1:], 3.0)]
    print(f"RDF: first peak at {peak:.2f} Å (g = {height:.1f}), {first_shell:.2f} neighbours within 3.0 Å")
    displacement = msd(trajectory, timestep=RECORD_EVERY * args.timestep * units.fs, blocks=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a crystal has no diffusive regime; said below
        diffusion = diffusivity(displacement)
    plateau = displacement.total()[len(displacement.time_ps) // 4 : len(displacement.time_ps) // 2].mean()
    if diffusion.linear:
        print(f"MSD: {diffusion}")
    else:
        print(f"MSD: no diffusive regime (a crystal); plateau {plateau:.3f} Å² from vibrations about the lattice sites")
    g.to_csv(os.path.join(args.out, "rdf.csv"))
    displacement.to_csv(os.path.join(args.out, "msd.csv"))
    try:
        plot_rdf(g, os.path.join(args.out, "rdf.png"))
        plot_msd(displacement, [diffusion], os.path.join(args.out, "msd.png"))
        print(f"wrote {args.out}/rdf.png and {args.out}/msd.png")
    except ImportError as error:
        print(f"no plots: {error}")


def stretched_crystal_uncertainty(checkpoint: str) -> dict:
    """Uncertainty of a Cu crystal with its lattice stretched by 10 % (the data's strains are at most 2 %)."""
    atoms = bulk("Cu", "fcc", a=1.1 * 3.61, cubic=True).repeat(3)
    atoms.calc = AllegroCalc(checkpoint)
    atoms.get_potential_energy()
    return {"score": atoms.calc.results["uncertainty"], "force": atoms.calc.results["force_uncertainty"]}


def bond_uncertainty_map(checkpoint: str, training: list, out: str) -> dict:
    """Energy and uncertainty as one atom of a training cell moves towards its nearest neighbour."""
    atoms = training[0].copy()
    neighbour = 1 + int(np.argmin(atoms.get_distances(0, range(1, len(atoms)), mic=True)))
    result = uncertainty_map(
        atoms, AllegroCalc(checkpoint), [f"bond:0,{neighbour}"], [np.linspace(1.8, 3.2, 15)], training=training
    )
    result.to_csv(os.path.join(out, "uq_map.csv"))
    try:
        plot_uncertainty_map(result, os.path.join(out, "uq_map.png"))
    except ImportError as error:
        print(f"no uncertainty map plot: {error}")
    force = result.uncertainties["force_uncertainty"]
    return {"seen": (result.training.min(), result.training.max()), "force_short": force[0], "force_min": force.min()}


def charge_density(args: argparse.Namespace) -> dict | None:
    """Train a small density model on a few molecules and write a held-out molecule's density."""
    from asetools.density.training import DensityDataConfig, DensityFitConfig, DensityRunConfig, train_density_model

    if not (Path(args.density_data) / "index.json").is_file():
        print(f"charge density: no reference densities at {args.density_data}; step 9 skipped")
        return None
    short = bool(os.environ.get("CI"))
    run = DensityRunConfig(
        data=DensityDataConfig(dataset=args.density_data, molecules=DENSITY_MOLECULES, split=[0.72, 0.14, 0.14]),
        model={
            "basis": {"beta": 3.0, "l_max": {"H": 1}, "default_l_max": 2},
            "channels": 8, "l_max": 2, "num_layers": 2,
        },
        training=DensityFitConfig(
            epochs=2 if short else 100, points_per_frame=1024 if short else 2048,
            max_seconds=None if short else args.density_seconds, resume=False, seed=args.seed,
        ),
        output_directory=os.path.join(args.out, "density"),
    )
    lines = []
    model, metrics = train_density_model(run, log=lines.append)
    baseline = next(line for line in lines if line.startswith("baseline"))
    from asetools.density.references import read_density_dataset, split_by_molecule

    _, _, test = split_by_molecule(read_density_dataset(args.density_data, DENSITY_MOLECULES), (0.72, 0.14, 0.14))
    frame = max(test, key=lambda f: len(f.atoms))
    calc = DensityCalculator(model)
    cube = os.path.join(args.out, f"{frame.molecule}.cube")
    started = time.perf_counter()
    grid = calc.write_density(cube, frame.atoms, spacing=0.1)
    seconds = time.perf_counter() - started
    calc.write_density(os.path.join(args.out, "CHGCAR"), frame.atoms, spacing=0.1)
    validation = [line for line in lines if "validation NMAPE" in line and line.startswith("epoch")]
    return {
        "nmape": metrics.nmape, "electrons": metrics.electron_error,
        "baseline": float(baseline.split("NMAPE ")[1].split(" %")[0]),
        "validation": min(float(line.split("NMAPE ")[1].split(" %")[0]) for line in validation),
        "molecules": sorted({f.molecule for f in test}), "cube": cube, "points": grid.num_points, "seconds": seconds,
    }


def main() -> None:
    args = parse_arguments()
    logging.basicConfig(level=logging.WARNING)
    model, metrics, training, validation = train(args)
    uncertainty = fit_uncertainty(model, training, validation, max_components=8, seed=args.seed)
    report, info = uncertainty.report, uncertainty.uncertainty.info
    print(
        f"uncertainty: {info['num_components']}-component mixture on {info['training_atoms']} training atoms; "
        f"validation rank correlation of score and force error: atoms {report.spearman_atoms:.2f}, "
        f"structures {report.spearman_structures:.2f}"
    )
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "cu_allegro.pt")
    potential = Potential(model, uncertainty=uncertainty.uncertainty)
    save_checkpoint(potential, checkpoint, metadata={"dataset": "emt_copper_dataset", **metrics})
    print(f"saved {checkpoint} after {metrics['epochs']} epochs ({metrics['train_seconds']:.0f} s)")
    print(
        f"validation: energy MAE {metrics['validation_energy_mae_meV_per_atom']:.1f} meV/atom, "
        f"force MAE {metrics['validation_force_mae_meV_per_A']:.1f} meV/Å "
        f"(untrained: {metrics['initial_validation_force_mae_meV_per_A']:.0f} meV/Å)"
    )
    md = run_md(checkpoint, args)
    print(
        f"MD: {md['steps']} NVE steps of {md['atoms']} Cu atoms at {args.timestep} fs, final T {md['temperature_K']:.0f} K"
    )
    print(
        f"energy drift {md['drift_meV_per_atom_per_ps']:+.2e} meV/atom/ps "
        f"(total-energy range {md['energy_fluctuation_meV_per_atom']:.3f} meV/atom)"
    )
    print(f"speed {md['atom_steps_per_second']:.0f} atom-steps/s")
    print(f"force MAE against EMT along the trajectory {md['md_force_mae_vs_emt_meV_per_A']:.1f} meV/Å")
    analyse(args)
    stretched = stretched_crystal_uncertainty(checkpoint)
    print(
        f"uncertainty score (largest per-atom NLL): training atoms 99% {info['training_score_percentiles']['99']:.1f}, "
        f"MD frames up to {md['md_max_uncertainty']:.1f}, crystal stretched by 10 % {stretched['score']:.1f} "
        f"(predicted largest force error {1e3 * stretched['force']:.0f} meV/Å)"
    )
    scan = bond_uncertainty_map(checkpoint, training, args.out)
    print(
        f"uncertainty map: training Cu-Cu distances {scan['seen'][0]:.2f}-{scan['seen'][1]:.2f} Å; predicted force "
        f"error {1e3 * scan['force_min']:.0f} meV/Å at its lowest, {1e3 * scan['force_short']:.0f} meV/Å at 1.8 Å; "
        f"wrote {args.out}/uq_map.png"
    )
    density = charge_density(args)
    if density is not None:
        print(
            f"charge density: validation NMAPE {density['validation']:.2f} % after training "
            f"(spherical atoms and bond sites alone: {density['baseline']:.2f} %); held-out molecules "
            f"{', '.join(density['molecules'])}: NMAPE {density['nmape']:.2f} %, electron-count error "
            f"{density['electrons']:.2f}; wrote {density['cube']} and {args.out}/CHGCAR "
            f"({density['points']} points at 0.1 Å in {density['seconds']:.2f} s)"
        )


if __name__ == "__main__":
    main()
