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

Defaults (= the cell file's): σ0 = 1e-5 S/m (C, science.md §3), β = 9.626 (C, calibrated by
scripts/calibrate.py from the feasible point's 9.6); R_p = 9.75 Ω cm² at 25 °C (A:
8.6–10 Ω cm² measured, feasible point 9.5–10); E_a of σ0 and of R_p 0.6 eV (C: typical
LiCoO2|solid-electrolyte charge-transfer activation energies 0.5–0.7 eV; not fitted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fem_cell._dolfinx import fem, ufl
from fem_cell.constants import BOLTZMANN_EV, ZERO_CELSIUS
from fem_cell.domain import Domain

T_REF = 25.0 + ZERO_CELSIUS  # K
OHM_M2_PER_OHM_CM2 = 1e-4


def ohm_m2_to_ohm_cm2(r: float) -> float:
    """Ω m² → Ω cm²."""
    return r / OHM_M2_PER_OHM_CM2


@dataclass(frozen=True)
class DegradedLayerLaw:
    """Parameters of σ_d(x_H, T) and of the pristine interface resistance (SI).

    Args:
        sigma0: σ0 at T_ref (S/m); 1e-5 (C, science.md §3).
        beta: β of g = exp(−β x) (–); 9.626 (C, calibrated; science.md §3: 9.6).
        activation_energy: E_a of σ0 (eV); 0.6 (C).
        pristine_resistance: R_p at T_ref (Ω m²); 9.75e-4 = 9.75 Ω cm² (A/C).
        pristine_activation_energy: E_a of 1/R_p (eV); 0.6 (C).
        T_ref: reference temperature (K).
    """

    sigma0: float = 1e-5
    beta: float = 9.626
    activation_energy: float = 0.6
    pristine_resistance: float = 9.75e-4
    pristine_activation_energy: float = 0.6
    T_ref: float = T_REF

    def _factor(self, T, ea):
        arg = -ea / BOLTZMANN_EV * (1.0 / T - 1.0 / self.T_ref)
        return math.exp(arg) if isinstance(T, (int, float)) else ufl.exp(arg)

    def g(self, x):
        """g(x) = exp(−β x) (float or UFL)."""
        return math.exp(-self.beta * x) if isinstance(x, (int, float)) else ufl.exp(-self.beta * x)

    def conductivity(self, x, T):
        """σ_d(x_H, T) (S/m), float or UFL."""
        return self.sigma0 * self._factor(T, self.activation_energy) * self.g(x)

    def excess_resistivity(self, x, T):
        """1/σ_d(x, T) − 1/σ_d(0, T) = (exp(βx) − 1)/σ0(T) (Ω m), float or UFL."""
        if isinstance(x, (int, float)):
            ex = math.expm1(self.beta * x)
        else:
            ex = ufl.exp(self.beta * x) - 1.0
        return ex / (self.sigma0 * self._factor(T, self.activation_energy))

    def pristine(self, T: float) -> float:
        """R_p(T) (Ω m²)."""
        return self.pristine_resistance / self._factor(float(T), self.pristine_activation_energy)


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

    def __init__(self, domain: Domain, x_H: fem.Function, T, law: DegradedLayerLaw | None = None,
                 regions: Sequence[str] | None = None, interface: Sequence[str] | None = None):
        self.domain, self.x, self.T = domain, x_H, T
        self.law = law or DegradedLayerLaw()
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
        self._Tc = fem.Constant(domain.mesh, float(self.law.T_ref))
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
        from fem_cell._dolfinx import MPI

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
        return self.total(self.law.T_ref)

    def _mean_T(self) -> float:
        if isinstance(self.T, (int, float)):
            return float(self.T)
        from fem_cell._dolfinx import MPI

        d = self.domain
        if not hasattr(self, "_form_Tmean"):  # compiled once
            self._form_Tmean = fem.form(self._T_expr * d.dx(*self.regions))
            self._volume = d.volume(*self.regions)
        return d.comm.allreduce(fem.assemble_scalar(self._form_Tmean), op=MPI.SUM) / self._volume


__all__ = ["DegradedLayerLaw", "InterfaceResistance", "OHM_M2_PER_OHM_CM2", "ohm_m2_to_ohm_cm2"]
