"""The impedance job: the cell's small-signal impedance at a state, interpreted.

:func:`cell_impedance` (library, no files) and :func:`impedance_job` (run folder, what
``fem-cell impedance`` calls) build the electrochemistry block
(:mod:`fem_cell.physics.electrochem`) **on the anneal's own film sub-mesh**
(``build_domain(config, comm).submesh("LiCoO2", "degraded", "Li3PO4")``), so a state's
proton field is used node for node (no interpolation: the exponential law is very
sensitive to where the protons sit), sweep it with
:class:`~fem_cell.solvers.impedance.ImpedanceSolver`, and fit the stack's equivalent
circuit (:mod:`fem_cell.analysis.eis`, impedance.py) + Lin-KK.

Operating point (open circuit, proton field frozen, uniform temperature):

* nothing: the pristine cell (x_H = 0);
* ``state``: a checkpoint file or an anneal run folder (its last state): its
  ``xH_LiCoO2`` (and ``xH_Li3PO4``) fields;
* ``proton_fraction="exposed"`` (or an :class:`~fem_cell.physics.exposure.Exposure`):
  the exposed initial profile of :func:`fem_cell.model.build_chemistry_model`.

Job model of the LiCoO2|Li3PO4 interface (docs/impedance.md, "Job model"): the
degraded layer is electronically conducting LiCoO2 whose Li⁺ path has the resistivity
of ``physics/degraded.py``'s law, 1/σ_d = ρ_p(T) + (exp(β x_H) − 1)/σ0(T), with no
displacement current of its own; the double layer C_dl sits on its electrolyte side, so
the interface is one Randles arc C_dl ∥ (R_d + R_ct + Z_D) with
R_d + R_ct = the state's R_interface at any temperature:

    R_d  = ρ_p(T) L_d + ∫_degraded (exp(β x_H) − 1)/σ0(T) dz,  ρ_p L_d = s·R_p(T)
    R_ct = (1 − s) R_p(T) + ∫_LiCoO2-bulk (exp(β x_H) − 1)/σ0(T) dz

(s = :data:`DEGRADED_PRISTINE_SHARE`).  The degraded layer's σ_d enters the forms as a
cell-wise (DG0) harmonic mean, σ_K = |K| / ∫_K ρ dx with the same quadrature as
:class:`~fem_cell.physics.degraded.InterfaceResistance`, so the discrete layer
resistance equals the state's integral exactly (a P1 x_H inside σ would give
h/⟨σ⟩ ≠ ∫ρ dz on cells where the profile is steep).

Outputs of :func:`impedance_job` (run folder, :mod:`fem_cell.outputs.rundir`):
``impedance.csv`` (:data:`CSV_COLUMNS`), ``contributions.csv``,
``spectrum_impedancepy.csv``, ``nyquist.png``, ``bode.png``, ``summary.json``,
``run.json``; in 2-D ``fields/impedance.pvd`` (complex potential and current density at
chosen frequencies; the series' "time" is the frequency in Hz).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem, ufl
from fem_cell.constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY, ZERO_CELSIUS
from fem_cell.domain import Domain
from fem_cell.errors import FemCellError
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted

#: columns of impedance.csv
CSV_COLUMNS = ("frequency_Hz", "Z_real_ohm_cm2", "Z_imag_ohm_cm2", "Z_abs_ohm_cm2", "phase_deg")
#: columns of contributions.csv
CONTRIBUTION_COLUMNS = ("element", "region", "R_ohm_cm2", "C_F_cm2", "L_H_cm2",
                        "f_characteristic_Hz", "note")
#: files an impedance run may write
PLANNED_FILES = ("run.json", "summary.json", "impedance.csv", "contributions.csv",
                 "spectrum_impedancepy.csv", "nyquist.png", "bode.png", "fields/impedance*")
#: share of the pristine interface resistance R_p(T) carried by the proton-free degraded
#: layer (same Arrhenius law as R_p); the rest is charge transfer at LiCoO2.
#: C: 5 Ω cm² of 9.75 Ω cm² at 25 °C (the electrochemistry block's R_d default).
DEGRADED_PRISTINE_SHARE = 5.0 / 9.75
FILM_REGIONS = ("LiCoO2", "degraded", "Li3PO4")
OHM_CM2 = 1e4   # Ω m² → Ω cm²
F_CM2 = 1e-4    # F/m² → F/cm²


class ImpedanceJobError(FemCellError):
    """An impedance run that cannot be set up (bad state, mesh, frequencies)."""


# ------------------------------------------------------------------ operating point ------
@dataclass
class OperatingPoint:
    """The frozen state the cell is linearised about.

    Attributes:
        film: the film sub-mesh (LiCoO2, degraded, Li3PO4) of the configuration.
        x_lco: proton site fraction in LiCoO2 (P1 on ``film``).
        x_lpo: proton site fraction in Li3PO4 (P1 on ``film``).
        source: ``"pristine"``, ``"uniform"``, ``"profile"``, ``"exposed"`` or ``"state"``.
        state_file: the checkpoint read (source ``"state"``).
        state_time: simulated time of that checkpoint (s).
        state_meta: its metadata.
        keep: objects that own the fields (e.g. the chemistry model).
    """

    film: Domain
    x_lco: fem.Function
    x_lpo: fem.Function
    source: str
    state_file: Path | None = None
    state_time: float | None = None
    state_meta: dict = field(default_factory=dict)
    keep: object = None


def _p1(film: Domain, name: str) -> fem.Function:
    return fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)), name=name)


def film_domain(config, comm: MPI.Comm) -> Domain:
    """The anneal's film sub-mesh of ``config`` (collective)."""
    from fem_cell.model import build_domain

    domain = build_domain(config, comm)
    layers = tuple(n for n in FILM_REGIONS if n in domain.cell_names)
    if layers != FILM_REGIONS:
        raise ImpedanceJobError(f"the impedance model needs the regions {FILM_REGIONS}; the "
                                f"mesh has {sorted(domain.cell_names)}")
    return domain.submesh(*layers)


