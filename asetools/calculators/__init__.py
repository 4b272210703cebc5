"""ASE calculators over asetools models."""

from .allegro_calc import AllegroCalc
from .density_calc import DensityCalculator
from .ensemble_calc import EnsembleCalc, ensemble_checkpoints
from .mts_calc import MTSCalc
from .potential_calc import PotentialCalc
from .pyscf_calc import PySCFCalc
from .valence_calc import ValenceCalc

__all__ = ["AllegroCalc", "DensityCalculator", "EnsembleCalc", "MTSCalc", "PotentialCalc", "PySCFCalc", "ValenceCalc", "ensemble_checkpoints"]
