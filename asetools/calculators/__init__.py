"""ASE calculators: asetools energy models (one, a multiple-time-step split, an ensemble, the
valence force field) and PySCF's Kohn-Sham DFT for molecules.

The charge-density calculator lives in :mod:`asetools.density` (``DensityCalculator``); the old
``asetools.calculators.DensityCalculator`` still resolves there, with a ``DeprecationWarning``.
"""

from .._moved import moved_names
from .allegro_calc import AllegroCalc
from .ensemble_calc import EnsembleCalc, ensemble_checkpoints
from .mts_calc import MTSCalc
from .potential_calc import PotentialCalc
from .pyscf_calc import PySCFCalc
from .valence_calc import ValenceCalc

__getattr__ = moved_names(__name__, {"DensityCalculator": "asetools.density"})

__all__ = ["AllegroCalc", "EnsembleCalc", "MTSCalc", "PotentialCalc", "PySCFCalc", "ValenceCalc", "ensemble_checkpoints"]
