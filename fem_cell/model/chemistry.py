"""The anneal chemistry: heat on the stack + Li⁺/H⁺ transport on the film sub-mesh.

:func:`build_chemistry` assembles, from a configuration, the transport block
(:class:`~fem_cell.physics.transport.TransportPhysics`) on the film sub-mesh (LiCoO2,
degraded layer, Li3PO4), its transient problem, the heat problem it reads its
temperature from, and the interface resistance of the proton field.
:class:`ChemistryDiagnostics` evaluates the history columns of a state.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import fem
from fem_cell.config import RunConfig, SolverSettings
from fem_cell.domain import Domain, SubmeshTransfer
from fem_cell.model.heat import HeatModel, build_heat
from fem_cell.physics.degraded import InterfaceResistance, ohm_m2_to_ohm_cm2
from fem_cell.physics.exposure import apply_exposure, exposure_profile
from fem_cell.physics.parameters import Chemistry, Exposure
from fem_cell.physics.transport import (
    PHI_NEWTON_TOL,
    X_NEWTON_TOL,
    Phase,
    TransportPhysics,
)
from fem_cell.solvers.coupled import SequentialProblem
from fem_cell.solvers.problem import Field, TransientProblem

#: the film layers the transport runs on, bottom → top (those present in the mesh)
FILM_TRANSPORT_LAYERS = ("LiCoO2", "degraded", "Li3PO4")
#: history columns of the chemistry (see :class:`ChemistryDiagnostics`)
CHEMISTRY_COLUMNS = ["R_interface_ohm_cm2", "R_interface_T_ohm_cm2", "H_LiCoO2_mol_m2",
                     "H_Li3PO4_mol_m2", "H_consumed_mol_m2", "H_flux_interface_mol_m2_s",
                     "mass_balance_rel", "xH_min", "xH_max"]
#: fractions outside [−tol, 1 + tol] stop the run (never clipped)
FRACTION_TOLERANCE = 1e-6
_prefixes = itertools.count()


def film_regions(domain: Domain) -> tuple[str, ...]:
    """The transport layers present in a mesh."""
    return tuple(n for n in FILM_TRANSPORT_LAYERS if n in domain.cell_names)


def phases(config: RunConfig, chem: Chemistry, film: Domain) -> tuple[Phase, ...]:
    """The transport phases present in ``film``, bottom → top: a phase's regions are
    the layers whose material has the phase's name (LiCoO2: ``LiCoO2`` + ``degraded``)."""
    out = []
    for name, props in chem.phases:
        regions = tuple(lay.name for lay in config.geometry.layers
                        if lay.material == name and lay.name in film.cell_names)
        if regions:
            out.append(Phase(name, regions, props))
    if not out:
        raise ValueError(f"no transport phase {list(chem.phase_names)} has a region in the "
                         f"film (regions: {sorted(film.cell_names)})")
    return tuple(out)


def sink_boundary(config: RunConfig, chem: Chemistry) -> str | None:
    """Facet group of the proton sink: ``"<top upper-phase layer>|<layer above it>"``
    (``"Li3PO4|Li"`` for the built-in cell); None when the upper phase is the top of
    the stack."""
    upper = chem.phase_names[-1]
    layers = config.geometry.layers
    idx = [i for i, lay in enumerate(layers) if lay.material == upper]
    if idx and idx[-1] + 1 < len(layers):
        return f"{layers[idx[-1]].name}|{layers[idx[-1] + 1].name}"
    return None


def transport_block(config: RunConfig, film: Domain, T: fem.Function, *,
                    sink: bool = True) -> TransportPhysics:
    """The configuration's transport block on a film (sub-)mesh at temperature T (K):
    its phases present in the mesh, the exchange, and (with ``sink``) the sink at Li."""
    chem = config.chemistry
    return TransportPhysics(film, T, phases(config, chem, film), exchange=chem.exchange,
                            sink=chem.sink if sink else None,
                            sink_boundary=sink_boundary(config, chem) if sink else None)


