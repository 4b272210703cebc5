"""Molecular-dynamics integrators built on ``ase.md`` (multiple-time-step RESPA lands here)."""

__all__: list[str] = []
