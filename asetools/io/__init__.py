"""Readers and writers of volumetric files (CHGCAR, Gaussian cube)."""

__all__: list[str] = []