def transport_fields(block: TransportPhysics, settings: SolverSettings, *,
                     x_newton_tol: float = X_NEWTON_TOL,
                     phi_newton_tol: float = PHI_NEWTON_TOL) -> list[Field]:
    """The block's unknowns as solver fields: the fractions with the time-error
    tolerances of ``settings`` (``fraction_tolerance`` absolute,
    ``fraction_relative_tolerance``), Φ algebraic (not error-controlled); Newton tests
    the update of each (numerical constants of :mod:`fem_cell.physics.transport`)."""
    return [Field(name, f, atol=settings.fraction_tolerance,
                  rtol=settings.fraction_relative_tolerance, newton_tol=x_newton_tol)
            if evolving else Field(name, f, atol=1e300, rtol=0.0, newton_tol=phi_newton_tol)
            for name, f, evolving in block.unknowns()]


def build_transport_problem(block: TransportPhysics, settings: SolverSettings,
                            prefix: str | None = None, **newton) -> TransientProblem:
    """The transport block as a :class:`TransientProblem` (MUMPS LU, per-field Newton test).

    Fields: :func:`transport_fields` (``newton``: its Newton tolerances).  The Jacobian
    is assembled and factorised at every ``settings.transport_jacobian_lag``-th Newton
    iteration of a step (always at the first; SNES ``snes_lag_jacobian``).
    """
    lag = settings.transport_jacobian_lag
    pre = prefix or f"fem_cell_transport_{next(_prefixes)}_"
    return TransientProblem(transport_fields(block, settings, **newton), [block],
                            time=fem.Constant(block.domain.mesh, 0.0), prefix=pre,
                            newton_max_it=settings.newton_max_it,
                            petsc_options={"snes_lag_jacobian": lag} if lag > 1 else None)


@dataclass
class ChemistryModel:
    """Heat on the whole stack + Li⁺/H⁺ transport on the film sub-mesh.

    Attributes:
        heat: the heat model (parent mesh).
        film: the film sub-mesh (LiCoO2, degraded layer, Li3PO4).
        T_film: the temperature on the film mesh (copied from the heat solution).
        transfer: the copy operation (called before each transport solve).
        transport: the transport block (fields ``xH_<phase>`` and ``phi``).
        transport_problem: its TransientProblem.
        problem: heat then transport within each step (what the stepper drives).
        resistance: R_interface of the proton field in LiCoO2.
        exposure: the exposure that made the initial profile (None: proton-free).
    """

    heat: HeatModel
    film: Domain
    T_film: fem.Function
    transfer: SubmeshTransfer
    transport: TransportPhysics
    transport_problem: TransientProblem
    problem: SequentialProblem
    resistance: InterfaceResistance
    exposure: Exposure | None = None

    @property
    def domain(self) -> Domain:
        return self.heat.domain

    @property
    def T(self) -> fem.Function:
        return self.heat.T

    def destroy(self) -> None:
        """Destroy the heat and transport solvers, in that order (collective; the
        fields stay usable)."""
        self.problem.destroy()


def build_chemistry(config: RunConfig, domain: Domain, *, expose: bool = True,
                    exposure: Exposure | None = None) -> ChemistryModel:
    """Heat + transport model of the anneal, with the exposed initial proton profile.

    Args:
        config: validated configuration with chemistry.
        domain: the stack mesh (parent).
        expose: set the initial proton profile from the exposure (else proton-free).
        exposure: an exposure overriding the configuration's.
    """
    chem = config.chemistry
    heat = build_heat(config, domain)
    film = domain.submesh(*film_regions(domain))
    T_film = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)), name="T_film_K")
    transfer = SubmeshTransfer(heat.T, T_film, film)
    transfer()
    block = transport_block(config, film, T_film)
    ph = block.phases
    ex = exposure if exposure is not None else config.exposure
    if expose:
        apply_exposure(block, exposure_profile(ex, chem.exposure_model), phase="LiCoO2")
    else:
        for p in ph:
            block.set_uniform(p.name, 0.0)
    tp = build_transport_problem(block, config.solver, prefix="fem_cell_transport_")
    problem = SequentialProblem([heat.problem, tp], [None, transfer], prefix="fem_cell_anneal")
    R = InterfaceResistance(film, block.x["LiCoO2"], T_film, law=chem.degraded_layer,
                            regions=ph[0].regions)
    return ChemistryModel(heat, film, T_film, transfer, block, tp, problem, R,
                          ex if expose else None)


