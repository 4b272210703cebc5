"""How fast forces change along a trajectory: what decides the outer step of multiple-time-step MD.

RESPA integrates the slow force with the outer step and holds it constant in
between; it is accurate while the slow force changes little over that step. The
RMS of ``F(t + τ) - F(t)`` against the lag ``τ``, for the fast and the slow part,
shows how smooth the slow part is: for a good split the slow force changes far
less over 1–4 fs than the fast one. :func:`probe_force_split` runs the short MD that
records both parts and measures them in one call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .._output import pyplot, save_png
from ..integrators.force_sampling import sample_split_forces

__all__ = [
    "DEFAULT_LAGS_FS",
    "ForceChanges",
    "force_changes",
    "force_split_report",
    "plot_force_changes",
    "probe_force_split",
]

#: Lags in fs that span the outer steps worth trying for molecular systems.
DEFAULT_LAGS_FS = (1.0, 2.0, 3.0, 4.0)


@dataclass
class ForceChanges:
    """Size and change with lag of one force along a trajectory (eV/Å; lags in fs).

    Attributes:
        rms: root mean square of a force component over all frames.
        lags_fs: the lags ``τ``.
        change_rms: ``[len(lags_fs)]`` root mean square of a component of ``F(t + τ) - F(t)``,
            over all pairs of frames ``τ`` apart.
    """

    rms: float
    lags_fs: np.ndarray
    change_rms: np.ndarray

    @property
    def relative_change(self) -> np.ndarray:
        """``change_rms / rms`` (``nan`` for a force that is zero throughout)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.change_rms / self.rms


def force_changes(forces: np.ndarray, interval_fs: float, lags_fs: Sequence[float] = DEFAULT_LAGS_FS) -> ForceChanges:
    """RMS of a force and of its change over each lag, along evenly spaced frames.

    Args:
        forces: ``[T, N, 3]`` forces in eV/Å at ``T`` frames ``interval_fs`` apart.
        interval_fs: time between frames in fs.
        lags_fs: lags in fs; each is rounded to a whole number of frames, which
            must be at least 1 and below ``T``.

    Raises:
        ValueError: wrong shapes, a non-positive interval, or a lag the frames
            cannot resolve (shorter than the interval or longer than the trajectory).
    """
    forces = np.asarray(forces, dtype=float)
    if forces.ndim != 3 or forces.shape[2] != 3:
        raise ValueError(f"forces: expected shape [frames, atoms, 3], got {list(forces.shape)}")
    if not interval_fs > 0:
        raise ValueError(f"interval_fs: must be positive, got {interval_fs}")
    steps = []
    for lag in lags_fs:
        step = int(round(lag / interval_fs))
        if step < 1 or step >= len(forces):
            raise ValueError(
                f"lag {lag:g} fs: the trajectory has {len(forces)} frames {interval_fs:g} fs apart, "
                f"so lags from {interval_fs:g} to {(len(forces) - 1) * interval_fs:g} fs can be resolved"
            )
        steps.append(step)
    changes = np.array([np.sqrt(np.mean((forces[k:] - forces[:-k]) ** 2)) for k in steps])
    return ForceChanges(
        rms=float(np.sqrt(np.mean(forces**2))),
        lags_fs=np.array(steps, dtype=float) * interval_fs,
        change_rms=changes,
    )


def force_split_report(fast: ForceChanges, slow: ForceChanges) -> str:
    """A table of the fast and slow forces' RMS and RMS change per lag, in meV/Å."""
    lines = [
        f"force RMS: fast {1e3 * fast.rms:.1f} meV/Å, slow {1e3 * slow.rms:.1f} meV/Å",
        "RMS change over   fast (meV/Å)   slow (meV/Å)   slow/fast",
    ]
    for lag, f, s in zip(fast.lags_fs, fast.change_rms, slow.change_rms):
        ratio = s / f if f > 0 else float("nan")
        lines.append(f"  {lag:5.2f} fs      {1e3 * f:12.1f}   {1e3 * s:12.1f}   {ratio:9.3f}")
    return "\n".join(lines)


def plot_force_changes(fast: ForceChanges, slow: ForceChanges, path: str | os.PathLike) -> None:
    """Plot the RMS change of the fast and slow forces against the lag into a PNG (needs matplotlib)."""
    plt = pyplot()

    figure, axes = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
    for changes, name, marker in ((fast, "fast", "o"), (slow, "slow", "s")):
        axes.plot(changes.lags_fs, 1e3 * changes.change_rms, marker=marker, label=f"{name} (RMS {1e3 * changes.rms:.0f})")
    axes.set(xlabel="lag τ (fs)", ylabel="RMS of F(t+τ) − F(t) (meV/Å)", title="How fast the forces change")
    axes.set_ylim(bottom=0)
    axes.legend(title="force, meV/Å")
    save_png(figure, path)


def probe_force_split(
    atoms: Atoms, calc, steps: int, timestep_fs: float, temperature_K: float
) -> tuple[ForceChanges, ForceChanges] | None:
    """How much a split's fast and slow forces change over 1–4 fs along a short Langevin run.

    Args:
        atoms: the starting structure (not changed).
        calc: a calculator with ``fast_forces`` and ``slow_forces`` results
            (:class:`~asetools.calculators.MTSCalc`).
        steps: recorded MD steps of ``timestep_fs`` (fs) at ``temperature_K`` (K), after the
            equilibration of :func:`~asetools.integrators.sample_split_forces`.

    Returns:
        the fast and the slow part's :class:`ForceChanges` at the lags of
        :data:`DEFAULT_LAGS_FS` the run resolves, or None when it is too short for a 1 fs lag.
    """
    fast, slow = sample_split_forces(atoms, calc, steps=steps, timestep_fs=timestep_fs, temperature_K=temperature_K)
    lags = [lag for lag in DEFAULT_LAGS_FS if round(lag / timestep_fs) < len(fast)]
    if not lags:
        return None
    return force_changes(fast, timestep_fs, lags), force_changes(slow, timestep_fs, lags)
