"""Energy models (graph -> per-atom energies) and the :class:`Potential` that derives forces and stress."""

from .allegro import Allegro, AllegroConfig
from .base import EnergyModel
from .density_field import OrbitalExpansion, density_at_points, density_on_grid
from .density_model import DensityModel, DensityModelConfig
from .embedded_atom import EmbeddedAtom, EmbeddedAtomConfig
from .equivariant_mpnn import BOTNet, BOTNetConfig, MessagePassing, MessagePassingConfig, NequIP, NequIPConfig
from .lennard_jones import LennardJones, LennardJonesConfig
from .local import LocalEnergyModel, LocalEnvironments
from .mts_pair import MTSPair, MTSPairConfig, PartConfig, WithinCutoff
from .orbital_basis import OrbitalBasis, OrbitalBasisConfig
from .potential import Potential, PotentialOutput
from .virtual_sites import VirtualSiteConfig, with_virtual_sites

#: The model kinds a checkpoint may name, by their ``kind`` string.
MODEL_CLASSES: dict[str, type[EnergyModel]] = {cls.kind: cls for cls in (Allegro, BOTNet, EmbeddedAtom, LennardJones, MessagePassing, MTSPair, NequIP)}

__all__ = [
    "Allegro",
    "AllegroConfig",
    "BOTNet",
    "BOTNetConfig",
    "DensityModel",
    "DensityModelConfig",
    "EmbeddedAtom",
    "EmbeddedAtomConfig",
    "EnergyModel",
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
    "OrbitalBasis",
    "OrbitalBasisConfig",
    "OrbitalExpansion",
    "PartConfig",
    "Potential",
    "PotentialOutput",
    "VirtualSiteConfig",
    "WithinCutoff",
    "density_at_points",
    "density_on_grid",
    "with_virtual_sites",
]
