"""Multiple-time-step MD under a thermostat: BAOAB-RESPA at long outer steps against a
single model under Langevin at the same friction, judged by the observables.

In NVE the outer step of RESPA is capped by resonance with the fast vibrations
(`benchmarks/mts.py`: near 32 fs in liquid Cu, whatever the fast part). With the
Langevin O step at the innermost level (Lagardère et al. 2019), the friction damps
those resonances. This script asks whether the observables still agree with the
reference at longer outer steps, and what that is worth in wall-clock time.

It uses the checkpoints that ``benchmarks/mts.py`` trained (same ``--work`` and
``--system``; run that first). Every run, reference included, is Langevin at the same
``--friction`` (1/fs): ``--equilibrate-ps`` from the system's start, then
``--production-ps`` recorded about every ``--record-fs`` (the nearest multiple of
the run's outer step).

- Reference: EMT at ``--reference-step`` for Cu; for molecules, the single model at
  the smallest of ``--timesteps``.
- The single model at each of ``--timesteps``; each pair (``--pairs``, default every
  trained pair) at each inner step of ``--inner-steps`` and each of ``--n-inner``.
- With ``--valence``: the single model split as ``MTSCalc.from_total(valence, single)``,
  a valence force field (bonds, angles, 1-3 distances and cross terms; ``ValenceCalc``)
  fitted to the training frames as the fast part and the rest of the single model as
  the slow one. The potential is the single model's, so only the integration differs.
- Integrators: BAOAB (ASE's ``LangevinBAOAB``) for the reference and the single model,
  BAOAB-RESPA (``MTSLangevin``) for the pairs.
- Molecules: each molecule's centre-of-mass momentum is removed after every step
  (the noise would make them diffuse into each other's cutoff); temperatures count
  the internal degrees of freedom only.
- A setting is accepted when it did not blow up and every observable agrees with the
  reference within ``--max-sigma`` combined standard errors: the mean kinetic
  temperature right after the O steps (errors from ``--blocks`` blocks of time), and the RDF and
  self-diffusivity for Cu (blocks of time) or the bond and dihedral distributions for
  molecules (groups of molecules).

Speedup = seconds per simulated ps of the single model at its largest accepted step
(its smallest step if none is accepted: then the model itself, not its step, differs
from the reference) / that of the pair at its cheapest accepted setting, all from
this run; the summary also gives each pair's speedup against the single model at the
pair's inner step.

Temperatures: BAOAB's momenta at the end of a step are too cold by about (ω·δt)²/4
for a vibration of angular frequency ω (in ethanol at 500 K, 11-14 K colder at 1 fs
than at 0.5 fs), while
right after the O step they are Maxwell-Boltzmann for harmonic motion. Runs made
before 2026-12-06 compared the end-of-step temperature, which penalised every run
with a longer innermost step; the kinetic temperature compared is now the mid-step
one (``get_midstep_temperature`` of both integrators), and the end-of-step one is
reported beside it. (The O step gives each molecule a centre-of-mass momentum of
about 0.4 % of equipartition before it is removed; that raises the mid-step
temperature by about 0.3 K for ethanol.)

usage: python benchmarks/mts_langevin.py [--system cu] [--work runs/mts_benchmark]
           [--friction 0.002] [--n-inner 3 4 6 8] [--production-ps 20] ...
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import numpy as np
import torch
from ase import units
from mts_md import integrator, md_run, record_interval
from mts_systems import SYSTEMS, mean_and_error
from mts_valence import add_valence_option, valence_splits

from asetools.calculators import MTSCalc, PotentialCalc

DEFAULTS = {
    "cu": {"timesteps": [8.0, 10.0, 12.0], "inner_steps": [8.0], "n_inner": [3, 4, 6, 8], "production_ps": 20.0,
           "record_fs": 24.0, "blocks": 4},
    "molecules": {"timesteps": [0.5, 1.0, 1.5], "inner_steps": [0.5, 1.0], "n_inner": [2, 4, 8], "production_ps": 5.0,
                  "record_fs": 8.0, "blocks": 8},
}  # fmt: skip


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=sorted(SYSTEMS), default="cu")
    parser.add_argument("--work", default="runs/mts_benchmark", help="where benchmarks/mts.py trained the models")
    parser.add_argument("--pairs", nargs="*", help="pair directories under the work directory (default: all; none if empty)")
    add_valence_option(parser)
    parser.add_argument("--friction", type=float, default=0.002, help="Langevin friction, 1/fs")
    parser.add_argument("--reference-step", type=float, default=8.0, help="fs, the EMT reference (cu)")
    parser.add_argument("--timesteps", type=float, nargs="+", help="fs, the single model")
    parser.add_argument("--inner-steps", type=float, nargs="+", help="fs, the pairs")
    parser.add_argument("--n-inner", type=int, nargs="+")
    parser.add_argument("--equilibrate-ps", type=float, default=1.0)
    parser.add_argument("--production-ps", type=float)
    parser.add_argument("--record-fs", type=float, help="fs between frames (rounded to a multiple of the outer step)")
    parser.add_argument("--blocks", type=int)
    parser.add_argument("--max-sigma", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="evaluate every model through torch.compile")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    defaults = DEFAULTS["cu" if args.system == "cu" else "molecules"]
    for option, value in defaults.items():
        if getattr(args, option) is None:
            setattr(args, option, value)
    return args


def block_mean(series: np.ndarray, blocks: int) -> tuple[float, float]:
    """Mean of a time series and its standard error from the means of ``blocks`` consecutive blocks."""
    _, error = mean_and_error(np.array([block.mean() for block in np.array_split(series, blocks)]))
    return float(series.mean()), float(error)


#: Scalar observables of a row: label, value key, standard-error key.
SCALARS = (("D", "D", "D_error"), ("T", "temperature_K", "temperature_error_K"))


def disagreement(system, row: dict, result: dict, reference_row: dict, reference: dict) -> dict[str, float]:
    """Each observable's difference from the reference in combined standard errors, the kinetic temperature included."""
    sigmas = {label: diff / err for label, (diff, err) in system.compare(result, reference).items()}
    for label, value, error in SCALARS:
        if value in row:
            sigmas[label] = abs(row[value] - reference_row[value]) / math.hypot(row[error], reference_row[error])
    return sigmas


