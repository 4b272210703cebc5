"""Large systems on one machine: time and peak memory of AllegroCalc against system size.

Rattled fcc Cu (a = 3.61 Å) with the Allegro of ``allegro_speed.py`` (r_max 5 Å,
2 layers, 64 scalar / 32 tensor features, float32, random weights), one energy +
forces step (as MD needs) per size, each size in a fresh process, in three modes:

- ``blocked``: the calculator's default, blocks of 12288 edges;
- ``budget``: ``max_memory=--max-memory``, blocks chosen to fit the budget;
- ``whole``: one block holding the whole system (what evaluation without blocks costs).

Reported per size: atoms, seconds to build the neighbour graph (matscipy), seconds
for the model step, µs per atom, and the rise of the process's peak resident memory
(``VmHWM`` minus ``VmRSS`` before the graph, Linux) while the graph is built and
while the model is evaluated (holding the graph), in MiB and, for the larger of
the two, KiB per atom. ``max_memory`` bounds the evaluation's peak. The
anchor of each mode is its smallest size: ``cost ratio`` is µs/atom against it
(1.0 = linear). ``whole`` stops at the sizes you give it; the largest system that
would fit is estimated from its memory per atom and the memory available.

usage: python benchmarks/large_systems.py [--lmax 1] [--sizes 10 16 25 30 40 50]
           [--whole-sizes 10 16 20] [--max-memory "1 GiB"] [--modes blocked budget whole]
           [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from allegro_speed import build_ours, copper

from asetools.calculators import PotentialCalc
from asetools.models import Potential
from asetools.models.memory_budget import available_memory, parse_memory


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(mode: str, l_max: int, repeat: int, max_memory: str, device: str) -> dict:
    """One size in this process: graph and step seconds and the peak memory rise (KiB)."""
    model = build_ours(l_max).model
    settings = {"blocked": {}, "budget": {"max_memory": max_memory}, "whole": {"edges_per_block": 1 << 40}}[mode]
    calc = PotentialCalc(Potential(model, **settings), device=device)
    warm = copper(2)  # first-call costs (and the budget's probe blocks) before the baseline
    calc.evaluate(calc.graph(warm))
    atoms = copper(repeat)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    graph = calc.graph(atoms)
    graph_seconds = time.perf_counter() - start
    graph_peak = _status_kib("VmHWM") - before
    Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    results = calc.evaluate(graph)
    step_seconds = time.perf_counter() - start
    evaluation_peak = _status_kib("VmHWM") - before  # includes the graph it holds
    blocks = calc.potential._edges_per_block(graph, sorted_edges=True)
    return {
        "mode": mode, "atoms": len(atoms), "edges": graph.num_edges, "graph_s": graph_seconds, "step_s": step_seconds,
        "graph_peak_kib": graph_peak, "evaluation_peak_kib": evaluation_peak, "peak_kib": max(graph_peak, evaluation_peak), "edges_per_block": blocks, "max_force": float(abs(results["forces"]).max()),
    }


def run_fresh(mode: str, args, repeat: int) -> dict | None:
    command = [
        sys.executable, __file__, "--probe", mode, "--lmax", str(args.lmax), "--sizes", str(repeat),
        "--max-memory", args.max_memory, "--threads", str(args.threads), "--device", args.device,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"  {mode} at repeat {repeat} failed: {result.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lmax", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 16, 25, 30, 40, 50], help="fcc repeats (10 -> 4000 atoms)")
    parser.add_argument("--whole-sizes", type=int, nargs="*", default=[10, 16, 20])
    parser.add_argument("--max-memory", default="1 GiB")
    parser.add_argument("--modes", nargs="+", default=["blocked", "budget", "whole"], choices=["blocked", "budget", "whole"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        print(json.dumps(measure(args.probe, args.lmax, args.sizes[0], args.max_memory, args.device)))
        return

    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} threads, {args.device}, l_max {args.lmax}, "
          f"available memory {available_memory(args.device) / 1024**3:.1f} GiB")
    print("mode | atoms | edges | graph s | step s | µs/atom | cost ratio | graph peak MiB | evaluation peak MiB "
          "| KiB/atom | edges/block")
    rows = []
    sizes = {"blocked": args.sizes, "budget": args.sizes, "whole": args.whole_sizes}
    plan = [(mode, repeat) for mode in args.modes for repeat in sizes[mode]]
    anchors: dict[str, float] = {}
    for mode, repeat in plan:
        row = run_fresh(mode, args, repeat)
        if row is None:
            continue
        per_atom_us = 1e6 * row["step_s"] / row["atoms"]
        anchors.setdefault(mode, per_atom_us)
        row["us_per_atom"], row["cost_ratio"] = per_atom_us, per_atom_us / anchors[mode]
        rows.append(row)
        print(f"{mode} | {row['atoms']} | {row['edges']} | {row['graph_s']:.2f} | {row['step_s']:.2f} | "
              f"{per_atom_us:.0f} | {row['cost_ratio']:.2f} | {row['graph_peak_kib'] / 1024:.0f} | "
              f"{row['evaluation_peak_kib'] / 1024:.0f} | "
              f"{row['peak_kib'] / row['atoms']:.2f} | {row['edges_per_block']}", flush=True)
    budget = parse_memory(args.max_memory)
    over = [r for r in rows if r["mode"] == "budget" and r["evaluation_peak_kib"] * 1024 > budget]
    print(f"budget {args.max_memory}: {'all within' if not over else f'{len(over)} size(s) over'}")
    whole = [r for r in rows if r["mode"] == "whole"]
    if whole:
        kib_per_atom = whole[-1]["peak_kib"] / whole[-1]["atoms"]
        largest = available_memory(args.device) / 1024 / kib_per_atom
        print(f"whole system in one block: {kib_per_atom:.0f} KiB/atom, about {largest:,.0f} atoms fit in the memory available")


if __name__ == "__main__":
    main()