def operating_point(config, comm: MPI.Comm, *, state=None, proton_fraction=None) -> OperatingPoint:
    """Build the film sub-mesh and its proton field (collective).

    Args:
        config: validated configuration.
        comm: communicator.
        state: checkpoint file or run folder (its last state), or None.
        proton_fraction: None/0 (pristine), ``"exposed"`` (the configuration's exposure),
            an :class:`~fem_cell.physics.exposure.Exposure`, a number (uniform x_H in all
            LiCoO2) or a callable f(x) of SI coordinates (shape (3, n)) → x_H in LiCoO2.

    Raises:
        ImpedanceJobError, CheckpointError: both given, or an unusable state.
    """
    from fem_cell.physics.exposure import Exposure

    if state is not None and proton_fraction is not None:
        raise ImpedanceJobError("give either a state or a proton fraction, not both")
    exposed = isinstance(proton_fraction, Exposure) or (
        isinstance(proton_fraction, str) and proton_fraction == "exposed")
    if isinstance(proton_fraction, str) and not exposed:
        raise ImpedanceJobError(f"proton_fraction {proton_fraction!r}: expected 'exposed', a "
                                f"number, a callable or an Exposure")
    if exposed:
        from fem_cell.model import build_chemistry_model, build_domain

        domain = build_domain(config, comm)
        chem = build_chemistry_model(
            config, domain, exposure=proton_fraction if isinstance(proton_fraction, Exposure)
            else None)
        x = chem.transport.x
        return OperatingPoint(chem.film, x["LiCoO2"], x["Li3PO4"], "exposed", keep=chem)
    film = film_domain(config, comm)
    x_lco, x_lpo = _p1(film, "xH_LiCoO2"), _p1(film, "xH_Li3PO4")
    if state is not None:
        return _load_state(film, x_lco, x_lpo, state)
    if proton_fraction is None or (isinstance(proton_fraction, (int, float))
                                   and proton_fraction == 0):
        return OperatingPoint(film, x_lco, x_lpo, "pristine")
    V = x_lco.function_space
    film.mesh.topology.create_connectivity(film.dim, film.dim)
    lco_dofs = fem.locate_dofs_topological(V, film.dim, film.cells("LiCoO2", "degraded"))
    if isinstance(proton_fraction, (int, float)):
        x_lco.x.array[lco_dofs] = float(proton_fraction)
        src = "uniform"
    elif callable(proton_fraction):
        tmp = _p1(film, "tmp")
        ell = film.length_scale
        tmp.interpolate(lambda X: np.asarray(proton_fraction(X * ell), float)
                        * np.ones(X.shape[1]))
        x_lco.x.array[lco_dofs] = tmp.x.array[lco_dofs]
        src = "profile"
    else:
        raise ImpedanceJobError(f"proton_fraction of type {type(proton_fraction).__name__}: "
                                f"expected a number, a callable, 'exposed' or an Exposure")
    x_lco.x.scatter_forward()
    return OperatingPoint(film, x_lco, x_lpo, src)


def _load_state(film: Domain, x_lco, x_lpo, state) -> OperatingPoint:
    from fem_cell.solvers.checkpoint import (
        CheckpointError,
        load_checkpoint,
        read_checkpoint_meta,
        resolve_checkpoint,
    )

    comm = film.comm
    payload = None
    if comm.rank == 0:
        try:
            ck = resolve_checkpoint(state)
            payload = ("ok", str(ck), read_checkpoint_meta(ck))
        except CheckpointError as e:
            payload = ("error", str(e), None)
    payload = comm.bcast(payload, root=0)
    if payload[0] == "error":
        raise CheckpointError(payload[1])
    ck, info = Path(payload[1]), payload[2]
    names = [n for n in ("xH_LiCoO2", "xH_Li3PO4") if n in info["fields"]]
    if "xH_LiCoO2" not in names:
        raise CheckpointError(f"{ck}: has no proton field xH_LiCoO2 (fields {info['fields']}); "
                              f"was it written by a heat-only run?")
    spaces = {"xH_LiCoO2": x_lco.function_space}
    if "xH_Li3PO4" in names:
        spaces["xH_Li3PO4"] = x_lpo.function_space
    st, meta = load_checkpoint(ck, comm, spaces)
    x_lco.x.array[:] = st.states[0][0]
    if len(spaces) > 1:
        x_lpo.x.array[:] = st.states[0][1]
    return OperatingPoint(film, x_lco, x_lpo, "state", ck, float(info["t"]), meta)


# ------------------------------------------------------------------ the job's model -----
@dataclass(frozen=True)
class Elements:
    """The model's own element values at the operating point (SI: Ω m², F/m², s, H m²)."""

    R_bulk: float
    C_bulk: float
    R_degraded: float
    R_degraded_pristine: float
    R_ct: float
    R_ct_bulk_protons: float
    C_dl: float
    R_Li: float
    C_Li: float
    R_diffusion: float
    tau_diffusion: float
    R_series: float
    L_series: float
    R_interface_state: float

    @property
    def R_interface(self) -> float:
        """R_d + R_ct (Ω m²) — equals the state's R_interface."""
        return self.R_degraded + self.R_ct

    def ohm_cm2(self) -> dict[str, float]:
        """Headline element values at the edge (Ω cm², F/cm², s)."""
        return {"R_bulk_ohm_cm2": self.R_bulk * OHM_CM2, "C_bulk_F_cm2": self.C_bulk * F_CM2,
                "R_degraded_ohm_cm2": self.R_degraded * OHM_CM2,
                "R_ct_ohm_cm2": self.R_ct * OHM_CM2, "C_dl_F_cm2": self.C_dl * F_CM2,
                "R_Li_ohm_cm2": self.R_Li * OHM_CM2, "C_Li_F_cm2": self.C_Li * F_CM2,
                "R_diffusion_ohm_cm2": self.R_diffusion * OHM_CM2,
                "tau_diffusion_s": self.tau_diffusion,
                "R_series_ohm_cm2": self.R_series * OHM_CM2}


def _law(config):
    from fem_cell.model import chemistry_parameters

    return chemistry_parameters(config)["law"]


def _site_densities(config) -> dict[str, float]:
    from fem_cell.model import chemistry_parameters

    props = chemistry_parameters(config)["phase_properties"]
    return {k: float(v.site_density) for k, v in props.items()}


def _degraded_sigma(film: Domain, x, law, T: float, rho_p: float) -> fem.Function:
    """DG0 σ_K = |K| / ∫_K (ρ_p + (exp(βx) − 1)/σ0(T)) dx on the degraded cells (S/m)."""
    from fem_cell._dolfinx import dolfinx

    la = dolfinx.la

    Q = fem.functionspace(film.mesh, ("DG", 0))
    q = ufl.TestFunction(Q)
    dx = ufl.Measure("dx", domain=film.mesh, subdomain_data=film.cell_tags,
                     metadata={"quadrature_degree": 6})
    tag = film.cell_tag("degraded")
    Tc = fem.Constant(film.mesh, float(T))
    rho = rho_p + law.excess_resistivity(x, Tc)

    def vec(expr):
        b = fem.assemble_vector(fem.form(expr * q * dx(tag)))
        b.scatter_reverse(la.InsertMode.add)
        return b.array.copy()

    r, v = vec(rho), vec(fem.Constant(film.mesh, 1.0))
    sigma = fem.Function(Q, name="sigma_degraded")
    n = Q.dofmap.index_map.size_local
    s = np.ones_like(r)
    ok = r[:n] > 0
    s[:n][ok] = v[:n][ok] / r[:n][ok]
    sigma.x.array[:n] = s[:n]
    sigma.x.scatter_forward()
    return sigma


