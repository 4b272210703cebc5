"""Internal coordinates of a valence topology at given positions, with their gradients.

:func:`coordinates_of` gives the values ``[T]`` of one kind of coordinate (see
:data:`~asetools.valence.kinds.COORDINATE_KINDS`: distances in Å, angles as cosines,
products of deviations for the cross kinds) and their gradients ``[T, m, 3]`` with respect
to the ``m`` atoms of each term. The angle-based and shared kinds share one
:class:`AngleGeometry` per set of positions; the cross kinds expand about the references
in :class:`CrossCentres`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kinds import COORDINATE_KINDS, SHARED_KINDS
from .topology import ValenceTopology

__all__ = ["AngleGeometry", "CrossCentres", "coordinates_of"]


@dataclass(frozen=True)
class CrossCentres:
    """The references the cross kinds expand about, per term of a topology.

    ``arm_a``/``arm_b``/``cosine``: ``[A]`` per angle, its arms' bond references (Å) and its
    own (a cosine); ``shared_sum``/``shared_difference``: ``[S]`` per shared term, the
    references of r_a + r_b (Å) and (r_a − r_b)² (Å²); ``shared_bond``: ``[K]`` the bond
    reference of each shared bond (Å); ``shared_bend``: ``[M]`` the cosine reference of each
    shared bend. Empty where the kinds are not fitted.
    """

    arm_a: np.ndarray
    arm_b: np.ndarray
    cosine: np.ndarray
    shared_sum: np.ndarray
    shared_difference: np.ndarray
    shared_bond: np.ndarray
    shared_bend: np.ndarray

    @classmethod
    def of(cls, topology: ValenceTopology, reference: dict[str, dict[str, float]]) -> CrossCentres:
        def per_term(kind: str, names: list[str]) -> np.ndarray:
            return np.array([reference[kind][name] for name in names] if kind in reference else [], dtype=float)

        first, second = topology.arm_types
        return cls(
            per_term("bond", first),
            per_term("bond", second),
            per_term("angle", topology.angle_types),
            per_term("shared_sum", topology.shared_types),
            per_term("shared_difference", topology.shared_types),
            per_term("bond", topology.shared_bond_types),
            per_term("shared_bend", topology.shared_bend_types),
        )


@dataclass(frozen=True)
class AngleGeometry:
    """Every angle of a topology at one set of positions: what the angle-based kinds share.

    ``arm_a``/``arm_b``: ``[A, 3]`` vectors from the vertex to the first and last atom (Å);
    ``norm_a``/``norm_b``: ``[A, 1]`` their lengths; ``unit_a``/``unit_b``: their directions;
    ``cosine``: ``[A]`` cos θ; ``grad_a``/``grad_b``: ``[A, 3]`` dcos θ/d(first), d(last).
    """

    arm_a: np.ndarray
    arm_b: np.ndarray
    norm_a: np.ndarray
    norm_b: np.ndarray
    unit_a: np.ndarray
    unit_b: np.ndarray
    cosine: np.ndarray
    grad_a: np.ndarray
    grad_b: np.ndarray

    @property
    def cosine_gradient(self) -> np.ndarray:
        """``[A, 3, 3]`` dcos θ with respect to (first, vertex, last)."""
        return np.stack([self.grad_a, -self.grad_a - self.grad_b, self.grad_b], axis=1)

    @classmethod
    def at(cls, topology: ValenceTopology, positions: np.ndarray, cell: np.ndarray, shared: bool = False) -> AngleGeometry:
        """The angles of ``topology`` or, with ``shared``, its shared terms (``a``–``h``–``b``)."""
        triples, shifts = (topology.shared, topology.shared_shifts) if shared else (topology.angles, topology.angle_shifts)
        first, vertex, last = triples.T
        arm_a = positions[first] + shifts[:, 0] @ cell - positions[vertex]
        arm_b = positions[last] + shifts[:, 1] @ cell - positions[vertex]
        return cls.of_arms(arm_a, arm_b)

    @classmethod
    def of_arms(cls, arm_a: np.ndarray, arm_b: np.ndarray) -> AngleGeometry:
        """The angles between the vectors ``arm_a`` and ``arm_b`` (``[A, 3]``, Å) from their vertices."""
        norm_a = np.linalg.norm(arm_a, axis=1, keepdims=True)
        norm_b = np.linalg.norm(arm_b, axis=1, keepdims=True)
        unit_a, unit_b = arm_a / norm_a, arm_b / norm_b
        cosine = np.sum(unit_a * unit_b, axis=1)
        grad_a = (unit_b - cosine[:, None] * unit_a) / norm_a
        grad_b = (unit_a - cosine[:, None] * unit_b) / norm_b
        return cls(arm_a, arm_b, norm_a, norm_b, unit_a, unit_b, cosine, grad_a, grad_b)


def _distance(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths ``[T]`` of ``vectors`` ``[T, 3]`` (from atom 1 to atom 2) and their gradients ``[T, 2, 3]``."""
    lengths = np.linalg.norm(vectors, axis=1)
    unit = vectors / lengths[:, None]
    return lengths, np.stack([-unit, unit], axis=1)


