"""Charge density: electron densities predicted as orbitals on atoms and virtual sites.

- :mod:`.basis` — even-tempered Gaussian orbitals with learnable exponents (:class:`OrbitalBasis`);
- :mod:`.virtual_sites` — extra orbital centres at bond midpoints;
- :mod:`.field` — the density of an orbital expansion at points and on grids, in bounded memory;
- :mod:`.model` — :class:`DensityModel`, the equivariant network that predicts the coefficients,
  and :func:`load_density_model`;
- :mod:`.references` — reference densities for training (:class:`DensityFrame`) read from
  ``.npz``, cube or CHGCAR files, and splits by molecule;
- :mod:`.dft` — reference densities computed with PySCF (the ``[dft]`` extra);
- :mod:`.baseline` — the s-orbital baseline (spherical atoms and bond sites) fitted by least squares;
- :mod:`.evaluation` — NMAPE and electron-count errors on full grids, the training loss on sampled points;
- :mod:`.resume` — a run's ``last.pt`` training state, written after every epoch and resumed from;
- :mod:`.training` — training on reference grids (``asetools train-density``);
- :mod:`.calculator` — :class:`DensityCalculator`, the ASE calculator that writes cube and
  CHGCAR files for VESTA.

Grids themselves (:class:`~asetools.io.DensityGrid`) and their files are :mod:`asetools.io`'s.
"""

from .basis import OrbitalBasis, OrbitalBasisConfig
from .calculator import DensityCalculator
from .dft import DatasetConfig, DFTDensity, DFTDensityConfig, dft_density, g2_molecules, generate_density_dataset
from .field import OrbitalExpansion, density_at_points, density_on_grid, electron_count
from .model import DensityModel, DensityModelConfig, load_density_model
from .references import DensityFrame, read_density_dataset, read_density_frame, split_by_molecule, write_density_npz
from .training import (
    DensityDataConfig,
    DensityFitConfig,
    DensityMetrics,
    DensityRunConfig,
    evaluate_density_model,
    fit_baseline,
    train_density_model,
)
from .virtual_sites import VirtualSiteConfig, with_virtual_sites

__all__ = [
    "DFTDensity",
    "DFTDensityConfig",
    "DatasetConfig",
    "DensityCalculator",
    "DensityDataConfig",
    "DensityFitConfig",
    "DensityFrame",
    "DensityMetrics",
    "DensityModel",
    "DensityModelConfig",
    "DensityRunConfig",
    "OrbitalBasis",
    "OrbitalBasisConfig",
    "OrbitalExpansion",
    "VirtualSiteConfig",
    "density_at_points",
    "density_on_grid",
    "dft_density",
    "electron_count",
    "evaluate_density_model",
    "fit_baseline",
    "g2_molecules",
    "generate_density_dataset",
    "load_density_model",
    "read_density_dataset",
    "read_density_frame",
    "split_by_molecule",
    "train_density_model",
    "with_virtual_sites",
    "write_density_npz",
]