def refined_line_domain(film: Domain, x: fem.Function | None = None,
                        interface_cell: float = 5e-14, growth: float = 1.1,
                        cells_per_layer: int = 32) -> tuple[Domain, fem.Function | None]:
    """1-D: the film sub-mesh with extra nodes in the LiCoO2 bulk, graded to
    ``interface_cell`` (m) at its interface with the degraded layer (collective).

    Every node of the film sub-mesh is kept (so a P1 field on it is *the same function*
    on the refined mesh: transferred exactly, no interpolation error), the degraded and
    Li3PO4 cells are unchanged; only LiCoO2 bulk cells are split, so that the Li
    diffusion resolves √(D̃/ω) up to 1 MHz (the anneal mesh's ≈ 0.6 nm cells there leave
    the Warburg 0.3 % of |Z| off near 500 Hz, enough to spoil the interface fit).
    Facet groups keep their names and tags.

    Returns:
        (domain, x transferred onto it or None)
    """
    comm = film.comm
    ell = film.length_scale
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    X = V.tabulate_dof_coordinates()[:n_own, 0]
    vals = (np.zeros(n_own) if x is None else x.x.array[:n_own])
    allX = np.concatenate(comm.allgather(X))
    allV = np.concatenate(comm.allgather(vals))
    order = np.argsort(allX)
    z, xv = allX[order] * ell, allV[order]
    z, keep = np.unique(z, return_index=True)
    levels = {n: float(_gather_level(film, n, 0)[0]) * ell
              for n in ("substrate|LiCoO2", "LiCoO2|degraded", "degraded|Li3PO4", "Li3PO4|Li")}
    return line_domain(comm, z, xv[keep], levels, film, interface_cell=interface_cell,
                       growth=growth, cells_per_layer=cells_per_layer,
                       name=None if x is None else x.name)


def section_column_domain(film: Domain, x: fem.Function | None = None, column: int = 0):
    """1-D film domain whose nodes are the z-levels of a 2-D tensor-grid film mesh (its
    ``column``-th vertical line), with x_H there: the 1-D twin of a laterally uniform
    cross-section (same through-thickness discretisation).  Collective."""
    comm = film.comm
    ell = film.length_scale
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    XY = np.concatenate(comm.allgather(V.tabulate_dof_coordinates()[:n_own, :2]))
    vals = np.concatenate(comm.allgather(np.zeros(n_own) if x is None else x.x.array[:n_own]))
    ux = np.unique(np.round(XY[:, 0], 9))
    sel = np.isclose(XY[:, 0], ux[column], rtol=0, atol=1e-9)
    o = np.argsort(XY[sel, 1])
    z, xv = XY[sel, 1][o] * ell, vals[sel][o]
    levels = {n: float(_gather_level(film, n, 1)[0]) * ell
              for n in ("substrate|LiCoO2", "LiCoO2|degraded", "degraded|Li3PO4", "Li3PO4|Li")}
    dom, xr = line_domain(comm, z, xv, levels, film, refine=False,
                          name="xH_LiCoO2" if x is None else x.name)
    return dom, xr


def line_domain(comm, z, xv, levels, film, *, refine: bool = True, interface_cell=5e-14,
                growth=1.1, cells_per_layer=32, name=None):
    """A tagged 1-D film Domain on nodes ``z`` (m) (+ graded LiCoO2-bulk nodes with
    ``refine``), the P1 field of nodal values ``xv`` on it, facet groups at ``levels``
    (name → z in m) named and tagged as in ``film``.  Collective."""
    from fem_cell._dolfinx import basix, dolfinx
    from fem_cell.physics.electrochem import _layer_nodes

    ell = film.length_scale
    z_bot, z_if = levels["substrate|LiCoO2"], levels["LiCoO2|degraded"]
    L = z_if - z_bot
    extra = (z_bot + _layer_nodes(L, L / cells_per_layer, interface_cell, L / cells_per_layer,
                                  growth)) if refine else z[:0]
    znew = np.unique(np.concatenate([z, extra]))
    # merge nodes closer than 1e-6 of the smallest intended cell (round-off duplicates)
    dz = np.diff(znew)
    znew = np.concatenate([[znew[0]], znew[1:][dz > 1e-3 * interface_cell]])
    xnew = np.interp(znew, z, xv)
    names = film.cell_names
    tags_at = np.full(len(znew) - 1, names["Li3PO4"], dtype=np.int32)
    mid = 0.5 * (znew[1:] + znew[:-1])
    z_d = levels["degraded|Li3PO4"]
    tags_at[mid < z_d] = names["degraded"]
    tags_at[mid < z_if] = names["LiCoO2"]
    if comm.rank == 0:
        pts = (znew / ell)[:, None]
        cells = np.stack([np.arange(len(znew) - 1), np.arange(1, len(znew))], 1).astype(np.int64)
    else:
        pts = np.zeros((0, 1))
        cells = np.zeros((0, 2), dtype=np.int64)
    element = ufl.Mesh(basix.ufl.element("Lagrange", "interval", 1, shape=(1,)))
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_mesh(comm, cells, element, pts, partitioner=part)
    tdim = 1
    im = msh.topology.index_map(tdim)
    nl = im.size_local + im.num_ghosts
    orig = np.asarray(msh.topology.original_cell_index)[:nl]
    ctags = dolfinx.mesh.meshtags(msh, tdim, np.arange(nl, dtype=np.int32), tags_at[orig])
    hmin = float(np.min(np.diff(znew)))
    tol = 0.25 * hmin / ell
    locs = dict(levels)
    idx, tv = [], []
    for name, zz in locs.items():
        f = dolfinx.mesh.locate_entities(msh, 0, lambda p, zz=zz: np.abs(p[0] - zz / ell) < tol)
        idx.append(f)
        tv.append(np.full(len(f), film.facet_names[name], dtype=np.int32))
    idx = np.concatenate(idx).astype(np.int32)
    tv = np.concatenate(tv)
    o = np.argsort(idx)
    ftags = dolfinx.mesh.meshtags(msh, 0, idx[o], tv[o])
    ctags.name, ftags.name = film.cell_tags.name, film.facet_tags.name
    dom = Domain(msh, ctags, ftags, dict(names),
                 {n: film.facet_names[n] for n in locs}, ell)
    xr = None
    if name is not None:
        xr = _p1(dom, name)
        Xr = xr.function_space.tabulate_dof_coordinates()[:, 0] * ell
        xr.x.array[:] = np.interp(Xr, znew, xnew)
    return dom, xr


def _gather_level(film: Domain, name: str, axis: int) -> np.ndarray:
    """Coordinates (mesh units) along ``axis`` of the vertices of a facet group, all ranks."""
    from fem_cell._dolfinx import dolfinx

    fac = film.facets(name).astype(np.int32)
    fdim = film.dim - 1
    nodes = (dolfinx.mesh.entities_to_geometry(film.mesh, fdim, fac).ravel() if len(fac)
             else np.zeros(0, dtype=np.int32))
    loc = film.mesh.geometry.x[nodes, axis]
    return np.concatenate(film.comm.allgather(np.asarray(loc, float)))


