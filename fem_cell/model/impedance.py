"""The small-signal model of the cell at a state: operating point, elements, physics.

The impedance is linearised about a frozen proton field on the anneal's film sub-mesh
(:class:`OperatingPoint`).  :func:`build_small_signal` puts the electrochemistry block on
that film mesh (refined in the LiCoO2 bulk for Li diffusion, and in 2-D laterally at the Li
pad edges: :func:`fem_cell.meshing.refine_2d.small_signal_film_domain`)
with the interface model below, and computes the model's own element values
(:class:`Elements`).

Interface model (docs/impedance.md, "Job model"; :mod:`fem_cell.physics.degraded`): the
pristine interface resistance R_p(T) of ``[degraded_layer]`` is split into the proton-free
degraded layer (share s) and charge transfer at LiCoO2, (1 − s) R_p(T), which protons do
not change.  The degraded layer carries σ_d(x_H, T) = L_d/(s R_p(T)) exp(−β x_H) pointwise
(DG0: each cell's harmonic mean, exact for the 1-D column resistance); protons deeper in
the LiCoO2 bulk slow Li chemical diffusion by occupying Li sites, D̃(z) = D̃ (1 − x_H(z))
(mean-field site blocking, no new parameter).  The layer's empirical exp(−β x_H) describes
Li transfer through the protonated skin, not bulk hopping: applied to D̃ it made the
spectrum's diffusion part so non-uniform after an anneal that the equivalent-circuit arc
drifted 6 % from the state (9.28 ± 0.88 vs 9.89 Ω cm²); with site blocking they agree
(9.89 ± 0.02).  The interface arc of the spectrum is therefore the
state's R_interface as measured; :class:`Elements` also carries the diagnostic integral
(``R_interface_state``) that the histories use, which the arc fit checks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import dolfinx, fem, ufl
from fem_cell.config import RunConfig
from fem_cell.constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY
from fem_cell.domain import Domain
from fem_cell.errors import FemCellError
from fem_cell.forms import compile_form, constant
from fem_cell.meshing.refine_2d import small_signal_film_domain
from fem_cell.model.electrochem import (
    ElectrochemModel,
    build_electrochem_model,
    electrochem_parameters,
)
from fem_cell.params import Arrhenius
from fem_cell.physics.degraded import DEGRADED_REGION, InterfaceResistance
from fem_cell.physics.electrochem import FilmRegions, exchange_current
from fem_cell.physics.parameters import DegradedLayerLaw

FILM_REGIONS = ("LiCoO2", "degraded", "Li3PO4")
OHM_CM2 = 1e4   # Ω m² → Ω cm²
F_CM2 = 1e-4    # F/m² → F/cm²


#: lowest temperature (K) the small-signal model is evaluated at: −50 °C (its Arrhenius
#: laws were measured and calibrated between 25 and 150 °C; below −50 °C the extrapolation
#: spans more than the measured range again)
MIN_TEMPERATURE = 223.15


class ImpedanceJobError(FemCellError):
    """An impedance run that cannot be set up (bad state, mesh, frequencies)."""


def check_temperature(T: float, config: RunConfig, what: str = "temperature") -> float:
    """T (K) if the model may be evaluated there: from :data:`MIN_TEMPERATURE` up to the
    Li melting point (the cell does not exist above it), else ImpedanceJobError."""
    hi = config.li_melting_point or 453.65
    if not (math.isfinite(T) and MIN_TEMPERATURE <= T < hi):
        raise ImpedanceJobError(f"{what} {T - 273.15:.6g} °C: expected from "
                                f"{MIN_TEMPERATURE - 273.15:g} °C up to the Li melting point "
                                f"{hi - 273.15:.1f} °C (the model's validity range)")
    return T


@dataclass
class OperatingPoint:
    """The frozen state the cell is linearised about.

    Attributes:
        film: the film sub-mesh (LiCoO2, degraded, Li3PO4) of the configuration.
        x_lco: proton site fraction in LiCoO2 (P1 on ``film``).
        x_lpo: proton site fraction in Li3PO4 (P1 on ``film``).
        source: ``"pristine"``, ``"uniform"``, ``"profile"``, ``"exposed"`` or ``"state"``.
        state_file: the checkpoint read (source ``"state"``).
        state_time: simulated time of that checkpoint (s).
        state_meta: its metadata.
    """

    film: Domain
    x_lco: fem.Function
    x_lpo: fem.Function
    source: str
    state_file: Path | None = None
    state_time: float | None = None
    state_meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Elements:
    """The model's own element values at the operating point (SI: Ω m², F/m², s, H m²)."""

    R_bulk: float
    C_bulk: float
    R_degraded: float
    R_degraded_pristine: float
    R_ct: float
    C_dl: float
    R_Li: float
    C_Li: float
    R_diffusion: float
    tau_diffusion: float
    R_series: float
    L_series: float
    R_interface_state: float

    @property
    def R_interface(self) -> float:
        """R_d + R_ct (Ω m²): the diagnostic interface resistance (the spectrum's arc is
        the measured one)."""
        return self.R_degraded + self.R_ct

    def ohm_cm2(self) -> dict[str, float]:
        """Headline element values at the edge (Ω cm², F/cm², s)."""
        return {"R_bulk_ohm_cm2": self.R_bulk * OHM_CM2, "C_bulk_F_cm2": self.C_bulk * F_CM2,
                "R_degraded_ohm_cm2": self.R_degraded * OHM_CM2,
                "R_ct_ohm_cm2": self.R_ct * OHM_CM2, "C_dl_F_cm2": self.C_dl * F_CM2,
                "R_Li_ohm_cm2": self.R_Li * OHM_CM2, "C_Li_F_cm2": self.C_Li * F_CM2,
                "R_diffusion_ohm_cm2": self.R_diffusion * OHM_CM2,
                "tau_diffusion_s": self.tau_diffusion,
                "R_series_ohm_cm2": self.R_series * OHM_CM2}


