"""Reduced-order impedance sweep vs the direct sweep; multi-field linearisation;
electrochemical parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import EC_DEGRADED, assert_rom_matches_direct, ec_model, ec_params

from fem_cell._dolfinx import MPI, fem, ufl
from fem_cell.constants import FARADAY, GAS_CONSTANT
from fem_cell.physics.electrochem import ElectrochemParameters
from fem_cell.solvers.impedance import ImpedanceSolver, log_frequencies, to_ohm_cm2

FREQS = log_frequencies(1e-2, 1e6, 61)


@pytest.fixture(scope="module")
def default_cell():
    m = ec_model(MPI.COMM_WORLD, prefix="test_rom_cell_")
    solver = ImpedanceSolver(m.problem, m.physics, prefix="test_rom_eis_")
    direct = solver.sweep(FREQS, "direct")
    return m, solver, direct


@pytest.mark.mpi
def test_rom_equals_direct(default_cell):
    _, solver, direct = default_cell
    rom = solver.sweep(FREQS)          # rom is the default
    assert rom.method == "rom"
    assert_rom_matches_direct(rom, direct)
    assert rom.n_factorizations < 10 < FREQS.size


def test_direct_residuals_small(default_cell):
    _, _, direct = default_cell
    assert direct.residuals.max() < 1e-9
    assert direct.n_factorizations == FREQS.size


@pytest.mark.mpi
def test_residual_check_catches_too_small_basis(default_cell):
    """One shift × 2 vectors cannot represent 8 decades: the residual must say so."""
    _, solver, direct = default_cell
    tol = 1e-6
    bad = solver.sweep(FREQS, n_shifts=1, n_moments=2, max_shifts=1, fallback=False, tol=tol)
    err = np.abs(bad.impedance / direct.impedance - 1)
    assert bad.fallback.any()
    # where the residual passes, Z is right; the large errors are all flagged
    assert np.all(bad.fallback[err > 1e-4])
    # with the direct fallback the answer is right again
    fixed = solver.sweep(FREQS, n_shifts=1, n_moments=2, max_shifts=1, fallback=True, tol=tol)
    assert np.abs(fixed.impedance / direct.impedance - 1).max() < 1e-6
    assert fixed.n_factorizations == 1 + int(bad.fallback.sum())


def test_enrichment_adds_shifts(default_cell):
    _, solver, direct = default_cell
    r = solver.sweep(FREQS, n_shifts=1, n_moments=6, max_shifts=12, fallback=False)
    assert len(r.shifts) > 1
    assert r.residuals.max() <= 1e-6
    assert np.abs(r.impedance / direct.impedance - 1).max() < 1e-6


def test_bad_arguments(default_cell):
    _, solver, _ = default_cell
    with pytest.raises(ValueError):
        solver.sweep([0.0, 1.0])
    with pytest.raises(ValueError):
        solver.sweep([1.0], method="nope")


def test_dc_limit_is_a_capacitor(default_cell):
    """At low f the intercalation electrode is a capacitor: Im Z ≈ −1/(ωC_int)."""
    m, solver, _ = default_cell
    p = m.physics.params
    f = 1e-4
    Z = solver.solve_direct(f)[0]
    C = FARADAY * p.electrode_site_density * 90e-9 / abs(p.ocv_slope)
    assert abs(Z.imag * 2 * np.pi * f * C + 1) < 1e-2


@pytest.mark.mpi
def test_linearised_forms_two_fields():
    """J = ∂G/∂u of a two-field problem (φ, c) acts like the finite difference of G."""
    m = ec_model(MPI.COMM_WORLD, prefix="test_lin2_")
    prob = m.problem
    assert len(prob.fields) == 2
    J, M = prob.linearised_forms()
    assert len(J) == 2 and all(len(row) == 2 for row in J)
    assert len(M) == 2 and M[0][1] is None and M[1][0] is None
    J4 = prob.linearised_forms(drive=(m.physics.V, m.physics.V_dot))
    assert len(J4) == 4
    # residual G: the problem's form with the time-derivative coefficients zeroed
    for c in prob.coefficients:
        c.value = 0.0
    Gforms = fem.form(ufl.extract_blocks(prob.form))
    Jform = fem.form(J)
    rng = np.random.default_rng(1)
    u0 = [f.u.x.array.copy() for f in prob.fields]
    d = [rng.standard_normal(a.size) * s for a, s in zip(u0, (1e-3, 10.0), strict=True)]

    def G_at(t):
        for f, a, di in zip(prob.fields, u0, d, strict=True):
            f.u.x.array[:] = a + t * di
            f.u.x.scatter_forward()      # ghosts take their owners' values
        b = fem.petsc.assemble_vector(Gforms, kind="mpi")
        b.ghostUpdate(addv=2, mode=1)  # ADD, REVERSE
        out = b.getArray().copy()
        b.destroy()
        return out

    h = 1e-3
    fd = (G_at(h) - G_at(-h)) / (2 * h)
    for f, a in zip(prob.fields, u0, strict=True):
        f.u.x.array[:] = a
    A = fem.petsc.assemble_matrix(Jform)
    A.assemble()
    x = A.createVecRight()
    off = 0
    for f, di in zip(prob.fields, d, strict=True):
        n = f.space.dofmap.index_map.size_local
        x.getArray()[off:off + n] = di[:n]
        off += n
    y = A.createVecLeft()
    A.mult(x, y)
    Jd = y.getArray()
    scale = MPI.COMM_WORLD.allreduce(np.abs(Jd).max(), op=MPI.MAX)
    err = MPI.COMM_WORLD.allreduce(np.abs(Jd - fd).max(), op=MPI.MAX)
    assert err < 1e-5 * scale


def test_charge_transfer_resistance_from_ufl_derivative():
    """The UFL derivative of Butler–Volmer gives R_ct = R T/(F i0): DC of an Li|SE|ground
    cell equals R_Li + L/σ."""
    p = ec_params()
    m = ec_model(MPI.COMM_WORLD, p, [("Li3PO4", 1e-6)], prefix="test_rct_")
    Z = ImpedanceSolver(m.problem, m.physics).solve_direct(1e-6)[0]
    expected = (GAS_CONSTANT * 298.15 / (FARADAY * p.li_exchange_current.value)
                + 1e-6 / p.electrolyte_conductivity.value)
    assert abs(Z.real / expected - 1) < 1e-8


def test_parameters_validation_and_config():
    with pytest.raises(ValueError, match="ocv_slope"):
        ec_params(ocv_slope=0.5)
    with pytest.raises(ValueError, match="electrolyte_conductivity"):
        ec_params(electrolyte_conductivity=-1.0)
    from fem_cell.config import load_config
    from fem_cell.model import electrochem_parameters

    cfg = load_config()
    p = electrochem_parameters(cfg)
    assert p.electrolyte_conductivity.value == pytest.approx(3e-5)       # 3e-7 S/cm
    assert p.electrode_diffusivity.value == pytest.approx(1e-16)         # 1e-12 cm²/s
    assert p.electrolyte_relative_permittivity == pytest.approx(10.0)
    q = electrochem_parameters(cfg, li_double_layer_capacitance=0.2)
    assert q.li_double_layer_capacitance == 0.2
    assert dataclasses.replace(q, li_double_layer_capacitance=0.1) == p
    assert isinstance(p, ElectrochemParameters)


def test_unit_helper():
    assert to_ohm_cm2(1e-4) == pytest.approx(1.0)


def test_refresh_follows_the_state():
    """After the proton field changes, refresh() re-linearises: the degraded layer's
    resistance grows by exp(β x_H)."""
    import math

    p = ec_params(electrolyte_conductivity=1.0, li_exchange_current=1e7,
                  li_double_layer_capacitance=0.0)
    m = ec_model(MPI.COMM_WORLD, p, [("degraded", 10e-9), ("Li3PO4", 1e-6)],
                                proton_fraction=lambda x: 0.0 * x[0], prefix="test_refresh_")
    solver = ImpedanceSolver(m.problem, m.physics, prefix="test_refresh_eis_")
    R0 = solver.solve_direct(1e-3)[0].real
    # the callable became a P1 Function (what the transport model would hand over):
    # change its values in place and re-linearise
    assert isinstance(m.physics.x_H, fem.Function)
    m.physics.x_H.x.array[:] = 0.3
    solver.refresh()
    R1 = solver.solve_direct(1e-3)[0].real
    R_other = GAS_CONSTANT * 298.15 / (FARADAY * 1e7) + 1e-6 / 1.0
    # proton-free layer: its share s of the pristine R_p at 25 °C (σ_d0 = L_d/(s R_p))
    Rd0 = EC_DEGRADED.pristine_share * EC_DEGRADED.pristine_resistance.value
    assert abs((R1 - R_other) / (Rd0 * math.exp(EC_DEGRADED.beta * 0.3)) - 1) < 1e-6
    assert abs((R0 - R_other) / Rd0 - 1) < 1e-6
    solver.destroy()


@pytest.mark.mpi
def test_block_runs_in_the_newton_time_stepper():
    """The same forms drive the transient: a 10 mV step on the Li pad, backward Euler.

    The first steps charge the double layers (φ at the pad → V) and start inserting Li;
    pinned DOFs stay at their values.
    """
    m = ec_model(MPI.COMM_WORLD, prefix="test_newton_ec_")
    prob, phys = m.problem, m.physics
    phys.V.x.array[:] = 0.01
    dt = 1e-3
    for k in range(3):
        prob.set_time_level((k + 1) * dt, dt, 1, None)
        ok, its, _ = prob.solve()
        assert ok and its <= 3
        for f in prob.fields:
            f.u_nm1.x.array[:] = f.u_n.x.array
            f.u_n.x.array[:] = f.u.x.array
    phi, c = (f.u.x.array for f in prob.fields)
    comm = MPI.COMM_WORLD
    assert 0.0 < comm.allreduce(phi.max(), op=MPI.MAX) < 0.01
    c0 = phys.c0
    assert comm.allreduce(c.max(), op=MPI.MAX) > c0          # Li inserted
    assert comm.allreduce(c.min(), op=MPI.MIN) == pytest.approx(c0, abs=1e-9 * c0)


@pytest.mark.mpi
def test_operators_from_csr_and_refactorisation(default_cell):
    """J + σM and [[J, −ωM], [ωM, J]] built from the CSR of J and M act like J and M;
    a refactorisation at a new parameter (values overwritten in the same pattern, the
    symbolic analysis reused) solves the new system, on any number of ranks."""
    from fem_cell.solvers.impedance import _LU

    _, solver, _ = default_cell
    s = solver.system
    rng = np.random.default_rng(3 + MPI.COMM_WORLD.rank)
    x = rng.standard_normal(s.n_local)
    free = ~s.bc_mask
    for sigma in (2.0, 7.0e3):
        K = s.shifted_operator(sigma)
        X, Y = K.createVecs()
        X.getArray()[:] = x
        K.mult(X, Y)
        Kx = Y.getArray(readonly=True).copy()
        for obj in (K, X, Y):
            obj.destroy()
        ref = s._apply(s.J, x) + sigma * s._apply(s.M, x)
        assert np.allclose(Kx[free], ref[free], rtol=1e-12, atol=1e-12 * np.abs(ref).max())
        assert np.array_equal(Kx[~free], x[~free])          # unit rows
    b = rng.standard_normal(s.n_local)
    b[~free] = 0.0
    lu = _LU(s, "real")
    try:
        for sigma in (10.0, 1.0e5):                          # second: numeric only
            lu.factor(sigma)
            xs = lu.solve_many(np.column_stack([b, 2 * b]))
            r = s._apply(s.J, xs[:, 0]) + sigma * s._apply(s.M, xs[:, 0]) - b
            assert s._norm(r[free]) < 1e-9 * s._norm(b)
            assert np.allclose(xs[:, 1], 2 * xs[:, 0], rtol=1e-12, atol=1e-300)
        assert lu.n_factorizations == 2
    finally:
        lu.destroy()
    lu = _LU(s, "block")
    try:
        for f in (1.0, 1.0e4):
            w = 2 * np.pi * f
            lu.factor(w)
            xc = lu.solve(s.rhs(w))
            assert s.residual(xc, w) < 1e-9
    finally:
        lu.destroy()


@pytest.mark.mpi
def test_block_orthonormalisation_deflates(default_cell):
    """add_block keeps the basis orthonormal and drops directions already spanned."""
    from fem_cell.solvers.impedance import _Basis

    _, solver, _ = default_cell
    s = solver.system
    rng = np.random.default_rng(5 + MPI.COMM_WORLD.rank)
    basis = _Basis(s)
    A = rng.standard_normal((s.n_local, 3))
    assert basis.add_block(A) == 3
    # two new directions, one combination of the first block, one duplicate column
    B = np.column_stack([rng.standard_normal(s.n_local), A @ [1.0, -2.0, 0.5],
                         rng.standard_normal(s.n_local)])
    B = np.column_stack([B, B[:, 0]])
    assert basis.add_block(B) == 2
    G = s._dot(basis.Q, basis.Q)
    assert basis.k == 5
    assert np.abs(G - np.eye(5)).max() < 1e-13


@pytest.mark.mpi
@pytest.mark.parametrize("state, temperature", [(None, 298.15), ("exposed", 423.15)])
def test_rom_equals_direct_2d_default_cell(state, temperature):
    """The impedance job's 2-D model of the default cell (1 mm Li pad on the films, coarse
    lateral mesh): the reduced-order sweep equals the direct sweep to 1e-6 with at most 6
    factorisations and no direct fallback — pristine at 25 °C, and exposed at 150 °C where
    the top decade needs the enrichment."""
    from fem_cell.config import load_config
    from fem_cell.model import CellModel

    comm = MPI.COMM_WORLD
    cfg = load_config(None).with_mesh(dim=2, lateral_cells=8, lateral_growth=1.5)
    cell = CellModel(cfg, comm)
    op = cell.operating_point(proton_fraction=state)
    tag = "p" if state is None else "e"
    cm = cell.small_signal(op, temperature, prefix=f"rom2d_{tag}_")
    solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"rom2d_eis_{tag}_")
    try:
        assert solver.n_dofs() > 2000
        direct = solver.sweep(FREQS, "direct")
        rom = solver.sweep(FREQS)
        assert direct.residuals.max() < 1e-9
        assert_rom_matches_direct(rom, direct)
        assert rom.n_factorizations <= 6
    finally:
        solver.destroy()
        cell.destroy()