def refined_section_domain(film: Domain, x: fem.Function | None = None,
                           interface_cell: float = 1e-11, growth: float = 1.2,
                           cells_per_layer: int = 32) -> tuple[Domain, fem.Function | None]:
    """2-D: the cross-section film sub-mesh (a tensor grid of quadrilaterals) with extra
    horizontal node lines in the LiCoO2 bulk, graded to ``interface_cell`` (m) at the
    LiCoO2|degraded interface (collective).

    All vertices of the film mesh are kept and only LiCoO2 bulk cells are split, so a Q1
    field on the film mesh is the same function on this one (transferred exactly; the
    degraded and Li3PO4 cells are unchanged).  Facet groups keep names and tags.  The
    default grading (1e-11 m, 1.2) changes the 1-D spectrum by 1.2e-4 relative to the
    finest (5e-14 m, 1.1) at half the added cells.

    Raises:
        ImpedanceJobError: the film mesh is not a tensor grid.
    """
    from fem_cell._dolfinx import basix, dolfinx
    from fem_cell.physics.electrochem import _layer_nodes

    comm = film.comm
    ell = film.length_scale
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    XY = V.tabulate_dof_coordinates()[:n_own, :2]
    vals = np.zeros(n_own) if x is None else x.x.array[:n_own]
    XY = np.concatenate(comm.allgather(XY))
    vals = np.concatenate(comm.allgather(vals))
    ux = np.unique(np.round(XY[:, 0], 9))
    uz = np.unique(np.round(XY[:, 1], 9))
    if ux.size * uz.size != XY.shape[0]:
        raise ImpedanceJobError("the 2-D film mesh is not a tensor grid; cannot add LiCoO2 "
                                "node lines (use refine_electrode=False)")
    ix = np.searchsorted(ux, np.round(XY[:, 0], 9))
    iz = np.searchsorted(uz, np.round(XY[:, 1], 9))
    grid = np.zeros((ux.size, uz.size))
    grid[ix, iz] = vals
    z_bot = float(_gather_level(film, "substrate|LiCoO2", 1)[0])
    z_if = float(_gather_level(film, "LiCoO2|degraded", 1)[0])
    z_d = float(_gather_level(film, "degraded|Li3PO4", 1)[0])
    top = _gather_level(film, "Li3PO4|Li", 1)
    pad_x = _gather_level(film, "Li3PO4|Li", 0)
    z_top = float(top[0])
    L = (z_if - z_bot) * ell
    extra = z_bot + _layer_nodes(L, L / cells_per_layer, interface_cell, L / cells_per_layer,
                                 growth) / ell
    zn = np.unique(np.concatenate([uz, extra]))
    zn = np.concatenate([[zn[0]], zn[1:][np.diff(zn) > 1e-3 * interface_cell / ell]])
    gnew = np.array([np.interp(zn, uz, grid[i]) for i in range(ux.size)])
    nx, nz = ux.size, zn.size
    names = film.cell_names
    zm = 0.5 * (zn[1:] + zn[:-1])
    row_tag = np.where(zm < z_if, names["LiCoO2"],
                       np.where(zm < z_d, names["degraded"], names["Li3PO4"])).astype(np.int32)
    if comm.rank == 0:
        ci, ck = np.meshgrid(np.arange(nx - 1), np.arange(nz - 1), indexing="ij")
        ci, ck = ci.ravel(), ck.ravel()

        def vid(i, k):
            return i * nz + k
        cells = np.stack([vid(ci, ck), vid(ci + 1, ck), vid(ci, ck + 1), vid(ci + 1, ck + 1)],
                         1).astype(np.int64)
        PX, PZ = np.meshgrid(ux, zn, indexing="ij")
        pts = np.stack([PX.ravel(), PZ.ravel()], 1)
        ctag_all = row_tag[ck]
    else:
        cells = np.zeros((0, 4), dtype=np.int64)
        pts = np.zeros((0, 2))
        ctag_all = None
    ctag_all = comm.bcast(ctag_all, root=0)
    element = ufl.Mesh(basix.ufl.element("Lagrange", "quadrilateral", 1, shape=(2,)))
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_mesh(comm, cells, element, pts, partitioner=part)
    tdim = 2
    im = msh.topology.index_map(tdim)
    nl = im.size_local + im.num_ghosts
    orig = np.asarray(msh.topology.original_cell_index)[:nl]
    ctags = dolfinx.mesh.meshtags(msh, tdim, np.arange(nl, dtype=np.int32), ctag_all[orig])
    hz = float(np.min(np.diff(zn)))
    tol = 0.25 * hz
    x0, x1 = ux[0], ux[-1]
    p0, p1 = pad_x.min(), pad_x.max()
    tolx = 1e-6 * (x1 - x0)
    msh.topology.create_connectivity(1, 2)
    markers = {
        "substrate|LiCoO2": lambda p: np.abs(p[1] - z_bot) < tol,
        "LiCoO2|degraded": lambda p: np.abs(p[1] - z_if) < tol,
        "degraded|Li3PO4": lambda p: np.abs(p[1] - z_d) < tol,
        "Li3PO4|Li": lambda p: (np.abs(p[1] - z_top) < tol) & (p[0] > p0 - tolx)
        & (p[0] < p1 + tolx),
        "exposed_top": lambda p: (np.abs(p[1] - z_top) < tol)
        & ((p[0] < p0 + tolx) | (p[0] > p1 - tolx)),
        "left": lambda p: np.abs(p[0] - x0) < tolx,
        "right": lambda p: np.abs(p[0] - x1) < tolx,
    }
    idx, tv, fnames = [], [], {}
    for name, mk in markers.items():
        if name not in film.facet_names:
            continue
        f = dolfinx.mesh.locate_entities(msh, 1, mk)
        if name == "exposed_top":   # facets inside the pad span belong to the contact
            mid = dolfinx.mesh.compute_midpoints(msh, 1, f)[:, 0] if len(f) else np.zeros(0)
            f = f[(mid < p0) | (mid > p1)]
        idx.append(f)
        tv.append(np.full(len(f), film.facet_names[name], dtype=np.int32))
        fnames[name] = film.facet_names[name]
    idx = np.concatenate(idx).astype(np.int32)
    tv = np.concatenate(tv)
    idx, first = np.unique(idx, return_index=True)
    ftags = dolfinx.mesh.meshtags(msh, 1, idx, tv[first])
    ctags.name, ftags.name = film.cell_tags.name, film.facet_tags.name
    dom = Domain(msh, ctags, ftags, dict(names), fnames, ell)
    xr = None
    if x is not None:
        xr = _p1(dom, x.name)
        C = xr.function_space.tabulate_dof_coordinates()
        jx = np.clip(np.searchsorted(ux, np.round(C[:, 0], 9)), 0, nx - 1)
        jz = np.clip(np.searchsorted(zn, C[:, 1] - 0.5 * tol), 0, nz - 1)
        xr.x.array[:] = gnew[jx, jz]
    return dom, xr


#: LiCoO2-bulk grading (interface cell in m, growth) of the impedance meshes
REFINE_1D = (5e-14, 1.1)
REFINE_2D = (1e-11, 1.2)


def refined_film_domain(film: Domain, x: fem.Function | None = None, grading=None):
    """:func:`refined_line_domain` (1-D) or :func:`refined_section_domain` (2-D) with
    ``grading`` = (interface cell m, growth), default :data:`REFINE_1D` / :data:`REFINE_2D`."""
    if film.dim == 1:
        ic, g = grading or REFINE_1D
        return refined_line_domain(film, x, interface_cell=ic, growth=g)
    ic, g = grading or REFINE_2D
    return refined_section_domain(film, x, interface_cell=ic, growth=g)


@dataclass
class CellModel:
    """The electrochemistry of one operating point, ready to sweep."""

    op: OperatingPoint
    model: object            # ElectrochemModel
    elements: Elements
    temperature: float
    sigma_degraded: fem.Function


