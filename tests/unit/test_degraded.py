"""Degraded-layer law and the interface-resistance diagnostic (assembly only, no solves)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fem_cell._dolfinx import fem
from fem_cell.config import load_config
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings
from fem_cell.params import EV, Arrhenius
from fem_cell.physics.degraded import InterfaceResistance, ohm_m2_to_ohm_cm2
from fem_cell.physics.parameters import DegradedLayerLaw

#: a law with round numbers: R_p 10 Ω cm² (0.6 eV), half of it in the layer, β 10
LAW = DegradedLayerLaw(beta=10.0, pristine_resistance=Arrhenius(1e-3, 0.6 * EV),
                       pristine_share=0.5, reference_temperature=298.15)
L_D = 10e-9


def test_law():
    law = LAW
    # σ_d0 = L_d / (s R_p) = 1e-8 / 5e-4 = 2e-5 S/m at 25 °C
    assert law.conductivity(0.0, 298.15, L_D) == pytest.approx(2e-5)
    assert law.conductivity(0.5, 298.15, L_D) == pytest.approx(2e-5 * math.exp(-5.0))
    # the layer conducts better when hot, with R_p's activation energy
    ratio = law.conductivity(0.0, 423.15, L_D) / law.conductivity(0.0, 298.15, L_D)
    assert ratio == pytest.approx(law.pristine(298.15) / law.pristine(423.15))
    assert ratio > 100
    assert law.pristine(298.15) == pytest.approx(1e-3)
    assert law.charge_transfer(298.15) == pytest.approx(5e-4)
    # R = R_p [(1 - s) + s <exp(βx)>]
    assert law.resistance(1.0, 298.15) == pytest.approx(1e-3)
    assert law.resistance(math.e, 298.15) == pytest.approx(5e-4 + 5e-4 * math.e)
    assert ohm_m2_to_ohm_cm2(9.75e-4) == pytest.approx(9.75)
    with pytest.raises(ValueError, match="pristine_share"):
        dataclasses.replace(LAW, pristine_share=1.0)


def _domain(comm, n=400):
    geo = StackGeometry((LayerSpec("LiCoO2", "LiCoO2", 90e-9),
                         LayerSpec("degraded", "LiCoO2", 10e-9),
                         LayerSpec("Li3PO4", "Li3PO4", 1e-6)), width=1.0)
    return build_line_mesh(geo, MeshSettings(dim=1, cells_per_layer=n, max_cell_size=1.0,
                                             growth=1.05), comm)


@pytest.mark.mpi
def test_interface_resistance_of_a_profile(comm):
    """x = 0.2 erfc(depth/3 nm): R = (1 − s)R_p + ∫_degraded s R_p/L_d exp(βx) dz against
    numpy quadrature; protons below the degraded layer do not count."""
    d = _domain(comm)
    V = fem.functionspace(d.mesh, ("Lagrange", 1))
    x = fem.Function(V)
    top = 100e-9 / d.length_scale
    erfc = np.vectorize(math.erfc)
    x.interpolate(lambda X: np.where(X[0] <= top + 1e-12,
                                     0.2 * erfc(np.maximum(top - X[0], 0) / 3e-3), 0.0))
    T = fem.Function(V)
    T.x.array[:] = 298.15
    R = InterfaceResistance(d, x, T, LAW, L_D)
    assert R.width == pytest.approx(1.0)
    zz = np.linspace(0.0, L_D, 200001)
    f = 5e-4 / L_D * np.exp(10.0 * 0.2 * erfc(zz / 3e-9))
    ref = float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(zz)))
    assert R.layer() == pytest.approx(ref, rel=1e-4)
    assert R.layer(298.15) == pytest.approx(R.layer(), rel=1e-12)
    assert R.at_reference() == pytest.approx(5e-4 + ref, rel=1e-4)
    # hotter: every part scales with R_p's Arrhenius factor
    T.x.array[:] = 423.15
    ratio = LAW.pristine(423.15) / LAW.pristine(298.15)
    assert R.layer() == pytest.approx(ref * ratio, rel=1e-4)
    assert R.total() == pytest.approx(LAW.charge_transfer(423.15) + R.layer(), rel=1e-12)
    # protons only below the degraded layer: the pristine value
    x.interpolate(lambda X: np.where(X[0] < 90e-9 / d.length_scale - 1e-9, 0.5, 0.0))
    assert R.at_reference() == pytest.approx(LAW.pristine(298.15), rel=1e-12)
    x.x.array[:] = 0.0
    assert R.at_reference() == pytest.approx(LAW.pristine(298.15), rel=1e-12)


def test_cell_law_is_the_cell_files():
    cfg = load_config()
    law = cfg.chemistry.degraded_layer
    L = cfg.geometry.layer("degraded").thickness
    # σ_d0 = L_d / (s R_p) of the built-in cell, in S/m
    assert law.conductivity(0.0, 298.15, L) == pytest.approx(
        L / (law.pristine_share * law.pristine(298.15)))