def main() -> None:
    args = parse_arguments()
    system = SYSTEMS[args.system]
    torch.set_num_threads(args.threads)
    work = Path(args.work) / args.system
    pairs = list(args.pairs) if args.pairs is not None else sorted(p.parent.name for p in work.glob("*/best.pt") if p.parent.name != "single")
    missing = [name for name in ("single", *pairs) if not (work / name / "best.pt").is_file()]
    if missing:
        raise SystemExit(f"no trained {', '.join(missing)} in {work}; run benchmarks/mts.py --system {args.system} first")
    print(f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads, system {args.system}, "
          f"friction {args.friction} /fs{', torch.compile' if args.compile else ''}", flush=True)  # fmt: skip

    start = system.start(args.seed)
    settings: list[tuple[str, object, float, int | None]] = []  # name, calculator, (inner) step, n_inner
    reference_calc = system.reference_calculator()
    single = PotentialCalc(work / "single" / "best.pt", compile=args.compile)
    if reference_calc is not None:
        settings.append((system.reference_name, reference_calc, args.reference_step, None))
    settings += [("single", single, step, None) for step in args.timesteps]
    for name in pairs:
        calc = MTSCalc.from_checkpoint(work / name / "best.pt", compile=args.compile)
        settings += [(name, calc, inner, n) for inner in args.inner_steps for n in args.n_inner]
    for name, calc in valence_splits(args.valence, work / "single", single).items():
        pairs.append(name)
        settings += [(name, calc, inner, n) for inner in args.inner_steps for n in args.n_inner]
    print(f"Langevin, {args.equilibrate_ps:g} ps to equilibrate, then {args.production_ps:g} ps recorded every "
          f"~{args.record_fs:g} fs", flush=True)  # fmt: skip

    rows, reference, reference_row = [], None, None
    for name, calc, step, n_inner in settings:
        atoms = start.copy()
        outer = step * (n_inner or 1)
        dynamics = integrator(atoms, calc, step, n_inner, system.temperature_K, args.seed, friction_per_fs=args.friction)
        dynamics.attach(system.remove_drift, 1, atoms)
        record_fs = record_interval(outer, args.record_fs)
        run = md_run(atoms, dynamics, record_fs, args.equilibrate_ps, outer, 1000.0, intact=system.intact)
        if not run.exploded:  # equilibrated: the production run
            run = md_run(atoms, dynamics, record_fs, args.production_ps, outer, 1000.0, intact=system.intact)
        row = {"model": name, "inner_fs": step, "n_inner": n_inner, "outer_fs": outer,
               "seconds_per_ps": run.seconds_per_ps, "exploded": run.exploded}  # fmt: skip
        if not run.exploded:
            result = system.observables(run, start.cell.array, args.blocks)
            factor = system.temperature_factor(len(atoms))
            row["temperature_K"], row["temperature_error_K"] = block_mean(run.midstep_temperatures * factor, args.blocks)
            row["end_temperature_K"], _ = block_mean(run.temperatures * factor, args.blocks)
            # Potential energy per atom (meV): ASE's temperature counts 3N degrees of freedom.
            potential = 1e3 * (run.energies - 1.5 * units.kB * run.temperatures)
            row["potential_meV"], row["potential_error_meV"] = block_mean(potential, args.blocks)
            row.update(system.report_entry(result))
            if reference is None:
                reference, reference_row = result, row
                row["reference"] = True
            else:
                row["sigmas"] = disagreement(system, row, result, reference_row, reference)
        rows.append(row)
        print("  " + line(row), flush=True)

    accepted = [r for r in rows if not r["exploded"] and max(r.get("sigmas", {"": 0.0}).values()) <= args.max_sigma]
    best_single = baseline(rows, accepted)
    print(f"\nsingle model baseline: {best_single['outer_fs']:g} fs ({best_single['baseline']}), "
          f"{best_single['seconds_per_ps']:.2f} s/ps", flush=True)  # fmt: skip
    summary = {"single": best_single}
    for name in pairs:
        mine = [r for r in accepted if r["model"] == name]
        if not mine:
            print(f"{name}: no accepted setting", flush=True)
            continue
        best = min(mine, key=lambda r: r["seconds_per_ps"])
        summary[name] = {**best, "speedup": best_single["seconds_per_ps"] / best["seconds_per_ps"]}
        print(f"{name}: cheapest accepted {best['inner_fs']:g} fs x {best['n_inner']}, {best['seconds_per_ps']:.2f} s/ps, "
              f"speedup {summary[name]['speedup']:.2f}", flush=True)  # fmt: skip
        same = same_inner_step(rows, best)
        if same is not None:  # the like-for-like figure: BAOAB's kinetic bias is set by the inner step
            summary[name]["speedup_same_inner_step"] = same["seconds_per_ps"] / best["seconds_per_ps"]
            print(f"{name}: against the single model at the same {best['inner_fs']:g} fs step "
                  f"({same['seconds_per_ps']:.2f} s/ps): {summary[name]['speedup_same_inner_step']:.2f}", flush=True)
    out = work / f"langevin_report_friction{args.friction:g}{'_compiled' if args.compile else ''}.json"
    out.write_text(json.dumps({"friction_per_fs": args.friction, "rows": rows, "summary": summary}, indent=1))
    print(f"written: {out}")


