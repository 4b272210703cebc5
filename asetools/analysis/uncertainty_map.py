"""Uncertainty against the potential energy surface along one or two internal coordinates.

:func:`uncertainty_map` sets a structure to every point of a grid over one or two bond
lengths, angles or dihedrals (see :class:`InternalCoordinate`), optionally relaxes the
rest of the geometry with those coordinates held fixed, and records the energy and every
uncertainty the calculator gives there. Training structures of the same molecule can be
projected onto the same coordinates, to see whether high uncertainty marks the regions
the training data never visited. :func:`plot_uncertainty_map` draws energy and
uncertainty side by side.

Any ASE calculator that gives an ``uncertainty`` result works: an :class:`AllegroCalc`
(or any :class:`PotentialCalc`) whose checkpoint carries a fitted uncertainty, or an
:class:`EnsembleCalc`.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from .._files import atomic_path
from .._optional import progress_bar
from .._output import pyplot, save_png, write_columns
from ..data.trajectory import iterate_frames
from .scan_coordinates import InternalCoordinate, set_internal_coordinates, wrap_degrees

__all__ = ["UNCERTAINTY_RESULTS", "UncertaintyMap", "default_scan_values", "plot_uncertainty_map", "uncertainty_map"]

#: Per-structure uncertainty results the map records when the calculator gives them, with units.
UNCERTAINTY_RESULTS = {
    "force_uncertainty": "eV/Å",
    "uncertainty": "",
    "uncertainty_mean": "",
    "energy_uncertainty": "eV",
}


@dataclass
class UncertaintyMap:
    """Energies and uncertainties on a grid of one or two internal coordinates.

    Attributes:
        coordinates: the scanned coordinates, one per grid axis.
        axes: the requested values of each coordinate (Å or degrees), ``[n_1]`` (and ``[n_2]``).
        energy: ``shape`` total energies in eV.
        uncertainties: result name (see :data:`UNCERTAINTY_RESULTS`) -> ``shape`` values.
        achieved: ``shape + (d,)`` the coordinates measured in the final structures.
        converged: ``shape`` whether each constrained relaxation met ``fmax``; None without relaxation.
        structures: the evaluated structures in grid order (C order, the last axis fastest).
        training: ``[n_frames, d]`` the training structures projected onto the coordinates
            (dihedrals wrapped into the scanned range), or None.
        skipped_training: training frames left out because their atoms differ from the scanned structure.
    """

    coordinates: tuple[InternalCoordinate, ...]
    axes: tuple[np.ndarray, ...]
    energy: np.ndarray
    uncertainties: dict[str, np.ndarray]
    achieved: np.ndarray
    converged: np.ndarray | None = None
    structures: list[Atoms] = field(default_factory=list, repr=False)
    training: np.ndarray | None = None
    skipped_training: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.energy.shape

    @property
    def relative_energy(self) -> np.ndarray:
        """Energies in eV above the lowest point of the grid."""
        return self.energy - self.energy.min()

    @property
    def quantity(self) -> str:
        """The uncertainty shown by default: the force uncertainty in eV/Å when there is one, else the score."""
        return next(name for name in UNCERTAINTY_RESULTS if name in self.uncertainties)

    def grid(self) -> list[np.ndarray]:
        """The requested coordinate values broadcast to ``shape`` (``np.meshgrid`` with ``indexing='ij'``)."""
        return np.meshgrid(*self.axes, indexing="ij")

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per grid point: requested and achieved coordinates, energies, uncertainties."""
        columns = {}
        for axis, (coordinate, values) in enumerate(zip(self.coordinates, self.grid())):
            columns[coordinate.label] = values.ravel()
            columns[f"achieved {coordinate.label}"] = self.achieved[..., axis].ravel()
        columns["energy (eV)"] = self.energy.ravel()
        columns["relative energy (eV)"] = self.relative_energy.ravel()
        for name, values in self.uncertainties.items():
            unit = UNCERTAINTY_RESULTS[name]
            columns[f"{name} ({unit})" if unit else name] = values.ravel()
        if self.converged is not None:
            columns["converged"] = self.converged.ravel().astype(float)
        write_columns(path, columns)

    def write_structures(self, path: str | os.PathLike) -> None:
        """Write the evaluated structures (extended XYZ), with energy, coordinates and uncertainties in ``info``."""
        from ase.io import write

        with atomic_path(path) as temporary:
            write(temporary, self.structures, format="extxyz")

    def summary(self) -> str:
        """A few lines: the energy range and, for each uncertainty, its range and where it peaks."""
        lines = [f"{self.energy.size} grid points; energy range {np.ptp(self.energy):.4f} eV"]
        grids = self.grid()
        for name, values in self.uncertainties.items():
            peak = np.unravel_index(np.argmax(values), values.shape)
            where = ", ".join(f"{c.label} = {g[peak]:.4g}" for c, g in zip(self.coordinates, grids))
            unit = f" {UNCERTAINTY_RESULTS[name]}" if UNCERTAINTY_RESULTS[name] else ""
            lines.append(f"{name}: {values.min():.4g} to {values.max():.4g}{unit}, highest at {where}")
        if self.converged is not None and not self.converged.all():
            lines.append(f"{int((~self.converged).sum())} constrained relaxations did not converge")
        if self.training is not None:
            lines.append(f"{len(self.training)} training structures projected onto the coordinates")
        return "\n".join(lines)


