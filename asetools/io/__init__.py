"""Readers and writers of volumetric files (CHGCAR, Gaussian cube)."""

from .chgcar import read_chgcar, write_chgcar
from .cube import read_cube, write_cube

__all__ = ["read_chgcar", "read_cube", "write_chgcar", "write_cube"]
