"""asetools: equivariant machine-learned interatomic potentials as ASE tools.

The public entry points live in the subpackages:

- :mod:`asetools.graph` -- :class:`~asetools.graph.AtomicGraph` and :func:`~asetools.graph.build_graph`
- :mod:`asetools.models` -- energy models and :class:`~asetools.models.Potential`
- :mod:`asetools.calculators` -- ASE calculators (:class:`~asetools.calculators.PotentialCalc`)
- :mod:`asetools.testing` -- physics checks shared by every model's tests
"""

__version__ = "0.3.0"

__all__ = ["__version__"]
