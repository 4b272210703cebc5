"""Train the reference Allegro (nequip 0.19 + nequip-allegro 0.8) with ``nequip-train`` and read back its accuracy.

``train_nequip(...)`` fills ``allegro.yaml`` (next to this file) for the given data, runs
``nequip-train`` in a subprocess with a wall-clock training budget, then evaluates the best
checkpoint on a test file through nequip's ASE calculator (in a second subprocess) and returns::

    {"energy_mae_meV_per_atom", "force_mae_meV_per_A", "epochs", "train_frames_per_s",
     "seconds", "checkpoint", ...}   # plus some diagnostics, see train_nequip

Both nequip steps run in child processes: importing nequip for inference calls its
``set_global_state()``, which changes torch's default dtype to float64, reseeds every RNG and
changes e3nn's global options -- none of that should leak into the calling benchmark.

Time budget: a Lightning ``Timer(interval="epoch")`` callback in the config stops training after
the epoch (training + validation) during which ``max_seconds`` of training time have passed,
the same rule as asetools' ``training.max_seconds``. The clock starts at the first training epoch,
so start-up (data loading, statistics, model build) is excluded and reported separately. As a
safety net the launcher interrupts (SIGINT, then SIGKILL) a run that overruns the budget by more
than a few epochs or whose start-up takes longer than ``STARTUP_LIMIT_S``; the best (else the
last) checkpoint is then evaluated.

Wall-clock stamps come from :class:`WallClockLog`, a Lightning callback referenced in the config
as ``run_nequip.WallClockLog`` (the launcher puts this directory on the child's PYTHONPATH). It
writes one JSON line per event to ``<workdir>/timing.jsonl``.

Smoke test: ``python benchmarks/nequip_reference/run_nequip.py [WORKDIR]`` (ethanol, 100 train /
20 validation / 50 test frames, 60 s, 2 threads).

Timing caveat: with ``threads`` equal to the core count, any other CPU load on the machine makes
every OpenMP region wait for a descheduled thread (observed on a 2-core machine: ~8 ms per op,
epochs 1 s -> 40 s). Frames/s are only meaningful on an otherwise idle machine; check the
per-epoch durations in ``timing.jsonl`` for outliers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "allegro.yaml"
CONFIG_NAME = "config"  # <workdir>/config.yaml
TIMING_FILE = "timing.jsonl"
TRAIN_LOG = "nequip-train.log"
EVAL_LOG = "nequip-eval.log"
STARTUP_LIMIT_S = 900.0  # give up if the first epoch has not started after this long
KILL_GRACE_S = 30.0  # after SIGINT, wait this long for Lightning to shut down before SIGKILL

__all__ = ["train_nequip", "WallClockLog"]


# --------------------------------------------------------------------------- config
def _fill_template(values: dict[str, object]) -> str:
    text = TEMPLATE.read_text()
    for name, value in values.items():
        token = f"__{name}__"
        if token not in text:
            raise KeyError(f"placeholder {token} not found in {TEMPLATE}")
        text = text.replace(token, json.dumps(value))  # JSON is valid YAML (flow style)
    leftover = [line for line in text.splitlines() if re.search(r"\b__[A-Z_]+__\b", line.split("#")[0])]
    if leftover:
        raise ValueError(f"unfilled placeholders in config: {leftover}")
    return text


# --------------------------------------------------------------------------- timing callback
_WALLCLOCK_CLASS = None


def _make_wallclock_class():
    """Build the Lightning callback lazily, so importing this module does not import Lightning."""
    import lightning.pytorch as pl

    class WallClockLog(pl.Callback):
        """Writes wall-clock stamps (``time.time()``) of training events as JSON lines to ``path``.

        Events: ``fit_start``, ``train_start``, ``first_batch_start``, ``first_batch_end``, and per
        epoch ``epoch_start``, ``val_start``, ``val_end``, ``epoch_end`` (with the epoch's logged
        validation metrics and learning rate), then ``train_end``.
        """

        def __init__(self, path: str):
            super().__init__()
            self.path = path
            self._first_batch = True
            open(self.path, "w").close()

        def _write(self, event: str, **fields):
            record = {"event": event, "t": time.time(), **fields}
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")

        def on_fit_start(self, trainer, pl_module):
            self._write("fit_start", launched=float(os.environ.get("NEQUIP_BENCH_T0", "nan")))

        def on_train_start(self, trainer, pl_module):
            self._write("train_start")

        def on_train_epoch_start(self, trainer, pl_module):
            self._write("epoch_start", epoch=trainer.current_epoch)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if self._first_batch:
                self._write("first_batch_start")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self._first_batch:
                self._first_batch = False
                self._write("first_batch_end")

        def on_validation_start(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self._write("val_start", epoch=trainer.current_epoch)

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self._write("val_end", epoch=trainer.current_epoch)

        def on_train_epoch_end(self, trainer, pl_module):
            metrics = {}
            for key, value in trainer.callback_metrics.items():
                try:
                    metrics[key] = float(value)
                except (TypeError, ValueError):
                    pass
            lr = None
            if trainer.optimizers:
                lr = float(trainer.optimizers[0].param_groups[0]["lr"])
            self._write("epoch_end", epoch=trainer.current_epoch, lr=lr, metrics=metrics)

        def on_train_end(self, trainer, pl_module):
            self._write("train_end", epochs=trainer.current_epoch)

    return WallClockLog


def __getattr__(name):  # PEP 562: ``run_nequip.WallClockLog`` for Hydra's ``_target_``
    global _WALLCLOCK_CLASS
    if name == "WallClockLog":
        if _WALLCLOCK_CLASS is None:
            _WALLCLOCK_CLASS = _make_wallclock_class()
        return _WALLCLOCK_CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _read_timing(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written
            pass
    return records


# --------------------------------------------------------------------------- subprocess helpers
def _child_env(threads: int, launched: float) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["NEQUIP_BENCH_T0"] = repr(launched)
    env["HYDRA_FULL_ERROR"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _nequip_train_command(workdir: Path) -> list[str]:
    exe = Path(sys.executable).parent / "nequip-train"
    base = [str(exe)] if exe.exists() else (
        [shutil.which("nequip-train")] if shutil.which("nequip-train") else [sys.executable, "-m", "nequip.scripts.train"]
    )
    return base + ["-cp", str(workdir), "-cn", CONFIG_NAME]


def _stop(proc: subprocess.Popen) -> None:
    """Interrupt the child (Lightning shuts down on SIGINT), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- main entry point
