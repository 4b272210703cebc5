"""Trajectory analysis: radial distribution functions, diffusivities, uncertainty maps, force changes,
bond-length and dihedral distributions."""

from .diffusion import MSD, Diffusivity, diffusivity, msd, plot_msd, unwrap
from .force_changes import ForceChanges, force_changes, force_split_report, plot_force_changes
from .geometry import Topology, bond_lengths, dihedral_angles, internal_coordinates
from .scan_coordinates import InternalCoordinate, set_internal_coordinates
from .rdf import RDF, plot_rdf, rdf
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
    "InternalCoordinate",
    "UncertaintyMap",
    "default_scan_values",
    "plot_uncertainty_map",
    "set_internal_coordinates",
    "uncertainty_map",
]
