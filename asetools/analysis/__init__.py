"""Trajectory analysis on plain ``ase.Atoms`` lists or trajectory files.

- :mod:`.rdf` -- total and partial radial distribution functions, coordination numbers;
- :mod:`.diffusion` -- mean-squared displacements and diffusion coefficients with errors;
- :mod:`.geometry` -- covalent topology, bond lengths and dihedral angles along a trajectory;
- :mod:`.scan_coordinates` -- bonds, angles and dihedrals one can set, for scans;
- :mod:`.uncertainty_map` -- energy and uncertainty of a model along one or two of them;
- :mod:`.force_changes` -- how fast a split's fast and slow forces change, which sets the
  outer step of multiple-time-step MD (with the short MD probe that measures it).

Only the uncertainty map and the force-split probe need a model (a calculator passed in).
"""

from .diffusion import MSD, Diffusivity, diffusivity, msd, plot_msd, unwrap
from .force_changes import ForceChanges, force_changes, force_split_report, plot_force_changes, probe_force_split
from .geometry import Topology, bond_lengths, dihedral_angles, internal_coordinates
from .rdf import RDF, plot_rdf, rdf
from .scan_coordinates import InternalCoordinate, set_internal_coordinates
from .uncertainty_map import UncertaintyMap, default_scan_values, plot_uncertainty_map, uncertainty_map

__all__ = [
    "MSD",
    "RDF",
    "Diffusivity",
    "diffusivity",
    "msd",
    "plot_msd",
    "plot_rdf",
    "rdf",
    "unwrap",
    "ForceChanges",
    "Topology",
    "bond_lengths",
    "dihedral_angles",
    "force_changes",
    "force_split_report",
    "internal_coordinates",
    "plot_force_changes",
    "probe_force_split",
    "InternalCoordinate",
    "UncertaintyMap",
    "default_scan_values",
    "plot_uncertainty_map",
    "set_internal_coordinates",
    "uncertainty_map",
]
