"""Impedance measured in the time domain: a small sine on the Li pad, stepped through the
transient (nonlinear) problem built from the same forms, Fourier-analysed.

This is the cross-check of the small-signal solver (and a demonstration of why it
exists): drive V(t) = V0 sin(ωt) (V̇ set exactly), integrate with variable-order BDF
(backward Euler for the first step, BDF2 after) at ``steps_per_period`` fixed steps, and
fit the terminal current over the last ``fit_periods`` periods by least squares with
``a sin ωt + b cos ωt + c0 + c1 t + c2 t²`` — the polynomial absorbs the slow
relaxation of the Li diffusion (τ = L²/D̃ ≈ 80 s) that a plain DFT would leak into the
harmonic.  Then Z = V/I with the phasors V = −i V0, I = b − i a.
"""

from __future__ import annotations

import math
import time

import numpy as np

from fem_cell._dolfinx import fem
from fem_cell.domain import sum_over_ranks
from fem_cell.forms import compile_form


def time_domain_impedance(model, frequency: float, *, amplitude: float = 1e-3,
                          periods: int = 8, fit_periods: int = 4,
                          steps_per_period: int = 200) -> tuple[complex, dict]:
    """Z (Ω m² in 1-D) at one frequency from a transient simulation (collective).

    Args:
        model: an :class:`~fem_cell.physics.electrochem.ElectrochemModel` at its operating
            point (fields at equilibrium, V = 0); its state is restored afterwards.
        frequency: f (Hz).
        amplitude: V0 (V); small, the Butler–Volmer terms are nonlinear.
        periods: simulated periods; the first ``periods − fit_periods`` let the fast
            transients die out.
        fit_periods: periods used in the fit.
        steps_per_period: fixed time steps per period (BDF2's error ∝ (ω Δt)²).

    Returns:
        (Z, info) with info: steps, Newton iterations, wall time (s).
    """
    prob, phys = model.problem, model.physics
    comm = prob.comm
    saved = prob.get_state()
    omega = 2.0 * math.pi * frequency
    dt = 1.0 / (frequency * steps_per_period)
    n = periods * steps_per_period
    c0, c1, c2 = prob.coefficients
    u = {f.name: f.u for f in prob.fields}
    udot = {f.name: c0 * f.u + c1 * f.u_n + c2 * f.u_nm1 for f in prob.fields}
    current = compile_form(phys.terminal_current(u, udot))
    for f in prob.fields:
        f.u_n.x.array[:] = f.u.x.array
        f.u_nm1.x.array[:] = f.u.x.array
    times, currents = [], []
    its_total = 0
    wall0 = time.perf_counter()
    try:
        for k in range(n):
            t = (k + 1) * dt
            phys.V.x.array[:] = amplitude * math.sin(omega * t)
            phys.V_dot.x.array[:] = amplitude * omega * math.cos(omega * t)
            prob.set_time_level(t, dt, 1 if k == 0 else 2, dt)
            ok, its, reason = prob.solve()
            its_total += its
            if not ok:
                raise RuntimeError(f"time-domain EIS: Newton failed at step {k} (reason {reason})")
            if k >= n - fit_periods * steps_per_period:
                times.append(t)
                currents.append(sum_over_ranks(comm, fem.assemble_scalar(current)))
            for f in prob.fields:
                f.u_nm1.x.array[:] = f.u_n.x.array
                f.u_n.x.array[:] = f.u.x.array
    finally:
        prob.set_state(saved)
        phys.V.x.array[:] = 0.0
        phys.V_dot.x.array[:] = 0.0
        for f in prob.fields:
            f.u_n.x.array[:] = f.u.x.array
            f.u_nm1.x.array[:] = f.u.x.array
    t = np.asarray(times)
    s = t - t.mean()
    A = np.column_stack([np.sin(omega * t), np.cos(omega * t), np.ones_like(t), s, s * s])
    a, b = np.linalg.lstsq(A, np.asarray(currents), rcond=None)[0][:2]
    Z = (-1j * amplitude) / (b - 1j * a)
    return complex(Z), {"steps": n, "newton_iterations": its_total,
                        "wall_time_s": time.perf_counter() - wall0}
