"""ASE calculators: asetools energy models, their splits and ensembles, and PySCF's DFT.

- :mod:`.potential_calc` -- :class:`PotentialCalc`, the one calculator over any asetools
  energy model (energy, forces, stress, per-atom energies, uncertainty on request);
- :mod:`.allegro_calc` -- :class:`AllegroCalc`, the same for Allegro checkpoints;
- :mod:`.mts_calc` -- :class:`MTSCalc`, a fast and a slow part seen as one, for RESPA;
- :mod:`.ensemble_calc` -- :class:`EnsembleCalc`, a deep ensemble's mean and spread;
- :mod:`.valence_calc` -- :class:`ValenceCalc`, a fitted valence force field;
- :mod:`.pyscf_calc` -- :class:`PySCFCalc`, Kohn-Sham DFT of molecules (the ``[dft]`` extra).

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
