"""1-D impedance vs exact solutions (science.md §5) and reference cases 5 and 6 (§4).

Every expected value is an exact formula written here from the parameters, never a
number the code produced.  Tolerance: 1e-3 relative from 1 mHz to 10 MHz.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from helpers import EC_DEGRADED as DEGRADED
from helpers import EC_DEGRADED_THICKNESS as DEGRADED_THICKNESS
from helpers import ec_model as model
from helpers import ec_params as params

from fem_cell._dolfinx import MPI
from fem_cell.constants import (
    BOLTZMANN_EV,
    ELEMENTARY_CHARGE,
    FARADAY,
    GAS_CONSTANT,
    VACUUM_PERMITTIVITY,
)
from fem_cell.params import EV, Arrhenius
from fem_cell.physics.electrochem import FilmRegions
from fem_cell.physics.parameters import DegradedLayerLaw
from fem_cell.solvers.impedance import ImpedanceSolver, log_frequencies

T25 = 298.15

F_BAND = log_frequencies(1e-3, 1e7, 41)   # 1 mHz … 10 MHz
TOL = 1e-3


def arrhenius(Ea_J, T, Tref=T25):
    return math.exp(-Ea_J / (BOLTZMANN_EV * ELEMENTARY_CHARGE) * (1 / T - 1 / Tref))


def law_at(law, T):
    """An Arrhenius law's value at T, with this file's own exponential (independent of
    the code's Arrhenius class)."""
    return law.value * arrhenius(law.activation_energy, T)


def layer(L, sigma, eps_r, w):
    """One layer: Z = L/(σ + iωε)."""
    return L / (sigma + 1j * w * eps_r * VACUUM_PERMITTIVITY)


def sigma_d(law, L_d, xH, T=T25):
    """σ_d(x_H, T) = L_d/(s R_p(T)) exp(−β x_H), R_p(T) = R_p(T_ref)/arrhenius(E_a, T)
    (its conductance is activated), written here from the law's parameters."""
    Rp = law.pristine_resistance
    return (L_d / (law.pristine_share * Rp.value) * arrhenius(Rp.activation_energy, T)
            * math.exp(-law.beta * xH))


def rc(R, C, w):
    """R ∥ C interface: R/(1 + iωRC)."""
    return R / (1 + 1j * w * R * C)


def r_ct(i0, T=T25):
    """Linearised Butler–Volmer (α_a + α_c = 1): R T/(F i0)."""
    return GAS_CONSTANT * T / (FARADAY * i0)


def warburg(R_D, tau, w):
    """Finite-length reflective diffusion: R_D coth(√(iωτ))/√(iωτ)."""
    q = np.sqrt(1j * w * tau)
    return R_D / np.tanh(q) / q


def sweep(model, freqs, method="direct"):
    solver = ImpedanceSolver(model.problem, model.physics, prefix="test_eis_exact_")
    return solver.sweep(freqs, method).impedance


def rel(a, b):
    return np.abs(a / b - 1)


@pytest.mark.mpi
def test_single_layer_with_li_interface():
    p = params()
    L = 1e-6
    m = model(MPI.COMM_WORLD, p, [("Li3PO4", L)])
    w = 2 * np.pi * F_BAND
    exact = (rc(r_ct(p.li_exchange_current.value), p.li_double_layer_capacitance, w)
             + layer(L, p.electrolyte_conductivity.value, p.electrolyte_relative_permittivity, w))
    assert rel(sweep(m, F_BAND), exact).max() < TOL


def test_single_layer_alone():
    """A nearly ideal Li contact (R → 0, no C_dl): Z → L/(σ + iωε)."""
    p = params(li_exchange_current=1e8, li_double_layer_capacitance=0.0)
    L = 0.7e-6
    m = model(MPI.COMM_WORLD, p, [("Li3PO4", L)])
    w = 2 * np.pi * F_BAND
    exact = layer(L, p.electrolyte_conductivity.value, p.electrolyte_relative_permittivity, w)
    # the contact's R T/(F i0) = 2.6e-13 Ω m² is < 1e-7 of |Z| at every frequency
    assert rel(sweep(m, F_BAND), exact).max() < TOL


@pytest.mark.mpi
def test_layer_stack_sum():
    """degraded (uniform x_H) + Li3PO4 + Li R∥C: the sum of the parts."""
    p = params()
    xH, Ld, Ls = 0.2, 10e-9, 1e-6
    m = model(MPI.COMM_WORLD, p, [("degraded", Ld), ("Li3PO4", Ls)],
                                proton_fraction=xH)
    w = 2 * np.pi * F_BAND
    s_d = sigma_d(DEGRADED, DEGRADED_THICKNESS, xH)
    exact = (rc(r_ct(p.li_exchange_current.value), p.li_double_layer_capacitance, w)
             + layer(Ls, p.electrolyte_conductivity.value, p.electrolyte_relative_permittivity, w)
             + layer(Ld, s_d, p.degraded_relative_permittivity, w))
    assert rel(sweep(m, F_BAND), exact).max() < TOL


def _warburg_cell():
    p = params(electrode_double_layer_capacitance=0.0)
    L_e, L_s = 90e-9, 1e-6
    m = model(MPI.COMM_WORLD, p, [("LiCoO2", L_e), ("Li3PO4", L_s)])
    R_D = -p.ocv_slope * L_e / (FARADAY * p.electrode_site_density * p.electrode_diffusivity.value)
    tau = L_e**2 / p.electrode_diffusivity.value

    def others(w):   # exact, and P1-exact in the model (linear potential, point interfaces)
        return (rc(r_ct(p.li_exchange_current.value), p.li_double_layer_capacitance, w)
                + layer(L_s, p.electrolyte_conductivity.value,
                        p.electrolyte_relative_permittivity, w)
                + r_ct(p.electrode_exchange_current.value))

    return p, m, R_D, tau, others, L_e


@pytest.mark.mpi
def test_reflective_warburg():
    """Z − (exact series parts) vs R_D coth(√(iωτ))/√(iωτ), 1 mHz … 10 MHz."""
    p, m, R_D, tau, others, _ = _warburg_cell()
    w = 2 * np.pi * F_BAND
    Z_D = sweep(m, F_BAND) - others(w)
    assert rel(Z_D, warburg(R_D, tau, w)).max() < TOL


def test_warburg_low_frequency_limit():
    """Low f: Z_D → R_D/3 + 1/(iωC), C = F c_sites L/|dU/dx| (per area).

    At ωτ = 0.05–0.1 the next terms of coth(z)/z = 1/z² + 1/3 − z²/45 + 2z⁴/945 change
    Re by < 1e-5 and Im by < 2.3e-4 (relative).  Much lower f is not useful: there
    |Z| ≫ R_Li and the terminal current δI = (δV − δφ_top)/R_Li + … loses digits to
    cancellation (Re Z is then < 1e-4 of |Z|).
    """
    p, m, R_D, tau, others, L_e = _warburg_cell()
    f = np.array([1e-4, 2e-4])
    w = 2 * np.pi * f
    Z_D = sweep(m, f) - others(w)
    C = FARADAY * p.electrode_site_density * L_e / abs(p.ocv_slope)
    assert np.all(np.abs(Z_D.real / (R_D / 3) - 1) < TOL)
    assert np.all(np.abs(Z_D.imag / (-1 / (w * C)) - 1) < TOL)


def default_cell_exact(p, w, T=T25, xH=0.0, layers=(90e-9, 10e-9, 1e-6)):
    L_e, L_d, L_s = layers
    sigma_s = law_at(p.electrolyte_conductivity, T)
    s_d = sigma_d(DEGRADED, DEGRADED_THICKNESS, xH, T)
    D = p.electrode_diffusivity.value * arrhenius(p.electrode_diffusivity.activation_energy, T)
    i0_c = law_at(p.electrode_exchange_current, T)
    i0_li = p.li_exchange_current.value * arrhenius(p.li_exchange_current.activation_energy, T)
    R_D = -p.ocv_slope * L_e / (FARADAY * p.electrode_site_density * D)
    Z_far = r_ct(i0_c, T) + warburg(R_D, L_e**2 / D, w)
    return (rc(r_ct(i0_li, T), p.li_double_layer_capacitance, w)
            + layer(L_s, sigma_s, p.electrolyte_relative_permittivity, w)
            + layer(L_d, s_d, p.degraded_relative_permittivity, w)
            + 1 / (1j * w * p.electrode_double_layer_capacitance + 1 / Z_far))


@pytest.mark.mpi
@pytest.mark.parametrize("T", [T25, 273.15 + 150.0])
def test_full_default_stack(T):
    """Li R∥C + Li3PO4 + degraded + Randles(R_ct + Z_D ∥ C_dl), default parameters."""
    p = params()
    m = model(MPI.COMM_WORLD, p, temperature=T)
    w = 2 * np.pi * F_BAND
    assert rel(sweep(m, F_BAND), default_cell_exact(p, w, T)).max() < TOL


@pytest.mark.mpi
def test_full_default_stack_rom():
    p = params()
    m = model(MPI.COMM_WORLD, p)
    w = 2 * np.pi * F_BAND
    assert rel(sweep(m, F_BAND, "rom"), default_cell_exact(p, w)).max() < TOL


@pytest.mark.mpi
def test_reference_case_6_li3po4_bulk_arrhenius():
    """Li3PO4 bulk resistance falls 560–990× from 25 to 150 °C (Ea 0.55–0.60 eV)."""
    p = params()
    L = 1e-6
    R_bulk = {}
    for T in (T25, 423.15):
        m = model(MPI.COMM_WORLD, p, [("Li3PO4", L)], temperature=T)
        Z0 = sweep(m, np.array([1e-4]))[0]
        i0_li = p.li_exchange_current.value * arrhenius(p.li_exchange_current.activation_energy, T)
        R_bulk[T] = Z0.real - r_ct(i0_li, T)     # DC: R_Li + R_SE
    ratio = R_bulk[T25] / R_bulk[423.15]
    assert 560 <= ratio <= 990
    expected = math.exp(0.57 / BOLTZMANN_EV * (1 / T25 - 1 / 423.15))
    assert abs(ratio / expected - 1) < 1e-6
    assert abs(R_bulk[T25] / (L / p.electrolyte_conductivity.value) - 1) < 1e-6


def _apex_frequency(model) -> float:
    """Frequency (Hz) of the maximum of −Im Z, by golden-section search in log f."""
    solver = ImpedanceSolver(model.problem, model.physics, prefix="test_eis_apex_")

    def g(lf):
        return solver.solve_direct(10.0**lf)[0].imag       # minimise Im Z

    a, b = 1.0, 8.0
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    gc, gd = g(c), g(d)
    while b - a > 1e-7:
        if gc < gd:
            b, d, gd = d, c, gc
            c = b - r * (b - a)
            gc = g(c)
        else:
            a, c, gc = c, d, gd
            d = a + r * (b - a)
            gd = g(d)
    return 10.0 ** (0.5 * (a + b))


def test_reference_case_5_interface_arc_shifts_by_resistance_ratio():
    """The degraded-layer arc's apex moves down by R_degraded/R_pristine (same C = ε/L).

    Li3PO4 made very conductive and the Li contact nearly ideal, so that the interface
    layer's arc is the only one in the band.
    """
    p = params(electrolyte_conductivity=1.0, li_exchange_current=1e7,
                              li_double_layer_capacitance=0.0)
    layers = [("degraded", 10e-9), ("Li3PO4", 1e-6)]
    xH = 0.25
    f_p = _apex_frequency(model(MPI.COMM_WORLD, p, layers, proton_fraction=0.0))
    f_d = _apex_frequency(model(MPI.COMM_WORLD, p, layers, proton_fraction=xH))
    R_ratio = math.exp(DEGRADED.beta * xH)      # ∫dz/σ_d(x_H) / ∫dz/σ_d(0), uniform x_H
    assert abs((f_p / f_d) / R_ratio - 1) < 1e-3
    # and the pristine apex is 1/(2π R_d C_d)
    R_d = 10e-9 / sigma_d(DEGRADED, DEGRADED_THICKNESS, 0.0)
    C_d = p.degraded_relative_permittivity * VACUUM_PERMITTIVITY / 10e-9
    assert abs(f_p * 2 * math.pi * R_d * C_d - 1) < 1e-3


def test_series_leads():
    """Lead R and L add (R + iωL)·A_pad to the area-specific impedance."""
    p0 = params()
    p = dataclasses.replace(p0, lead_resistance=2.0, lead_inductance=1e-6, pad_area=2e-6)
    f = log_frequencies(1e1, 1e7, 7)
    w = 2 * np.pi * f
    Z = sweep(model(MPI.COMM_WORLD, p, [("Li3PO4", 1e-6)]), f)
    Z0 = sweep(model(MPI.COMM_WORLD, p0, [("Li3PO4", 1e-6)]), f)
    assert np.abs((Z - Z0) / ((2.0 + 1j * w * 1e-6) * 2e-6) - 1).max() < 1e-6


def test_length_scale_invariance():
    """The same cell meshed in µm and in nm coordinates gives the same Z."""
    from fem_cell.meshing.film import FilmMeshSettings

    f = log_frequencies(1e-2, 1e6, 9)
    Z = [sweep(model(MPI.COMM_WORLD, mesh=FilmMeshSettings(length_scale=ell)), f)
         for ell in (1e-6, 1e-9)]
    assert rel(Z[0], Z[1]).max() < 1e-8


def test_regions_must_exist():
    with pytest.raises(Exception, match="no region"):
        model(MPI.COMM_WORLD, layers=[("Li3PO4", 1e-6)],
                                regions=FilmRegions(electrode="LiCoO2"))


# -- 2-D cross-section (the same block and solver on a gmsh quadrilateral mesh) ---------
def _geometry(pad_width):
    from fem_cell.geometry import LayerSpec, StackGeometry

    return StackGeometry((LayerSpec("LiCoO2", "LiCoO2", 90e-9),
                          LayerSpec("degraded", "LiCoO2", 10e-9),
                          LayerSpec("Li3PO4", "Li3PO4", 1e-6),
                          LayerSpec("Li", "Li", 0.5e-6, pad_width)), 3e-3)


@pytest.mark.mpi
def test_2d_cross_section_full_pad_equals_1d_and_spreading_lowers_z():
    """Li pad as an inactive meshed region, contact on the ``Li3PO4|Li`` interface.

    Full-width pad: the 2-D cross-section (same through-thickness nodes) equals the 1-D
    line mesh to round-off.  A 1 mm pad on 3 mm films: current spreads beyond the pad
    edges, so Z per pad area is slightly lower (by ~ film thickness / pad width).
    """
    from fem_cell.meshing.cross_section import build_cross_section_mesh
    from fem_cell.meshing.line import build_line_mesh
    from fem_cell.meshing.settings import MeshSettings

    comm = MPI.COMM_WORLD
    f = log_frequencies(1e-2, 1e6, 7)
    regions = FilmRegions(li_contact="Li3PO4|Li")

    def run(domain, tag):
        m = model(comm, domain=domain, regions=regions, prefix=f"t2d_{tag}_")
        s = ImpedanceSolver(m.problem, m.physics, prefix=f"t2d_eis_{tag}_")
        return s.sweep(f), s.system.area

    r1, a1 = run(build_line_mesh(_geometry(None), MeshSettings(dim=1, cells_per_layer=8), comm),
                 "line")
    ms = MeshSettings(dim=2, cells_per_layer=8, lateral_cells=12)
    r2, a2 = run(build_cross_section_mesh(_geometry(None), ms, comm), "full")
    assert a1 == pytest.approx(1.0) and a2 == pytest.approx(3e-3)
    assert rel(r2.impedance, r1.impedance).max() < 1e-8
    r3, a3 = run(build_cross_section_mesh(_geometry(1e-3), ms, comm), "pad")
    assert a3 == pytest.approx(1e-3)
    assert r3.residuals.max() <= 1e-6
    assert np.all(r3.impedance.real < r1.impedance.real)
    assert rel(r3.impedance, r1.impedance).max() < 1e-2


def test_transport_model_law_plugs_in():
    """A DegradedLayerLaw's conductivity(x_H, T, L_d) is accepted (bound to its layer
    thickness), with the proton fraction as a P1 Function (as the transport state would
    give it).  The law here is another one than the helpers' (other β, R_p, share and
    activation energy, a 20 nm layer) so that every parameter is seen."""
    law = DegradedLayerLaw(beta=12.0, pristine_resistance=Arrhenius(8e-4, 0.5 * EV),
                           pristine_share=0.3, reference_temperature=T25)
    p = params()
    xH, Ld, Ls, T = 0.15, 20e-9, 1e-6, 323.15
    m = model(MPI.COMM_WORLD, p, [("degraded", Ld), ("Li3PO4", Ls)],
                                proton_fraction=lambda x: xH + 0.0 * x[0],
                                conductivity_law=lambda x, T: law.conductivity(x, T, Ld),
                                temperature=T)
    w = 2 * np.pi * F_BAND
    s_d = sigma_d(law, Ld, xH, T)
    sigma_s = law_at(p.electrolyte_conductivity, T)
    i0_li = p.li_exchange_current.value * arrhenius(p.li_exchange_current.activation_energy, T)
    exact = (rc(r_ct(i0_li, T), p.li_double_layer_capacitance, w)
             + layer(Ls, sigma_s, p.electrolyte_relative_permittivity, w)
             + layer(Ld, s_d, p.degraded_relative_permittivity, w))
    assert rel(sweep(m, F_BAND), exact).max() < TOL