def default_scan_values(coordinate: InternalCoordinate, atoms: Atoms) -> np.ndarray:
    """A sensible range for ``coordinate``.

    A full turn in 10° steps for a dihedral, ±30° about the current angle in 5° steps,
    0.8-1.6 times the current bond length in 17 points.
    """
    if coordinate.kind == "dihedral":
        return np.linspace(-180.0, 180.0, 37)
    current = coordinate.measure(atoms)
    if coordinate.kind == "angle":
        return np.linspace(max(current - 30.0, 1.0), min(current + 30.0, 179.0), 13)
    return np.linspace(0.8 * current, 1.6 * current, 17)


def uncertainty_map(
    atoms: Atoms,
    calculator: Calculator,
    coordinates: Sequence[InternalCoordinate | str],
    values: Sequence[Iterable[float] | None] | None = None,
    relax: bool = False,
    fmax: float = 0.05,
    max_steps: int = 200,
    training: str | os.PathLike | Atoms | Iterable[Atoms] | None = None,
    training_index: str = ":",
    progress: bool = False,
) -> UncertaintyMap:
    """Scan ``atoms`` over one or two internal coordinates and record energy and uncertainty.

    Args:
        atoms: the reference structure (not changed). The moving fragments come from its
            covalent bonds, and each grid point starts from it.
        calculator: an ASE calculator giving ``energy`` and at least one of
            :data:`UNCERTAINTY_RESULTS` (``uncertainty`` at the least).
        coordinates: one or two :class:`InternalCoordinate` (or strings such as ``"dihedral:0,1,2,3"``).
        values: for each coordinate the values to scan (Å or degrees), or None for
            :func:`default_scan_values`.
        relax: relax all other degrees of freedom at each grid point (FIRE, with the scanned
            coordinates held by :class:`ase.constraints.FixInternals`) until the largest force
            is below ``fmax`` eV/Å or ``max_steps`` steps are taken. A relaxation that breaks
            off (the constraint cannot be met, or the calculator refuses a structure, as
            happens where a model has a hole) is reported with a warning, and that point is
            evaluated unrelaxed and marked not converged; the scan goes on.
        training: training structures (a file, Atoms or an iterable) to project onto the
            coordinates; frames whose atoms differ from ``atoms`` are skipped and counted.
        training_index: frames of a training file to read, ``ase.io`` syntax.
        progress: show a progress bar over the grid points (needs the optional tqdm).
    """
    coordinates = tuple(c if isinstance(c, InternalCoordinate) else InternalCoordinate.parse(c) for c in coordinates)
    if not 1 <= len(coordinates) <= 2:
        raise ValueError(f"an uncertainty map scans one or two coordinates, got {len(coordinates)}")
    if len(set(coordinates)) != len(coordinates):
        raise ValueError("the two scanned coordinates are the same")
    if not np.isfinite(atoms.positions).all():
        raise ValueError("the structure to scan has non-finite positions")
    for coordinate in coordinates:
        coordinate.check(atoms)
    values = [None] * len(coordinates) if values is None else list(values)
    if len(values) != len(coordinates):
        raise ValueError(f"got {len(values)} value ranges for {len(coordinates)} coordinates")
    axes = tuple(
        default_scan_values(c, atoms) if v is None else np.asarray(list(v), dtype=float).ravel()
        for c, v in zip(coordinates, values)
    )
    for coordinate, axis in zip(coordinates, axes):
        if axis.size == 0 or not np.isfinite(axis).all():
            raise ValueError(f"{coordinate.label}: the scan needs at least one finite value")
    projected, skipped = (None, 0)
    if training is not None:  # before the scan, so that a bad training file fails at once
        projected, skipped = _project(training, training_index, atoms, coordinates, axes)
    moving = [c.moving_atoms(atoms) for c in coordinates]
    shape = tuple(len(a) for a in axes)
    energy = np.empty(shape)
    achieved = np.empty(shape + (len(coordinates),))
    converged = np.ones(shape, dtype=bool) if relax else None
    uncertainties: dict[str, np.ndarray] = {}
    structures = []
    points = itertools.product(*(range(n) for n in shape))
    if progress:
        points = progress_bar(points, int(np.prod(shape)), "uq-map", unit="point")
    for point in points:
        target = [axis[i] for axis, i in zip(axes, point)]
        image = atoms.copy()
        set_internal_coordinates(image, list(coordinates), target, moving)
        image.calc = calculator
        if relax:
            converged[point], failure = _relax_constrained(image, coordinates, fmax, max_steps)
            if failure is not None:
                where = ", ".join(f"{c.label} = {value:.4g}" for c, value in zip(coordinates, target))
                warnings.warn(
                    f"the constrained relaxation at {where} broke off ({failure}); that point is evaluated "
                    "unrelaxed and marked not converged",
                    stacklevel=2,
                )
        energy[point] = image.get_potential_energy()
        found = {name: calculator.results[name] for name in UNCERTAINTY_RESULTS if name in calculator.results}
        if not found:
            raise ValueError(
                f"the calculator {type(calculator).__name__} gives no uncertainty: fit one into the checkpoint "
                "with 'asetools fit-uncertainty', or use an asetools.calculators.EnsembleCalc"
            )
        for name, value in found.items():
            uncertainties.setdefault(name, np.full(shape, np.nan))[point] = float(value)
        achieved[point] = [c.measure(image) for c in coordinates]
        image.calc = None
        image.info.update(
            energy=energy[point],
            **{n: float(v) for n, v in found.items()},
            **{c.label: float(a) for c, a in zip(coordinates, achieved[point])},
        )
        structures.append(image)
    return UncertaintyMap(coordinates, axes, energy, uncertainties, achieved, converged, structures, projected, skipped)


