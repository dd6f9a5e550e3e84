"""One model of a cell, built from a configuration: every job uses it.

:class:`CellModel` turns a :class:`~fem_cell.config.RunConfig` (and optionally a saved
state) into the meshes, fields and physics blocks:

* ``model.domain``: the stack mesh (built or read, :func:`~fem_cell.model.heat.build_domain`);
* ``model.film``: the film sub-mesh (LiCoO2, degraded layer, Li3PO4) the transport and
  the impedance share;
* :meth:`CellModel.heat`: heat on the stack (:mod:`fem_cell.model.heat`);
* :meth:`CellModel.chemistry`: heat + Li⁺/H⁺ transport (:mod:`fem_cell.model.chemistry`);
* :meth:`CellModel.operating_point`: a proton state on the film (pristine, exposed, a
  checkpoint, a uniform value or a profile);
* :meth:`CellModel.small_signal`: the electrochemistry linearised at an operating point,
  on the film refined for Li diffusion (:mod:`fem_cell.model.impedance`).

The model owns the solvers it builds: :meth:`CellModel.destroy` (collective) frees them
on every rank in the same order.  No job logic here (folders, progress, outputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig
from fem_cell.domain import Domain
from fem_cell.errors import on_root
from fem_cell.model.chemistry import (
    CHEMISTRY_COLUMNS,
    ChemistryDiagnostics,
    ChemistryModel,
    build_chemistry,
    build_transport_problem,
    expose_block,
    film_regions,
    kept_anneal,
    proton_inventories,
    summary_values,
    transport_block,
    transport_fields,
)
from fem_cell.model.electrochem import (
    ElectrochemModel,
    build_electrochem_model,
    electrochem_parameters,
)
from fem_cell.model.heat import (
    FilmTemperatures,
    HeatModel,
    build_domain,
    build_heat,
    film_layers,
    li_metal_layers,
    top_boundaries,
)
from fem_cell.model.impedance import (
    FILM_REGIONS,
    Elements,
    FilmMesh,
    ImpedanceJobError,
    OperatingPoint,
    SmallSignalModel,
    build_small_signal,
)
from fem_cell.physics.parameters import Exposure
from fem_cell.solvers.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint_meta,
    resolve_checkpoint,
)


def _p1(domain: Domain, name: str) -> fem.Function:
    return fem.Function(fem.functionspace(domain.mesh, ("Lagrange", 1)), name=name)


class CellModel:
    """The model of one configured cell on a communicator (collective throughout).

    Args:
        config: validated configuration.
        comm: the communicator the meshes are distributed over.
        domain: use this stack mesh instead of building one.
    """

    def __init__(self, config: RunConfig, comm: MPI.Comm, *, domain: Domain | None = None):
        self.config = config
        self.comm = domain.comm if domain is not None else comm
        self._domain = domain
        self._film: Domain | None = None
        self._owned: list = []

    @property
    def domain(self) -> Domain:
        """The stack mesh (built on first use)."""
        if self._domain is None:
            self._domain = build_domain(self.config, self.comm)
        return self._domain

    @property
    def film(self) -> Domain:
        """The film sub-mesh (LiCoO2, degraded, Li3PO4) of the stack mesh."""
        if self._film is None:
            layers = film_regions(self.domain)
            if layers != FILM_REGIONS:
                raise ImpedanceJobError(f"the film model needs the regions {FILM_REGIONS}; "
                                        f"the mesh has {sorted(self.domain.cell_names)}")
            self._film = self.domain.submesh(*layers)
        return self._film

    def _own(self, obj):
        self._owned.append(obj)
        return obj

    def heat(self) -> HeatModel:
        """Heat on the stack over the anneal program."""
        return self._own(build_heat(self.config, self.domain))

    def chemistry(self, *, expose: bool = True, exposure: Exposure | None = None,
                  exposure_hooks: dict | None = None) -> ChemistryModel:
        """Heat + transport, starting from the simulated exposure (or proton-free);
        ``exposure_hooks``: ``on_step``/``poll`` of the exposure's run.

        A model that has not built its mesh yet takes a kept anneal (heat and transport)
        of its configuration's structure and its mesh where the process has one, and has
        its own kept once it is gone (serial 1-D: :func:`kept_anneal`; not after a failed
        run)."""
        key = kept = None
        if self._domain is None:
            key, kept = kept_anneal(self.config, self.comm, expose=expose)
            if kept is not None:
                self._domain = kept.domain
        return self._own(build_chemistry(self.config, self.domain, expose=expose,
                                         exposure=exposure, exposure_hooks=exposure_hooks,
                                         kept=kept, keep_key=key))

    def operating_point(self, *, state=None, proton_fraction=None) -> OperatingPoint:
        """A proton state on the film (collective).

        Args:
            state: checkpoint file or run folder (its last state), or None.
            proton_fraction: None/0 (pristine), ``"exposed"`` (the configuration's
                exposure), an :class:`~fem_cell.physics.parameters.Exposure`, a number
                (uniform x_H in all LiCoO2) or a callable f(x) of SI coordinates
                (shape (3, n)) → x_H in LiCoO2.

        Raises:
            ImpedanceJobError, CheckpointError: both given, or an unusable state.
        """
        if state is not None and proton_fraction is not None:
            raise ImpedanceJobError("give either a state or a proton fraction, not both")
        exposed = isinstance(proton_fraction, Exposure) or proton_fraction == "exposed"
        if isinstance(proton_fraction, str) and not exposed:
            raise ImpedanceJobError(f"proton_fraction {proton_fraction!r}: expected 'exposed', "
                                    "a number, a callable or an Exposure")
        film = self.film
        x_lco, x_lpo = _p1(film, "xH_LiCoO2"), _p1(film, "xH_Li3PO4")
        if state is not None:
            return _load_state(film, x_lco, x_lpo, state)
        if exposed:
            return self._exposed(proton_fraction if isinstance(proton_fraction, Exposure)
                                 else self.config.exposure)
        if proton_fraction is None or (isinstance(proton_fraction, (int, float))
                                       and proton_fraction == 0):
            return OperatingPoint(film, x_lco, x_lpo, "pristine")
        film.mesh.topology.create_connectivity(film.dim, film.dim)
        lco_dofs = fem.locate_dofs_topological(x_lco.function_space, film.dim,
                                               film.cells("LiCoO2", "degraded"))
        if isinstance(proton_fraction, (int, float)):
            x_lco.x.array[lco_dofs] = float(proton_fraction)
            src = "uniform"
        elif callable(proton_fraction):
            tmp = _p1(film, "tmp")
            ell = film.length_scale
            tmp.interpolate(lambda X: np.asarray(proton_fraction(X * ell), float)
                            * np.ones(X.shape[1]))
            x_lco.x.array[lco_dofs] = tmp.x.array[lco_dofs]
            src = "profile"
        else:
            raise ImpedanceJobError(f"proton_fraction of type {type(proton_fraction).__name__}: "
                                    "expected a number, a callable, 'exposed' or an Exposure")
        x_lco.x.scatter_forward()
        return OperatingPoint(film, x_lco, x_lpo, src)

    def _exposed(self, exposure: Exposure) -> OperatingPoint:
        """The state the simulated exposure leaves on the film (total proton fraction)."""
        cfg, film = self.config, self.film
        block = transport_block(cfg, film, _p1(film, "T_film_K"), sink=False)
        result = expose_block(cfg, film, exposure, block)
        x_lco, x_lpo = _p1(film, "xH_LiCoO2"), _p1(film, "xH_Li3PO4")
        x_lco.x.array[:] = block.x["LiCoO2"].x.array
        if "LiCoO2" in block.trapped:
            x_lco.x.array[:] += block.trapped["LiCoO2"].x.array
        x_lpo.x.array[:] = block.x["Li3PO4"].x.array
        op = OperatingPoint(film, x_lco, x_lpo, "exposed")
        op.state_meta = {"exposure": result.summary()}
        return op

    def small_signal(self, op: OperatingPoint, temperature: float = 298.15, *,
                     prefix: str = "fem_cell_imp_",
                     refine_electrode: bool | tuple[float, float] = True,
                     film_mesh: FilmMesh | None = None) -> SmallSignalModel:
        """The electrochemistry linearised at ``op`` and ``temperature`` (K) (its mesh:
        ``refine_electrode`` and ``film_mesh`` of
        :func:`~fem_cell.model.impedance.build_small_signal`)."""
        return self._own(build_small_signal(self.config, op, temperature, prefix=prefix,
                                            refine_electrode=refine_electrode,
                                            film_mesh=film_mesh))

    def destroy(self) -> None:
        """Destroy every solver this model built, in the order built (collective)."""
        for obj in self._owned:
            obj.destroy()
        self._owned.clear()


def _load_state(film: Domain, x_lco, x_lpo, state) -> OperatingPoint:
    """The proton fields of a checkpoint (or a run folder's last state) on ``film``."""
    comm = film.comm

    def locate():
        ck = resolve_checkpoint(state)
        return str(ck), read_checkpoint_meta(ck)

    ck, info = on_root(comm, locate)
    ck = Path(ck)
    names = [n for n in ("xH_LiCoO2", "xT_LiCoO2", "xH_Li3PO4") if n in info["fields"]]
    if "xH_LiCoO2" not in names:
        raise CheckpointError(f"{ck}: has no proton field xH_LiCoO2 (fields {info['fields']}); "
                              f"was it written by a heat-only run?")
    spaces = {n: x_lco.function_space for n in names}
    st, meta = load_checkpoint(ck, comm, spaces)
    got = dict(zip(spaces, st.states[0], strict=True))
    x_lco.x.array[:] = got["xH_LiCoO2"] + got.get("xT_LiCoO2", 0.0)
    if "xH_Li3PO4" in got:
        x_lpo.x.array[:] = got["xH_Li3PO4"]
    return OperatingPoint(film, x_lco, x_lpo, "state", ck, float(info["t"]), meta)


__all__ = ["CHEMISTRY_COLUMNS", "CellModel", "ChemistryDiagnostics", "ChemistryModel",
           "ElectrochemModel", "Elements", "FilmTemperatures", "HeatModel", "ImpedanceJobError",
           "OperatingPoint", "SmallSignalModel", "build_chemistry", "build_domain",
           "build_electrochem_model", "build_heat", "build_small_signal",
           "build_transport_problem", "electrochem_parameters", "film_layers",
           "li_metal_layers", "proton_inventories", "summary_values", "top_boundaries",
           "transport_block", "transport_fields"]
