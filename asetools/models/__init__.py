"""Energy models (graph -> per-atom energies) and the :class:`Potential` that derives forces and stress."""

from .allegro import Allegro, AllegroConfig
from .base import EnergyModel
from .density_field import OrbitalExpansion, density_at_points, density_on_grid
from .density_model import DensityModel, DensityModelConfig
from .lennard_jones import LennardJones, LennardJonesConfig
from .local import LocalEnergyModel, LocalEnvironments
from .mts_pair import MTSPair, MTSPairConfig, PartConfig, WithinCutoff
from .orbital_basis import OrbitalBasis, OrbitalBasisConfig
from .potential import Potential, PotentialOutput
from .virtual_sites import VirtualSiteConfig, with_virtual_sites

#: The model kinds a checkpoint may name, by their ``kind`` string.
MODEL_CLASSES: dict[str, type[EnergyModel]] = {cls.kind: cls for cls in (Allegro, LennardJones, MTSPair)}

__all__ = [
    "Allegro",
    "AllegroConfig",
    "DensityModel",
    "DensityModelConfig",
    "EnergyModel",
    "LennardJones",
    "LennardJonesConfig",
    "LocalEnergyModel",
    "LocalEnvironments",
    "MODEL_CLASSES",
    "MTSPair",
    "MTSPairConfig",
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
