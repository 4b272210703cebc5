"""Radial distribution functions: total and partial g(r) and running coordination numbers.

Conventions (the same as ``ase.geometry.rdf.get_rdf`` from ASE 3.27 and LAMMPS ``compute rdf``):

- the partial ``g_AB(r)`` counts, around each A atom, the B atoms at distance ``r``, and
  divides by ``N_A N_B / V`` times the volume of the shell; so ``g_AB = g_BA`` and the total
  is ``g = sum_AB c_A c_B g_AB`` with the atomic fractions ``c``. An atom is never its own
  neighbour, but its periodic images are; an ideal gas of N atoms therefore gives
  ``g -> 1 - 1/N``, as in ASE and MDAnalysis.
- bins are ``(r_k, r_k+1]``, ``nbins`` of them from 0 to ``rmax``; each frame is normalised
  with its own volume, and frames are averaged, so NPT trajectories with changing cells work.
- ``rmax`` may exceed half the shortest cell height: periodic images are then searched
  explicitly (matscipy's neighbour list), so g(r) equals that of a supercell large enough
  for ``rmax`` rather than being truncated or wrong.
- the running coordination number ``n_AB(r)`` is the mean number of B atoms within ``r``
  of an A atom (at the upper edge of each bin); ``n_AB`` and ``n_BA`` differ when
  ``N_A != N_B``.

Frames are processed one at a time, so memory does not grow with trajectory length.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from scipy.spatial import cKDTree

from .._output import pyplot, save_png, write_columns
from ..data.trajectory import iterate_frames
from ..graph import checked_geometry, neighbour_pairs

__all__ = ["RDF", "plot_rdf", "rdf"]

Pair = tuple[str, str]


@dataclass(frozen=True)
class RDF:
    """Radial distribution functions averaged over ``n_frames`` frames.

    Attributes:
        edges: ``[nbins + 1]`` bin edges (Å), from 0 to ``rmax``.
        g: ``[nbins]`` total g(r).
        partial: ``(A, B) -> [nbins]`` partial g_AB(r); both orders are present and equal.
        coordination: ``(A, B) -> [nbins]`` mean number of B atoms within ``edges[1:]`` of an A atom.
        total_coordination: ``[nbins]`` mean number of atoms within ``edges[1:]`` of an atom.
        n_frames: frames averaged.
    """

    edges: np.ndarray
    g: np.ndarray
    partial: dict[Pair, np.ndarray]
    coordination: dict[Pair, np.ndarray]
    total_coordination: np.ndarray
    n_frames: int

    @property
    def r(self) -> np.ndarray:
        """``[nbins]`` bin centres (Å)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def shell_volumes(self) -> np.ndarray:
        """``[nbins]`` volume of each spherical shell (Å³)."""
        return _shell_volumes(self.edges)

    @property
    def pairs(self) -> list[Pair]:
        """The element pairs with a partial, each unordered pair once (in the order asked)."""
        seen: list[Pair] = []
        for pair in self.partial:
            if pair not in seen and pair[::-1] not in seen:
                seen.append(pair)
        return seen

    def first_peak(self, pair: Pair | None = None) -> tuple[float, float]:
        """Position (Å) and height of the highest peak of g(r), or of ``g_AB`` for ``pair``."""
        values = self.g if pair is None else self.partial[tuple(pair)]
        k = int(np.argmax(values))
        return float(self.r[k]), float(values[k])

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write r, g, the partials and the coordination numbers as columns (atomically)."""
        columns = {"r_angstrom": self.r, "g": self.g, "n": self.total_coordination}
        for a, b in self.pairs:
            columns[f"g_{a}-{b}"] = self.partial[(a, b)]
        for (a, b), values in self.coordination.items():
            columns[f"n_{a}-{b}"] = values
        write_columns(path, columns)

    def table(self, every: int = 1) -> str:
        """A plain-text table of r, g, the coordination n and the partials (every ``every``-th bin)."""
        pairs = self.pairs if len(self.pairs) > 1 else []
        names = ["r (Å)", "g", "n"] + [f"g {a}-{b}" for a, b in pairs]
        rows = [names]
        for k in range(0, len(self.r), every):
            values = [self.g[k], self.total_coordination[k]] + [self.partial[p][k] for p in pairs]
            rows.append([f"{self.r[k]:.3f}"] + [f"{v:.4f}" for v in values])
        widths = [max(len(row[c]) for row in rows) for c in range(len(names))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)


def rdf(
    images: str | os.PathLike | Atoms | Iterable[Atoms],
    rmax: float,
    nbins: int = 200,
    pairs: Sequence[Pair | str] | None = None,
    volume: float | None = None,
    index: str = ":",
    progress: bool = False,
) -> RDF:
    """Total and partial radial distribution functions of a trajectory.

    Args:
        images: trajectory file, ``Atoms`` or iterable of ``Atoms`` (streamed frame by frame).
        rmax: largest distance (Å). Any value works for periodic cells (see module notes).
        nbins: number of bins between 0 and ``rmax``.
        pairs: element pairs to report, as ``("O", "H")`` or ``"O-H"``; default every pair of
            the elements present (both orders).
        volume: normalisation volume (Å³). Required unless every frame is periodic in all
            three directions; for periodic frames it replaces the cell volume.
        index: frames to read when ``images`` is a file (``ase.io`` syntax).
        progress: show a progress bar.
    """
    if not rmax > 0:
        raise ValueError(f"rmax must be positive, got {rmax}")
    if nbins < 1:
        raise ValueError(f"nbins must be at least 1, got {nbins}")
    if volume is not None and not volume > 0:
        raise ValueError(f"volume must be positive, got {volume}")
    edges = np.linspace(0.0, float(rmax), nbins + 1)
    shells = _shell_volumes(edges)

    species: list[str] | None = None
    counts_per_type: np.ndarray | None = None
    g_sum = n_sum = None
    n_frames = 0
    frames = iterate_frames(images, index=index, progress=progress, description="rdf", same_atoms=True)
    for frame_number, atoms in enumerate(frames):
        where = f"frame {frame_number}: "
        if species is None:
            species = sorted(set(atoms.get_chemical_symbols()), key=lambda s: atomic_numbers[s])
            table = {s: k for k, s in enumerate(species)}
            types = np.array([table[s] for s in atoms.get_chemical_symbols()])
            counts_per_type = np.bincount(types, minlength=len(species)).astype(float)
            g_sum = np.zeros((len(species), len(species), nbins))
            n_sum = np.zeros_like(g_sum)
        frame_volume = _volume(atoms, volume, where)
        pos, cell, pbc = checked_geometry(atoms, where)
        i, j, distances = _pairs(pos, cell, pbc, float(rmax))
        bins = np.ceil(distances / (rmax / nbins)).astype(np.int64) - 1
        keep = (distances > 0) & (bins < nbins)
        i, j, bins = i[keep], j[keep], bins[keep]
        # histogram of (type of i, type of j, bin) in one pass, each pair in both directions
        flat = np.concatenate([types[i] * len(species) + types[j], types[j] * len(species) + types[i]])
        flat = flat * nbins + np.concatenate([bins, bins])
        histogram = np.bincount(flat, minlength=len(species) ** 2 * nbins).reshape(len(species), len(species), nbins)
        pair_density = np.outer(counts_per_type, counts_per_type) / frame_volume
        g_sum += histogram / (pair_density[:, :, None] * shells)
        n_sum += np.cumsum(histogram, axis=2) / counts_per_type[:, None, None]
        n_frames += 1
    if n_frames == 0:
        raise ValueError("the trajectory has no frames")

    g_partial = g_sum / n_frames
    n_partial = n_sum / n_frames
    fractions = counts_per_type / counts_per_type.sum()
    total = np.einsum("a,b,abk->k", fractions, fractions, g_partial)
    total_n = np.einsum("a,abk->k", fractions, n_partial)
    wanted = _wanted_pairs(pairs, species)
    index_of = {s: k for k, s in enumerate(species)}
    partial = {p: g_partial[index_of[p[0]], index_of[p[1]]] for p in wanted}
    coordination = {p: n_partial[index_of[p[0]], index_of[p[1]]] for p in wanted}
    return RDF(edges, total, partial, coordination, total_n, n_frames)


def _shell_volumes(edges: np.ndarray) -> np.ndarray:
    return 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)


def _pairs(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, rmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair of atoms (or atom and periodic image) closer than ``rmax`` once: ``(i, j, distance)``.

    In an orthorhombic periodic box at least ``2 rmax`` wide, and without periodicity, a
    k-d tree (scipy) finds each pair once, about twice as fast as a full neighbour list;
    other cells (triclinic, mixed pbc, or ``rmax`` beyond half the box) go through
    matscipy's neighbour list, whose pairs come in both directions and are halved here.
    """
    lengths = np.diag(cell)
    orthorhombic = np.allclose(cell, np.diag(lengths), rtol=0, atol=1e-12) and (lengths > 2 * rmax).all()
    if not pbc.any() or (pbc.all() and orthorhombic):
        if pbc.all():
            pos = np.mod(pos, lengths)
            pos[pos >= lengths] = 0.0  # np.mod of a tiny negative number can round to the length itself
            tree = cKDTree(pos, boxsize=lengths)
        else:
            tree = cKDTree(pos)
        pairs = tree.query_pairs(rmax, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        separation = pos[j] - pos[i]
        if pbc.all():
            separation -= lengths * np.round(separation / lengths)
        return i, j, np.linalg.norm(separation, axis=1)
    i, j, shifts, distances = neighbour_pairs(pos, cell, pbc, rmax)
    # an atom and its own image appear as shifts S and -S: keep the lexicographically positive one
    base = 2 * int(np.abs(shifts).max(initial=0)) + 1
    order = (shifts @ np.array([base * base, base, 1])).round()
    once = (i < j) | ((i == j) & (order > 0))
    return i[once], j[once], distances[once]


def _volume(atoms: Atoms, volume: float | None, where: str) -> float:
    if volume is not None:
        return float(volume)
    if not atoms.pbc.all():
        raise ValueError(
            f"{where}the structure is not periodic in all directions (pbc={atoms.pbc.tolist()}), so g(r) has no "
            "natural volume; pass volume= (Å³; --volume on the command line), e.g. the volume the molecules may occupy"
        )
    cell_volume = abs(atoms.cell.volume)
    if cell_volume < 1e-10:
        raise ValueError(f"{where}pbc is True but the cell has zero volume; set a cell or pass volume=")
    return cell_volume


def _wanted_pairs(pairs: Sequence[Pair | str] | None, species: list[str]) -> list[Pair]:
    if pairs is None:
        return list(itertools.product(species, repeat=2))
    wanted: list[Pair] = []
    for pair in pairs:
        a, b = pair.split("-") if isinstance(pair, str) else pair
        for symbol in (a, b):
            if symbol not in species:
                raise ValueError(f"element {symbol!r} of pair {a}-{b} is not in the trajectory (it has {species})")
        for ordered in ((a, b), (b, a)):
            if ordered not in wanted:
                wanted.append(ordered)
    return wanted


def plot_rdf(result: RDF, path: str | os.PathLike, title: str | None = None) -> None:
    """g(r) with its partials, and the running coordination numbers below, as a PNG (needs matplotlib)."""
    plt = pyplot()

    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 6), sharex=True, constrained_layout=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    top.plot(result.r, result.g, color="black", lw=1.6, label="total")
    if len(result.pairs) > 1:
        for a, b in result.pairs:
            top.plot(result.r, result.partial[(a, b)], lw=1.0, label=f"{a}-{b}")
    top.axhline(1.0, color="grey", lw=0.6, ls=":")
    top.set(ylabel="g(r)", title=title or f"Radial distribution ({result.n_frames} frames)")
    top.legend(frameon=False)
    bottom.plot(result.edges[1:], result.total_coordination, color="black", lw=1.6, label="all")
    if len(result.pairs) > 1:
        for (a, b), values in result.coordination.items():
            bottom.plot(result.edges[1:], values, lw=1.0, label=f"{b} around {a}")
    bottom.set(xlabel="r (Å)", ylabel="coordination n(r)", xlim=(0, result.edges[-1]))
    bottom.set_ylim(bottom=0)
    bottom.legend(frameon=False, fontsize="small")
    save_png(figure, path)
