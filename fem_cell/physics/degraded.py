"""Li⁺ conductivity of the protonated (degraded) LiCoO2 and the interface resistance.

Law (science.md §2, parameters from the §3 feasible point)
-----------------------------------------------------------
    σ_d(x_H, T) = σ0 · exp(−E_a/k_B (1/T − 1/T_ref)) · g(x_H),   g(x) = exp(−β x)

g(0) = 1 and g falls steeply: protons on Li sites block Li⁺ hops (Kobayashi 2022).
The interface resistance (per unit area) is the pristine value plus the excess of the
protonated material over the same material without protons:

    R(T) = R_p(T) + ∫_Ω (1/σ_d(x_H, T) − 1/σ_d(0, T)) dz
         = R_p(T) + ∫_Ω (exp(β x_H) − 1) / σ0(T) dz

Which protons count: Ω is **all of LiCoO2** (the ``LiCoO2`` and ``degraded`` regions),
not only the 10 nm ``degraded`` region, and not Li3PO4.  Protons that merely diffuse
deeper into LiCoO2 still block Li⁺ on its way to the interface, so recovery must come
from protons leaving LiCoO2 (reference case 8); protons in Li3PO4 sit at fractions
≲ 1e-3 in a 1 µm electrolyte and are counted as electrolyte.  The ``degraded`` region is
only the mesh refinement where the initial profile lives.

In 2-D the form gives the lateral mean of the column resistances (∫_Ω … dA divided by
the length of the LiCoO2 top interface), exact for laterally uniform profiles.

Parameters: :class:`~fem_cell.physics.parameters.DegradedLayerLaw` (``[degraded_layer]``
of the cell file; no defaults here).
"""

from __future__ import annotations

from collections.abc import Sequence

from fem_cell._dolfinx import MPI, fem, ufl
from fem_cell.domain import Domain
from fem_cell.physics.parameters import DegradedLayerLaw

OHM_M2_PER_OHM_CM2 = 1e-4


def ohm_m2_to_ohm_cm2(r: float) -> float:
    """Ω m² → Ω cm²."""
    return r / OHM_M2_PER_OHM_CM2


class InterfaceResistance:
    """R_interface (Ω m²) from the proton field, assembled collectively.

    Args:
        domain: the domain carrying ``x_H`` (e.g. the film sub-mesh).
        x_H: proton site fraction in LiCoO2 (P1 function; 0 outside LiCoO2 is fine,
            only ``regions`` are integrated).
        T: temperature (K), a function on the same mesh or a number.
        law: the σ_d law.
        regions: regions whose protons count (default ``LiCoO2`` + ``degraded``).
        interface: facet group(s) at the top of those regions (lateral length in 2-D).
    """

    def __init__(self, domain: Domain, x_H: fem.Function, T, law: DegradedLayerLaw,
                 regions: Sequence[str] | None = None, interface: Sequence[str] | None = None):
        self.domain, self.x, self.T = domain, x_H, T
        self.law = law
        self.regions = tuple(regions) if regions is not None else tuple(
            r for r in ("LiCoO2", "degraded") if r in domain.cell_names)
        if interface is None:
            interface = tuple(n for n in domain.facet_names
                              if n.split("|")[0] in self.regions and "|" in n
                              and n.split("|")[1] not in self.regions)
        self.interface = tuple(interface)
        md = {"quadrature_degree": 6}
        dx = ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags, metadata=md)
        ids = tuple(domain.cell_tag(r) for r in self.regions)
        scale = domain.length_scale**domain.dim
        self._Tc = fem.Constant(domain.mesh, float(self.law.reference_temperature))
        Tform = T if not isinstance(T, (int, float)) else fem.Constant(domain.mesh, float(T))
        self._T_expr = Tform
        self._form_T = fem.form(scale * self.law.excess_resistivity(x_H, Tform) * dx(ids))
        self._form_c = fem.form(scale * self.law.excess_resistivity(x_H, self._Tc) * dx(ids))
        self.width = self._width()

    def _width(self) -> float:
        d = self.domain
        if d.dim == 1:
            return 1.0
        one = fem.Constant(d.mesh, 1.0)
        w = 0.0
        for n in self.interface:
            w += d.integrate(one, d.ds(n)) + d.integrate(one, d.dS(n))
        return w

    def _assemble(self, form) -> float:
        return self.domain.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM) / self.width

    def excess(self, T: float | None = None) -> float:
        """Excess resistance (Ω m²) at T (K); None: at the current temperature field."""
        if T is None:
            return self._assemble(self._form_T)
        self._Tc.value = float(T)
        return self._assemble(self._form_c)

    def total(self, T: float | None = None) -> float:
        """R_p(T) + excess (Ω m²); T None: current field (R_p at its mean over Ω)."""
        if T is None:
            Tm = self._mean_T()
            return self.law.pristine(Tm) + self.excess(None)
        return self.law.pristine(T) + self.excess(T)

    def at_reference(self) -> float:
        """R_interface at 25 °C (Ω m²)."""
        return self.total(self.law.reference_temperature)

    def _mean_T(self) -> float:
        if isinstance(self.T, (int, float)):
            return float(self.T)
        d = self.domain
        if not hasattr(self, "_form_Tmean"):  # compiled once
            self._form_Tmean = fem.form(self._T_expr * d.dx(*self.regions))
            self._volume = d.volume(*self.regions)
        return d.comm.allreduce(fem.assemble_scalar(self._form_Tmean), op=MPI.SUM) / self._volume


__all__ = ["InterfaceResistance", "OHM_M2_PER_OHM_CM2", "ohm_m2_to_ohm_cm2"]