def build_cell_model(config, op: OperatingPoint, temperature: float = 298.15, *,
                     prefix: str = "fem_cell_imp_",
                     refine_electrode: bool | tuple[float, float] = True) -> CellModel:
    """The job's electrochemistry on ``op.film`` at a uniform temperature (K) (collective).

    See the module docstring for the interface model; parameters: the cell file's via
    :meth:`ElectrochemParameters.from_config`, the degraded-layer law of the chemistry
    (:func:`fem_cell.model.chemistry_parameters`).  ``refine_electrode`` (1-D): run the
    electrochemistry on :func:`refined_line_domain` (the same nodes + graded LiCoO2-bulk
    nodes; the proton field is the same P1 function); R_interface and its parts are
    always integrated on ``op.film``, the state's own mesh.
    """
    from fem_cell.physics.degraded import InterfaceResistance
    from fem_cell.physics.electrochem import (
        ElectrochemParameters,
        FilmRegions,
        build_electrochem_model,
    )

    T = float(temperature)
    if not T > 0:
        raise ImpedanceJobError(f"temperature {T} K: expected > 0 K")
    film = op.film
    law = _law(config)
    g = config.geometry
    L_lco, L_d, L_se = (g.layer(n).thickness for n in FILM_REGIONS)
    R_p = law.pristine(T)
    R_dp = DEGRADED_PRISTINE_SHARE * R_p
    x = op.x_lco
    ex_deg = InterfaceResistance(film, x, T, law=law, regions=("degraded",)).excess(T)
    ex_bulk = InterfaceResistance(film, x, T, law=law, regions=("LiCoO2",)).excess(T)
    R_state = law.pristine(T) + InterfaceResistance(film, x, T, law=law).excess(T)
    R_ct = R_p - R_dp + ex_bulk
    base = ElectrochemParameters.from_config(config)
    params = ElectrochemParameters.from_config(
        config, degraded_relative_permittivity=0.0,
        electrode_exchange_current=GAS_CONSTANT * T / (
            FARADAY * R_ct * (base.alpha_a + base.alpha_c)),
        electrode_exchange_activation_energy=0.0)
    ec_film, ec_x = film, x
    if refine_electrode:
        ec_film, ec_x = refined_film_domain(
            film, x, refine_electrode if isinstance(refine_electrode, tuple) else None)
    sigma = _degraded_sigma(ec_film, ec_x, law, T, R_dp / L_d)
    regions = FilmRegions(electrode="LiCoO2", degraded="degraded", electrolyte="Li3PO4",
                          li_contact="Li3PO4|Li", li_contact_exterior=True,
                          double_layer="degraded|Li3PO4")
    model = build_electrochem_model(film.comm, params, domain=ec_film, regions=regions,
                                    temperature=T, proton_fraction=ec_x,
                                    conductivity_law=lambda _x, _T: sigma, prefix=prefix)
    p = params
    D = p.diffusivity(T)
    f = FARADAY / (GAS_CONSTANT * T)
    el = Elements(
        R_bulk=L_se / p.electrolyte_sigma(T),
        C_bulk=p.electrolyte_relative_permittivity * VACUUM_PERMITTIVITY / L_se,
        R_degraded=R_dp + ex_deg, R_degraded_pristine=R_dp, R_ct=R_ct, R_ct_bulk_protons=ex_bulk,
        C_dl=p.electrode_double_layer_capacitance,
        R_Li=1.0 / (f * p.li_i0(T) * (p.alpha_a + p.alpha_c)),
        C_Li=p.li_double_layer_capacitance,
        R_diffusion=abs(p.ocv_slope) * L_lco / (FARADAY * p.electrode_site_density * D),
        tau_diffusion=L_lco**2 / D,
        R_series=p.lead_resistance * p.pad_area, L_series=p.lead_inductance * p.pad_area,
        R_interface_state=R_state)
    return CellModel(op, model, el, T, sigma)


def inventories(op: OperatingPoint, site_densities: dict[str, float]) -> dict[str, float]:
    """Proton inventories per unit film area (mol/m²): LiCoO2 (incl. degraded), Li3PO4."""
    film = op.film
    if film.dim == 1:
        width = 1.0
    else:
        width = film.integrate(fem.Constant(film.mesh, 1.0), film.ds("substrate|LiCoO2"))
    c_lco = site_densities.get("LiCoO2", 5.16e4)
    c_lpo = site_densities.get("Li3PO4", 6.4e4)
    h_lco = film.integrate(c_lco * op.x_lco, film.dx("LiCoO2", "degraded")) / width
    h_lpo = film.integrate(c_lpo * op.x_lpo, film.dx("Li3PO4")) / width
    return {"H_LiCoO2_mol_m2": float(h_lco), "H_Li3PO4_mol_m2": float(h_lpo)}


# ------------------------------------------------------------------ interpretation ------
def interpret(frequencies, Z_ohm_cm2, el: Elements, comm: MPI.Comm | None = None):
    """Circuit fit (:data:`~fem_cell.analysis.eis.RANDLES_STACK_CIRCUIT`, initial guess from
    the model's elements) and Lin-KK; rank 0 computes, the result is broadcast."""
    from fem_cell.analysis import eis

    out = None
    if comm is None or comm.rank == 0:
        guess = eis.randles_initial_guess(
            R_bulk=el.R_bulk * OHM_CM2, C_bulk=el.C_bulk * F_CM2,
            R_interface=el.R_interface * OHM_CM2, C_interface=el.C_dl * F_CM2,
            R_Li=el.R_Li * OHM_CM2, C_Li=el.C_Li * F_CM2,
            R_diffusion=el.R_diffusion * OHM_CM2, tau_diffusion=el.tau_diffusion,
            R_series=el.R_series * OHM_CM2)
        try:
            fit = eis.fit_equivalent_circuit(frequencies, Z_ohm_cm2, guess,
                                             circuit=eis.RANDLES_STACK_CIRCUIT,
                                             names=eis.RANDLES_STACK_PARAMETERS)
            fit_err = None
        except RuntimeError as e:
            fit, fit_err = None, str(e)
        kk = eis.kramers_kronig_checked(frequencies, Z_ohm_cm2)
        out = (fit, fit_err, kk)
    if comm is not None:
        out = comm.bcast(out, root=0)
    return out


