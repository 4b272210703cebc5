"""Mean-squared displacements and self-diffusion coefficients (Einstein relation).

The trajectory is unwrapped from the displacements between consecutive frames (so both
wrapped and unwrapped input work, in any cell, and the cell may change as in NPT), the
centre-of-mass drift is removed, and the MSD is averaged over all time origins with FFTs
in O(T log T). ``diffusivity`` then fits ``MSD = 2 d D t + c`` over the linear (diffusive)
regime, found from the log-log slope unless given, with an error from independent
segments of the trajectory.

Units: ``timestep`` and fit windows are ASE time units at the API (e.g. ``5 * ase.units.fs``);
results carry times in ps, MSDs in Å² and D in Å²/ps (``D_cm2_s`` in cm²/s).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.fft
from ase import Atoms, units
from ase.data import atomic_numbers

from .._output import pyplot, save_png, write_columns
from ..data.trajectory import iterate_frames
from ..graph import checked_geometry

__all__ = ["MSD", "Diffusivity", "diffusivity", "msd", "msd_fft", "plot_msd", "unwrap"]

ANGSTROM2_PER_PS_IN_CM2_PER_S = 1e-4
AXES = "xyz"
_CHUNK_ELEMENTS = 4_000_000


def unwrap(
    images: str | os.PathLike | Atoms | Iterable[Atoms],
    max_jump: float = 0.4,
    index: str = ":",
    progress: bool = False,
) -> tuple[np.ndarray, Atoms]:
    """Continuous positions ``[frames, atoms, 3]`` (Å) of a trajectory, and its first frame.

    Between consecutive frames each atom is taken to have moved by the displacement
    closest to zero modulo the cell of the later frame (along periodic axes only). A jump
    of more than ``max_jump`` of a cell vector (fractional units, at most 0.5) is ambiguous
    (the atom could have crossed the boundary either way) and raises a ValueError: the
    frames are too far apart in time.
    """
    if not 0 < max_jump <= 0.5:
        raise ValueError(f"max_jump is a fraction of a cell vector in (0, 0.5], got {max_jump}")
    first: Atoms | None = None
    path: list[np.ndarray] = []
    frames = iterate_frames(images, index=index, progress=progress, description="unwrap", same_atoms=True)
    for t, atoms in enumerate(frames):
        positions, cell, pbc = checked_geometry(atoms, f"frame {t}: ")
        if first is None:
            first = atoms.copy()
            path.append(positions.copy())
            previous = positions
            continue
        step = positions - previous
        if pbc.any():
            fractional = np.linalg.solve(cell.T, step.T).T
            crossings = np.where(pbc, np.round(fractional), 0.0)
            residual = np.abs(fractional - crossings)[:, pbc]
            if residual.max() > max_jump:
                atom, axis = np.unravel_index(np.argmax(residual), residual.shape)
                raise ValueError(
                    f"frame {t}: atom {atom} moved {residual[atom, axis]:.2f} of cell vector "
                    f"{np.flatnonzero(pbc)[axis]} since the previous frame (more than max_jump={max_jump}); whether it "
                    "crossed the boundary is ambiguous. Use frames written more often"
                )
            step = step - crossings @ cell
        path.append(path[-1] + step)
        previous = positions
    if first is None:
        raise ValueError("the trajectory has no frames")
    return np.array(path), first


def msd_fft(x: np.ndarray) -> np.ndarray:
    """MSD over all time origins of each column of ``x`` ``[T, ...]``: ``out[m] = <(x[t+m] - x[t])²>_t``.

    Uses ``sum_t (x[t+m]-x[t])² = sum_t x[t+m]² + x[t]² - 2 x[t] x[t+m]``, the last term a
    zero-padded FFT autocorrelation; cost O(T log T) per column.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    size = scipy.fft.next_fast_len(2 * n, real=True)
    spectrum = scipy.fft.rfft(x, n=size, axis=0)
    correlation = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size, axis=0)[:n]
    squares = x**2
    # sum over t < n - m of x[t+m]² + x[t]²: the full sum minus the m first and m last squares
    removed = np.cumsum(squares + squares[::-1], axis=0)
    squared_sums = 2.0 * squares.sum(axis=0) - np.concatenate([np.zeros_like(x[:1]), removed[:-1]])
    counts = (n - np.arange(n)).reshape((n,) + (1,) * (x.ndim - 1))
    return (squared_sums - 2.0 * correlation) / counts


