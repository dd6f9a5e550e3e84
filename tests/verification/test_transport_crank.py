"""Proton out-diffusion from a slab into a perfect sink vs Crank's plane-sheet series.

Slab 0 < z < L sealed at z = 0 (current collector), perfect sink x = 0 at z = L, uniform
initial fraction x0.  With D_H = D_Li the ion-exchange interdiffusion coefficient is
D̃ = D_H exactly and the potential is flat, so the coupled (x, Φ) solve must reproduce

    M_t/M_∞ = 1 − Σ 8/((2n+1)²π²) exp(−D (2n+1)² π² t / (4 L²))   (Crank 1975, eq. 4.18)

(science.md §5).  Released fraction 1 − M_h(t)/M_∞ (M_∞ = c x0 L exact), within 1e-3
at every output time; the sink's consistent reaction flux closes the discrete balance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_cell._dolfinx import fem
from fem_cell.config import SolverSettings
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings
from fem_cell.model import build_transport_problem
from fem_cell.params import EV, Arrhenius
from fem_cell.physics.parameters import PhaseTransport, Sink
from fem_cell.physics.transport import Phase, TransportPhysics
from fem_cell.solvers.time_stepping import TimeStepper

L, D, C, X0 = 100e-9, 1e-18, 5.16e4, 0.05


def crank_released(tau: float, terms: int = 400) -> float:
    n = np.arange(terms)
    k = (2 * n + 1) ** 2 * math.pi**2
    return float(1.0 - np.sum(8.0 / k * np.exp(-k * tau / 4.0)))


def slab(comm, n):
    geo = StackGeometry((LayerSpec("slab", "LiCoO2", L),), width=1.0)
    return build_line_mesh(geo, MeshSettings(dim=1, cells_per_layer=n, max_cell_size=1.0,
                                             length_scale=1e-6), comm)


@pytest.mark.mpi
def test_crank_plane_sheet_desorption(comm):
    d = slab(comm, 400)
    T = fem.Function(fem.functionspace(d.mesh, ("Lagrange", 1)))
    T.x.array[:] = 400.0  # any T: the Arrhenius factors are then checked too
    Ea = 0.5
    props = PhaseTransport("li_chemical_diffusivity", Arrhenius(D, Ea * EV), C,
                           Arrhenius(D, Ea * EV), None)
    blk = TransportPhysics(d, T, [Phase("slab", ("slab",), props)],
                           sink=Sink("sink", Arrhenius(1e-9, 0.0)), sink_boundary="top")
    D_T = props.proton_diffusivity(400.0)
    blk.set_profile("slab", lambda X: np.full(X.shape[1], X0))
    M0 = blk.inventory()
    M_inf = C * X0 * L  # exact initial inventory (the P1 state lacks half a cell at the sink)
    assert M0 == pytest.approx(M_inf * (1 - 0.5 / 400), rel=1e-12)
    prob = build_transport_problem(blk, SolverSettings(fraction_tolerance=1e-6,
                                                       fraction_relative_tolerance=0.0))
    taus = [0.002, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]
    times = [tau * L**2 / D_T for tau in taus]
    got, balance = {}, []

    def on_step(info):
        balance.append(abs(blk.mass_balance_residual()))
        for tau, t in zip(taus, times, strict=True):
            if abs(info.t - t) <= 1e-9 * t:
                got[tau] = 1.0 - blk.inventory() / M_inf

    stepper = TimeStepper(prob, t_end=times[-1], dt_initial=1e-7 * times[-1],
                          dt_max=times[-1] / 20, dt_min=1e-14 * times[-1], milestones=times)
    stepper.run(on_step)
    assert set(got) == set(taus)
    errs = {tau: abs(got[tau] - crank_released(tau)) for tau in taus}
    assert max(errs.values()) < 1e-3, errs
    assert max(balance) < 1e-8
    assert blk.check_fractions()["ok"]
