"""Charge-density models on the G2 densities: accuracy and speed for several model/basis sizes.

For each size: train on the training molecules (split by molecule), then report on held-out
molecules the NMAPE (100·Σ|ρ̂−ρ|/Σ|ρ| over the full grid, mean over frames) and the
electron-count error, and the inference speed on full 0.1 Å grids. Anchors measured in the same
run: the NMAPE of the fitted baseline (spherical atoms and bond sites, no network) and, for
speed, the point evaluator on the same grid as the separable grid evaluator.

    python benchmarks/density.py --sizes small,medium,large --minutes 5,8,10

Writes benchmarks/figures/density_slice.png (predicted vs reference density of a test molecule).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from asetools.density.field import density_on_grid
from asetools.density.model import DensityModel
from asetools.density.references import read_density_dataset, split_by_molecule
from asetools.density.training import (
    LOSS_UNITS,
    DensityDataConfig,
    DensityFitConfig,
    DensityRunConfig,
    evaluate_density_model,
    fit_baseline,
    train_density_model,
    training_only_frames,
)
from asetools.io.grid import DensityGrid

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "density_g2"

SIZES = {
    "small": {
        "basis": {"beta": 3.0, "l_max": {"H": 1}, "default_l_max": 2},
        "channels": 8, "l_max": 2, "num_layers": 2,
    },
    "medium": {
        "basis": {"beta": 2.0, "l_max": {"H": 2}, "default_l_max": 3},
        "channels": 16, "l_max": 3, "num_layers": 3,
    },
    "large": {
        "basis": {"beta": 1.6, "l_max": {"H": 2}, "default_l_max": 4},
        "channels": 24, "l_max": 4, "num_layers": 3,
    },
}


def _time(function, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _speed(model: DensityModel, atoms, spacing: float = 0.1) -> dict[str, float]:
    """Seconds for a full grid (network + separable evaluator) and the point evaluator on the same grid."""
    grid = DensityGrid.around(atoms, spacing=spacing, padding=2.5)

    def full():
        with torch.no_grad():
            density_on_grid(model.basis, model.expansion(atoms), grid)

    separable = _time(full)
    with torch.no_grad():
        expansion = model.expansion(atoms)
    points = _time(lambda: density_on_grid(model.basis, expansion, grid, method="points"), repeats=1)
    return {"points": grid.num_points, "seconds": separable, "points_per_second": grid.num_points / separable,
            "point_evaluator_seconds": points, "speedup_vs_point_evaluator": points / separable}


def _slice_figure(model: DensityModel, frame, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    with torch.no_grad():
        predicted = density_on_grid(model.basis, model.expansion(frame.atoms), frame.grid)
    reference = np.asarray(frame.grid.values, dtype=np.float64)
    heavy = frame.atoms.positions[frame.atoms.numbers > 1]
    k = int(round((heavy[:, 2].mean() - frame.grid.origin[2]) / frame.grid.voxel[2, 2]))
    x, y, _ = frame.grid.axis_coordinates()
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    extent = [y[0], y[-1], x[-1], x[0]]
    levels = dict(vmin=-4, vmax=2, cmap="viridis", extent=extent)
    for axis, values, title in (
        (axes[0], reference[:, :, k], "reference (PBE/def2-SVP)"),
        (axes[1], predicted[:, :, k], "predicted"),
    ):
        image = axis.imshow(np.log10(np.clip(values, 1e-4, None)), **levels)
        axis.set_title(f"{frame.name}: {title}")
        axis.set_xlabel("y (Å)")
        axis.set_ylabel("x (Å)")
    figure.colorbar(image, ax=axes[:2], label="log10 ρ (e/Å³)")
    difference = predicted[:, :, k] - reference[:, :, k]
    bound = np.percentile(np.abs(difference), 99)
    image = axes[2].imshow(difference, cmap="RdBu_r", vmin=-bound, vmax=bound, extent=extent)
    axes[2].set_title("predicted − reference")
    figure.colorbar(image, ax=axes[2], label="e/Å³")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--minutes", default="5,8,10", help="training wall time per size (comma list)")
    parser.add_argument("--epochs", type=int, default=200, help="epoch cap (the time limit usually ends training)")
    parser.add_argument("--points-per-frame", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--extra-training", nargs="*", default=[], metavar="DATASET",
                        help="datasets whose frames only join the training part (see density_molecules.py)")
    parser.add_argument("--learning-rate", type=float, default=5e-3, help="initial learning rate")
    parser.add_argument("--loss", choices=list(LOSS_UNITS), default="l1", help="training.loss (see DensityFitConfig)")
    parser.add_argument("--initial-model", default=None, metavar="CHECKPOINT",
                        help="fine-tune this density checkpoint (one size) instead of training from scratch")
    parser.add_argument("--learn-exponent-scale", action="store_true",
                        help="predict a scale on every centre's exponents (the recipe's fine-tuning step)")
    parser.add_argument("--resume", action="store_true",
                        help="continue each size's run in --output from its last.pt; --minutes is the whole "
                             "run's budget (the learning rate anneals over all of it), so a long run can span sessions")
    parser.add_argument("--output", default="runs/density_benchmark")
    parser.add_argument("--figure", default=str(Path(__file__).parent / "figures" / "density_slice.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = args.sizes.split(",")
    minutes = [float(m) for m in args.minutes.split(",")]
    minutes += [minutes[-1]] * (len(sizes) - len(minutes))
    if args.initial_model is not None and len(sizes) != 1:
        parser.error("--initial-model fine-tunes one model: give one size, the checkpoint's")

    frames = read_density_dataset(args.data)
    train, validation, test = split_by_molecule(frames, (0.8, 0.1, 0.1), seed=0)
    print(f"{len(train)} training / {len(validation)} validation / {len(test)} test frames "
          f"({len({f.molecule for f in test})} held-out molecules: {', '.join(sorted({f.molecule for f in test}))})")
    largest = max(test, key=lambda f: len(f.atoms))
    extra = training_only_frames(args.extra_training, held_out=validation + test)  # for the baseline anchor
    results = {}
    for size, budget in zip(sizes, minutes):
        run = DensityRunConfig(
            data=DensityDataConfig(dataset=args.data, split=[0.8, 0.1, 0.1], split_seed=0, extra_training=args.extra_training),
            model={**SIZES[size], "learn_exponent_scale": args.learn_exponent_scale},
            training=DensityFitConfig(
                epochs=args.epochs, points_per_frame=args.points_per_frame, max_seconds=60 * budget, schedule="time",
                learning_rate=args.learning_rate, loss=args.loss, device=args.device, resume=args.resume, initial_model=args.initial_model,
            ),
            output_directory=f"{args.output}/{size}",
        )
        started = time.perf_counter()
        model, metrics = train_density_model(run, log=lambda message: print(f"  [{size}] {message}", flush=True))
        seconds = time.perf_counter() - started
        baseline = DensityModel(model.config)
        fit_baseline(baseline, train + extra)
        with torch.no_grad():
            baseline.output_scale.zero_()
        anchor = evaluate_density_model(baseline, test)
        model.eval()
        speed = _speed(model, largest.atoms)
        results[size] = {
            "basis": str(model.basis.irreps), "coefficients_per_heavy_atom": int(model.basis.slot_mask()[1].sum()),
            "parameters": sum(p.numel() for p in model.parameters()), "train_seconds": seconds,
            "test_nmape": metrics.nmape, "test_electron_error": metrics.electron_error,
            "baseline_nmape": anchor.nmape, "nmape_ratio_to_baseline": metrics.nmape / anchor.nmape, **speed,
        }
        print(json.dumps({size: results[size]}, indent=1), flush=True)
        if size == sizes[-1]:
            _slice_figure(model, largest, Path(args.figure))

    print(f"\nheld-out molecules; speed on {largest.name} ({len(largest.atoms)} atoms), full 0.1 Å grid")
    print(f"{'size':>7} {'basis':>28} {'params':>7} {'NMAPE %':>8} {'baseline %':>10} {'ratio':>6} "
          f"{'electrons':>9} {'grid s':>7} {'Mpts/s':>7} {'vs points':>9}")
    for size, r in results.items():
        print(f"{size:>7} {r['basis']:>28} {r['parameters']:>7} {r['test_nmape']:>8.2f} {r['baseline_nmape']:>10.2f} "
              f"{r['nmape_ratio_to_baseline']:>6.2f} {r['test_electron_error']:>9.3f} {r['seconds']:>7.2f} "
              f"{r['points_per_second'] / 1e6:>7.2f} {r['speedup_vs_point_evaluator']:>8.1f}x")
    Path(args.output).mkdir(parents=True, exist_ok=True)
    (Path(args.output) / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
