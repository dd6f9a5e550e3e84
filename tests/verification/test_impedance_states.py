"""The small-signal model at a state (:mod:`fem_cell.model.impedance`).

* the model's elements are the state's: charge transfer (1 − s) R_p(T), the degraded
  layer's ∫ dz/σ_d (its DG0 harmonic cell σ reproduces the state's integral exactly), the
  diagnostic R_interface_state their sum — against the law's closed form for a uniform
  state, at 25 and 150 °C;
* the spectrum's fitted interface arc equals ``Elements.R_interface_state`` within the
  fit's own error (pristine, a uniform state, the real exposure);
* protons *below* the degraded layer leave R_interface (and the spectrum's arc)
  unchanged but slow the Li diffusion: the low-frequency (Warburg) real part grows by
  the closed form |dU/dx|/(F c L²) ∫ s² (exp(β x_H(s)) − 1)/D ds;
* the refined impedance mesh carries the same proton function;
* a full-width 2-D pad equals its 1-D twin.

Numbers of the cell (β, R_p, s, D̃, ...) are read from the configuration: they are being
fitted.
"""

import math

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import load_config
from fem_cell.constants import BOLTZMANN_EV, ELEMENTARY_CHARGE, FARADAY
from fem_cell.jobs import impedance as J
from fem_cell.meshing.refine import REFINE_2D, refined_film_domain, section_column_domain
from fem_cell.model import CellModel, OperatingPoint, build_small_signal, electrochem_parameters
from fem_cell.physics.degraded import InterfaceResistance
from fem_cell.solvers.impedance import ImpedanceSolver

pytestmark = pytest.mark.serial

SHORT = {"anneal": {"segments": [{"ramp_to": "150 degC", "rate": "50 K/min"},
                                 {"hold": "10 min"}]},
         "output": {"plots": False, "render": False, "fields": False}}


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, overrides=SHORT)


def _thickness(cfg, name):
    return cfg.geometry.layer(name).thickness


def _pristine(law, T):
    """R_p(T) = R_p(T_ref) / exp(−E_a/k_B (1/T − 1/T_ref)) (its conductance is activated)."""
    Rp = law.pristine_resistance
    k_B = BOLTZMANN_EV * ELEMENTARY_CHARGE
    return Rp.value / math.exp(-Rp.activation_energy / k_B * (1.0 / T - 1.0 / Rp.T_ref))


@pytest.fixture(scope="module")
def states(cfg):
    """pristine, uniform, exposed (simulated) and annealed (short program, in-process)
    operating points; x_lco is the total (mobile + trapped) proton fraction."""
    from fem_cell.jobs.anneal import run_anneal

    comm = MPI.COMM_WORLD
    cell = CellModel(cfg, comm)
    law = cfg.chemistry.degraded_layer
    out = {"pristine": cell.operating_point(),
           "uniform": cell.operating_point(proton_fraction=1.0 / law.beta),
           "exposed": cell.operating_point(proton_fraction="exposed")}
    res = run_anneal(cfg, comm, progress=False)
    chem = res.details["chemistry"]
    tr = chem.transport
    x_tot = fem.Function(tr.x["LiCoO2"].function_space, name="xH_LiCoO2")
    x_tot.x.array[:] = tr.x["LiCoO2"].x.array + tr.trapped["LiCoO2"].x.array
    out["annealed"] = OperatingPoint(chem.film, x_tot, tr.x["Li3PO4"], "state")
    return out


@pytest.mark.parametrize("T", [298.15, 423.15])
@pytest.mark.parametrize("name", ["pristine", "uniform", "exposed", "annealed"])
def test_interface_elements_equal_state_resistance(cfg, states, name, T):
    op = states[name]
    cm = build_small_signal(cfg, op, T, prefix=f"v_{name}_{int(T)}_")
    cm.destroy()
    el = cm.elements
    law = cfg.chemistry.degraded_layer
    s, L_d = law.pristine_share, _thickness(cfg, "degraded")
    Rp = _pristine(law, T)
    layer = InterfaceResistance(op.film, op.x_lco, T, law, L_d).layer(T)
    # charge transfer (1 − s) R_p(T), proton-independent; the layer's pristine share s R_p
    assert el.R_ct == pytest.approx((1 - s) * Rp, rel=1e-12)
    assert el.R_degraded_pristine == pytest.approx(s * Rp, rel=1e-12)
    assert el.R_interface_state == pytest.approx(el.R_ct + layer, rel=1e-12)
    assert el.R_degraded == pytest.approx(layer, rel=1e-12)
    if name == "pristine":
        assert el.R_interface_state == pytest.approx(Rp, rel=1e-12)
    elif name == "uniform":  # x_H = 1/β everywhere in LiCoO2: R = R_p ((1 − s) + s e)
        assert el.R_interface_state == pytest.approx(Rp * ((1 - s) + s * math.e), rel=1e-9)
    elif name == "exposed":  # protons in the degraded layer raise R_interface
        assert el.R_interface_state > 1.05 * Rp
    # the discrete degraded layer (DG0 harmonic σ) is exactly the state's integral
    film = cm.model.domain
    R_disc = film.integrate(1.0 / cm.sigma_degraded, film.dx("degraded"))
    if film.dim == 2:
        R_disc /= film.integrate(1.0, film.ds("substrate|LiCoO2"))
    assert R_disc == pytest.approx(el.R_degraded, rel=1e-10)


