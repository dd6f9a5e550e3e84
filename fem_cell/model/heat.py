"""The stack mesh of a configuration and the heat problem on it.

* :func:`build_domain`: build (1-D line / 2-D gmsh cross-section) or read the mesh;
* :func:`build_heat`: heat physics + boundary conditions of the anneal program, as a
  transient problem (:class:`HeatModel`);
* :class:`FilmTemperatures`: collective temperature diagnostics (films, top, Li).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig
from fem_cell.domain import Domain, min_max_over_ranks, sum_over_ranks
from fem_cell.errors import MeshError
from fem_cell.forms import compile_form, constant
from fem_cell.meshing.cross_section import build_cross_section_mesh
from fem_cell.meshing.io import check_domain_against_geometry, read_mesh
from fem_cell.meshing.line import build_line_mesh
from fem_cell.model.transport import FILM_TRANSPORT_LAYERS
from fem_cell.physics.heat import ContactBC, HeatPhysics, SurfaceLossBC, TemperatureBC
from fem_cell.solvers.problem import Field, TransientProblem

#: absolute Newton tolerance on the scaled heat residual (k_ref·K per unit cell size):
#: temperature corrections below ~1e-5 K, 1 % of the default time tolerance (1 mK).  With
#: 1e-6 the top surface's radiation left a residual just above it after the first
#: iteration of almost every 2-D step (112 heat iterations for 59 steps; 59 now), for a
#: correction of µK: the default 2-D anneal's summary numbers are the same to 9 digits
HEAT_NEWTON_ATOL = 1e-5
#: the heat Jacobian is assembled and factorised at the first Newton iteration of a step
#: and reused by the second (``TransientProblem(jacobian_lag=...)``): only the top surface's
#: radiation makes the heat nonlinear, so the second iteration, a small correction, is
#: as good on the first Jacobian.  Default 2-D anneal on 2 ranks: 157 heat iterations
#: either way, 125.1 s → 119.5 s, every summary.json number the same to 7e-13 relative
#: (the balance residuals, at round-off, aside); a 1-D step takes one heat iteration
HEAT_JACOBIAN_LAG = 2


def build_domain(config: RunConfig, comm: MPI.Comm) -> Domain:
    """Build (or read) the mesh the configuration asks for (collective).

    A mesh file (``[mesh] file``) is read and validated: its dimension must equal
    ``[mesh] dim`` and its regions, facet groups and sizes must match the configured
    stack (:func:`fem_cell.meshing.io.check_domain_against_geometry`).

    Raises:
        MeshError: the file cannot be used (same message on every rank).
    """
    m = config.mesh
    if m.file:
        domain = read_mesh(m.file, comm, length_scale=m.length_scale,
                           balance=FILM_TRANSPORT_LAYERS)
        if domain.dim != m.dim:
            raise MeshError(f"{m.file}: the mesh is {domain.dim}-D but the configuration asks "
                            f"for a {m.dim}-D model ([mesh] dim = {m.dim})")
        check_domain_against_geometry(domain, config.geometry, path=m.file)
        return domain
    if m.dim == 1:
        return build_line_mesh(config.geometry, m, comm)
    # the transport runs on the films: every rank gets an equal share of them (also above)
    return build_cross_section_mesh(config.geometry, m, comm, balance=FILM_TRANSPORT_LAYERS)


def top_boundaries(domain: Domain) -> tuple[str, ...]:
    """Free upper surfaces that lose heat: ``top`` (+ ``exposed_top`` in 2-D)."""
    return tuple(n for n in ("top", "exposed_top") if n in domain.facet_names)


def film_layers(config: RunConfig) -> tuple[str, ...]:
    """Film layers: every layer of the cell description above the first (the substrate)."""
    return tuple(config.geometry.layer_names[1:])


def li_metal_layers(config: RunConfig) -> tuple[str, ...]:
    """Layers whose material is Li metal (watched by the melting guard)."""
    return tuple(config.li_layers)


@dataclass
class HeatModel:
    """The assembled heat problem of a run."""

    domain: Domain
    T: fem.Function
    physics: HeatPhysics
    problem: TransientProblem

    def destroy(self) -> None:
        """Destroy the solver objects (collective; the fields stay usable)."""
        self.problem.destroy()


def build_heat(config: RunConfig, domain: Domain, *, kept: HeatModel | None = None) -> HeatModel:
    """Heat physics + boundary conditions of the anneal, as a transient problem.

    The heat Jacobian (mass + conduction + convection/radiation/contact terms, Dirichlet
    rows applied symmetrically) is symmetric positive definite: Cholesky halves the
    factorisation cost (``linear_solver = "iterative"``: conjugate gradients + AMG).  At
    least one Newton iteration is forced so the time-error
    estimate never sees u = predictor.  The Jacobian of a step's first iteration serves
    its second too (:data:`HEAT_JACOBIAN_LAG`).

    ``kept``: a heat model of a configuration of the same structure on ``domain``
    (:func:`heat_structure`), renewed for this one instead of building one: the
    materials and boundary values into its block (:meth:`HeatPhysics.set_parameters`),
    T to the initial temperature, its problem reset to a new one's state.
    """
    th = config.thermal
    prog = config.anneal
    k = config.layer_property("thermal_conductivity")
    rho_cp = {n: config.material_of(n)["density"] * config.material_of(n)["specific_heat_capacity"]
              for n in config.geometry.layer_names}
    bcs: list = [SurfaceLossBC(top_boundaries(domain), th.top_heat_transfer_coefficient,
                               th.top_emissivity, th.ambient_temperature)]
    if th.bottom == "prescribed":
        bcs.append(TemperatureBC(("bottom",), prog.temperature))
    else:
        bcs.append(ContactBC(("bottom",), th.contact_conductance, prog.temperature))
    if kept is not None:
        if kept.domain is not domain:
            raise ValueError("a kept heat model runs on the mesh it was built on")
        kept.physics.set_parameters(k, rho_cp, bcs)
        kept.physics.update(0.0)
        kept.T.x.array[:] = prog.initial_temperature
        kept.problem.reset()
        return kept
    heat = HeatPhysics(domain, k, rho_cp, bcs)
    V = fem.functionspace(domain.mesh, ("Lagrange", 1))
    T = fem.Function(V, name="T_K")
    T.x.array[:] = prog.initial_temperature
    s = config.solver
    problem = TransientProblem(
        [Field("T", T, atol=s.temperature_tolerance, rtol=s.relative_tolerance, unit="K",
               meaning="temperature")], [heat],
        time=constant(domain.mesh, 0.0), prefix="fem_cell_heat_",
        newton_rtol=s.newton_rtol, newton_atol=HEAT_NEWTON_ATOL, newton_max_it=s.newton_max_it,
        petsc_options={"pc_type": "cholesky", "snes_force_iteration": True},
        linear_solver=s.linear_solver, symmetric=True, jacobian_lag=HEAT_JACOBIAN_LAG)
    return HeatModel(domain, T, heat, problem)


def heat_structure(config: RunConfig) -> tuple:
    """What of a configuration shapes its heat problem's forms besides the mesh and the
    solver settings: the bottom condition's kind and whether the top radiates."""
    th = config.thermal
    return (th.bottom, th.top_emissivity > 0)


