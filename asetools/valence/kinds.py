"""The kinds of internal coordinate the valence force field expands in, and which need which.

No arrays here: the names of the kinds (:data:`COORDINATE_KINDS`), the shared kinds of an
atom that hops between two partners (:data:`SHARED_KINDS`), the cross kinds with the kinds
whose references they use (:data:`CROSS_KINDS`), and :func:`check_kinds`, which refuses a
set of kinds that cannot be fitted or evaluated.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["ANGLE_KINDS", "COORDINATE_KINDS", "CROSS_KINDS", "SHARED_KINDS", "check_kinds"]

#: The kinds of a shared term ``(a, h, b)`` (a hopping atom ``h`` between partners ``a``
#: and ``b``; see :meth:`ValenceTopology.sharing`), in its two distances r_a and r_b:
#: ``shared_sum`` (r_a + r_b, Å), ``shared_difference`` ((r_a − r_b)², Å², zero when
#: ``h`` sits midway), ``shared_angle`` (cos of the angle a–h–b) and ``shared_cross``
#: ((s − s0)(q − q0) of the first two). Every one is symmetric in ``a`` and ``b``, so the
#: term is the same whichever partner holds ``h``: a proton can hop under it. With them,
#: ``shared_bond`` ((r − r0)(r_near − r_far) of a bond near one partner,
#: :meth:`ValenceTopology.with_shared_bonds`) lets that bond's rest length follow the hop;
#: the two partners' bonds together are again symmetric.
#: ``shared_bend`` (cos of the angle c–p–h that the hopping atom makes at a partner ``p``
#: with each of its bonded neighbours ``c``) and ``shared_bend_cross`` ((cos − c0)(r_p −
#: r_other)) bend the hopping atom at whichever partner holds it.
SHARED_KINDS = (
    "shared_sum", "shared_difference", "shared_angle", "shared_cross", "shared_bond", "shared_bend", "shared_bend_cross"
)
#: Internal coordinates the force field expands in, in the order of the fit's columns.
#: The cross terms ``stretch_stretch`` ((r_a − r0_a)(r_b − r0_b) of an angle's two arms)
#: and ``stretch_bend`` ((r_a − r0_a + r_b − r0_b)(cos θ − c0)) use the bond and angle
#: references, so they need the ``bond`` and ``angle`` kinds; ``shared_cross`` needs
#: ``shared_sum`` and ``shared_difference``, ``shared_bond`` the ``bond`` kind and a
#: shared term, and ``shared_bend_cross`` the ``shared_bend`` kind.
COORDINATE_KINDS = ("bond", "angle", "urey_bradley", "stretch_stretch", "stretch_bend", "one_four", *SHARED_KINDS)
#: The kinds that are products of two deviations from other kinds' references, and those they need.
CROSS_KINDS = {
    "stretch_stretch": ("bond", "angle"),
    "stretch_bend": ("bond", "angle"),
    "shared_cross": ("shared_sum", "shared_difference"),
    "shared_bond": ("bond", "shared_sum"),
    "shared_bend_cross": ("shared_bend",),
}
#: The kinds computed from the angles' arms (:class:`~asetools.valence.coordinates.AngleGeometry`).
ANGLE_KINDS = frozenset(("angle", "urey_bradley", "stretch_stretch", "stretch_bend"))


def check_kinds(kinds: Collection[str], where: str) -> None:
    """Refuse ``kinds`` (names, or a mapping keyed by them) with an unknown kind, or a cross
    kind without the kinds it needs; ``where`` names the caller in the message."""
    unknown = sorted(set(kinds) - set(COORDINATE_KINDS))
    if unknown:
        raise ValueError(f"{where}: unknown coordinate kinds {unknown}; choose from {COORDINATE_KINDS}")
    for cross, needed in CROSS_KINDS.items():
        if cross in kinds and not set(needed) <= set(kinds):
            raise ValueError(f"{where}: the cross term {cross} needs the {' and '.join(needed)} terms as well")