def train_nequip(
    train_xyz: str,
    val_xyz: str,
    test_xyz: str,
    isolated_atoms: dict[str, float] | None,
    species: list[str],
    workdir: str,
    max_seconds: float,
    seed: int = 0,
    threads: int = 2,
) -> dict:
    """Train nequip-allegro on ``train_xyz`` (validating on ``val_xyz``) for ``max_seconds``; test on ``test_xyz``.

    Args:
        train_xyz, val_xyz, test_xyz: extxyz files labelled with ``energy`` (eV) and ``forces`` (eV/Å).
        isolated_atoms: eV per element, used as the per-species energy shifts; ``None``: nequip's
            default (mean energy per atom of the training set for every species).
        species: element symbols, the model's type order.
        workdir: output directory (created): filled ``config.yaml``, ``nequip-train.log``,
            ``timing.jsonl``, ``best.ckpt``, ``last.ckpt``, ``csv/version_0/metrics.csv``,
            ``test_predictions.json``, ``result.json``.
        max_seconds: training wall-clock budget (training + validation epochs, start-up excluded);
            training stops after the epoch in which it runs out.
        seed: model and data seed.
        threads: torch/OpenMP threads of the child processes.

    Returns:
        ``energy_mae_meV_per_atom`` and ``force_mae_meV_per_A`` on the test set (best checkpoint,
        EMA weights), ``epochs`` completed, ``train_frames_per_s`` = training frames x epochs /
        ``seconds``, ``seconds`` = training wall time (first epoch start to last epoch end,
        including validation and checkpointing), ``checkpoint`` (path evaluated), and diagnostics:
        ``startup_seconds`` (launch to first training step), ``train_only_frames_per_s`` (training
        passes only, validation excluded), ``best_epoch``, ``val_energy_mae_meV_per_atom`` /
        ``val_force_mae_meV_per_A`` at the best epoch, ``num_train_frames``, ``num_test_frames``,
        ``total_seconds`` (whole call), ``killed`` (the safety net fired), ``returncode``, ``workdir``.
    """
    from ase.io import read

    started = time.time()
    workdir_path = Path(workdir).resolve()
    workdir_path.mkdir(parents=True, exist_ok=True)
    species = list(species)
    n_train = len(read(train_xyz, ":"))

    if isolated_atoms is not None:
        missing = [s for s in species if s not in isolated_atoms]
        if missing:
            raise ValueError(f"no isolated-atom energy for {missing}")
        shifts: object = {s: float(isolated_atoms[s]) for s in species}
    else:
        shifts = "${training_data_stats:per_atom_energy_mean}"

    # stale outputs of an earlier run in the same directory must not be picked up
    for name in ("best.ckpt", "last.ckpt", TIMING_FILE, "test_predictions.json", "result.json"):
        (workdir_path / name).unlink(missing_ok=True)
    shutil.rmtree(workdir_path / "csv", ignore_errors=True)

    config_text = _fill_template(
        {
            "SEED": int(seed),
            "SPECIES": species,
            "TRAIN_XYZ": str(Path(train_xyz).resolve()),
            "VAL_XYZ": str(Path(val_xyz).resolve()),
            "WORKDIR": str(workdir_path),
            "MAX_SECONDS": float(max_seconds),
            "ENERGY_SHIFTS": shifts,
        }
    )
    (workdir_path / f"{CONFIG_NAME}.yaml").write_text(config_text)

    # ---- train
    timing_path = workdir_path / TIMING_FILE
    launched = time.time()
    killed = False
    with open(workdir_path / TRAIN_LOG, "w") as log:
        proc = subprocess.Popen(
            _nequip_train_command(workdir_path),
            cwd=workdir_path,
            env=_child_env(threads, launched),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so _stop reaches only this run
        )
        try:
            while proc.poll() is None:
                time.sleep(1.0)
                now = time.time()
                records = _read_timing(timing_path)
                epoch_starts = [r["t"] for r in records if r["event"] == "epoch_start"]
                epoch_ends = [r["t"] for r in records if r["event"] == "epoch_end"]
                if not epoch_starts:
                    if now - launched > STARTUP_LIMIT_S:
                        killed = True
                        break
                    continue
                # allow the epoch in progress to finish: 3 x the longest epoch so far + 60 s (before the
                # first epoch has finished, its length is unknown: be generous)
                durations = [b - a for a, b in zip(epoch_starts, epoch_ends)]
                slack = 3.0 * max(durations) if durations else max(600.0, 2.0 * float(max_seconds))
                if now - epoch_starts[0] > max_seconds + slack + 60.0:
                    killed = True
                    break
        finally:
            if proc.poll() is None:
                _stop(proc)
    returncode = proc.returncode

    # ---- timings
    records = _read_timing(timing_path)
    stamp = {r["event"]: r["t"] for r in reversed(records)}  # first occurrence of each event
    epochs = [r for r in records if r["event"] == "epoch_end"]
    epoch_starts = {r["epoch"]: r["t"] for r in records if r["event"] == "epoch_start"}
    val_starts = {r["epoch"]: r["t"] for r in records if r["event"] == "val_start"}
    n_epochs = len(epochs)
    seconds = (epochs[-1]["t"] - epoch_starts[epochs[0]["epoch"]]) if n_epochs else float("nan")
    train_only = sum(val_starts[e["epoch"]] - epoch_starts[e["epoch"]] for e in epochs if e["epoch"] in val_starts)
    startup = stamp.get("first_batch_start", float("nan")) - launched

    best_epoch, best_metrics = None, {}
    for record in epochs:
        metrics = record.get("metrics", {})
        loss = metrics.get("val0_epoch/weighted_sum")
        if loss is not None and (not best_metrics or loss < best_metrics["val0_epoch/weighted_sum"]):
            best_epoch, best_metrics = record["epoch"] + 1, metrics

    # ---- test
    checkpoint = workdir_path / "best.ckpt"
    if not checkpoint.exists():
        checkpoint = workdir_path / "last.ckpt"
    if not checkpoint.exists():
        raise RuntimeError(
            f"nequip-train produced no checkpoint (return code {returncode}); see {workdir_path / TRAIN_LOG}"
        )
    predictions = workdir_path / "test_predictions.json"
    with open(workdir_path / EVAL_LOG, "w") as log:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--evaluate", str(checkpoint),
             str(Path(test_xyz).resolve()), str(predictions), str(int(threads))],
            cwd=workdir_path,
            env=_child_env(threads, time.time()),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    test = json.loads(predictions.read_text())

    result = {
        "energy_mae_meV_per_atom": test["energy_mae_meV_per_atom"],
        "force_mae_meV_per_A": test["force_mae_meV_per_A"],
        "epochs": n_epochs,
        "train_frames_per_s": n_train * n_epochs / seconds if n_epochs else 0.0,
        "seconds": seconds,
        "checkpoint": str(checkpoint),
        "startup_seconds": startup,
        "train_only_frames_per_s": n_train * n_epochs / train_only if train_only > 0 else float("nan"),
        "best_epoch": best_epoch,
        "val_energy_mae_meV_per_atom": 1e3 * best_metrics["val0_epoch/per_atom_energy_mae"] if "val0_epoch/per_atom_energy_mae" in best_metrics else None,
        "val_force_mae_meV_per_A": 1e3 * best_metrics["val0_epoch/forces_mae"] if "val0_epoch/forces_mae" in best_metrics else None,
        "final_lr": epochs[-1].get("lr") if n_epochs else None,
        "num_train_frames": n_train,
        "num_test_frames": test["num_frames"],
        "test_energy_rmse_meV_per_atom": test["energy_rmse_meV_per_atom"],
        "test_force_rmse_meV_per_A": test["force_rmse_meV_per_A"],
        "test_eval_seconds": test["seconds"],
        "total_seconds": time.time() - started,
        "killed": killed,
        "returncode": returncode,
        "workdir": str(workdir_path),
    }
    (workdir_path / "result.json").write_text(json.dumps(result, indent=2))
    return result