@dataclass(frozen=True)
class MSD:
    """Mean-squared displacements, per species and per Cartesian axis.

    Attributes:
        time_ps: ``[T]`` lag times (ps), from 0.
        per_axis: ``species -> [T, 3]`` MSD along x, y, z (Å²), averaged over the atoms of the
            species and all time origins; ``"all"`` is every atom.
        blocks: ``species -> [n_blocks, T_block, 3]`` the same for each of ``n_blocks``
            independent consecutive segments of the trajectory (for error estimates).
        n_atoms: ``species -> number of atoms``.
        drift_removed: whether the centre-of-mass motion was subtracted.
    """

    time_ps: np.ndarray
    per_axis: dict[str, np.ndarray]
    blocks: dict[str, np.ndarray]
    n_atoms: dict[str, int]
    drift_removed: bool

    @property
    def species(self) -> list[str]:
        return [s for s in self.per_axis if s != "all"]

    def total(self, species: str = "all") -> np.ndarray:
        """``[T]`` three-dimensional MSD (Å²) of ``species`` (``"all"`` for every atom)."""
        return self._lookup(self.per_axis, species).sum(axis=1)

    def _lookup(self, table: dict[str, np.ndarray], species: str) -> np.ndarray:
        if species not in table:
            raise ValueError(f"no MSD for {species!r}; this trajectory has {list(table)}")
        return table[species]

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the lag time and the MSD of each species, in 3D and per axis, as columns (atomically)."""
        columns = {"time_ps": self.time_ps}
        for species, values in self.per_axis.items():
            columns[f"msd_{species}"] = values.sum(axis=1)
            for k, axis in enumerate(AXES):
                columns[f"msd_{species}_{axis}"] = values[:, k]
        write_columns(path, columns)


def msd(
    images: str | os.PathLike | Atoms | Iterable[Atoms],
    timestep: float,
    remove_drift: bool = True,
    blocks: int = 5,
    max_jump: float = 0.4,
    index: str = ":",
    progress: bool = False,
) -> MSD:
    """Mean-squared displacement of a trajectory, over all time origins.

    Args:
        images: trajectory file, ``Atoms`` list or iterable; frames equally spaced in time.
        timestep: time between consecutive frames, ASE units (``1 * ase.units.fs``).
        remove_drift: subtract the motion of the (mass-weighted) centre of mass.
        blocks: independent consecutive segments also analysed on their own, for errors.
        max_jump: largest unambiguous move between frames, fraction of a cell vector (see :func:`unwrap`).
        index: frames to read when ``images`` is a file (``ase.io`` syntax).
        progress: show a progress bar while reading.
    """
    if not timestep > 0:
        raise ValueError(f"timestep must be positive (ASE time units), got {timestep}")
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    positions, first = unwrap(images, max_jump=max_jump, index=index, progress=progress)
    n_frames = len(positions)
    if n_frames < 2 * blocks:
        raise ValueError(f"{n_frames} frames are too few for {blocks} blocks; use a longer trajectory or fewer blocks")
    if remove_drift:
        masses = first.get_masses()
        centre = np.einsum("tai,a->ti", positions, masses / masses.sum())
        positions = positions - (centre - centre[0])[:, None, :]
    symbols = np.array(first.get_chemical_symbols())
    groups = {s: symbols == s for s in sorted(set(symbols), key=lambda s: atomic_numbers[s])}
    groups["all"] = np.ones(len(symbols), dtype=bool)

    def per_species(segment: np.ndarray) -> dict[str, np.ndarray]:
        sums = {s: np.zeros((len(segment), 3)) for s in groups}
        chunk = max(1, _CHUNK_ELEMENTS // (3 * len(segment)))  # bounds the FFT's working memory
        for begin in range(0, segment.shape[1], chunk):
            per_atom = msd_fft(segment[:, begin : begin + chunk])  # [T, chunk, 3]
            for s, mask in groups.items():
                sums[s] += per_atom[:, mask[begin : begin + chunk]].sum(axis=1)
        return {s: sums[s] / groups[s].sum() for s in groups}

    whole = per_species(positions)
    block_length = n_frames // blocks
    if blocks == 1:
        block_values = [whole]
    else:
        block_values = [per_species(positions[b * block_length : (b + 1) * block_length]) for b in range(blocks)]
    return MSD(
        time_ps=np.arange(n_frames) * timestep / (1000.0 * units.fs),
        per_axis=whole,
        blocks={s: np.stack([v[s] for v in block_values]) for s in groups},
        n_atoms={s: int(mask.sum()) for s, mask in groups.items()},
        drift_removed=remove_drift,
    )


@dataclass(frozen=True)
class Diffusivity:
    """A self-diffusion coefficient from the Einstein relation ``MSD = 2 d D t``.

    Attributes:
        D: diffusion coefficient (Å²/ps).
        error: standard error of ``D`` from independent segments (Å²/ps); NaN with one block.
        species: the atoms it describes (``"all"`` for every atom).
        axes: the Cartesian axes used (``"xyz"`` for 3D; ``d = len(axes)``).
        fit_ps: ``(start, end)`` of the fitted lag window (ps).
        loglog_slope: slope of log MSD against log t over the window (1 when diffusive).
        intercept: fitted MSD at t = 0 (Å²).
        linear: whether the window is a true linear regime (False when none was found).
    """

    D: float
    error: float
    species: str
    axes: str
    fit_ps: tuple[float, float]
    loglog_slope: float
    intercept: float
    linear: bool

    @property
    def D_cm2_s(self) -> float:
        """D in cm²/s."""
        return self.D * ANGSTROM2_PER_PS_IN_CM2_PER_S

    @property
    def error_cm2_s(self) -> float:
        return self.error * ANGSTROM2_PER_PS_IN_CM2_PER_S

    def __str__(self) -> str:
        return (
            f"D({self.species}, {self.axes}) = {self.D:.4g} ± {self.error:.2g} Å²/ps "
            f"= {self.D_cm2_s:.4g} ± {self.error_cm2_s:.2g} cm²/s "
            f"(fit {self.fit_ps[0]:.3g}–{self.fit_ps[1]:.3g} ps, log-log slope {self.loglog_slope:.2f})"
        )


def diffusivity(
    result: MSD,
    species: str = "all",
    axes: str = "xyz",
    fit: tuple[float, float] | None = None,
    slope_tolerance: float = 0.15,
) -> Diffusivity:
    """Fit the Einstein relation to an MSD.

    Args:
        result: output of :func:`msd`.
        species: element symbol, or ``"all"``.
        axes: which Cartesian axes: ``"xyz"`` for 3D, ``"z"`` or ``"xy"`` for directional or in-plane D.
        fit: ``(start, end)`` lag window in ASE time units; default chosen automatically: it
            ends at half a block (so that every block has as many origins as lags) and starts
            where the log-log slope of the MSD has settled within ``slope_tolerance`` of 1.
            When it never settles a warning is issued and the last half of that range is fitted.
        slope_tolerance: allowed ``|d log MSD / d log t - 1|`` inside the automatic window.
    """
    chosen = [AXES.index(a) for a in axes] if axes and set(axes) <= set(AXES) else None
    if not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"axes must be distinct letters from 'xyz', got {axes!r}")
    whole = result._lookup(result.per_axis, species)[:, chosen].sum(axis=1)
    blocks = result.blocks[species][:, :, chosen].sum(axis=2)
    time = result.time_ps
    block_end = (blocks.shape[1] - 1) // 2
    if block_end < 2:
        raise ValueError("the blocks are too short to fit; use a longer trajectory or fewer blocks")
    if fit is None:
        start, end, linear = _linear_window(time, whole, block_end, slope_tolerance)
        if not linear:
            warnings.warn(
                f"the MSD of {species} has no linear (diffusive) regime up to {time[end]:.3g} ps: its log-log slope is "
                f"never within {slope_tolerance} of 1. D is fitted over {time[start]:.3g}–{time[end]:.3g} ps but may be "
                "meaningless (a solid, or a trajectory too short); pass fit= to choose the window",
                stacklevel=2,
            )
    else:
        start, end = (int(round(t / units.fs / 1000.0 / time[1])) for t in fit)
        if not 0 <= start < end:
            raise ValueError(f"the fit window must have 0 <= start < end, got {fit}")
        if end >= blocks.shape[1]:
            raise ValueError(
                f"the fit window ends at {time[min(end, len(time) - 1)]:.3g} ps, beyond a block of "
                f"{time[blocks.shape[1] - 1]:.3g} ps; use fewer blocks or a shorter window"
            )
        linear = True
    window = slice(start, end + 1)
    slope, intercept = np.polyfit(time[window], whole[window], 1)
    block_slopes = [np.polyfit(time[window], values[window], 1)[0] for values in blocks]
    scale = 2.0 * len(chosen)
    error = np.std(block_slopes, ddof=1) / np.sqrt(len(block_slopes)) / scale if len(block_slopes) > 1 else np.nan
    loglog = _loglog_slope(time, whole, max(start, 1), end)
    return Diffusivity(
        D=float(slope / scale),
        error=float(error),
        species=species,
        axes=axes,
        fit_ps=(float(time[start]), float(time[end])),
        loglog_slope=loglog,
        intercept=float(intercept),
        linear=linear,
    )


def _loglog_slope(time: np.ndarray, values: np.ndarray, start: int, end: int) -> float:
    if start >= end or values[start] <= 0 or values[end] <= 0:
        return float("nan")
    return float(np.log(values[end] / values[start]) / np.log(time[end] / time[start]))


def _linear_window(time: np.ndarray, values: np.ndarray, end: int, tolerance: float) -> tuple[int, int, bool]:
    """Earliest start from which every local log-log slope up to ``end`` is within ``tolerance`` of 1."""
    grid = np.unique(np.geomspace(1, end, num=min(end, 24)).round().astype(int))
    slopes = [_loglog_slope(time, values, a, b) for a, b in zip(grid[:-1], grid[1:])]
    good = np.abs(np.asarray(slopes) - 1.0) <= tolerance
    # the start is the first grid point after the last bad stretch; require a window of a factor 2 or more
    last_bad = np.flatnonzero(~good)
    first_good = 0 if len(last_bad) == 0 else int(last_bad[-1]) + 1
    if first_good < len(good) and grid[-1] >= 2 * grid[first_good]:
        return int(grid[first_good]), int(end), True
    return end // 2, end, False


def plot_msd(result: MSD, fits: list[Diffusivity], path: str | os.PathLike, title: str | None = None) -> None:
    """MSD against lag time with the fitted lines and windows (left) and on log-log axes (right), as a PNG."""
    plt = pyplot()

    figure, (linear, loglog) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    shown = max(1, (len(result.time_ps) - 1) // 2)
    time = result.time_ps[: shown + 1]
    for fit in fits:
        values = result.per_axis[fit.species][: shown + 1, [AXES.index(a) for a in fit.axes]].sum(axis=1)
        (line,) = linear.plot(time, values, lw=1.4, label=f"{fit.species} ({fit.axes}): D = {fit.D:.3g} ± {fit.error:.1g} Å²/ps")
        inside = (time >= fit.fit_ps[0]) & (time <= fit.fit_ps[1])
        linear.plot(time[inside], fit.intercept + 2 * len(fit.axes) * fit.D * time[inside], "--", color="black", lw=0.9)
        loglog.loglog(time[1:], values[1:], color=line.get_color(), lw=1.4)
        loglog.axvspan(*fit.fit_ps, color=line.get_color(), alpha=0.08)
    if len(time) > 2:
        everything = result.total()[: shown + 1]
        diffusive = 0.3 * everything[-1] * time[1:] / time[-1]
        loglog.loglog(time[1:], diffusive, ":", color="grey", lw=0.9, label="slope 1 (diffusive)")
        ballistic = 3.0 * everything[1] * (time[1:] / time[1]) ** 2
        early = ballistic <= everything[-1]
        loglog.loglog(time[1:][early], ballistic[early], "-.", color="grey", lw=0.7, label="slope 2 (ballistic)")
    linear.set(xlabel="lag t (ps)", ylabel="MSD (Å²)", title=title or "Mean-squared displacement")
    linear.legend(frameon=False, fontsize="small")
    loglog.set(xlabel="lag t (ps)", ylabel="MSD (Å²)", title="log-log (shaded: fit windows)")
    loglog.legend(frameon=False, fontsize="small")
    save_png(figure, path)
