"""Method of manufactured solutions for ρc ∂T/∂t = ∇·(k∇T) + q (heat physics + stepper).

Spatial order (P1, L2 norm, expected 2):
  * 1-D smooth solution, Dirichlet data from the exact solution (f(x, t) callable);
  * 1-D two layers of different k (flux-continuous piecewise exact solution) with a
    nonlinear convection + radiation boundary (Newton path);
  * 2-D smooth solution on the unit square, mesh in µm (length_scale 1e-6);
  * 2-D two regions of different k with radiation + given-flux (HeatFluxBC) boundary,
    mesh in cm (length_scale 1e-2).
The steady problems are solved with one ``set_time_level`` of a huge step (the mass term
then vanishes to round-off) and the exact solution is time-independent.

Temporal order (exact solution linear in space, so the P1 spatial error is exactly
zero and only the time discretisation is measured):
  * fixed steps (``adaptive=False``), dt halving: backward Euler → 1, BDF2 → 2;
  * adaptive BDF2: the final error decreases with the requested tolerance.

Every error is an MPI-reduced assembled integral against a UFL expression of the exact
solution in SI coordinates (``domain.x_si()``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.constants import STEFAN_BOLTZMANN
from fem_cell.domain import Domain
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings
from fem_cell.physics.heat import HeatFluxBC, HeatPhysics, SurfaceLossBC, TemperatureBC
from fem_cell.solvers.problem import Field, TransientProblem
from fem_cell.solvers.time_stepping import TimeStepper

_prefix_counter = itertools.count()
ORDER_TOL = 0.1  # |fitted spatial order − 2|


# ---------------------------------------------------------------------------- helpers --
def _prefix(tag: str) -> str:
    return f"verif_mms_{tag}_{next(_prefix_counter)}_"


def line_domain(layers: list[tuple[str, float]], n: int, ell: float, comm) -> Domain:
    """1-D stack of (name, thickness in m) layers, ``n`` cells per layer, via the mesher.

    ``max_cell_size`` is not limiting, so a single layer (or equal layers) is uniform.
    """
    geo = StackGeometry(tuple(LayerSpec(name, "m", th) for name, th in layers), width=1.0)
    settings = MeshSettings(dim=1, cells_per_layer=n, max_cell_size=1.0, length_scale=ell)
    return build_line_mesh(geo, settings, comm)


def square_domain(comm, n: int, ell: float, split: float | None = None) -> Domain:
    """Unit square (mesh units) as a Domain; boundary groups ``top`` (y = 1) and
    ``sides`` (the rest); two regions ``lower``/``upper`` split at y = ``split``."""
    msh = dolfinx.mesh.create_unit_square(comm, n, n)
    tdim = msh.topology.dim
    imap = msh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    values = np.ones(len(cells), dtype=np.int32)
    if split is not None:
        mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
        values[mid[:, 1] > split] = 2
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, cells, values)
    msh.topology.create_connectivity(tdim - 1, tdim)
    bfacets = np.sort(dolfinx.mesh.exterior_facet_indices(msh.topology)).astype(np.int32)
    fmid = dolfinx.mesh.compute_midpoints(msh, tdim - 1, bfacets)
    fvalues = np.where(np.isclose(fmid[:, 1], 1.0), 2, 1).astype(np.int32)
    facet_tags = dolfinx.mesh.meshtags(msh, tdim - 1, bfacets, fvalues)
    cell_names = {"slab": 1} if split is None else {"lower": 1, "upper": 2}
    return Domain(msh, cell_tags, facet_tags, cell_names, {"sides": 1, "top": 2},
                  length_scale=ell)


def mesh_size(domain: Domain) -> float:
    """Largest cell diameter (m), all ranks."""
    msh = domain.mesh
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    local = float(msh.h(tdim, np.arange(n, dtype=np.int32)).max()) if n else 0.0
    return domain.comm.allreduce(local, op=MPI.MAX) * domain.length_scale


def l2_error(domain: Domain, T: fem.Function, exact) -> float:
    """‖T − exact‖_L2 in SI (K m^(d/2)), exact a UFL expression; MPI-reduced."""
    dx = ufl.Measure("dx", domain=domain.mesh, metadata={"quadrature_degree": 8})
    form = fem.form((T - exact) ** 2 * domain.length_scale**domain.dim * dx)
    local = fem.assemble_scalar(form)
    return math.sqrt(domain.comm.allreduce(local, op=MPI.SUM))


def l2_norm(domain: Domain, expr) -> float:
    dx = ufl.Measure("dx", domain=domain.mesh, metadata={"quadrature_degree": 8})
    local = fem.assemble_scalar(fem.form(expr**2 * domain.length_scale**domain.dim * dx))
    return math.sqrt(domain.comm.allreduce(local, op=MPI.SUM))


def fitted_order(h, err) -> float:
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def make_problem(domain, k, rho_cp, bcs, source, T_init, time=None, atol=1e-3, rtol=1e-6,
                 tag="p"):
    heat = HeatPhysics(domain, k, rho_cp, bcs, source=source)
    V = fem.functionspace(domain.mesh, ("Lagrange", 1))
    T = fem.Function(V, name="T")
    if callable(T_init):
        T.interpolate(T_init)
    else:
        T.x.array[:] = T_init
    t = time if time is not None else fem.Constant(domain.mesh, 0.0)
    problem = TransientProblem([Field("T", T, atol=atol, rtol=rtol)], [heat], time=t,
                               prefix=_prefix(tag))
    return problem, T


def solve_steady(domain, k, bcs, source, T_init=300.0, tag="steady"):
    """Steady solve: one implicit step of a huge dt (mass term ~1e-30)."""
    rho_cp = {name: 1.0e6 for name in domain.cell_names}
    problem, T = make_problem(domain, k, rho_cp, bcs, source, T_init, tag=tag)
    problem.set_time_level(0.0, 1e30, 1, None)
    its = problem.solve_or_raise()
    T.x.scatter_forward()
    return T, its


# ---------------------------------------------------------------- spatial order, 1-D --
@pytest.mark.mpi
def test_mms_1d_smooth_dirichlet(comm):
    """T = 300 + 50 sin(πz/L) + 30 z/L on a 200 µm layer, mesh in µm."""
    L, k, ell = 200e-6, 2.0, 1e-6

    def exact_np(x, t):
        return 300.0 + 50.0 * np.sin(np.pi * x[0] / L) + 30.0 * x[0] / L

    hs, errs = [], []
    for n in (8, 16, 32, 64):
        d = line_domain([("slab", L)], n, ell, comm)
        z = d.x_si()[0]
        exact = 300.0 + 50.0 * ufl.sin(np.pi * z / L) + 30.0 * z / L
        q = k * 50.0 * (np.pi / L) ** 2 * ufl.sin(np.pi * z / L)
        T, _ = solve_steady(d, {"slab": k}, [TemperatureBC(("bottom", "top"), exact_np)], q)
        hs.append(mesh_size(d))
        errs.append(l2_error(d, T, exact))
    assert hs[0] == pytest.approx(L / 8, rel=1e-12)
    rate = fitted_order(hs, errs)
    assert abs(rate - 2.0) < ORDER_TOL, (rate, errs)
    # absolute size: P1 L2 error is below the interpolation bound h²/π² ‖T''‖ (≈ 50 (π/L)² √(L/2))
    assert errs[-1] < (hs[-1] / np.pi) ** 2 * 50.0 * (np.pi / L) ** 2 * math.sqrt(L / 2)


def _two_layer_radiation_exact(L1, L2, k1, k2, h, eps, T_amb, T_top, B2):
    """Piecewise exact solution: layer 1 (0 < z < a = L1), layer 2 (a < z < L1 + L2).

    Top (z = L): −k2 T'(L) = h (T − T_amb) + ε σ (T⁴ − T_amb⁴) at T(L) = T_top.
    Layer 2: T2 = T_top + C (z − L) + B2 (z − L)², C fixed by the radiation balance.
    Layer 1: T1 = T_a + s1 (z − a) + A (1 − cos(π (z − a)/L1)) with k1 s1 = k2 T2'(a).
    Returns the constants of both pieces (A is free: its term has zero slope at z = a).
    """
    a, Ltot = L1, L1 + L2
    flux_out = h * (T_top - T_amb) + eps * STEFAN_BOLTZMANN * (T_top**4 - T_amb**4)
    C = -flux_out / k2
    g2 = C - 2.0 * B2 * L2  # T2'(a)
    T_a = T_top - C * L2 + B2 * L2**2
    s1 = k2 * g2 / k1
    return dict(a=a, L=Ltot, C=C, T_a=T_a, s1=s1, flux_out=flux_out)


@pytest.mark.mpi
def test_mms_1d_interface_and_radiation(comm):
    """Two layers (k 0.5 | 5 W/(m K), 40 | 60 µm, graded mesh), flux-continuous exact
    solution, convection + radiation (ε = 0.8) on top: order 2, Newton ≥ 2 iterations."""
    L1, L2, k1, k2 = 40e-6, 60e-6, 0.5, 5.0
    h, eps, T_amb, T_top, B2, A = 10.0, 0.8, 300.0, 800.0, 5.0e9, 30.0
    ex = _two_layer_radiation_exact(L1, L2, k1, k2, h, eps, T_amb, T_top, B2)
    a, Ltot, C, T_a, s1 = ex["a"], ex["L"], ex["C"], ex["T_a"], ex["s1"]
    # the radiation term carries a sizeable part of the top flux (not a token term)
    assert eps * STEFAN_BOLTZMANN * (T_top**4 - T_amb**4) > 0.5 * ex["flux_out"]

    def T1_np(z):
        return T_a + s1 * (z - a) + A * (1.0 - np.cos(np.pi * (z - a) / L1))

    hs, errs, iters = [], [], []
    for n in (8, 16, 32, 64):
        d = line_domain([("lower", L1), ("upper", L2)], n, 1e-6, comm)
        z = d.x_si()[0]
        T1 = T_a + s1 * (z - a) + A * (1.0 - ufl.cos(np.pi * (z - a) / L1))
        T2 = T_top + C * (z - Ltot) + B2 * (z - Ltot) ** 2
        exact = ufl.conditional(ufl.lt(z, a), T1, T2)
        q1 = -k1 * A * (np.pi / L1) ** 2 * ufl.cos(np.pi * (z - a) / L1)
        q2 = -k2 * 2.0 * B2
        q = ufl.conditional(ufl.lt(z, a), q1, q2)
        bcs = [TemperatureBC(("bottom",), lambda x, t: T1_np(x[0])),
               SurfaceLossBC(("top",), h, eps, T_amb)]
        T, its = solve_steady(d, {"lower": k1, "upper": k2}, bcs, q, T_init=T_amb)
        hs.append(mesh_size(d))
        errs.append(l2_error(d, T, exact))
        iters.append(its)
    rate = fitted_order(hs, errs)
    assert abs(rate - 2.0) < ORDER_TOL, (rate, errs)
    assert min(iters) >= 2  # nonlinear boundary: Newton really iterated


# ---------------------------------------------------------------- spatial order, 2-D --
@pytest.mark.mpi
def test_mms_2d_smooth_dirichlet_micrometre_mesh(comm):
    """T = 300 + 50 sin(πx/W) cos(πy/2W) + 20 xy/W² on a 1 µm square (mesh in µm)."""
    ell, k = 1e-6, 3.0
    W = 1.0 * ell

    def exact_np(x, t):
        return (300.0 + 50.0 * np.sin(np.pi * x[0] / W) * np.cos(np.pi * x[1] / (2 * W))
                + 20.0 * x[0] * x[1] / W**2)

    hs, errs = [], []
    for n in (8, 16, 32, 64):
        d = square_domain(comm, n, ell)
        x = d.x_si()
        s = ufl.sin(np.pi * x[0] / W) * ufl.cos(np.pi * x[1] / (2 * W))
        exact = 300.0 + 50.0 * s + 20.0 * x[0] * x[1] / W**2
        q = k * 50.0 * (np.pi / W) ** 2 * 1.25 * s
        T, _ = solve_steady(d, {"slab": k}, [TemperatureBC(("sides", "top"), exact_np)], q)
        hs.append(mesh_size(d))
        errs.append(l2_error(d, T, exact))
    assert hs[0] == pytest.approx(math.sqrt(2) * W / 8, rel=1e-12)
    rate = fitted_order(hs, errs)
    assert abs(rate - 2.0) < ORDER_TOL, (rate, errs)


@pytest.mark.mpi
def test_mms_2d_interface_radiation_flux(comm):
    """Two regions (k 0.2 below y = W/2, 1.0 above) on a 1 cm square (mesh in cm).

    η = (y − W/2)/W,  T = 400 + 30 [η/k_i + c_i η² + sin(πx/W) η/k_i]  (k_ref = 1 W/(m K)):
    continuous, with k ∂T/∂y continuous at η = 0.  Dirichlet on the sides and bottom;
    on top convection + radiation (ε = 0.9) plus a HeatFluxBC
    g = k ∂T/∂y + h (T − T_amb) + εσ (T⁴ − T_amb⁴) written as a UFL expression.
    """
    ell = 1e-2
    W = ell
    k1, k2, c1, c2 = 0.2, 1.0, 0.5, -0.3
    h, eps, T_amb, amp = 10.0, 0.9, 300.0, 30.0

    def exact_np(x, t):
        eta = (x[1] - 0.5 * W) / W
        kk = np.where(eta < 0, k1, k2)
        cc = np.where(eta < 0, c1, c2)
        return 400.0 + amp * (eta / kk + cc * eta**2 + np.sin(np.pi * x[0] / W) * eta / kk)

    hs, errs, iters, frac_rad = [], [], [], []
    for n in (8, 16, 32, 64):
        d = square_domain(comm, n, ell, split=0.5)
        x = d.x_si()
        eta = (x[1] - 0.5 * W) / W
        s = ufl.sin(np.pi * x[0] / W)

        def piece(ki, ci, eta=eta, s=s):
            T = 400.0 + amp * (eta / ki + ci * eta**2 + s * eta / ki)
            dTdy = amp * (1.0 / ki + 2.0 * ci * eta + s / ki) / W
            lap = amp * (2.0 * ci / W**2 - (np.pi / W) ** 2 * s * eta / ki)
            return T, dTdy, -ki * lap

        T1, _, q1 = piece(k1, c1)
        T2, dT2, q2 = piece(k2, c2)
        below = ufl.lt(eta, 0.0)
        exact = ufl.conditional(below, T1, T2)
        q = ufl.conditional(below, q1, q2)
        rad = eps * STEFAN_BOLTZMANN * (T2**4 - T_amb**4)
        g = k2 * dT2 + h * (T2 - T_amb) + rad
        bcs = [TemperatureBC(("sides",), exact_np), SurfaceLossBC(("top",), h, eps, T_amb),
               HeatFluxBC(("top",), g)]
        T, its = solve_steady(d, {"lower": k1, "upper": k2}, bcs, q, T_init=400.0)
        hs.append(mesh_size(d))
        errs.append(l2_error(d, T, exact))
        iters.append(its)
        if n == 8:  # radiation is a sizeable share of the top balance
            top = d.ds("top")
            frac_rad.append(d.integrate(rad, top) / d.integrate(abs(k2 * dT2), top))
    rate = fitted_order(hs, errs)
    assert abs(rate - 2.0) < ORDER_TOL, (rate, errs)
    assert min(iters) >= 2
    assert frac_rad[0] > 0.2


# ------------------------------------------------------------------- temporal order --
# T = T_ref + 20 z/L + 10 sin(ωt) (1 + z/L) on a SrTiO3 slab (L = 0.5 mm, mesh in µm):
# linear in z → ∇·(k∇T) = 0 and the P1 semi-discrete solution is exact; q = ρc ∂T/∂t.
SLAB_L, SLAB_K, SLAB_RHO_CP = 0.5e-3, 11.5, 5120.0 * 540.0
OMEGA, T_END = 10.0, 0.1  # rad/s, s (ωT = 1 rad: T″, T‴ ≠ 0 at T_END; L²/α ≈ 0.06 s)


def _time_exact_np(x, t):
    z = x[0] / SLAB_L
    return 300.0 + 20.0 * z + 10.0 * math.sin(OMEGA * t) * (1.0 + z)


def _run_time_mms(comm, scheme: str, *, n_steps: int | None = None, atol: float | None = None):
    """Run to T_END; returns (relative L2 error, max nodal error in K, stepper stats)."""
    d = line_domain([("slab", SLAB_L)], 16, 1e-6, comm)
    z = d.x_si()[0] / SLAB_L
    t = fem.Constant(d.mesh, 0.0)
    q = SLAB_RHO_CP * 10.0 * OMEGA * ufl.cos(OMEGA * t) * (1.0 + z)
    bcs = [TemperatureBC(("bottom", "top"), _time_exact_np)]
    tol = atol if atol is not None else 1e-3
    problem, T = make_problem(d, {"slab": SLAB_K}, {"slab": SLAB_RHO_CP}, bcs, q,
                              lambda x: _time_exact_np(x * d.length_scale, 0.0), time=t,
                              atol=tol, rtol=0.0, tag="time")
    if n_steps is not None:
        dt = T_END / n_steps
        stepper = TimeStepper(problem, t_end=T_END, scheme=scheme, dt_initial=dt, dt_max=dt,
                              dt_min=dt * 1e-3, adaptive=False)
    else:
        stepper = TimeStepper(problem, t_end=T_END, scheme=scheme, dt_initial=1e-5,
                              dt_max=T_END, dt_min=1e-12, adaptive=True)
    stats = stepper.run()
    exact = 300.0 + 20.0 * z + 10.0 * math.sin(OMEGA * T_END) * (1.0 + z)
    err = l2_error(d, T, exact) / l2_norm(d, 10.0 * (1.0 + z))
    n_owned = T.function_space.dofmap.index_map.size_local
    xs = T.function_space.tabulate_dof_coordinates()[:n_owned].T * d.length_scale
    local = float(np.abs(T.x.array[:n_owned] - _time_exact_np(xs, T_END)).max(initial=0.0))
    return err, d.comm.allreduce(local, op=MPI.MAX), stats


@pytest.mark.parametrize(("scheme", "expected", "steps"), [
    ("backward_euler", 1.0, (20, 40, 80, 160)),
    ("bdf2", 2.0, (20, 40, 80, 160)),  # BDF2 starts with backward-Euler steps
])
def test_temporal_order_fixed_steps(comm, scheme, expected, steps):
    errs = []
    for n in steps:
        err, _, stats = _run_time_mms(comm, scheme, n_steps=n)
        assert stats.accepted == n
        errs.append(err)
    rate = -fitted_order(steps, errs)  # error ∝ dt^p = (T/n)^p
    assert abs(rate - expected) < 0.1 * expected, (rate, errs)


def test_adaptive_bdf2_error_follows_tolerance(comm):
    """Tighter temperature_tolerance (Field atol, rtol = 0) → more steps, smaller error.

    The controller bounds the *local* error per step by atol, so the final error is at
    most (number of steps) × atol for this dissipative problem, and for a p = 2 method
    with per-step control it scales as atol^(p/(p+1)) = atol^(2/3).
    """
    tols = (1e-3, 1e-4, 1e-5, 1e-6)
    errs, steps = [], []
    for tol in tols:
        _, err, stats = _run_time_mms(comm, "bdf2", atol=tol)
        errs.append(err)
        steps.append(stats.accepted)
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:], strict=False)), errs
    assert all(s2 > s1 for s1, s2 in zip(steps, steps[1:], strict=False)), steps
    for tol, e, n in zip(tols, errs, steps, strict=False):
        assert e <= n * tol, (tol, e, n)
    slope = fitted_order(tols, errs)
    assert abs(slope - 2.0 / 3.0) < 0.1, (slope, errs)