@dataclass
class SmallSignalModel:
    """The electrochemistry of one operating point, ready to sweep."""

    op: OperatingPoint
    model: ElectrochemModel
    elements: Elements
    temperature: float
    sigma_degraded: fem.Function

    def destroy(self) -> None:
        self.model.destroy()


def degraded_sigma(film: Domain, x, law: DegradedLayerLaw, T: float,
                   thickness: float) -> fem.Function:
    """DG0 σ_K = |K| / ∫_K dx/σ_d(x_H, T) on the degraded cells (S/m; 1 elsewhere)."""
    la = dolfinx.la
    Q = fem.functionspace(film.mesh, ("DG", 0))
    q = ufl.TestFunction(Q)
    dx = ufl.Measure("dx", domain=film.mesh, subdomain_data=film.cell_tags,
                     metadata={"quadrature_degree": 6})
    tag = film.cell_tag(DEGRADED_REGION)
    Tc = constant(film.mesh, float(T))
    rho = law.layer_resistivity(x, Tc, thickness)

    def vec(expr):
        b = fem.assemble_vector(compile_form(expr * q * dx(tag)))
        b.scatter_reverse(la.InsertMode.add)
        return b.array.copy()

    r, v = vec(rho), vec(constant(film.mesh, 1.0))
    sigma = fem.Function(Q, name="sigma_degraded")
    n = Q.dofmap.index_map.size_local
    s = np.ones_like(r)
    ok = r[:n] > 0
    s[:n][ok] = v[:n][ok] / r[:n][ok]
    sigma.x.array[:n] = s[:n]
    sigma.x.scatter_forward()
    return sigma


#: a small-signal film mesh: (the state's film domain, its proton field, a (cell m,
#: growth) grading or None) → (the refined domain, the field on it)
FilmMesh = Callable[[Domain, fem.Function, tuple[float, float] | None],
                    tuple[Domain, fem.Function]]


