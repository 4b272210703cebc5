"""asetools: equivariant machine-learned interatomic potentials as ASE tools.

The layers, lowest first (each imports only from those before it; ``tests/test_layering.py``
checks it):

- :mod:`asetools.config` (typed YAML configuration), :mod:`asetools.allocator` (the C
  allocator's tuning for inference) and private helpers (atomic files, optional imports, moved
  names, CSV/PNG output);
- :mod:`asetools.graph` -- :class:`~asetools.graph.AtomicGraph` and :func:`~asetools.graph.build_graph`;
- :mod:`asetools.io` -- volumetric grids and their files (cube, CHGCAR, ``.npz``);
- :mod:`asetools.data` -- labelled structures in, trajectories, DFT labels;
- :mod:`asetools.models` -- energy models and :class:`~asetools.models.Potential`;
- :mod:`asetools.valence` -- the fitted valence force field;
- :mod:`asetools.uncertainty` -- single-model uncertainty from latent features;
- :mod:`asetools.checkpoint` -- one validated file per model;
- :mod:`asetools.training` -- training runs and the pieces every trainer reuses;
- :mod:`asetools.calculators` -- ASE calculators (:class:`~asetools.calculators.PotentialCalc`, ...);
- :mod:`asetools.integrators` -- multiple-time-step RESPA integrators for ``ase.md``;
- :mod:`asetools.analysis` -- RDFs, diffusion, geometry, uncertainty maps, force changes;
- feature packages: :mod:`asetools.density` (charge densities) and :mod:`asetools.lammps`
  (MD over MPI ranks);
- :mod:`asetools.testing` -- physics checks shared by every model's tests, and
  :mod:`asetools.cli` -- the ``asetools`` command.
"""

__version__ = "0.3.0"

__all__ = ["__version__"]