def _relax_constrained(
    image: Atoms, coordinates: Sequence[InternalCoordinate], fmax: float, steps: int
) -> tuple[bool, str | None]:
    """FIRE-relax ``image`` in place with ``coordinates`` held at their current values.

    Returns whether the relaxation converged and, when it broke off, why. FIRE's damped
    steps keep :class:`~ase.constraints.FixInternals` stable where BFGS's long quasi-Newton
    steps can throw a molecule into a region where the constraint cannot be met. A
    relaxation that breaks off (the constraint cannot be met, or the calculator refuses
    a structure, e.g. atoms too close) leaves ``image`` as it started.
    """
    from ase.constraints import FixInternals
    from ase.optimize import FIRE

    held: dict[str, list] = {"bonds": [], "angles_deg": [], "dihedrals_deg": []}
    key = {"bond": "bonds", "angle": "angles_deg", "dihedral": "dihedrals_deg"}
    for coordinate in coordinates:
        held[key[coordinate.kind]].append([None, list(coordinate.indices)])
    original = list(image.constraints)
    start = image.positions.copy()
    image.set_constraint([*original, FixInternals(**held, mic=bool(image.pbc.any()))])
    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # FixInternals on a collapsing structure
            return bool(FIRE(image, logfile=None).run(fmax=fmax, steps=steps)), None
    except ValueError as error:
        image.positions[:] = start
        return False, str(error)
    finally:
        image.set_constraint(original)


def _project(training, index, atoms: Atoms, coordinates, axes) -> tuple[np.ndarray | None, int]:
    """Training frames with the same atoms as ``atoms``, measured on ``coordinates``."""
    rows, skipped = [], 0
    for frame in iterate_frames(training, index=index):
        if len(frame) != len(atoms) or (frame.numbers != atoms.numbers).any():
            skipped += 1
            continue
        rows.append([c.measure(frame) for c in coordinates])
    if not rows:
        return None, skipped
    projected = np.array(rows)
    for column, (coordinate, axis) in enumerate(zip(coordinates, axes)):
        if coordinate.is_periodic:  # show each training angle where the scan put it
            projected[:, column] = wrap_degrees(projected[:, column] - axis.min(), 0.0) + axis.min()
    return projected, skipped


