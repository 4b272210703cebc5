"""The model kinds a checkpoint or a training config may name, and the names older files used.

Every kind is the snake_case name of its model (``allegro``, ``lennard_jones``, ...). Files
written before that rule named three kinds otherwise; :data:`LEGACY_KINDS` maps those names to
today's, and :func:`model_class` accepts both, so old checkpoints and configs still load.
"""

from __future__ import annotations

from .allegro import Allegro
from .base import EnergyModel
from .embedded_atom import EmbeddedAtom
from .equivariant_mpnn import BOTNet, MessagePassing, NequIP
from .lennard_jones import LennardJones
from .mts_pair import MTSPair

__all__ = ["LEGACY_KINDS", "MODEL_CLASSES", "current_kind", "model_class"]

#: The energy-model classes by their ``kind``.
MODEL_CLASSES: dict[str, type[EnergyModel]] = {
    cls.kind: cls for cls in (Allegro, BOTNet, EmbeddedAtom, LennardJones, MessagePassing, MTSPair, NequIP)
}

#: Kind names of files written before every kind was snake_case -> today's name.
LEGACY_KINDS: dict[str, str] = {
    "eam": "embedded_atom",
    "LennardJones": "lennard_jones",
    "mts": "mts_pair",
    "within-cutoff": "within_cutoff",
}


def current_kind(kind: str) -> str:
    """Today's name of ``kind`` (itself unless it is one of :data:`LEGACY_KINDS`)."""
    return LEGACY_KINDS.get(kind, kind)


def model_class(kind: str) -> type[EnergyModel]:
    """The energy-model class of ``kind`` (a current or legacy name).

    Raises:
        ValueError: no energy model has that kind; the message lists the known kinds.
    """
    try:
        return MODEL_CLASSES[current_kind(kind)]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(MODEL_CLASSES))}") from None
