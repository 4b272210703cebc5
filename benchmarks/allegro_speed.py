"""Allegro speed: asetools against nequip-allegro at identical hyperparameters, in one run.

Both models: fcc Cu, r_max 5 Å, 2 layers, 64 scalar / 32 tensor features, 8 Bessels,
latent MLP [64], readout MLP [32], avg_num_neighbors 40, float32, random weights.
The reference (``pip install nequip nequip-allegro`` after torch) is timed in eager
mode and, unless ``--no-compile``, in its AOT Inductor mode (compiled here with
nequip-compile's own code, once per l_max, cached in ``--cache``). Modes are timed in
alternating rounds so that machine drift hits all of them alike; medians are
reported. nequip's models always compute energy, forces and stress, so the headline
ratio uses ours with stress too; ours without stress is listed as well. Neighbour
lists are built once, outside the timing, for every implementation; the time our
calculator spends on them (matscipy) is reported separately.

Ours runs as ``PotentialCalc`` runs it: parameters frozen, so a strictly local model
is evaluated in blocks of centre atoms. The calculator also tunes glibc's allocator
(``asetools.allocator``); that is process-wide, so here it applies to every
implementation alike (``--no-allocator-tuning`` measures all without it).

Peak memory per atom is the rise of the process's peak resident memory over one step,
measured in a fresh subprocess for each implementation and size.

usage: python benchmarks/allegro_speed.py [--lmax 1 2] [--sizes 4 8] [--threads 2]
           [--no-compile] [--no-allocator-tuning] [--scaling 4 6 8 10 12 16] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from ase.build import bulk

from asetools.allocator import tune_allocator
from asetools.graph import build_graph
from asetools.models import Allegro, AllegroConfig, Potential

R_MAX = 5.0


def copper(repeat: int):
    """``4 * repeat**3`` atoms of rattled fcc Cu (a = 3.61 Å)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat,) * 3)
    atoms.rattle(0.05, seed=0)
    return atoms


# --------------------------------------------------------------------------- ours
def build_ours(l_max: int) -> Potential:
    torch.manual_seed(1)
    config = AllegroConfig(
        species=["Cu"], r_max=R_MAX, l_max=l_max, num_layers=2, num_scalar_features=64,
        num_tensor_features=32, num_bessels=8, two_body_mlp_hidden=[64, 64], latent_mlp_hidden=[64],
        readout_mlp_hidden=[32], avg_num_neighbors=40.0,
    )
    potential = Potential(Allegro(config).to(torch.float32)).eval()
    for parameter in potential.parameters():  # as PotentialCalc does
        parameter.requires_grad_(False)
    return potential


def neighbour_list_seconds(atoms) -> float:
    """Median seconds to build our graph (matscipy neighbour list) of ``atoms``."""
    build = lambda: build_graph(atoms, R_MAX, ["Cu"], dtype=torch.float32)  # noqa: E731
    return time_interleaved({"neighbour list": build}, rounds=5)["neighbour list"]


def ours_step(potential: Potential, atoms, stress: bool):
    graph = build_graph(atoms, R_MAX, ["Cu"], dtype=torch.float32)

    def step():
        output = potential(graph, compute_forces=True, compute_stress=stress)
        return output.forces

    return step


# ----------------------------------------------------------------------- reference
def nequip_available() -> str | None:
    """None if nequip-allegro imports, else the reason."""
    try:
        import allegro  # noqa: F401
        import nequip  # noqa: F401
    except ImportError as error:
        return f"{error} (pip install nequip nequip-allegro, after torch==2.13.0)"
    return None


def build_nequip(l_max: int):
    from allegro.model import AllegroModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    model = AllegroModel(
        seed=1, model_dtype="float32", type_names=["Cu"], r_max=R_MAX, l_max=l_max,
        radial_chemical_embed=dict(_target_="allegro.nn.TwoBodyBesselScalarEmbed", num_bessels=8),
        num_layers=2, num_scalar_features=64, num_tensor_features=32,
        allegro_mlp_hidden_layers_depth=1, allegro_mlp_hidden_layers_width=64,
        readout_mlp_hidden_layers_depth=1, readout_mlp_hidden_layers_width=32,
        avg_num_neighbors=40.0, per_type_energy_shifts={"Cu": 0.0}, per_type_energy_scales={"Cu": 1.0},
    )
    return model.eval()