def baseline(rows: list[dict], accepted: list[dict]) -> dict:
    """The single-model run the pairs are timed against: its largest accepted step.

    When no step of the single model agrees with the reference, the model itself
    differs from it (model error, not step error), so its smallest step is used and
    the summary says so.
    """
    singles = [r for r in accepted if r["model"] == "single"]
    if singles:
        return {**max(singles, key=lambda r: r["outer_fs"]), "baseline": "largest accepted step"}
    tried = [r for r in rows if r["model"] == "single" and not r["exploded"]]
    if not tried:
        raise SystemExit("the single model blew up at every step tried")
    return {**min(tried, key=lambda r: r["outer_fs"]), "baseline": "smallest step; none agreed with the reference"}


def same_inner_step(rows: list[dict], pair_row: dict) -> dict | None:
    """The single model's stable run at the pair's inner step, if there is one.

    Near the acceptance threshold, noise decides whether the single model at the
    pair's inner step counts as accepted, and with it which baseline the speedup uses;
    the speedup against this run is the like-for-like one to quote next to it.
    """
    for row in rows:
        if row["model"] == "single" and not row["exploded"] and abs(row["outer_fs"] - pair_row["inner_fs"]) < 1e-9:
            return row
    return None


def line(row: dict) -> str:
    setting = f"{row['inner_fs']:g} fs" + (f" x {row['n_inner']}" if row["n_inner"] else "")
    text = f"{row['model']:16s} {setting:12s} {row['seconds_per_ps']:6.2f} s/ps"
    if row["exploded"]:
        return text + "  exploded"
    text += f"  T {row['temperature_K']:7.1f} ± {row['temperature_error_K']:4.1f} K (end of step {row['end_temperature_K']:5.1f})"
    text += f"  U {row['potential_meV']:9.2f} ± {row['potential_error_meV']:4.2f} meV/atom"
    if "D" in row:
        text += f"  D {row['D']:.3f} ± {row['D_error']:.3f}"
    if "sigmas" in row:
        worst = max(row["sigmas"], key=row["sigmas"].get)
        text += f"  worst {worst} {row['sigmas'][worst]:.1f} sigma"
    return text


if __name__ == "__main__":
    main()