def test_refined_mesh_carries_the_same_proton_function(cfg, states):
    op = states["exposed"]
    law = cfg.chemistry.degraded_layer
    L_d = _thickness(cfg, "degraded")
    dom, xr = refined_film_domain(op.film, op.x_lco)
    a = InterfaceResistance(op.film, op.x_lco, 298.15, law, L_d).layer(298.15)
    b = InterfaceResistance(dom, xr, 298.15, law, L_d).layer(298.15)
    assert b == pytest.approx(a, rel=1e-9)
    # in the refined LiCoO2 bulk too: the same P1 function integrates to the same value
    for regions in (("LiCoO2",), ("LiCoO2", "degraded")):
        ia = op.film.integrate(op.x_lco, op.film.dx(*regions))
        ib = dom.integrate(xr, dom.dx(*regions))
        assert ia > 0 and ib == pytest.approx(ia, rel=1e-12)
    assert dom.mesh.topology.index_map(1).size_global > op.film.mesh.topology.index_map(
        1).size_global


def _sweep(cfg, op, tag, freqs, T=298.15):
    cm = build_small_signal(cfg, op, T, prefix=f"f_{tag}_")
    s = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"fe_{tag}_")
    try:
        return s.sweep(freqs), cm.elements
    finally:
        s.destroy()
        cm.destroy()


# "annealed" included: the anneal spreads protons ~20 nm below the degraded layer; with
# site blocking, D̃ (1 − x_H), the Warburg stays a finite Warburg to within the fit's
# acceptance (with the layer's exp(−β x_H) applied to D̃ instead the fit was not accepted
# and its R_interface drifted ~17 % from the state: the reason for site blocking).
@pytest.mark.parametrize("name", ["pristine", "uniform", "exposed", "annealed"])
def test_fitted_interface_resistance_equals_state(cfg, states, name):
    f = J.default_frequencies()
    r, el = _sweep(cfg, states[name], name, f)
    fit, _, kk = J.interpret(f, r.impedance_ohm_cm2, el)
    # the circuit represents the spectrum: to 1.4e-5 rms (pristine, uniform, exposed); the
    # annealed state's D̃ (1 − x_H) is slightly non-uniform where the Warburg is sampled,
    # which the single finite Warburg misses by 1.8e-4 rms (measured)
    assert fit.extra["residual_rms"] <= (1e-3 if name == "annealed" else 1e-4)
    R = el.R_interface_state * 1e4
    err = fit.error("R_interface")
    assert np.isfinite(err) and err < 1e-2 * R  # the arc is well determined
    # the measured arc is the diagnostic, within 3 standard errors of the fit — plus 1e-4
    # relative: the standard errors come from the residual and miss the structural bias
    # of a D̃(z) that is not quite uniform (the exposure leaves x_H ~ 1e-5 below the
    # degraded layer: measured bias 3e-5 relative, ~3.5 standard errors)
    assert abs(fit.value("R_interface") - R) <= 3 * err + 1e-4 * R
    # C_dl: 5e-3 (the annealed state's residual misfit moves it by 3 %, measured)
    assert fit.value("C_interface") == pytest.approx(el.C_dl * 1e-4,
                                                     rel=5e-2 if name == "annealed" else 5e-3)
    assert kk.residual_max < 1e-3


