"""The degraded layer's resistance from the proton field (a cheap diagnostic).

Law (:class:`~fem_cell.physics.parameters.DegradedLayerLaw`)
--------------------------------------------------------------
The degraded layer is the top region of LiCoO2 (``degraded``, thickness L_d, a stack
parameter).  Its Li⁺ conductivity falls with the local proton fraction x_H (mobile +
trapped: protons on Li sites block Li⁺ hops, Kobayashi 2022):

    σ_d(x_H, T) = σ_d0(T) exp(−β x_H),   σ_d0(T) = L_d / (s R_p(T))

and the interface resistance is the layer in series with the charge transfer at LiCoO2:

    R_interface(T) = (1 − s) R_p(T) + ∫_degraded dz / σ_d(x_H, T)
                   = R_p(T) [(1 − s) + s ⟨exp(β x_H)⟩_degraded]

Only protons *in the degraded layer* count; protons deeper in LiCoO2 slow Li chemical
diffusion instead (the impedance model's Warburg, :mod:`fem_cell.model.impedance`), and
protons in Li3PO4 are electrolyte.  The impedance spectrum carries the same σ_d pointwise
(DG0 per cell); the interface arc it shows is the measured R_interface, and this integral
is the cheap diagnostic the histories use (tests/verification/test_interface_arc.py shows
the two agree).

2-D: ``columns=(x_lo, x_hi)`` restricts the mean to the degraded cells whose centre lies
laterally in [x_lo, x_hi] (e.g. under the Li pad: R per pad area); without it the mean
runs over the whole film width (the film average).  The mean of exp(β x_H) is the mean of
the column resistances (exact for laterally uniform fields).
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import fem, ufl
from fem_cell.domain import Domain, sum_over_ranks
from fem_cell.forms import FormsOnDemand, compile_form, constant
from fem_cell.physics.parameters import DegradedLayerLaw

OHM_M2_PER_OHM_CM2 = 1e-4
#: the region the law acts in
DEGRADED_REGION = "degraded"


def ohm_m2_to_ohm_cm2(r: float) -> float:
    """Ω m² → Ω cm²."""
    return r / OHM_M2_PER_OHM_CM2


class InterfaceResistance:
    """R_interface (Ω m²) from the proton field, assembled collectively.

    Args:
        domain: the mesh carrying ``x_H`` (e.g. the film sub-mesh).
        x_H: total proton site fraction in LiCoO2 (UFL: a P1 function or mobile +
            trapped); only the degraded region is integrated.
        T: temperature (K), a function on the same mesh or a number.
        law: the σ_d law.
        thickness: L_d, the degraded layer's thickness (m).
        region: the degraded layer's cell tag name.
        columns: 2-D: lateral range (m) of the columns averaged (None: all).
    """

    def __init__(self, domain: Domain, x_H, T, law: DegradedLayerLaw, thickness: float, *,
                 region: str = DEGRADED_REGION, columns: tuple[float, float] | None = None):
        if not thickness > 0:
            raise ValueError(f"degraded layer thickness {thickness!r}: expected > 0 m")
        self.domain, self.x, self.T, self.law = domain, x_H, T, law
        self.thickness, self.region = float(thickness), region
        self._Tc = constant(domain.mesh, float(law.reference_temperature))
        Tform = T if not isinstance(T, (int, float)) else constant(domain.mesh, float(T))
        weight = self._weight(columns)
        md = {"quadrature_degree": 6}
        dx = ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags, metadata=md)
        dxd = dx(domain.cell_tag(region))
        scale = domain.length_scale**domain.dim
        L = self.thickness
        # the forms at the current T compiled on first use (the exposure's R_interface
        # history uses only the one at the reference temperature)
        self._build = {
            "T": lambda: scale * weight * law.layer_resistivity(x_H, Tform, L) * dxd,
            "Tmean": lambda: scale * weight * Tform * dxd}
        self._forms = FormsOnDemand()
        self._form_c = compile_form(scale * weight * law.layer_resistivity(x_H, self._Tc, L) * dxd)
        self._volume = self._assemble(compile_form(scale * weight * dxd))
        if not self._volume > 0:
            raise ValueError(f"no {region!r} cells in the columns {columns}")
        #: lateral width of the averaged columns (m; 1 in 1-D)
        self.width = self._volume / L

    def _weight(self, columns):
        if columns is None or self.domain.dim == 1:
            return 1.0
        d = self.domain
        Q = fem.functionspace(d.mesh, ("DG", 0))
        chi = fem.Function(Q)
        im = d.mesh.topology.index_map(d.dim)
        cells = np.arange(im.size_local + im.num_ghosts, dtype=np.int32)
        nodes = d.mesh.geometry.dofmaps[0][cells]
        mid = d.mesh.geometry.x[nodes].mean(axis=1)[:, 0] * d.length_scale
        inside = (mid >= columns[0]) & (mid <= columns[1])
        chi.x.array[Q.dofmap.list[cells[inside]].ravel()] = 1.0
        return chi

    def _assemble(self, form) -> float:
        return sum_over_ranks(self.domain.comm, fem.assemble_scalar(form))

    def _form(self, key: str):
        """The form ``key`` of ``self._build``, compiled on first use (collective)."""
        return self._forms(key, self._build[key])

    def layer(self, T: float | None = None) -> float:
        """∫ dz/σ_d of the degraded layer (Ω m²) at T (K); None: the current field."""
        if T is None:
            return self._assemble(self._form("T")) / self.width
        self._Tc.value = float(T)
        return self._assemble(self._form_c) / self.width

    def mean_temperature(self) -> float:
        """Mean T over the averaged degraded cells (K)."""
        if isinstance(self.T, (int, float)):
            return float(self.T)
        return self._assemble(self._form("Tmean")) / self._volume

    def total(self, T: float | None = None) -> float:
        """(1 − s) R_p(T) + ∫ dz/σ_d (Ω m²); T None: the current field (the charge
        transfer at the layer's mean temperature)."""
        Tm = self.mean_temperature() if T is None else float(T)
        return self.law.charge_transfer(Tm) + self.layer(T)

    def at_reference(self) -> float:
        """R_interface at the law's reference temperature (25 °C) (Ω m²)."""
        return self.total(self.law.reference_temperature)


__all__ = ["DEGRADED_REGION", "InterfaceResistance", "OHM_M2_PER_OHM_CM2", "ohm_m2_to_ohm_cm2"]