@dataclass
class CellImpedance:
    """What :func:`cell_impedance` returns (on every rank).

    Attributes:
        frequencies: f (Hz).
        Z_ohm_cm2: Z per unit Li-pad area (Ω cm², complex).
        sweep: the solver's :class:`~fem_cell.solvers.impedance.ImpedanceResult`.
        elements: the model's element values (SI).
        fit: the equivalent-circuit fit (None if it failed: ``fit_error``).
        kk: Lin-KK result.
        inventories: proton inventories (mol/m²).
        temperature: K.
        method: ``rom`` or ``direct``.
        dim: 1 or 2.
        dofs: unknowns of J.
        source: operating point kind.
        state_file, state_time: the checkpoint used, if any.
        wall_time: s (model, sweep, fit).
    """

    frequencies: np.ndarray
    Z_ohm_cm2: np.ndarray
    sweep: object
    elements: Elements
    fit: object
    kk: object
    inventories: dict
    temperature: float
    method: str
    dim: int
    dofs: int
    source: str
    state_file: Path | None = None
    state_time: float | None = None
    fit_error: str | None = None
    wall_time: float = 0.0

    @property
    def R_interface_state_ohm_cm2(self) -> float:
        return self.elements.R_interface_state * OHM_CM2

    @property
    def R_interface_fit_ohm_cm2(self) -> float:
        return float("nan") if self.fit is None else self.fit.value("R_interface")

    def apex_frequencies(self) -> dict[str, float]:
        """Apex frequencies (Hz) of the bulk and interface arcs (fitted; model values if
        the fit failed)."""
        el = self.elements
        if self.fit is not None:
            v = self.fit.value
            return {"bulk": 1 / (2 * math.pi * v("R_bulk") * v("C_bulk")),
                    "interface": 1 / (2 * math.pi * v("R_interface") * v("C_interface"))}
        return {"bulk": 1 / (2 * math.pi * el.R_bulk * el.C_bulk),
                "interface": 1 / (2 * math.pi * el.R_interface * el.C_dl)}

    def summary(self) -> dict:
        """Headline numbers (JSON-ready; Ω cm², F/cm², Hz, °C)."""
        el = self.elements
        s = self.sweep
        out = {
            "R_interface_fit_ohm_cm2": self.R_interface_fit_ohm_cm2,
            "R_interface_fit_stderr_ohm_cm2": (float("nan") if self.fit is None
                                               else self.fit.error("R_interface")),
            "R_interface_ohm_cm2": self.R_interface_state_ohm_cm2,
            "R_interface_model_ohm_cm2": el.R_interface * OHM_CM2,
            "kk_residual_max": self.kk.residual_max,
            "kk_elements": self.kk.M,
            **self.inventories,
            "temperature_C": self.temperature - ZERO_CELSIUS,
            "method": self.method,
            "factorizations": int(s.n_factorizations),
            "rom_basis": int(s.n_basis),
            "rom_fallback_frequencies": int(np.count_nonzero(s.fallback)),
            "residual_max": float(np.max(s.residuals)),
            "sweep_wall_time_s": float(s.wall_time),
            "wall_time_s": self.wall_time,
            "dim": self.dim,
            "dofs": self.dofs,
            "frequencies": {"min_Hz": float(self.frequencies.min()),
                            "max_Hz": float(self.frequencies.max()),
                            "n": int(self.frequencies.size)},
            "operating_point": self.source,
            "state": None if self.state_file is None else str(self.state_file),
            "state_time_s": self.state_time,
            "model": el.ohm_cm2(),
            "apex_frequencies_Hz": self.apex_frequencies(),
        }
        if self.fit is not None:
            out["fit"] = {k: float(v) for k, v in self.fit.as_dict().items()}
            out["fit_residual_max"] = self.fit.residual_max
            out["circuit"] = self.fit.circuit
            for name in ("R_bulk", "C_bulk", "C_interface", "R_Li", "C_Li", "R_diffusion",
                         "tau_diffusion", "R_series"):
                unit = ("ohm_cm2" if name.startswith("R_") else
                        "F_cm2" if name.startswith("C_") else "s")
                out[f"{name}_fit_{unit}"] = self.fit.value(name)
        else:
            out["fit_error"] = self.fit_error
        return out


def default_frequencies() -> np.ndarray:
    """61 log-spaced points from 10 mHz to 1 MHz."""
    from fem_cell.solvers.impedance import log_frequencies

    return log_frequencies(1e-2, 1e6, 61)


def _check_frequencies(frequencies) -> np.ndarray:
    f = default_frequencies() if frequencies is None else np.asarray(frequencies, float)
    if f.ndim != 1 or f.size < 2 or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ImpedanceJobError(f"frequencies: expected at least two positive numbers (Hz), got "
                                f"{np.asarray(frequencies).tolist()!r}")
    return f


def _run(config, comm, *, state=None, proton_fraction=None, temperature=298.15,
         frequencies=None, method="rom", prefix="fem_cell_imp_", guard=NO_GUARD,
         say=None, refine_electrode=True) -> tuple[CellImpedance, CellModel, object]:
    """cell_impedance keeping the model and solver (for field maps); caller destroys."""
    from fem_cell.solvers.impedance import ImpedanceSolver

    wall0 = time.perf_counter()
    f = _check_frequencies(frequencies)
    if method not in ("rom", "direct"):
        raise ImpedanceJobError(f"method {method!r}: expected 'rom' or 'direct'")
    op = operating_point(config, comm, state=state, proton_fraction=proton_fraction)
    guard.check(comm)
    cm = build_cell_model(config, op, temperature, prefix=prefix,
                          refine_electrode=refine_electrode)
    solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=prefix + "eis_")
    if say:
        say(f"{op.film.dim}-D film mesh, {solver.n_dofs()} unknowns; sweeping {f.size} "
            f"frequencies ({method})")
    with guard.deferred():
        sweep = solver.sweep(f, method)
    guard.check(comm)
    Z = sweep.impedance_ohm_cm2
    fit, fit_err, kk = interpret(f, Z, cm.elements, comm)
    res = CellImpedance(f, Z, sweep, cm.elements, fit, kk,
                        inventories(op, _site_densities(config)), cm.temperature, method,
                        op.film.dim, solver.n_dofs(), op.source, op.state_file, op.state_time,
                        fit_err, time.perf_counter() - wall0)
    return res, cm, solver


def cell_impedance(config, comm: MPI.Comm, *, state=None, proton_fraction=None,
                   temperature: float = 298.15, frequencies=None,
                   method: str = "rom", refine_electrode: bool = True) -> CellImpedance:
    """Impedance of the configured cell at a state (collective; no files).

    Args:
        config: validated configuration (its ``[mesh] dim`` chooses 1-D or 2-D).
        comm: communicator.
        state: checkpoint file or run folder (last state) whose proton field to use.
        proton_fraction: see :func:`operating_point` (``"exposed"``, a number, …).
        temperature: uniform temperature (K); default 25 °C.
        frequencies: Hz; default 61 points 10 mHz – 1 MHz.
        method: ``"rom"`` (default) or ``"direct"``.
        refine_electrode: 1-D: split the LiCoO2 bulk cells of the film mesh
            (:func:`refined_line_domain`) to resolve the Li diffusion; False = the film
            mesh as it is (what 2-D uses).

    Returns:
        A :class:`CellImpedance` (Z in Ω cm² per Li-pad area, fit, KK, elements).
    """
    res, cm, solver = _run(config, comm, state=state, proton_fraction=proton_fraction,
                           temperature=temperature, frequencies=frequencies, method=method,
                           refine_electrode=refine_electrode)
    solver.destroy()
    return res