def test_protons_below_the_degraded_layer(cfg):
    """x_H = x_b (1 − s/L) in the LiCoO2 bulk (s from the current collector; 0 at its
    interface with the degraded layer and in the layer), x_b = 1/β: R_interface is the
    pristine one and so is the interface arc of the spectrum, while Li diffuses slower
    below (site blocking, D̃ (1 − x_H)).  At low frequency (ωτ ≤ 0.05, τ the slowest
    diffusion time) the extra real part is the quasi-steady Warburg limit

        ΔRe Z = |dU/dx|/(F c L²) ∫_0^L s² (1/(1 − x_H(s)) − 1)/D̃ ds
              = R_D ∫_0^1 u² x_b (1 − u)/(1 − x_b (1 − u)) du,   R_D = |dU/dx| L/(F c D̃),

    (the integral by adaptive quadrature), reduced by the double layer in parallel by the
    factor 1 − 2 C_dl/C_int (C_int = F c L/|dU/dx|, O(1e-4)); the next frequency term is
    O((ωτ)²/500).  (The circuit fit of jobs/impedance.py is not used here: its single
    Warburg does not represent a non-uniform D̃.)"""
    comm = MPI.COMM_WORLD
    law = cfg.chemistry.degraded_layer
    p = electrochem_parameters(cfg)
    layers = cfg.geometry.layers
    z0 = sum(lay.thickness for lay in layers[:[lay.name for lay in layers].index("LiCoO2")])
    L = _thickness(cfg, "LiCoO2")
    xb = 1.0 / law.beta
    cell = CellModel(cfg, comm)
    ops = {"pristine": cell.operating_point(),
           "below": cell.operating_point(
               proton_fraction=lambda X: xb * np.clip(1.0 - (X[0] - z0) / L, 0.0, 1.0))}
    T = 298.15
    D = p.electrode_diffusivity(T)
    R_D = abs(p.ocv_slope) * L / (FARADAY * p.electrode_site_density * D)
    C_int = FARADAY * p.electrode_site_density * L / abs(p.ocv_slope)
    f_low = 0.05 / (2 * np.pi * math.e * L**2 / D)
    freqs = np.concatenate([J.default_frequencies(), [f_low]])
    out = {k: _sweep(cfg, op, f"b_{k}", freqs, T) for k, op in ops.items()}
    (r0, el0), (r1, el1) = out["pristine"], out["below"]
    cell.destroy()
    # the diagnostic: unchanged (no protons in the degraded layer)
    assert el1.R_interface_state == pytest.approx(el0.R_interface_state, rel=1e-9)
    assert el1.R_interface_state == pytest.approx(_pristine(law, T), rel=1e-9)
    # the interface arc: from its apex frequency 1/(2π R_ct C_dl) up, the spectra agree to
    # 1e-4 of R_interface — the Warburg there samples only √(D̃/ω) ≈ 0.1 nm ≪ L below the
    # interface, where x_H ≈ 1e-3 x_b (measured: 2e-6 at the apex, 3e-5 a third lower)
    f_arc = 1.0 / (2 * np.pi * el0.R_ct * el0.C_dl)
    arc = freqs >= f_arc
    assert arc.sum() >= 10
    dZ = np.abs(r1.impedance - r0.impedance)
    assert dZ[arc].max() < 1e-4 * el0.R_interface_state, dZ[arc].max() / el0.R_interface_state
    # the Warburg part: slower, by the closed form at the lowest frequency
    dRe = (r1.impedance[-1] - r0.impedance[-1]).real
    from scipy.integrate import quad

    integral = quad(lambda u: u**2 * xb * (1 - u) / (1 - xb * (1 - u)), 0.0, 1.0,
                    epsabs=0.0, epsrel=1e-12)[0]
    expected = R_D * integral * (1 - 2 * p.electrode_double_layer_capacitance / C_int)
    assert dRe == pytest.approx(expected, rel=1e-3)
    # (the low-frequency change is measurable: > 1e-3 of |Z| at 10 mHz)
    k = np.argmin(np.abs(freqs - 1e-2))
    assert dZ[k] > 1e-3 * abs(r0.impedance[k])


def test_full_width_pad_2d_equals_1d_twin():
    """A pad covering the films: the 2-D cross-section (Z per pad area) equals the 1-D
    model on the same through-thickness nodes to 1e-6."""
    comm = MPI.COMM_WORLD
    cfg2 = load_config(None, overrides={"layers": {"Li": {"width": "3 mm"}}}).with_mesh(
        dim=2, lateral_cells=4)
    op2 = CellModel(cfg2, comm).operating_point(proton_fraction=0.15)
    d1, x1 = section_column_domain(op2.film, op2.x_lco)
    op1 = OperatingPoint(d1, x1, x1.copy(), "uniform")
    f = np.logspace(-2, 6, 17)
    Z = []
    for k, op in enumerate((op2, op1)):
        cm = build_small_signal(cfg2, op, 298.15, prefix=f"fw{k}_", refine_electrode=REFINE_2D)
        s = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"fws{k}_")
        Z.append(s.sweep(f, "direct").impedance)
        s.destroy()
        cm.destroy()
    assert np.max(np.abs(Z[0] / Z[1] - 1)) < 1e-6
