"""The electrochemistry (small-signal) model: its parameters from a configuration, and
the film mesh + :class:`~fem_cell.physics.electrochem.ElectrochemPhysics` + problem."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig
from fem_cell.domain import Domain
from fem_cell.errors import ConfigError
from fem_cell.forms import constant
from fem_cell.meshing.film import DEFAULT_FILM_LAYERS, FilmMeshSettings, build_film_mesh
from fem_cell.params import Arrhenius
from fem_cell.physics.electrochem import (
    ElectrochemParameters,
    ElectrochemPhysics,
    FilmRegions,
    exchange_current,
)
from fem_cell.solvers.problem import Field, TransientProblem


def electrochem_parameters(config: RunConfig, **overrides) -> ElectrochemParameters:
    """The cell's electrochemical parameters (SI) from its materials and tables:

    * Li3PO4 σ(T), εr: ``materials.Li3PO4`` (ionic_conductivity, its activation energy,
      relative_permittivity);
    * LiCoO2 D̃(T), site density: ``materials.LiCoO2``;
    * LiCoO2 charge transfer: the pristine interface resistance
      (``degraded_layer.pristine_resistance`` and its activation energy) minus the share
      carried by the proton-free degraded layer (``degraded_layer.pristine_share``);
    * Li|Li3PO4 i0 from ``electrochemistry.li_interface_resistance``:
      i0 = R T_ref/(F R_Li (α_a + α_c));
    * the rest from ``[electrochemistry]``.

    The degraded layer carries no displacement current (εr = 0): it is electronically
    conducting LiCoO2 whose Li⁺ path is purely resistive (docs/impedance.md).
    ``overrides``: fields of :class:`ElectrochemParameters` (SI).

    Raises:
        ConfigError: the configuration has no ``[electrochemistry]`` or lacks a needed
            material property.
    """
    ec = config.electrochemistry
    if ec is None or config.chemistry is None:
        raise ConfigError(config.files[0] if config.files else None, "electrochemistry",
                          "(missing)", "an [electrochemistry] table and the chemistry tables "
                          "(the small-signal model needs them; see docs/impedance.md)")
    try:
        lpo, lco = config.materials["Li3PO4"], config.materials["LiCoO2"]
        sigma = Arrhenius(lpo["ionic_conductivity"], lpo["ionic_conductivity_activation_energy"])
        D = Arrhenius(lco["li_chemical_diffusivity"], lco["li_diffusivity_activation_energy"])
        eps, c = lpo["relative_permittivity"], lco["li_site_density"]
    except KeyError as e:
        raise ConfigError(config.files[0] if config.files else None, "materials", "(missing)",
                          f"the property the small-signal model needs ({e.args[0]})") from None
    law = config.chemistry.degraded_layer
    Rp = law.pristine_resistance
    R_ct = (1.0 - law.pristine_share) * Rp.value
    a, b = ec.alpha_a, ec.alpha_c
    rli = ec.li_interface_resistance
    kw = dict(
        electrolyte_conductivity=sigma, electrolyte_relative_permittivity=eps,
        degraded_relative_permittivity=0.0, electrode_diffusivity=D, electrode_site_density=c,
        electrode_site_fraction=ec.electrode_site_fraction, ocv_slope=ec.ocv_slope,
        electrode_exchange_current=Arrhenius(exchange_current(R_ct, Rp.T_ref, a, b),
                                             Rp.activation_energy, Rp.T_ref),
        electrode_double_layer_capacitance=ec.electrode_double_layer_capacitance,
        li_exchange_current=Arrhenius(exchange_current(rli.value, rli.T_ref, a, b),
                                      rli.activation_energy, rli.T_ref),
        li_double_layer_capacitance=ec.li_double_layer_capacitance, alpha_a=a, alpha_c=b,
        pad_area=ec.pad_area, lead_resistance=ec.lead_resistance,
        lead_inductance=ec.lead_inductance)
    kw.update(overrides)
    return ElectrochemParameters(**kw)


@dataclass
class ElectrochemModel:
    """A film mesh + the electrochemistry block + its transient problem (at equilibrium).

    Attributes:
        domain: the film mesh.
        physics: the :class:`ElectrochemPhysics` block.
        problem: a :class:`~fem_cell.solvers.problem.TransientProblem` of the fields.
    """

    domain: Domain
    physics: ElectrochemPhysics
    problem: TransientProblem

    @property
    def comm(self) -> MPI.Comm:
        return self.domain.comm

    def destroy(self) -> None:
        """Destroy the problem's solver objects (collective; forms and fields stay)."""
        self.problem.destroy()

    def n_dofs(self) -> int:
        """Global number of unknowns (all fields, pinned DOFs included)."""
        return sum(f.space.dofmap.index_map.size_global for f in self.problem.fields)


def build_electrochem_model(comm: MPI.Comm, params: ElectrochemParameters,
                            layers: Sequence[tuple[str, float]] = DEFAULT_FILM_LAYERS, *,
                            regions: FilmRegions | None = None, temperature=298.15,
                            proton_fraction=0.0, conductivity_law: Callable | None = None,
                            diffusivity_factor=1.0, mesh: FilmMeshSettings | None = None,
                            domain: Domain | None = None,
                            prefix: str = "fem_cell_ec_") -> ElectrochemModel:
    """Film mesh + electrochemistry at the open-circuit operating point (collective).

    Args:
        comm: communicator (never defaulted).
        params: electrochemical parameters (:func:`electrochem_parameters`).
        layers: (name, thickness m) bottom → top; names must match ``regions``.
        regions: region roles; default: electrode/degraded present if in ``layers``.
        temperature: T (K), number or UFL.
        proton_fraction: x_H in the degraded layer (see :class:`ElectrochemPhysics`).
        conductivity_law: σ_d(x_H, T) callable (needed with a degraded region).
        mesh: film mesh resolution.
        domain: use this mesh instead of building one from ``layers`` (then ``regions``
            says which region plays which role); ``comm`` must be its communicator.
        prefix: PETSc options prefix of the (Newton) problem.
    """
    if domain is None:
        domain = build_film_mesh(layers, comm, mesh if mesh is not None else FilmMeshSettings())
    elif MPI.Comm.Compare(domain.comm, comm) not in (MPI.IDENT, MPI.CONGRUENT):
        raise ValueError("domain lives on another communicator than comm")
    names = list(domain.cell_names)
    if regions is None:
        regions = FilmRegions(electrode="LiCoO2" if "LiCoO2" in names else None,
                              degraded="degraded" if "degraded" in names else None)
    physics = ElectrochemPhysics(domain, params, regions, temperature=temperature,
                                 proton_fraction=proton_fraction, conductivity_law=conductivity_law,
                                 diffusivity_factor=diffusivity_factor)
    u = {n: fem.Function(fem.functionspace(domain.mesh, ("Lagrange", 1)), name=n)
         for n in physics.field_names}
    physics.set_equilibrium(u)
    fields = [Field(n, u[n]) for n in physics.field_names]
    problem = TransientProblem(fields, [physics], time=constant(domain.mesh, 0.0),
                               prefix=prefix)
    return ElectrochemModel(domain, physics, problem)


def with_parameters(params: ElectrochemParameters, **changes) -> ElectrochemParameters:
    """A copy with some fields changed (SI)."""
    return dataclasses.replace(params, **changes)


__all__ = ["ElectrochemModel", "build_electrochem_model", "electrochem_parameters",
           "with_parameters"]