# ------------------------------------------------------------------ field maps (2-D) ----
def write_field_maps(cm: CellModel, solver, frequencies, path: Path) -> list[float]:
    """Complex potential and current density at ``frequencies`` (Hz) into a .pvd series.

    Per unit pad current density (1 A/m² into the pad): ``phi_re``/``phi_im`` (V per
    A/m², i.e. Ω m²), ``j_re``/``j_im`` (ionic current density per unit pad current
    density, a 2-vector, DG0: −σ∇δφ − iωε∇δφ in Li3PO4 and the degraded layer,
    −F D̃ ∇δc in LiCoO2), ``c_re``/``c_im`` (Li concentration, mol/m³ per A/m²), and the
    layer id.  The series' time value is the frequency in Hz.  Collective.
    """
    from fem_cell.outputs.fields import FieldSeriesWriter

    film = cm.model.domain
    msh = film.mesh
    phys = cm.model.physics
    s = solver.system
    fields = cm.model.problem.fields
    P1 = fem.functionspace(msh, ("Lagrange", 1))
    gdim = msh.geometry.dim
    W = fem.functionspace(msh, ("DG", 0, (gdim,)))
    out = {n: fem.Function(P1, name=n) for n in ("phi_re", "phi_im", "c_re", "c_im")}
    jr, ji = fem.Function(W, name="j_re"), fem.Function(W, name="j_im")
    layer = film.layer_id_function()
    tmp_phi = fem.Function(fields[0].space)
    tmp_c = fem.Function(fields[1].space)
    ind = film.region_indicator({"Li3PO4": 1.0})
    ind_d = film.region_indicator({"degraded": 1.0})
    ind_c = film.region_indicator({"LiCoO2": 1.0})
    p = phys.params
    sig_se = phys.electrolyte_sigma()
    eps_se = p.electrolyte_relative_permittivity * VACUUM_PERMITTIVITY
    D = p.diffusivity(cm.temperature)
    omega = fem.Constant(msh, 0.0)
    part = {}
    for key in ("re", "im"):
        # j = −(σ + iωε)∇φ (Li3PO4), −σ_d∇φ (degraded), −F D ∇c (LiCoO2); complex parts
        ph_r, ph_i = out["phi_re"], out["phi_im"]
        c_r, c_i = out["c_re"], out["c_im"]
        if key == "re":
            e = (-ind * (sig_se * film.grad(ph_r) - omega * eps_se * film.grad(ph_i))
                 - ind_d * cm.sigma_degraded * film.grad(ph_r)
                 - ind_c * FARADAY * D * film.grad(c_r))
        else:
            e = (-ind * (sig_se * film.grad(ph_i) + omega * eps_se * film.grad(ph_r))
                 - ind_d * cm.sigma_degraded * film.grad(ph_i)
                 - ind_c * FARADAY * D * film.grad(c_i))
        part[key] = fem.Expression(e, W.element.interpolation_points)
    writer = FieldSeriesWriter(film.comm, path, [*out.values(), jr, ji, layer])
    done = []
    try:
        for fr in frequencies:
            w = 2 * math.pi * float(fr)
            fac = s.factorize(w)
            try:
                x = fac.solve(s.rhs(w))
            finally:
                fac.destroy()
            dI = s.current(x, w)
            scale = s.area / dI          # δu per unit pad current density
            x = x * scale
            for k, (tmp, names) in enumerate(((tmp_phi, ("phi_re", "phi_im")),
                                              (tmp_c, ("c_re", "c_im")))):
                seg = x[s.offsets[k]:s.offsets[k + 1]]
                for arr, name in ((seg.real, names[0]), (seg.imag, names[1])):
                    tmp.x.array[:len(arr)] = arr
                    tmp.x.scatter_forward()
                    out[name].x.array[:] = tmp.x.array
            # c is measured from c0: the pinned DOFs hold 0 in δu already
            omega.value = w
            jr.interpolate(part["re"])
            ji.interpolate(part["im"])
            writer.write(float(fr))
            done.append(float(fr))
    finally:
        writer.close()
    return done


# ------------------------------------------------------------------ outputs ----------
def _contribution_rows(el: Elements) -> list[dict]:
    def fch(R, C):
        return 1.0 / (2 * math.pi * R * C) if R > 0 and C > 0 else float("nan")

    nan = float("nan")
    R_int = el.R_interface
    return [
        dict(element="Li3PO4 bulk", region="Li3PO4", R_ohm_cm2=el.R_bulk * OHM_CM2,
             C_F_cm2=el.C_bulk * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(el.R_bulk, el.C_bulk),
             note="ionic resistance L/sigma parallel to the geometric capacitance eps/L"),
        dict(element="degraded layer", region="degraded", R_ohm_cm2=el.R_degraded * OHM_CM2,
             C_F_cm2=nan, L_H_cm2=nan, f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"Li+ path through the protonated LiCoO2 skin (pristine part "
                   f"{el.R_degraded_pristine * OHM_CM2:.4g} Ohm cm2); in series with the charge "
                   f"transfer inside the C_dl branch: frequency of that interface arc")),
        dict(element="LiCoO2 charge transfer", region="LiCoO2|degraded",
             R_ohm_cm2=el.R_ct * OHM_CM2, C_F_cm2=el.C_dl * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"Butler-Volmer R_ct incl. the excess of the protons in the LiCoO2 bulk "
                   f"({el.R_ct_bulk_protons * OHM_CM2:.4g} Ohm cm2); C_dl at degraded|Li3PO4")),
        dict(element="LiCoO2|Li3PO4 interface (arc)", region="degraded|Li3PO4",
             R_ohm_cm2=R_int * OHM_CM2, C_F_cm2=el.C_dl * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"R_degraded + R_ct = the state's R_interface "
                   f"{el.R_interface_state * OHM_CM2:.6g} Ohm cm2")),
        dict(element="Li interface", region="Li3PO4|Li", R_ohm_cm2=el.R_Li * OHM_CM2,
             C_F_cm2=el.C_Li * F_CM2, L_H_cm2=nan, f_characteristic_Hz=fch(el.R_Li, el.C_Li),
             note="Butler-Volmer charge transfer parallel to its double layer"),
        dict(element="LiCoO2 diffusion", region="LiCoO2",
             R_ohm_cm2=el.R_diffusion * OHM_CM2,
             C_F_cm2=el.tau_diffusion / el.R_diffusion * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=1.0 / (2 * math.pi * el.tau_diffusion),
             note="finite-length reflective Warburg R_D coth(sqrt(iw tau))/sqrt(iw tau); "
                  "C = tau/R_D is the low-frequency (intercalation) capacitance"),
        dict(element="leads", region="-", R_ohm_cm2=el.R_series * OHM_CM2, C_F_cm2=nan,
             L_H_cm2=el.L_series * OHM_CM2,
             f_characteristic_Hz=(el.R_series / (2 * math.pi * el.L_series)
                                  if el.L_series > 0 else nan),
             note="series resistance and inductance of leads and contacts (times pad area)"),
    ]


def write_spectrum_csv(path: Path, f, Z) -> None:
    """impedance.csv: :data:`CSV_COLUMNS` (Ω cm², degrees)."""
    data = np.column_stack([f, Z.real, Z.imag, np.abs(Z), np.degrees(np.angle(Z))])
    np.savetxt(path, data, delimiter=",", header=",".join(CSV_COLUMNS), comments="",
               fmt="%.12e")


def write_contributions_csv(path: Path, el: Elements) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(CONTRIBUTION_COLUMNS))
        w.writeheader()
        for row in _contribution_rows(el):
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})


def _say(comm, progress: bool):
    def say(msg: str) -> None:
        if progress and comm.rank == 0:
            print(f"[impedance] {msg}", flush=True)
    return say