def coordinates_of(
    topology: ValenceTopology,
    kind: str,
    positions: np.ndarray,
    cell: np.ndarray,
    centres: CrossCentres | None = None,
    geometry: AngleGeometry | None = None,
    shared_geometry: AngleGeometry | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Values ``[T]`` of one kind of internal coordinate and their gradients ``[T, m, 3]``.

    The gradients are with respect to the positions of ``topology.atoms_of(kind)``;
    the cross kinds need ``centres``. The angle-based kinds use ``geometry`` and the
    shared kinds ``shared_geometry`` when given (computed here otherwise), so that several
    kinds at the same positions share it.
    """
    if kind in SHARED_KINDS:
        g = shared_geometry if shared_geometry is not None else AngleGeometry.at(topology, positions, cell, shared=True)
        if kind == "shared_bond":
            return _shared_bond_coordinates(topology, positions, cell, g, centres)
        if kind in ("shared_bend", "shared_bend_cross"):
            return _shared_bend_coordinates(kind, topology, positions, cell, g, centres)
        return _shared_coordinates(kind, g, centres)
    if kind == "bond":
        i, j = topology.bonds.T
        return _distance(positions[j] + topology.bond_shifts @ cell - positions[i])
    if kind == "one_four":
        i, _, _, j = topology.dihedrals.T
        shifts = topology.dihedral_shifts
        return _distance(positions[j] + (shifts[:, 2] - shifts[:, 0]) @ cell - positions[i])
    if kind not in COORDINATE_KINDS:
        raise ValueError(f"unknown internal coordinate {kind!r}; choose from {COORDINATE_KINDS}")
    g = geometry if geometry is not None else AngleGeometry.at(topology, positions, cell)
    if kind == "urey_bradley":
        return _distance(g.arm_b - g.arm_a)
    if kind == "angle":
        return g.cosine, g.cosine_gradient
    unit_a, unit_b, grad_a, grad_b = g.unit_a, g.unit_b, g.grad_a, g.grad_b
    stretch_a = g.norm_a[:, 0] - centres.arm_a
    stretch_b = g.norm_b[:, 0] - centres.arm_b
    if kind == "stretch_stretch":
        d_first = stretch_b[:, None] * unit_a
        d_last = stretch_a[:, None] * unit_b
        return stretch_a * stretch_b, np.stack([d_first, -d_first - d_last, d_last], axis=1)
    bend = (g.cosine - centres.cosine)[:, None]
    stretch = (stretch_a + stretch_b)[:, None]
    d_first = bend * unit_a + stretch * grad_a
    d_last = bend * unit_b + stretch * grad_b
    return stretch[:, 0] * bend[:, 0], np.stack([d_first, -d_first - d_last, d_last], axis=1)


def _arm_difference(g: AngleGeometry) -> tuple[np.ndarray, np.ndarray]:
    """r_a − r_b ``[S]`` (Å) of the shared terms' geometry ``g`` and its gradient ``[S, 3, 3]``
    with respect to ``(a, h, b)``."""
    gradient = np.stack([g.unit_a, g.unit_b - g.unit_a, -g.unit_b], axis=1)
    return g.norm_a[:, 0] - g.norm_b[:, 0], gradient


def _partner_difference(g: AngleGeometry, triple: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r_near − r_far ``[K]`` (Å) of the shared terms ``triple`` ``[K]``, where the near
    partner is ``a`` for ``side`` 0 and ``b`` for 1, and its gradient ``[K, 3, 3]`` with
    respect to ``(a, h, b)``."""
    sign = np.where(side == 0, 1.0, -1.0)
    difference, d_difference = _arm_difference(g)
    return sign * difference[triple], sign[:, None, None] * d_difference[triple]


def _shared_coordinates(kind: str, g: AngleGeometry, centres: CrossCentres | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`coordinates_of` for the :data:`SHARED_KINDS` from the shared terms' geometry ``g``,
    gradients with respect to ``(a, h, b)``."""
    if kind == "shared_angle":
        return g.cosine, g.cosine_gradient
    total = g.norm_a[:, 0] + g.norm_b[:, 0]
    d_total = np.stack([g.unit_a, -g.unit_a - g.unit_b, g.unit_b], axis=1)
    difference, d_difference = _arm_difference(g)
    squared = difference**2
    d_squared = 2 * difference[:, None, None] * d_difference
    if kind == "shared_sum":
        return total, d_total
    if kind == "shared_difference":
        return squared, d_squared
    total, squared = total - centres.shared_sum, squared - centres.shared_difference
    return total * squared, squared[:, None, None] * d_total + total[:, None, None] * d_squared


def _shared_bond_coordinates(
    topology: ValenceTopology, positions: np.ndarray, cell: np.ndarray, g: AngleGeometry, centres: CrossCentres
) -> tuple[np.ndarray, np.ndarray]:
    """``shared_bond`` values (r − r0)·(r_near − r_far) (Å²) and gradients with respect to
    ``(i, j, a, h, b)``, the bond's atoms and its shared term's."""
    bond, triple, side = topology.shared_bonds.T
    i, j = topology.bonds[bond].T
    length, d_length = _distance(positions[j] + topology.bond_shifts[bond] @ cell - positions[i])
    difference, d_difference = _partner_difference(g, triple, side)
    stretch = length - centres.shared_bond
    gradients = np.concatenate(
        [difference[:, None, None] * d_length, stretch[:, None, None] * d_difference], axis=1
    )
    return stretch * difference, gradients


def _shared_bend_coordinates(
    kind: str, topology: ValenceTopology, positions: np.ndarray, cell: np.ndarray, g: AngleGeometry, centres: CrossCentres | None
) -> tuple[np.ndarray, np.ndarray]:
    """``shared_bend`` values cos θ of the angles c–p–h (:attr:`ValenceTopology.shared_bends`)
    with gradients with respect to ``(c, p, h)``; ``shared_bend_cross`` values
    (cos θ − c0)(r_p − r_other) (Å), gradients with respect to ``(c, p, h, a, h, b)``."""
    _, partner, _, row = topology.shared_bends.T
    bond, triple, side = topology.shared_bonds[row].T
    i, j = topology.bonds[bond].T
    along_bond = positions[j] + topology.bond_shifts[bond] @ cell - positions[i]
    to_neighbour = np.where((partner == i)[:, None], along_bond, -along_bond)
    to_hopping = -np.where((side == 0)[:, None], g.arm_a[triple], g.arm_b[triple])
    bend = AngleGeometry.of_arms(to_neighbour, to_hopping)
    d_cosine = bend.cosine_gradient
    if kind == "shared_bend":
        return bend.cosine, d_cosine
    difference, d_difference = _partner_difference(g, triple, side)
    deviation = bend.cosine - centres.shared_bend
    gradients = np.concatenate([difference[:, None, None] * d_cosine, deviation[:, None, None] * d_difference], axis=1)
    return deviation * difference, gradients