class FilmTemperatures:
    """Globally reduced temperatures (collective): over the films (every layer above the
    substrate), at the top surface, and the hottest Li-metal point (melting guard).

    Args:
        domain: the mesh with its named regions.
        T: the temperature (K), P1 on ``domain``.
        films: names of the film layers (:func:`film_layers`).
        metal: names of the Li-metal layers watched by the melting guard.
    """

    def __init__(self, domain: Domain, T: fem.Function, films: tuple[str, ...],
                 metal: tuple[str, ...] = ()):
        self.domain = domain
        self.T = T
        V = T.function_space
        n_owned = V.dofmap.index_map.size_local

        def owned_dofs(cells):
            dofs = np.unique(V.dofmap.list[cells].ravel())
            return dofs[dofs < n_owned]

        self.film_dofs = owned_dofs(domain.cells(*films))
        self.metal_dofs = owned_dofs(domain.cells(*metal)) if metal else np.zeros(0, np.int32)
        top = fem.locate_dofs_topological(V, domain.dim - 1, domain.facets("top"))
        self.top_dofs = top[top < n_owned]
        self.film_volume = domain.volume(*films)
        self._mean = compile_form(T * domain.dx(*films))

    def __call__(self) -> dict[str, float]:
        comm = self.domain.comm
        a = self.T.x.array
        loc = a[self.film_dofs]
        met = a[self.metal_dofs]
        top = a[self.top_dofs]
        lo, hi = min_max_over_ranks(
            comm, [float(loc.min()) if len(loc) else np.inf],
            [float(loc.max()) if len(loc) else -np.inf,
             float(met.max()) if len(met) else -np.inf])
        sums = sum_over_ranks(comm, np.array([float(top.sum()), float(len(top)),
                                              fem.assemble_scalar(self._mean)]))
        return {"T_min": float(lo[0]), "T_max": float(hi[0]),
                "T_mean": float(sums[2]) / self.film_volume,
                "T_top": float(sums[0]) / max(float(sums[1]), 1.0),
                "T_metal_max": float(hi[1])}

__all__ = ["FilmTemperatures", "HEAT_NEWTON_ATOL", "HeatModel", "build_domain", "build_heat",
           "film_layers", "heat_structure", "li_metal_layers", "top_boundaries"]
