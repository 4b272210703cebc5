"""ASE calculators over asetools models."""

from .allegro_calc import AllegroCalc
from .mts_calc import MTSCalc
from .potential_calc import PotentialCalc

__all__ = ["AllegroCalc", "MTSCalc", "PotentialCalc"]
