"""Degraded-layer law and the interface resistance form (assembly only, no solves)."""

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
from fem_cell.physics.degraded import InterfaceResistance, ohm_m2_to_ohm_cm2

LAW = load_config().chemistry.degraded_layer  # σ0 1e-5 S/m, β 9.626, R_p 9.75 Ω cm²


def test_law():
    law = LAW
    assert law.conductivity(0.0, 298.15) == pytest.approx(1e-5)
    assert law.conductivity(0.5, 298.15) == pytest.approx(1e-5 * math.exp(-0.5 * law.beta))
    assert law.conductivity(0.0, 423.15) > 100 * law.conductivity(0.0, 298.15)
    assert law.excess_resistivity(0.0, 400.0) == 0.0
    assert law.pristine(298.15) == pytest.approx(9.75e-4)
    assert ohm_m2_to_ohm_cm2(9.75e-4) == pytest.approx(9.75)


def _domain(comm, n=400):
    geo = StackGeometry((LayerSpec("LiCoO2", "LiCoO2", 90e-9),
                         LayerSpec("degraded", "LiCoO2", 10e-9),
                         LayerSpec("Li3PO4", "Li3PO4", 1e-6)), width=1.0)
    return build_line_mesh(geo, MeshSettings(dim=1, cells_per_layer=n, max_cell_size=1.0,
                                             growth=1.05), comm)


@pytest.mark.mpi
def test_interface_resistance_feasible_profile(comm):
    """0.6 erfc(depth/3 nm), σ0 1e-5 S/m, β 9.6: R ≈ 165 Ω cm² (science.md §3)."""
    d = _domain(comm)
    V = fem.functionspace(d.mesh, ("Lagrange", 1))
    x = fem.Function(V)
    top = 100e-9 / d.length_scale
    x.interpolate(lambda X: np.where(X[0] <= top + 1e-12, 0.6 * np.vectorize(math.erfc)(
        np.maximum(top - X[0], 0) / 3e-3), 0.0))
    T = fem.Function(V)
    T.x.array[:] = 298.15
    law96 = dataclasses.replace(LAW, beta=9.6)  # the feasible point's β
    R = InterfaceResistance(d, x, T, law=law96)
    assert R.regions == ("LiCoO2", "degraded")
    # reference: the same integral by numpy quadrature
    zz = np.linspace(0.0, 100e-9, 200001)
    f = np.expm1(9.6 * 0.6 * np.vectorize(math.erfc)(zz / 3e-9)) / 1e-5
    ref = float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(zz)))
    assert R.excess() == pytest.approx(ref, rel=5e-3)
    assert R.excess(298.15) == pytest.approx(R.excess(), rel=1e-12)
    total = ohm_m2_to_ohm_cm2(R.at_reference())
    assert 150.0 < total < 180.0
    # hotter: lower resistance, consistent with the Arrhenius factors
    T.x.array[:] = 423.15
    law = R.law
    ratio = law.conductivity(0.0, 423.15) / law.conductivity(0.0, 298.15)
    assert R.excess() == pytest.approx(ref / ratio, rel=5e-3)
    assert R.total() == pytest.approx(law.pristine(423.15) + R.excess(), rel=1e-12)
    # no protons: pristine
    x.x.array[:] = 0.0
    assert R.at_reference() == pytest.approx(law.pristine_resistance.value, rel=1e-12)
