"""Energy models (graph -> per-atom energies) and the :class:`Potential` that derives forces and stress.

Three kinds of module live here:

- layers: :mod:`.mlp`, :mod:`.radial`, :mod:`.tensor_product`, :mod:`.zbl`, :mod:`.scale_shift`,
  :mod:`.message_passing` (the interaction block), :mod:`.base` (the model protocol);
- assembled models: :class:`Allegro`, the message-passing presets (:class:`NequIP`,
  :class:`BOTNet`, :class:`MessagePassing`), :class:`LennardJones`, :class:`EmbeddedAtom` and the
  co-trained :class:`MTSPair`;
- the evaluation engine: :class:`Potential` (forces, stress, blocked evaluation),
  :mod:`.local`, :mod:`.neighbour_slots` and :mod:`.memory_budget`.

Charge-density models live in :mod:`asetools.density`, the valence force field in
:mod:`asetools.valence`.
"""

from .._moved import moved_names
from .allegro import Allegro, AllegroConfig
from .base import EnergyModel
from .embedded_atom import EmbeddedAtom, EmbeddedAtomConfig
from .equivariant_mpnn import BOTNet, BOTNetConfig, MessagePassing, MessagePassingConfig, NequIP, NequIPConfig
from .kinds import LEGACY_KINDS, MODEL_CLASSES, current_kind, model_class
from .lennard_jones import LennardJones, LennardJonesConfig
from .local import LocalEnergyModel, LocalEnvironments
from .mts_pair import MTSPair, MTSPairConfig, PartConfig, WithinCutoff
from .potential import Potential, PotentialOutput

__getattr__ = moved_names(
    __name__,
    {
        name: "asetools.density"
        for name in (
            "DensityModel",
            "DensityModelConfig",
            "OrbitalBasis",
            "OrbitalBasisConfig",
            "OrbitalExpansion",
            "VirtualSiteConfig",
            "density_at_points",
            "density_on_grid",
            "with_virtual_sites",
        )
    },
)

__all__ = [
    "Allegro",
    "AllegroConfig",
    "BOTNet",
    "BOTNetConfig",
    "EmbeddedAtom",
    "EmbeddedAtomConfig",
    "EnergyModel",
    "LEGACY_KINDS",
    "LennardJones",
    "LennardJonesConfig",
    "LocalEnergyModel",
    "LocalEnvironments",
    "MODEL_CLASSES",
    "MessagePassing",
    "MessagePassingConfig",
    "MTSPair",
    "MTSPairConfig",
    "NequIP",
    "NequIPConfig",
    "PartConfig",
    "Potential",
    "PotentialOutput",
    "WithinCutoff",
    "current_kind",
    "model_class",
]
