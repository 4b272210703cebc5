"""Energy models (graph -> per-atom energies) and the :class:`Potential` that derives forces and stress."""

from .allegro import Allegro, AllegroConfig
from .base import EnergyModel
from .lennard_jones import LennardJones, LennardJonesConfig
from .local import LocalEnergyModel, LocalEnvironments
from .mts_pair import MTSPair, MTSPairConfig, PartConfig, WithinCutoff
from .potential import Potential, PotentialOutput

#: The model kinds a checkpoint may name, by their ``kind`` string.
MODEL_CLASSES: dict[str, type[EnergyModel]] = {cls.kind: cls for cls in (Allegro, LennardJones, MTSPair)}

__all__ = [
    "Allegro",
    "AllegroConfig",
    "EnergyModel",
    "LennardJones",
    "LennardJonesConfig",
    "LocalEnergyModel",
    "LocalEnvironments",
    "MODEL_CLASSES",
    "MTSPair",
    "MTSPairConfig",
    "PartConfig",
    "Potential",
    "PotentialOutput",
    "WithinCutoff",
]