# --------------------------------------------------------------------------- test-set evaluation (child process)
def _reference_energy(atoms, key: str = "energy") -> float:
    if atoms.calc is not None and key == "energy" and "energy" in atoms.calc.results:
        return float(atoms.calc.results["energy"])
    return float(atoms.info[key])


def _reference_forces(atoms, key: str = "forces"):
    import numpy as np

    if atoms.calc is not None and key == "forces" and "forces" in atoms.calc.results:
        return np.array(atoms.calc.results["forces"], dtype=float)
    return np.array(atoms.arrays[key], dtype=float)


def _evaluate(checkpoint: str, test_xyz: str, out_json: str, threads: int) -> None:
    """Energies and forces of every frame of ``test_xyz`` from ``checkpoint`` via nequip's ASE calculator."""
    import numpy as np
    import torch
    from ase.io import read

    torch.set_num_threads(threads)
    from nequip.integrations.ase import NequIPCalculator

    # no public "from checkpoint" constructor in 0.19; `_from_saved_model` is what nequip's own
    # integration tests use. A .ckpt of an EMALightningModule loads with the EMA weights.
    calc = NequIPCalculator._from_saved_model(checkpoint, device="cpu", chemical_species_to_atom_type_map=True)
    frames = read(test_xyz, ":")
    t0 = time.perf_counter()
    energy_err, force_err = [], []
    for atoms in frames:
        e_ref, f_ref = _reference_energy(atoms), _reference_forces(atoms)
        atoms.calc = calc
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        energy_err.append((e - e_ref) / len(atoms))
        force_err.append((f - f_ref).ravel())
    seconds = time.perf_counter() - t0
    energy_err = np.array(energy_err)
    force_err = np.concatenate(force_err)
    result = {
        "checkpoint": checkpoint,
        "test_file": test_xyz,
        "num_frames": len(frames),
        "energy_mae_meV_per_atom": 1e3 * float(np.mean(np.abs(energy_err))),
        "energy_rmse_meV_per_atom": 1e3 * float(np.sqrt(np.mean(energy_err**2))),
        "force_mae_meV_per_A": 1e3 * float(np.mean(np.abs(force_err))),
        "force_rmse_meV_per_A": 1e3 * float(np.sqrt(np.mean(force_err**2))),
        "seconds": seconds,
    }
    Path(out_json).write_text(json.dumps(result, indent=2))


# --------------------------------------------------------------------------- smoke test
def _smoke(workdir: str) -> dict:
    """Ethanol: 100 training, 20 validation, 50 test frames, 60 s budget, 2 threads."""
    import numpy as np
    from ase.io import read, write

    from asetools.data.frames import read_isolated_atom_energies

    data = HERE.parents[2] / "shared" / "data" / "botnet" / "ethanol"
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    frames = read(data / "train.xyz", ":")
    order = np.random.default_rng(0).permutation(len(frames))
    write(work / "train.xyz", [frames[i] for i in order[:100]])
    write(work / "val.xyz", [frames[i] for i in order[100:120]])
    write(work / "test.xyz", read(data / "test_MD.xyz", ":50"))
    isolated = read_isolated_atom_energies(data / "isolated_atoms.xyz")
    return train_nequip(
        str(work / "train.xyz"), str(work / "val.xyz"), str(work / "test.xyz"),
        isolated, ["C", "H", "O"], str(work / "run"), max_seconds=60.0, seed=0, threads=2,
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--evaluate":
        _evaluate(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        result = _smoke(sys.argv[1] if len(sys.argv) > 1 else "/tmp/nequip_reference_smoke")
        print(json.dumps(result, indent=2))
