"""Energy models (graph -> per-atom energies) and the :class:`Potential` that derives forces and stress.

Layers, each one concept:

- :mod:`.base` -- the model protocol (a typed config; ``forward(graph) -> [N]`` energies);
- :mod:`.mlp`, :mod:`.radial`, :mod:`.tensor_product`, :mod:`.scale_shift`, :mod:`.zbl` --
  perceptrons, radial bases and cutoffs, Clebsch-Gordan products, per-species scaling, ZBL;
- :mod:`.message_passing` -- the equivariant interaction block;
- :mod:`.config_checks` -- checks the trainable models' configs share.

Assembled models:

- :mod:`.allegro` -- :class:`Allegro`, strictly local;
- :mod:`.equivariant_mpnn` -- :class:`NequIP`, :class:`BOTNet` and :class:`MessagePassing`;
- :mod:`.lennard_jones`, :mod:`.embedded_atom` -- :class:`LennardJones`, :class:`EmbeddedAtom`;
- :mod:`.mts_pair` -- :class:`MTSPair`, a co-trained fast and slow model;
- :mod:`.kinds` -- the kind names checkpoints and configs use (and the old ones).

The evaluation engine:

- :mod:`.potential` -- :class:`Potential`: energy, forces, stress, blocked evaluation;
- :mod:`.local` -- strictly local models' per-atom environments;
- :mod:`.neighbour_slots`, :mod:`.memory_budget` -- the dense edge layout and the block size
  a memory budget allows.

Charge-density models live in :mod:`asetools.density`, the valence force field in
:mod:`asetools.valence`; the density names imported from here still resolve there, with a
``DeprecationWarning``.
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