def nequip_data(atoms):
    from nequip.data import from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    data = NeighborListTransform(r_max=R_MAX)(from_ase(atoms))
    return ChemicalSpeciesToAtomTypeMapper(["Cu"])(data)


def nequip_eager_step(model, atoms):
    data = nequip_data(atoms)
    return lambda: model(dict(data))["forces"]


def nequip_compiled_step(path: Path, atoms):
    from nequip.model.inference_models.compiled import load_compiled_model
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT

    model, _ = load_compiled_model(str(path), "cpu")
    target = COMPILE_TARGET_DICT["ase"]
    data = target["data_settings"](dict(nequip_data(atoms)))
    inputs = {key: data[key] for key in target["input"]}
    return lambda: model(dict(inputs))["forces"]


def compile_nequip(l_max: int, path: Path) -> str | None:
    """AOT-compile the reference model with nequip-compile's code; None on success, else why not."""
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--compile-into", str(path), "--lmax", str(l_max)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not path.exists():
        return "nequip-compile failed: " + (result.stderr.strip().splitlines() or ["no output"])[-1]
    print(f"  compiled nequip-allegro l_max={l_max} (AOT Inductor) in {time.perf_counter() - started:.0f} s")
    return None


def _compile_into(path: str, l_max: int) -> None:
    """Run nequip-compile's main on a freshly built model instead of a training checkpoint."""
    import nequip.scripts.compile as nequip_compile

    def load_fresh_model(_input_path, _compile_mode, _model_key, return_data_dict=False):
        model = build_nequip(l_max)
        return (model, nequip_data(copper(4))) if return_data_dict else model

    nequip_compile.load_saved_model = load_fresh_model
    nequip_compile.main(["fresh.ckpt", path, "--mode", "aotinductor", "--device", "cpu", "--target", "ase"])


