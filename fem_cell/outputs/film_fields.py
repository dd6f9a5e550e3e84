"""Film fields of the anneal chemistry: what ParaView/pyvista show, and 1-D profiles.

:class:`FilmFields` writes ``fields/films.pvd`` (+ ``.vtu`` pieces) on the film sub-mesh
(LiCoO2, degraded layer, Li3PO4; coordinates in µm like the stack mesh):

* point data ``xH_LiCoO2``, ``xH_Li3PO4`` (mobile proton site fraction of each phase, 0
  outside it), ``xT_LiCoO2`` (trapped fraction, with traps), ``xH`` (total protons of the
  phase a node belongs to — mobile + trapped; at the interface node the LiCoO2 value),
  ``xLi`` = 1 − ``xH`` (Li site fraction), ``phi_V`` (electric potential, V), ``T_C`` (°C);
* cell data ``sigma_d_S_m`` (Li⁺ conductivity of the degraded layer from its law at the
  local proton fraction and temperature, S/m; 0 elsewhere) and ``layer``.

:class:`ProfileRecorder` (1-D) keeps the proton profile at every output time on rank 0
for ``proton_profiles.csv`` and the profile plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.forms import compile_expression
from fem_cell.outputs.fields import FieldSeriesWriter


def _interface_height(chem) -> float:
    """Height (mesh units) of the LiCoO2|Li3PO4 interface: top of the LiCoO2 phase."""
    tr = chem.transport
    film = chem.film
    V = tr.V
    cells = film.cells(*tr.phase("LiCoO2").regions)
    dofs = np.unique(V.dofmap.list[cells].ravel())
    X = V.tabulate_dof_coordinates()[dofs]
    local = float(X[:, film.dim - 1].max()) if len(dofs) else -np.inf
    return film.comm.allreduce(local, op=MPI.MAX)


class FilmFields:
    """Series writer of the film fields (collective)."""

    def __init__(self, chem, path: str | Path):
        self.chem = chem
        tr = chem.transport
        film = chem.film
        V = tr.V
        self.xH = fem.Function(V, name="xH")
        self.xLi = fem.Function(V, name="xLi")
        self.phi = fem.Function(V, name="phi_V")
        self.T_C = fem.Function(V, name="T_C")
        Q = fem.functionspace(film.mesh, ("DG", 0))
        self.sigma = fem.Function(Q, name="sigma_d_S_m")
        R = chem.resistance
        self._lco_cells = film.cells(R.region)
        self._sigma_expr = compile_expression(
            R.law.conductivity(tr.total_fraction("LiCoO2"), chem.T_film, R.thickness),
            Q.element.interpolation_points)
        self._lco_active = tr._active["LiCoO2"]
        x_fields = [tr.x[p.name] for p in tr.phases] + list(tr.trapped.values())
        self.writer = FieldSeriesWriter(film.comm, path, [*x_fields, self.xH, self.xLi, self.phi,
                                                          self.T_C, self.sigma,
                                                          film.layer_id_function()])

    def write(self, t: float) -> None:
        tr = self.chem.transport
        x_lco = tr.x["LiCoO2"].x.array
        if "LiCoO2" in tr.trapped:
            x_lco = x_lco + tr.trapped["LiCoO2"].x.array
        x_lpo = tr.x["Li3PO4"].x.array if "Li3PO4" in tr.x else np.zeros_like(x_lco)
        self.xH.x.array[:] = np.where(self._lco_active, x_lco, x_lpo)
        self.xLi.x.array[:] = 1.0 - self.xH.x.array
        self.phi.x.array[:] = tr.potential_volts().x.array
        self.T_C.x.array[:] = self.chem.T_film.x.array - ZERO_CELSIUS
        self.sigma.x.array[:] = 0.0
        full = fem.Function(self.sigma.function_space)
        full.interpolate(self._sigma_expr)
        dofs = self.sigma.function_space.dofmap.list[self._lco_cells].ravel()
        self.sigma.x.array[dofs] = full.x.array[dofs]
        self.writer.write(t)

    def close(self) -> None:
        self.writer.close()


class ProfileRecorder:
    """1-D proton profiles at chosen times, gathered on rank 0 (collective ``record``).

    Heights are measured from the LiCoO2|Li3PO4 interface (nm; negative = in LiCoO2).
    ``profiles[i][phase]`` is the phase's total proton fraction (mobile + trapped);
    ``trapped[i][phase]`` its trapped part (phases with traps).
    """

    def __init__(self, chem):
        self.chem = chem
        tr = chem.transport
        V = tr.V
        n = V.dofmap.index_map.size_local
        self._z = V.tabulate_dof_coordinates()[:n, 0]
        self._z0 = _interface_height(chem)
        self._scale_nm = chem.film.length_scale * 1e9
        self._n = n
        self.times: list[float] = []
        self.profiles: list[dict[str, np.ndarray]] = []
        self.trapped: list[dict[str, np.ndarray]] = []

    def record(self, t: float) -> None:
        tr = self.chem.transport
        comm = self.chem.film.comm
        n = self._n
        parts = {"z": self._z}
        for p in tr.phases:
            parts[p.name] = tr.x[p.name].x.array[:n].copy()
            parts[f"{p.name}_active"] = tr._active[p.name][:n].astype(float)
            if p.name in tr.trapped:
                parts[f"{p.name}_trapped"] = tr.trapped[p.name].x.array[:n].copy()
        gathered = {k: comm.gather(v, root=0) for k, v in parts.items()}
        if comm.rank != 0:
            return
        allz = np.concatenate(gathered["z"])
        order = np.argsort(allz, kind="stable")
        z_nm = (allz[order] - self._z0) * self._scale_nm
        prof, trapped = {"height_nm": z_nm}, {}
        for p in tr.phases:
            x = np.concatenate(gathered[p.name])[order]
            act = np.concatenate(gathered[f"{p.name}_active"])[order] > 0.5
            if f"{p.name}_trapped" in gathered:
                xt = np.concatenate(gathered[f"{p.name}_trapped"])[order]
                trapped[p.name] = np.where(act, xt, np.nan)
                x = x + xt
            prof[p.name] = np.where(act, x, np.nan)
        self.times.append(float(t))
        self.profiles.append(prof)
        self.trapped.append(trapped)

    def write_csv(self, path: str | Path) -> None:
        """``time_s, height_nm, phase, xH`` rows (rank 0 only)."""
        import csv

        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["time_s", "height_nm", "phase", "xH", "xH_trapped"])
            for t, prof, trap in zip(self.times, self.profiles, self.trapped, strict=False):
                for phase in (k for k in prof if k != "height_nm"):
                    xt = trap.get(phase, np.zeros_like(prof[phase]))
                    for z, x, y in zip(prof["height_nm"], prof[phase], xt, strict=False):
                        if np.isfinite(x):
                            w.writerow([repr(t), repr(float(z)), phase, repr(float(x)),
                                        repr(float(y))])
