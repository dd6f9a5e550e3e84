"""Build a cell model from a configuration: domain (mesh) + physics blocks + problem.

No job logic here (no output folders, no progress): jobs in :mod:`fem_cell.jobs` run
the models this module builds.  Every builder takes the communicator (or a domain that
carries one) explicitly, so studies can run models on sub-communicators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig
from fem_cell.domain import Domain
from fem_cell.physics.heat import ContactBC, HeatPhysics, SurfaceLossBC, TemperatureBC
from fem_cell.solvers.problem import Field, TransientProblem

HEAT_NEWTON_ATOL = 1e-6  # scaled heat residual, see build_heat_problem


def build_domain(config: RunConfig, comm: MPI.Comm) -> Domain:
    """Build (or read) the mesh the configuration asks for.

    A mesh file (``[mesh] file``) is read and validated collectively: its dimension
    must equal ``[mesh] dim`` and its regions, facet groups and sizes must match the
    configured stack (:func:`fem_cell.meshing.io.check_domain_against_geometry`).

    Raises:
        MeshError: the file cannot be used (same message on every rank).
    """
    m = config.mesh
    if m.file:
        from fem_cell.errors import MeshError
        from fem_cell.meshing.io import check_domain_against_geometry, read_mesh

        domain = read_mesh(m.file, comm, length_scale=m.length_scale)
        if domain.dim != m.dim:
            raise MeshError(f"{m.file}: the mesh is {domain.dim}-D but the configuration asks "
                            f"for a {m.dim}-D model ([mesh] dim = {m.dim})")
        check_domain_against_geometry(domain, config.geometry, path=m.file)
        return domain
    if m.dim == 1:
        from fem_cell.meshing.line import build_line_mesh

        return build_line_mesh(config.geometry, m, comm)
    from fem_cell.meshing.cross_section import build_cross_section_mesh

    return build_cross_section_mesh(config.geometry, m, comm)


def top_boundaries(domain: Domain) -> tuple[str, ...]:
    """Free upper surfaces that lose heat: ``top`` (+ ``exposed_top`` in 2-D)."""
    return tuple(n for n in ("top", "exposed_top") if n in domain.facet_names)


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


def build_heat_problem(config: RunConfig, domain: Domain) -> HeatModel:
    """Heat physics + boundary conditions of the anneal, as a transient problem."""
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
    heat = HeatPhysics(domain, k, rho_cp, bcs)
    V = fem.functionspace(domain.mesh, ("Lagrange", 1))
    T = fem.Function(V, name="T_K")
    T.x.array[:] = prog.initial_temperature
    t = fem.Constant(domain.mesh, 0.0)
    s = config.solver
    # The heat Jacobian (mass + conduction + convection/radiation/contact terms, Dirichlet
    # rows applied symmetrically) is symmetric positive definite: Cholesky halves the
    # factorisation cost.  The scaled residual is in k_ref·K per unit cell size, so an
    # absolute tolerance of 1e-6 means temperature corrections below ~1e-6 K; at least
    # one Newton iteration is forced so the time-error estimate never sees u = predictor
    # by default.
    problem = TransientProblem([Field("T", T, atol=s.temperature_tolerance, rtol=s.relative_tolerance)],
                               [heat], time=t, prefix="fem_cell_heat_",
                               newton_rtol=s.newton_rtol, newton_atol=HEAT_NEWTON_ATOL,
                               newton_max_it=s.newton_max_it,
                               petsc_options={"pc_type": "cholesky", "snes_force_iteration": True})
    return HeatModel(domain, T, heat, problem)


class FilmDiagnostics:
    """Globally reduced temperatures (collective): over the films (every layer above the
    substrate), at the top surface, and the hottest Li-metal point (for the melting guard).

    Args:
        domain: the mesh with its named regions.
        T: the temperature (K), P1 on ``domain``.
        films: names of the film layers (from the cell description, see
            :func:`film_layers`).
        metal: names of the Li-metal layers watched by the melting guard.
    """

    def __init__(self, domain: Domain, T: fem.Function, films: tuple[str, ...],
                 metal: tuple[str, ...] = ()):
        self.domain = domain
        self.T = T
        V = T.function_space
        tdim = domain.dim
        n_owned = V.dofmap.index_map.size_local

        def owned_dofs(cells):
            dofs = np.unique(V.dofmap.list[cells].ravel())
            return dofs[dofs < n_owned]

        self.film_dofs = owned_dofs(domain.cells(*films))
        self.metal_dofs = owned_dofs(domain.cells(*metal)) if metal else np.zeros(0, np.int32)
        top = fem.locate_dofs_topological(V, tdim - 1, domain.facets("top"))
        self.top_dofs = top[top < n_owned]
        self.film_volume = domain.volume(*films)
        self._mean = fem.form(T * domain.dx(*films))

    def __call__(self) -> dict[str, float]:
        comm = self.domain.comm
        a = self.T.x.array
        loc = a[self.film_dofs]
        tmin = comm.allreduce(float(loc.min()) if len(loc) else np.inf, op=MPI.MIN)
        tmax = comm.allreduce(float(loc.max()) if len(loc) else -np.inf, op=MPI.MAX)
        met = a[self.metal_dofs]
        tmet = comm.allreduce(float(met.max()) if len(met) else -np.inf, op=MPI.MAX)
        top = a[self.top_dofs]
        ttop_sum = comm.allreduce(float(top.sum()), op=MPI.SUM)
        ttop_n = comm.allreduce(len(top), op=MPI.SUM)
        mean = comm.allreduce(fem.assemble_scalar(self._mean), op=MPI.SUM) / self.film_volume
        return {"T_min": tmin, "T_max": tmax, "T_mean": mean, "T_top": ttop_sum / max(ttop_n, 1),
                "T_metal_max": tmet}


def film_layers(config: RunConfig) -> tuple[str, ...]:
    """Film layers: every layer of the cell description above the first (the substrate)."""
    return tuple(config.geometry.layer_names[1:])


def li_metal_layers(config: RunConfig) -> tuple[str, ...]:
    """Layers whose material is Li metal (watched by the melting guard)."""
    names = getattr(config, "li_layers", None)
    if names is not None:
        return tuple(names)
    return tuple(lay.name for lay in config.geometry.layers
                 if config.materials[lay.material].get("melting_point") is not None)


# --------------------------------------------------------------- anneal chemistry ------
FILM_TRANSPORT_LAYERS = ("LiCoO2", "degraded", "Li3PO4")


@dataclass
class ChemistryModel:
    """Heat on the whole stack + Li⁺/H⁺ transport on the film sub-mesh.

    Attributes:
        heat: the heat model (parent mesh).
        film: the film sub-mesh (LiCoO2, degraded layer, Li3PO4) with its entity map.
        T_film: the temperature on the film mesh (copied from the heat solution).
        transfer: the copy operation (call after each heat solve).
        transport: the transport block (fields ``xH_<phase>`` and ``phi``).
        transport_problem: its TransientProblem (LU, per-field Newton test).
        problem: heat then transport within each step (what the stepper drives).
        resistance: R_interface of the proton field in LiCoO2.
        exposure: the exposure that made the initial profile (None: proton-free).
    """

    heat: HeatModel
    film: Domain
    T_film: fem.Function
    transfer: object
    transport: object
    transport_problem: TransientProblem
    problem: object
    resistance: object
    exposure: object = None

    @property
    def domain(self) -> Domain:
        return self.heat.domain

    @property
    def T(self) -> fem.Function:
        return self.heat.T

    def destroy(self) -> None:
        """Destroy the heat and transport solvers, in that order (collective; the
        fields stay usable)."""
        self.problem.destroy()

    def transport_layers(self) -> tuple[str, ...]:
        return tuple(n for n in FILM_TRANSPORT_LAYERS if n in self.film.cell_names)


def chemistry_parameters(config: RunConfig) -> dict:
    """The physics parameter objects of the chemistry (from the config's data when it
    carries them, else the physics modules' documented defaults)."""
    from fem_cell.physics import degraded, exposure, transport

    try:
        from fem_cell.physics import parameters as P
    except ImportError:  # pragma: no cover - transitional
        P = None
    if P is not None and getattr(config, "chemistry", None) is not None:
        return {"phase_properties": P.transport_phase_properties(config),
                "exchange": P.exchange_parameters(config), "sink": P.sink_bc(config),
                "law": P.degraded_law(config), "exposure_model": P.exposure_model(config),
                "exposure": P.exposure(config)}
    return {"phase_properties": {"LiCoO2": transport.LICOO2_TRANSPORT,
                                 "Li3PO4": transport.LI3PO4_TRANSPORT},
            "exchange": transport.ExchangeParameters(), "sink": transport.SinkBC(),
            "law": degraded.DegradedLayerLaw(), "exposure_model": exposure.ExposureModel(),
            "exposure": exposure.Exposure()}


def build_chemistry_model(config: RunConfig, domain: Domain, *, expose: bool = True,
                          exposure=None) -> ChemistryModel:
    """Heat + transport model of the anneal, with the exposed initial proton profile.

    Args:
        config: validated configuration.
        domain: the stack mesh (parent).
        expose: set the initial proton profile from the exposure (else proton-free).
        exposure: an :class:`~fem_cell.physics.exposure.Exposure` overriding the config's.
    """
    from fem_cell.physics.degraded import InterfaceResistance
    from fem_cell.physics.exposure import apply_exposure, exposure_profile
    from fem_cell.physics.transport import (Phase, TemperatureTransfer, TransportPhysics,
                                            build_transport_problem)
    from fem_cell.solvers.coupled import SequentialProblem

    heat = build_heat_problem(config, domain)
    pars = chemistry_parameters(config)
    layers = tuple(n for n in FILM_TRANSPORT_LAYERS if n in domain.cell_names)
    film = domain.submesh(*layers)
    T_film = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)), name="T_film_K")
    transfer = TemperatureTransfer(heat.T, T_film, film)
    transfer()
    props = pars["phase_properties"]
    lco = tuple(r for r in ("LiCoO2", "degraded") if r in film.cell_names)
    phases = (Phase("LiCoO2", lco, props["LiCoO2"]), Phase("Li3PO4", ("Li3PO4",), props["Li3PO4"]))
    block = TransportPhysics(film, T_film, phases=phases, exchange=pars["exchange"],
                             sink=pars["sink"])
    ex = exposure if exposure is not None else pars["exposure"]
    if expose:
        apply_exposure(block, exposure_profile(ex, pars["exposure_model"]), phase="LiCoO2")
    else:
        for p in phases:
            block.set_uniform(p.name, 0.0)
    s = config.solver
    tp = build_transport_problem(block, prefix="fem_cell_transport_",
                                 x_atol=s.fraction_tolerance if hasattr(s, "fraction_tolerance")
                                 else 1e-3,
                                 newton_max_it=s.newton_max_it)
    problem = SequentialProblem([heat.problem, tp], [None, transfer], prefix="fem_cell_anneal")
    R = InterfaceResistance(film, block.x["LiCoO2"], T_film, law=pars["law"], regions=lco)
    return ChemistryModel(heat, film, T_film, transfer, block, tp, problem, R,
                          ex if expose else None)