# --------------------------------------------------------------------------- timing
def time_interleaved(steps: dict, rounds: int) -> dict[str, float]:
    """Median seconds per call of each function, calling them in alternating rounds."""
    for step in steps.values():  # warm up
        step()
        step()
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - started)
    return {name: sorted(values)[len(values) // 2] for name, values in samples.items()}


def make_step(implementation: str, l_max: int, atoms, cache: Path):
    if implementation == "asetools":
        return ours_step(build_ours(l_max), atoms, stress=True)
    if implementation == "asetools (E+F)":
        return ours_step(build_ours(l_max), atoms, stress=False)
    if implementation == "nequip eager":
        return nequip_eager_step(build_nequip(l_max), atoms)
    if implementation == "nequip AOTI":
        return nequip_compiled_step(compiled_path(cache, l_max), atoms)
    raise ValueError(implementation)


def compiled_path(cache: Path, l_max: int) -> Path:
    return cache / f"nequip_allegro_l{l_max}_ase.nequip.pt2"


def peak_memory_per_atom(implementation: str, l_max: int, repeat: int, threads: int, cache: Path, tune: bool) -> float:
    """KiB per atom that one step adds to the peak resident memory (fresh subprocess)."""
    command = [
        sys.executable, __file__, "--memory-probe", implementation, "--lmax", str(l_max),
        "--sizes", str(repeat), "--threads", str(threads), "--cache", str(cache),
    ] + ([] if tune else ["--no-allocator-tuning"])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return float("nan")
    return float(result.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _memory_probe(implementation: str, l_max: int, repeat: int, cache: Path) -> None:
    atoms = copper(repeat)
    step = make_step(implementation, l_max, atoms, cache)
    try:  # Linux: reset the peak (VmHWM) to the current resident size, then measure one step
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        step()
        after = _status_kib("VmHWM")
    except OSError:  # elsewhere: the lifetime peak, which may hide the step's own
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / len(atoms))


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lmax", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8], help="fcc repeats (4 -> 256 atoms)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip nequip's AOT Inductor mode")
    parser.add_argument("--no-allocator-tuning", action="store_true",
                        help="keep glibc's default allocator settings (for every implementation)")
    parser.add_argument("--scaling", type=int, nargs="*", default=None,
                        help="also time asetools alone at these repeats (e.g. 4 6 8 10 12 16)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "asetools_bench")
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--compile-into", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune = not args.no_allocator_tuning
    if tune:
        tune_allocator()
    if args.compile_into:
        return _compile_into(args.compile_into, args.lmax[0])
    if args.memory_probe:
        return _memory_probe(args.memory_probe, args.lmax[0], args.sizes[0], args.cache)

    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {args.threads} threads, torch {torch.__version__}, float32, "
          f"allocator tuning {'on' if tune else 'off'}")
    missing = nequip_available()
    if missing:
        sys.exit(f"the reference is not installed: {missing}")
    results = []
    for l_max in args.lmax:
        implementations = ["asetools", "asetools (E+F)", "nequip eager"]
        if not args.no_compile:
            why_not = compile_nequip(l_max, compiled_path(args.cache, l_max))
            if why_not:
                print(f"  nequip AOTI unavailable at l_max={l_max}: {why_not}")
            else:
                implementations.append("nequip AOTI")
        for repeat in args.sizes:
            atoms = copper(repeat)
            steps = {name: make_step(name, l_max, atoms, args.cache) for name in implementations}
            seconds = time_interleaved(steps, rounds=7 if len(atoms) <= 500 else 3)
            rates = {name: len(atoms) / value for name, value in seconds.items()}
            best_reference = max(value for name, value in rates.items() if name.startswith("nequip"))
            for name in implementations:
                memory = peak_memory_per_atom(name, l_max, repeat, args.threads, args.cache, tune)
                row = dict(l_max=l_max, atoms=len(atoms), implementation=name, atom_steps_per_s=round(rates[name]),
                           ms_per_step=round(1e3 * seconds[name], 1), peak_kib_per_atom=round(memory, 1))
                results.append(row)
                print(f"l_max={l_max} atoms={len(atoms):6d} {name:15s} {1e3 * seconds[name]:9.1f} ms/step "
                      f"{rates[name]:7.0f} atom-steps/s  peak {memory:7.1f} KiB/atom")
            graph_seconds = neighbour_list_seconds(atoms)
            print(f"l_max={l_max} atoms={len(atoms):6d} our neighbour list {1e3 * graph_seconds:9.1f} ms "
                  f"(asetools E+F+S with it: {len(atoms) / (seconds['asetools'] + graph_seconds):7.0f} atom-steps/s)")
            print(f"l_max={l_max} atoms={len(atoms):6d} RATIO asetools / best nequip = "
                  f"{rates['asetools'] / best_reference:.2f}  (E+F only: {rates['asetools (E+F)'] / best_reference:.2f})")
    if args.scaling:
        print("# scaling of asetools (energy, forces, stress)")
        for l_max in args.lmax:
            for repeat in args.scaling:
                atoms = copper(repeat)
                seconds = time_interleaved({"asetools": make_step("asetools", l_max, atoms, args.cache)}, rounds=3)
                memory = peak_memory_per_atom("asetools", l_max, repeat, args.threads, args.cache, tune)
                rate = len(atoms) / seconds["asetools"]
                graph_us = 1e6 * neighbour_list_seconds(atoms) / len(atoms)
                results.append(dict(l_max=l_max, atoms=len(atoms), implementation="asetools scaling",
                                    atom_steps_per_s=round(rate), peak_kib_per_atom=round(memory, 1),
                                    neighbour_list_us_per_atom=round(graph_us, 1)))
                print(f"scaling l_max={l_max} atoms={len(atoms):6d} {1e3 * seconds['asetools']:9.1f} ms/step "
                      f"{rate:7.0f} atom-steps/s  {1e6 * seconds['asetools'] / len(atoms):7.1f} us/atom  "
                      f"peak {memory:7.1f} KiB/atom  neighbour list {graph_us:6.1f} us/atom")
    print("JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