def impedance_job(config, out, comm: MPI.Comm, *, state=None, temperature: float = 298.15,
                  frequencies=None, method: str = "rom", overwrite: bool = False,
                  progress: bool = True, announce=None, guard=NO_GUARD, provenance=None,
                  field_frequencies=None, proton_fraction=None, compare_1d: bool = True):
    """``fem-cell impedance``: :func:`cell_impedance` in a run folder.

    Args:
        config: validated configuration (``[mesh] dim`` 1 or 2).
        out: run folder (checked before any work; never overwritten without
            ``overwrite``; a user's own files are never touched).
        comm: communicator.
        state: checkpoint file or run folder (its last state); None = pristine (or
            ``proton_fraction``).
        temperature: uniform temperature (K), default 25 °C.
        frequencies: Hz; default 61 points 10 mHz – 1 MHz.
        method: ``"rom"`` or ``"direct"``.
        overwrite, announce, guard: as for :func:`fem_cell.jobs.anneal.anneal_job`.
        provenance: how the configuration was made (stored in run.json).
        field_frequencies: 2-D: frequencies (Hz) of the field maps; default the apex
            frequencies of the bulk and the interface arcs.
        proton_fraction: instead of a state: ``"exposed"``, a number, … (see
            :func:`operating_point`).
        compare_1d: 2-D: also run the 1-D model of the same configuration in-process and
            report the differences (pristine/exposed/uniform operating points).

    Returns:
        The :class:`CellImpedance`.
    """
    from fem_cell.analysis import eis
    from fem_cell.jobs.state import config_fingerprint
    from fem_cell.outputs import eis_plots
    from fem_cell.outputs.rundir import RunFolder

    folder = RunFolder(out, comm, "impedance", overwrite=overwrite, planned=PLANNED_FILES)
    if announce is not None:
        announce()
    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config)}
    folder.open(config.to_dict(), {"dim": config.mesh.dim, "provenance": prov,
                                   "state": None if state is None else str(state),
                                   "temperature_C": float(temperature) - ZERO_CELSIUS,
                                   "method": method})
    say = _say(comm, progress)
    wall0 = time.perf_counter()
    try:
        res, cm, solver = _run(config, comm, state=state, proton_fraction=proton_fraction,
                               temperature=temperature, frequencies=frequencies,
                               method=method, guard=guard, say=say)
        try:
            summary = res.summary()
            f, Z = res.frequencies, res.Z_ohm_cm2
            if comm.rank == 0:
                write_spectrum_csv(folder.file("impedance.csv"), f, Z)
                write_contributions_csv(folder.file("contributions.csv"), res.elements)
                eis.write_spectrum_csv(folder.file("spectrum_impedancepy.csv"), f, Z)
            else:
                for n in ("impedance.csv", "contributions.csv", "spectrum_impedancepy.csv"):
                    folder.file(n)
            if res.dim == 2:
                ff = field_frequencies
                if ff is None:
                    ap = res.apex_frequencies()
                    ff = sorted({ap["bulk"], ap["interface"]})
                say(f"field maps at {', '.join(f'{x:.4g}' for x in ff)} Hz")
                done = write_field_maps(cm, solver, ff, folder.file("fields/impedance.pvd"))
                summary["field_frequencies_Hz"] = done
                folder.add_tree("fields", "impedance*")
        finally:
            solver.destroy()
        guard.check(comm)
        if res.dim == 2 and compare_1d:
            summary["comparison_1d"] = _compare_1d(config, comm, res, state, proton_fraction,
                                                   temperature, f, method, say)
        if comm.rank == 0:
            eis_plots.plot_nyquist(folder.file("nyquist.png"), f, Z, res.fit,
                                   title=_title(config, res), zoom=_zoom(res))
            eis_plots.plot_bode(folder.file("bode.png"), f, Z, res.fit, title=_title(config, res))
        else:
            folder.file("nyquist.png")
            folder.file("bode.png")
        comm.Barrier()
    except BaseException as e:
        _fail(folder, e, time.perf_counter() - wall0)
        raise
    res.wall_time = time.perf_counter() - wall0
    summary["wall_time_s"] = res.wall_time
    folder.add_tree("fields", "impedance*")
    folder.finish("completed", dim=res.dim, dofs=res.dofs,
                  wall_time_s=res.wall_time, factorizations=int(res.sweep.n_factorizations))
    folder.write_summary(summary)
    folder.update()
    say(f"R_interface fit {res.R_interface_fit_ohm_cm2:.4g} Ohm cm2 "
        f"(state {res.R_interface_state_ohm_cm2:.4g}), KK residual {res.kk.residual_max:.2e}, "
        f"{res.wall_time:.1f} s")
    return res


def _zoom(res: CellImpedance):
    """Z' span (Ω cm²) of the interface arcs (Li, LiCoO2|Li3PO4) for the Nyquist inset."""
    if res.fit is None:
        return None
    v = res.fit.value
    start = v("R_series") + v("R_bulk")
    small = v("R_Li") + v("R_interface")
    if small > 0.2 * v("R_bulk"):      # already visible in the main plot
        return None
    return (start - 0.15 * small, start + 1.6 * small)


def _title(config, res: CellImpedance) -> str:
    src = res.source if res.state_file is None else f"state {res.state_file.name}"
    return (f"{getattr(config, 'title', '')}\n{res.dim}-D, {src}, "
            f"{res.temperature - ZERO_CELSIUS:.1f} °C")


def _compare_1d(config, comm, res2: CellImpedance, state, proton_fraction, temperature, f,
                method, say) -> dict:
    """The 1-D model of the same configuration and operating point, in-process."""
    if state is not None:
        return {"available": False,
                "reason": "a 2-D state has no 1-D counterpart without interpolation"}
    say("1-D model of the same configuration for comparison")
    cfg1 = config.with_mesh(dim=1)
    r1 = cell_impedance(cfg1, comm, proton_fraction=proton_fraction, temperature=temperature,
                        frequencies=f, method=method)
    dz = np.abs(res2.Z_ohm_cm2 - r1.Z_ohm_cm2) / np.abs(r1.Z_ohm_cm2)
    return {"available": True,
            "Z_max_relative_difference": float(dz.max()),
            "Z_relative_difference_at_max_Hz": float(f[int(np.argmax(dz))]),
            "R_interface_fit_1d_ohm_cm2": r1.R_interface_fit_ohm_cm2,
            "R_interface_fit_difference_ohm_cm2": (res2.R_interface_fit_ohm_cm2
                                                   - r1.R_interface_fit_ohm_cm2),
            "R_interface_state_1d_ohm_cm2": r1.R_interface_state_ohm_cm2,
            "dofs_1d": r1.dofs}


def _fail(folder, e: BaseException, wall: float) -> None:
    """Rank-0 bookkeeping of a run that stopped early."""
    folder.add_tree("fields", "impedance*")
    if isinstance(e, Interrupted):
        folder.finish("interrupted", reason=e.signal_name, wall_time_s=wall)
    elif isinstance(e, (FemCellError, KeyboardInterrupt)):
        folder.finish("failed", reason=str(e) or type(e).__name__, wall_time_s=wall)
    else:
        folder.finish("failed", reason=f"internal error: {type(e).__name__}: {e}",
                      wall_time_s=wall)
    folder.write_summary({"reason": folder._info.get("reason")})
    folder.update()


__all__ = ["CSV_COLUMNS", "CellImpedance", "CellModel", "DEGRADED_PRISTINE_SHARE", "Elements",
           "ImpedanceJobError", "OperatingPoint", "REFINE_1D", "REFINE_2D", "build_cell_model",
           "cell_impedance", "default_frequencies", "film_domain", "impedance_job", "interpret",
           "inventories", "line_domain", "operating_point", "refined_film_domain",
           "refined_line_domain", "refined_section_domain", "section_column_domain",
           "write_field_maps"]
