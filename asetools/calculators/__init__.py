"""ASE calculators over asetools models."""

from .potential_calc import PotentialCalc

__all__ = ["PotentialCalc"]
