"""Model-side observers of an anneal: the diagnostics row and the Li-melting guard.

* :class:`AnnealDiagnostics` computes the history row of a state (plate and film
  temperatures, and with chemistry R_interface and the proton inventories) into
  ``snapshot.values``;
* :class:`MeltingGuard` stops the run when a Li-metal point passes its melting point.
"""

from __future__ import annotations

import numpy as np

from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.errors import RunAborted
from fem_cell.model.chemistry import ChemistryDiagnostics, ChemistryModel
from fem_cell.model.heat import FilmTemperatures, HeatModel, film_layers, li_metal_layers
from fem_cell.solvers.observers import Snapshot

#: history columns of every anneal (chemistry runs add :data:`CHEMISTRY_COLUMNS`)
HEAT_COLUMNS = ["time_s", "T_plate_C", "T_min_C", "T_mean_C", "T_max_C", "T_top_C",
                "T_Li_max_C", "dt_s", "newton_iterations"]


class AnnealDiagnostics:
    """The history row of the current state (collective), into ``snapshot.values``.

    Args:
        config: the run's configuration (program, layers).
        heat: the heat model.
        chemistry: the chemistry model, or None (heat only).
        stored: a row to repeat for the initial snapshot (a restart's checkpointed row).
    """

    def __init__(self, config: RunConfig, heat: HeatModel, chemistry: ChemistryModel | None,
                 stored: dict | None = None):
        self.program = config.anneal
        domain = heat.domain
        metal = tuple(n for n in li_metal_layers(config) if n in domain.cell_names)
        self.temperatures = FilmTemperatures(domain, heat.T, film_layers(config), metal)
        self.chemistry = (ChemistryDiagnostics(chemistry, config.solver)
                          if chemistry is not None else None)
        self.columns = HEAT_COLUMNS + (self.chemistry.columns if chemistry is not None else [])
        self.stored = stored
        if self.chemistry is not None and stored:
            self.chemistry.resume(stored)

    def __call__(self, snap: Snapshot) -> None:
        d = self.temperatures()
        C = ZERO_CELSIUS
        row = {"time_s": snap.t, "T_plate_C": self.program.temperature(snap.t) - C,
               "T_min_C": d["T_min"] - C, "T_mean_C": d["T_mean"] - C,
               "T_max_C": d["T_max"] - C, "T_top_C": d["T_top"] - C,
               "T_Li_max_C": d["T_metal_max"] - C if np.isfinite(d["T_metal_max"]) else np.nan,
               "dt_s": snap.dt, "newton_iterations": snap.newton_iterations}
        if self.chemistry is not None:
            row.update(self.chemistry(after_step=not snap.initial, dt=snap.dt,
                                      order=snap.order))
        if snap.initial and self.stored:  # a restart repeats the checkpointed row exactly
            row.update({k: v for k, v in self.stored.items() if k in row})
        snap.values.update(row)
        snap.values["T_metal_max_K"] = d["T_metal_max"]


class MeltingGuard:
    """Stops the run if any Li-metal point exceeds the melting point.

    Args:
        melting_point: K (None: no guard).
        layers: the Li-metal layers watched (names, for the message).
    """

    def __init__(self, melting_point: float | None, layers: tuple[str, ...]):
        self.melting_point = melting_point
        self.layers = layers

    @classmethod
    def of(cls, config: RunConfig, heat: HeatModel) -> MeltingGuard:
        metal = tuple(n for n in li_metal_layers(config) if n in heat.domain.cell_names)
        return cls(config.li_melting_point, metal)

    def __call__(self, snap: Snapshot) -> None:
        self.check(snap.t, snap.values["T_metal_max_K"])

    def check(self, t: float, T_metal_max: float) -> None:
        tm = self.melting_point
        if tm is None or not self.layers or not np.isfinite(T_metal_max):
            return
        if T_metal_max > tm:
            raise RunAborted(
                f"Li melted: the Li layer ({', '.join(self.layers)}) reached "
                f"{T_metal_max - ZERO_CELSIUS:.2f} °C at t = {t / 60:.2f} min, above its melting "
                f"point {tm - ZERO_CELSIUS:.1f} °C; the run was stopped")


__all__ = ["AnnealDiagnostics", "HEAT_COLUMNS", "MeltingGuard"]
