"""The impedance ROM with iterative shifted solves (``linear_solver = "iterative"``):
the same spectrum as the direct sweep, checked as the MUMPS ROM is (tests/unit/
test_impedance_rom.py), in 1-D and on a coarse 2-D cross-section; each shifted solve
equals MUMPS's."""

from __future__ import annotations

import pytest
from helpers import assert_rom_matches_direct, ec_model

from fem_cell._dolfinx import MPI
from fem_cell.solvers.impedance import ImpedanceSolver, initial_shifts, log_frequencies
from fem_cell.solvers.rom import _LU, ROM_KRYLOV_RTOL, _Krylov

FREQS = log_frequencies(1e-2, 1e6, 61)


@pytest.fixture(scope="module")
def cell_1d():
    m = ec_model(MPI.COMM_WORLD, prefix="test_romit_cell_")
    direct = ImpedanceSolver(m.problem, m.physics, prefix="test_romit_d_")
    iterative = ImpedanceSolver(m.problem, m.physics, prefix="test_romit_i_",
                                linear_solver="iterative")
    yield m, direct, iterative
    direct.destroy()
    iterative.destroy()
    m.destroy()


@pytest.mark.mpi
def test_iterative_rom_equals_direct(cell_1d):
    _, direct, iterative = cell_1d
    ref = direct.sweep(FREQS, "direct")
    rom = iterative.sweep(FREQS)
    assert rom.method == "rom" and rom.linear_solver == "iterative"
    assert_rom_matches_direct(rom, ref)
    assert rom.n_factorizations == 0            # no LU: no fallback was needed
    assert 0 < rom.krylov_max <= rom.krylov_iterations
    # the MUMPS ROM's shifts: the same sequence of shifts (no extra enrichment)
    lu_rom = direct.sweep(FREQS)
    assert lu_rom.linear_solver == "direct" and lu_rom.krylov_iterations == 0
    assert rom.shifts == pytest.approx(lu_rom.shifts, rel=1e-12)


@pytest.mark.mpi
def test_each_shifted_solve_equals_the_lu_solve(cell_1d):
    """K x = b0 at every initial shift: Krylov and MUMPS agree to the Krylov tolerance
    times the conditioning seen here (relative 1e-7; measured 3e-11 to 1.2e-9 on 1 and
    2 ranks)."""
    _, direct, _ = cell_1d
    s = direct.system
    lu, kr = _LU(s, "real"), _Krylov(s)
    try:
        for sigma in initial_shifts(FREQS, 4):
            lu.factor(sigma)
            kr.factor(sigma)
            x_lu = lu.solve(s.b0)
            x_kr = kr.solve(s.b0)
            err = s._norm((x_kr - x_lu) * s.scale ** -1) / s._norm(x_lu * s.scale ** -1)
            assert err < 1e-7, (sigma, err)
            # the true residual meets the Krylov tolerance
            K = s.shifted_operator(sigma)
            X, R = K.createVecs()
            X.getArray()[:] = x_kr
            K.mult(X, R)
            r = R.getArray(readonly=True) - s.b0
            for obj in (K, X, R):
                obj.destroy()
            assert s._norm(r) <= 10 * ROM_KRYLOV_RTOL * s._norm(s.b0)
        assert kr.n_factorizations == 4 and kr.iterations > 0
    finally:
        lu.destroy()
        kr.destroy()


def test_bad_linear_solver(cell_1d):
    m, _, _ = cell_1d
    with pytest.raises(ValueError, match="linear_solver must be one of"):
        ImpedanceSolver(m.problem, m.physics, prefix="test_romit_bad_", linear_solver="gmres")


def test_iterative_rom_equals_direct_2d():
    """A coarse 2-D cross-section of the default cell (23,640 unknowns: stretched film
    cells and the graded LiCoO2 interface, where the field split's AMG runs on the
    vertex-rule operator): the same check as the MUMPS ROM's 2-D test."""
    from fem_cell.config import load_config
    from fem_cell.model import CellModel

    comm = MPI.COMM_WORLD
    cfg = load_config(overrides={"mesh": {
        "dim": 2, "growth": 1.5, "max_cell_size": "50 um", "lateral_growth": 1.2,
        "cells_per_layer": 3, "lateral_cells": 30}})
    cell = CellModel(cfg, comm)
    op = cell.operating_point(proton_fraction=None)
    cm = cell.small_signal(op, 298.15, prefix="romit2d_", refine_electrode=(1e-10, 1.5))
    freqs = log_frequencies(1e-2, 1e6, 31)
    solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix="romit2d_eis_",
                             linear_solver="iterative")
    try:
        assert solver.n_dofs() > 20000
        ref = solver.sweep(freqs, "direct")
        rom = solver.sweep(freqs)
        assert ref.residuals.max() < 1e-9
        assert_rom_matches_direct(rom, ref)
        assert rom.n_factorizations == 0 and rom.krylov_iterations > 0
    finally:
        solver.destroy()
        cell.destroy()