def plot_uncertainty_map(result: UncertaintyMap, path: str | os.PathLike, quantity: str | None = None) -> None:
    """Energy (left) and uncertainty (right) over the scanned coordinates, with the training data as points.

    One coordinate: two curves, the training structures as ticks along the coordinate axis.
    Two coordinates: filled energy contours, and the uncertainty as a colour map under the
    energy contour lines; the training structures as dots on both.
    """
    quantity = quantity or result.quantity
    if quantity not in result.uncertainties:
        raise ValueError(f"no {quantity!r} in this map; it has {', '.join(result.uncertainties)}")
    plt = pyplot()
    label = quantity + (f" ({UNCERTAINTY_RESULTS[quantity]})" if UNCERTAINTY_RESULTS[quantity] else "")
    uncertainty = result.uncertainties[quantity]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    if len(result.coordinates) == 1:
        _plot_profiles(result, left, right, uncertainty, label)
    else:
        _plot_maps(figure, result, left, right, uncertainty, label)
    save_png(figure, path)


def _spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    """True when ``values`` are all positive and span more than ``decades`` orders of magnitude.

    A calibrated uncertainty far from the data can be thousands of times its value near
    the data; a logarithmic axis keeps both readable.
    """
    finite = values[np.isfinite(values)]
    return finite.size > 1 and bool((finite > 0).all()) and finite.max() > 10**decades * finite.min()


def _plot_profiles(result, left, right, uncertainty, label) -> None:
    x = result.axes[0]
    left.plot(x, result.relative_energy, "-o", color="tab:blue", markersize=3)
    left.set_ylabel("energy above the lowest point (eV)")
    right.plot(x, uncertainty, "-o", color="tab:red", markersize=3)
    right.set_ylabel(label)
    if _spans_decades(uncertainty):
        right.set_yscale("log")
    for axis in (left, right):
        axis.set_xlabel(result.coordinates[0].label)
        if result.training is not None:
            axis.plot(result.training[:, 0], np.zeros(len(result.training)), "|", color="k", alpha=0.4,
                      markersize=12, transform=axis.get_xaxis_transform(), label="training structures")
        if result.converged is not None and not result.converged.all():
            axis.plot(x[~result.converged], np.full((~result.converged).sum(), 0.97), "x", color="k",
                      transform=axis.get_xaxis_transform(), label="relaxation not converged")
        axis.set_xlim(x.min(), x.max())
    if result.training is not None or (result.converged is not None and not result.converged.all()):
        right.legend(loc="best", fontsize="small")
    left.set_title("energy")
    right.set_title("uncertainty")


def _plot_maps(figure, result, left, right, uncertainty, label) -> None:
    first, second = result.grid()
    relative = result.relative_energy
    filled = left.contourf(first, second, relative, levels=15, cmap="viridis")
    figure.colorbar(filled, ax=left, label="energy above the lowest point (eV)")
    norm = "log" if _spans_decades(uncertainty) else None
    colours = right.pcolormesh(first, second, uncertainty, shading="nearest", cmap="magma", norm=norm)
    figure.colorbar(colours, ax=right, label=label)
    lines = right.contour(first, second, relative, levels=10, colors="w", linewidths=0.7)
    right.clabel(lines, fontsize=7, fmt="%.3g")
    for axis in (left, right):
        if result.training is not None:
            axis.scatter(result.training[:, 0], result.training[:, 1], s=9, c="k", edgecolors="w",
                         linewidths=0.4, label="training structures")
        if result.converged is not None and not result.converged.all():
            axis.scatter(first[~result.converged], second[~result.converged], marker="x", c="c", s=14,
                         label="relaxation not converged")
        axis.set_xlabel(result.coordinates[0].label)
        axis.set_ylabel(result.coordinates[1].label)
        axis.set_xlim(result.axes[0].min(), result.axes[0].max())
        axis.set_ylim(result.axes[1].min(), result.axes[1].max())
    if result.training is not None:
        right.legend(loc="upper right", fontsize="small")
    left.set_title("energy (eV)")
    right.set_title("uncertainty, energy contours in eV")