class ChemistryDiagnostics:
    """Collective evaluation of :data:`CHEMISTRY_COLUMNS` for a :class:`ChemistryModel`.

    Per unit film area: in 1-D integrals are already per m²; in 2-D (per unit depth)
    they are divided by the length of the LiCoO2|Li3PO4 interface, so the 1-D and 2-D
    columns compare directly.

    * ``R_interface_ohm_cm2``: interface resistance at 25 °C (what an impedance
      measurement after cooling sees); ``R_interface_T_ohm_cm2`` at the current T;
    * ``H_LiCoO2_mol_m2``, ``H_Li3PO4_mol_m2``: proton inventories;
    * ``H_consumed_mol_m2``: protons gone from the films (initial − current);
    * ``H_flux_interface_mol_m2_s``: exchange flux LiCoO2 → Li3PO4;
    * ``mass_balance_rel``: the discrete proton balance of the last step (0 on the
      initial row);
    * ``xH_min``, ``xH_max``: extreme site fractions (a run stops if they leave [0, 1]
      by more than :data:`FRACTION_TOLERANCE`).
    """

    def __init__(self, model: ChemistryModel):
        self.model = model
        self.area = model.resistance.width  # 1 in 1-D; interface length (m) in 2-D
        self.initial_total: float | None = None

    def __call__(self, after_step: bool = True) -> dict[str, float]:
        m = self.model
        tr = m.transport
        h_lco = tr.inventory("LiCoO2") / self.area
        h_lpo = tr.inventory("Li3PO4") / self.area
        total = h_lco + h_lpo
        if self.initial_total is None:
            self.initial_total = total
        bounds = tr.check_fractions(tol=FRACTION_TOLERANCE, raise_error=True)["bounds"]
        return {
            "R_interface_ohm_cm2": ohm_m2_to_ohm_cm2(m.resistance.at_reference()),
            "R_interface_T_ohm_cm2": ohm_m2_to_ohm_cm2(m.resistance.total(None)),
            "H_LiCoO2_mol_m2": h_lco,
            "H_Li3PO4_mol_m2": h_lpo,
            "H_consumed_mol_m2": self.initial_total - total,
            "H_flux_interface_mol_m2_s": tr.interface_flux() / self.area,
            "mass_balance_rel": tr.mass_balance_residual() if after_step else 0.0,
            "xH_min": min(b[0] for b in bounds.values()),
            "xH_max": max(b[1] for b in bounds.values()),
        }


def summary_values(rows: dict[str, np.ndarray]) -> dict[str, float]:
    """Initial and final values of the chemistry columns, and the headline numbers."""
    out: dict[str, float] = {}
    for c in CHEMISTRY_COLUMNS:
        if c in rows and len(rows[c]):
            out[f"{c}_initial"] = float(rows[c][0])
            out[f"{c}_final"] = float(rows[c][-1])
    for c in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2", "H_consumed_mol_m2"):
        if c in rows and len(rows[c]):
            out[c] = float(rows[c][-1])
    lco = rows.get("H_LiCoO2_mol_m2")
    if lco is not None and len(lco) and lco[0] > 0:
        out["H_LiCoO2_removed_fraction"] = float(1.0 - lco[-1] / lco[0])
    if "mass_balance_rel" in rows and len(rows["mass_balance_rel"]):
        out["mass_balance_rel_max"] = float(np.abs(rows["mass_balance_rel"]).max())
    return out


def proton_inventories(film: Domain, x_lco: fem.Function, x_lpo: fem.Function,
                       chem: Chemistry) -> dict[str, float]:
    """Proton inventories per unit film area (mol/m²): LiCoO2 (incl. degraded), Li3PO4."""
    width = 1.0 if film.dim == 1 else film.integrate(fem.Constant(film.mesh, 1.0),
                                                     film.ds("substrate|LiCoO2"))
    c_lco = chem.phase("LiCoO2").site_density
    c_lpo = chem.phase("Li3PO4").site_density
    h_lco = film.integrate(c_lco * x_lco, film.dx("LiCoO2", "degraded")) / width
    h_lpo = film.integrate(c_lpo * x_lpo, film.dx("Li3PO4")) / width
    return {"H_LiCoO2_mol_m2": float(h_lco), "H_Li3PO4_mol_m2": float(h_lpo)}


__all__ = ["CHEMISTRY_COLUMNS", "ChemistryDiagnostics", "ChemistryModel", "FILM_TRANSPORT_LAYERS",
           "FRACTION_TOLERANCE", "build_chemistry", "build_transport_problem",
           "film_regions", "phases", "proton_inventories", "sink_boundary", "summary_values",
           "transport_block", "transport_fields"]
