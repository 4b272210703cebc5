"""ASE calculators over asetools models."""

from .allegro_calc import AllegroCalc
from .potential_calc import PotentialCalc

__all__ = ["AllegroCalc", "PotentialCalc"]