def build_small_signal(config: RunConfig, op: OperatingPoint, temperature: float = 298.15, *,
                       prefix: str = "fem_cell_imp_",
                       refine_electrode: bool | tuple[float, float] = True,
                       film_mesh: FilmMesh | None = None) -> SmallSignalModel:
    """The electrochemistry on ``op.film`` at a uniform temperature (K) (collective).

    ``refine_electrode``: run the electrochemistry on a refinement of the film mesh made
    by ``film_mesh(film, x, grading)`` (default
    :func:`~fem_cell.meshing.refine_2d.small_signal_film_domain`: the LiCoO2 bulk
    graded, in 2-D also the Li pad edges; a ``(cell m, growth)`` tuple is the
    ``grading``, True the default one); False: on the film mesh as it is.  The diagnostic
    R_interface is always integrated on ``op.film``, the state's own mesh.
    """
    T = float(temperature)
    if not T > 0:
        raise ImpedanceJobError(f"temperature {T} K: expected > 0 K")
    film = op.film
    law = config.chemistry.degraded_layer
    g = config.geometry
    L_lco, L_d, L_se = (g.layer(n).thickness for n in FILM_REGIONS)
    x = op.x_lco
    diag = InterfaceResistance(film, x, T, law, L_d)
    R_layer = diag.layer(T)
    base = electrochem_parameters(config)
    params = dataclasses.replace(base, electrode_exchange_current=Arrhenius(
        exchange_current(law.charge_transfer(T), T, base.alpha_a, base.alpha_c), 0.0, T))
    ec_film, ec_x = film, x
    if refine_electrode:
        ec_film, ec_x = (film_mesh or small_signal_film_domain)(
            film, x, refine_electrode if isinstance(refine_electrode, tuple) else None)
    sigma = degraded_sigma(ec_film, ec_x, law, T, L_d)
    regions = FilmRegions(electrode="LiCoO2", degraded=DEGRADED_REGION, electrolyte="Li3PO4",
                          li_contact="Li3PO4|Li", li_contact_exterior=True,
                          double_layer="degraded|Li3PO4")
    model = build_electrochem_model(film.comm, params, domain=ec_film, regions=regions,
                                    temperature=T, proton_fraction=ec_x,
                                    conductivity_law=lambda _x, _T: sigma,
                                    diffusivity_factor=1.0 - ec_x, prefix=prefix)
    el = _elements(params, law, T, L_lco, L_se, R_layer, L_d)
    return SmallSignalModel(op, model, el, T, sigma)


def _elements(p, law: DegradedLayerLaw, T: float, L_lco: float, L_se: float, R_layer: float,
              L_d: float) -> Elements:
    """The model's element values at T (proton-free Warburg, diagnostic interface)."""
    D = p.diffusivity(T)
    f = FARADAY / (GAS_CONSTANT * T)
    R_dp = law.pristine_share * law.pristine(T)
    return Elements(
        R_bulk=L_se / p.electrolyte_sigma(T),
        C_bulk=p.electrolyte_relative_permittivity * VACUUM_PERMITTIVITY / L_se,
        R_degraded=R_layer, R_degraded_pristine=R_dp, R_ct=law.charge_transfer(T),
        C_dl=p.electrode_double_layer_capacitance,
        R_Li=1.0 / (f * p.li_i0(T) * (p.alpha_a + p.alpha_c)),
        C_Li=p.li_double_layer_capacitance,
        R_diffusion=abs(p.ocv_slope) * L_lco / (FARADAY * p.electrode_site_density * D),
        tau_diffusion=L_lco**2 / D,
        R_series=p.lead_resistance * p.pad_area, L_series=p.lead_inductance * p.pad_area,
        R_interface_state=law.charge_transfer(T) + R_layer)


__all__ = ["Elements", "F_CM2", "FILM_REGIONS", "FilmMesh", "ImpedanceJobError",
           "MIN_TEMPERATURE", "check_temperature", "OHM_CM2", "OperatingPoint",
           "SmallSignalModel", "build_small_signal", "degraded_sigma"]
