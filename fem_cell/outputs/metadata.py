"""Run metadata written beside every run's outputs: resolved configuration, versions
of fem_cell and its stack, MPI size, timings."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any


def versions() -> dict[str, str]:
    """Versions of fem_cell and the numerical stack."""
    from fem_cell import __version__
    from fem_cell._dolfinx import MPI, PETSc, basix, dolfinx, ufl

    out = {
        "fem_cell": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dolfinx": dolfinx.__version__,
        "basix": basix.__version__,
        "ufl": ufl.__version__,
        "petsc": ".".join(map(str, PETSc.Sys.getVersion())),
        "petsc_scalar": str(PETSc.ScalarType.__name__),
        "mpi": MPI.Get_library_version().splitlines()[0].strip(),
    }
    for mod in ("numpy", "mpi4py", "meshio", "pyvista", "matplotlib", "gmsh"):
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "?"))
        except Exception:  # noqa: BLE001 - optional packages
            out[mod] = "not installed"
    return out


def write_metadata(path: str | Path, comm, config: dict[str, Any], extra: dict[str, Any]) -> None:
    """Write ``run.json`` on rank 0 (call on every rank)."""
    info = {
        "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "mpi_size": comm.size,
        "versions": versions(),
        "config": config,
        **extra,
    }
    if comm.rank == 0:
        Path(path).write_text(json.dumps(info, indent=2, default=_default) + "\n")


def _default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)
