"""The small-signal model of the cell at a state: operating point, meshes, elements.

Builds what :mod:`fem_cell.jobs.impedance` sweeps and interprets (see that module's
docstring for the interface model):

* :func:`operating_point`: the film sub-mesh of the configuration and its proton field
  (pristine, exposed, a number/profile, or a checkpoint's / run folder's state);
* :func:`refined_film_domain` and friends: the same film mesh with extra node lines
  inside the LiCoO2 bulk (Li diffusion), keeping every node of the state's mesh so the
  proton field is used node for node;
* :func:`build_cell_model`: the electrochemistry block on it, with the degraded-layer
  law of :mod:`fem_cell.physics.degraded` (so the fitted arc equals the state's
  R_interface) and the model's own element values (:class:`Elements`);
* :func:`interpret`: the equivalent-circuit fit and Lin-KK check of a spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem, ufl
from fem_cell.constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY
from fem_cell.domain import Domain
from fem_cell.errors import FemCellError

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
        chem.destroy()  # only its proton fields are needed (they stay usable)
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
    from fem_cell.meshing.line import mesh_from_root, tag_line_vertices
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
    msh, ctags = mesh_from_root(comm, "interval", pts, cells, tags_at)
    tol = 0.25 * float(np.min(np.diff(znew))) / ell
    ftags = tag_line_vertices(msh, {n: zz / ell for n, zz in levels.items()}, tol,
                              film.facet_names)
    ctags.name, ftags.name = film.cell_tags.name, film.facet_tags.name
    dom = Domain(msh, ctags, ftags, dict(names),
                 {n: film.facet_names[n] for n in levels}, ell)
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
    from fem_cell._dolfinx import dolfinx
    from fem_cell.meshing.line import mesh_from_root
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
    msh, ctags = mesh_from_root(comm, "quadrilateral", pts, cells, ctag_all)
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
    share = float(getattr(config, "electrochemistry", {}).get("degraded_pristine_share",
                                                             DEGRADED_PRISTINE_SHARE))
    R_dp = share * R_p
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
