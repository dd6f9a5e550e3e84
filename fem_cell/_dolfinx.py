"""Import dolfinx (and petsc4py) in the order the binary wheel needs.

The ``dolfinx-solver-real`` wheel requires ``import dolfinx_solver`` before
``dolfinx``/``petsc4py`` (it loads its own MPI first).  Inside the official dolfinx
container that module does not exist and is not needed.  Every fem_cell module that
needs dolfinx imports it from here::

    from fem_cell._dolfinx import dolfinx, fem, PETSc
"""

from __future__ import annotations

try:  # pragma: no cover - depends on how dolfinx was installed
    import dolfinx_solver  # noqa: F401
except ImportError:  # official container / conda / source build
    pass

from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

import basix  # noqa: E402
import basix.ufl  # noqa: E402
import dolfinx  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem, io, mesh  # noqa: E402

__all__ = ["MPI", "PETSc", "basix", "dolfinx", "fem", "io", "mesh", "ufl"]
