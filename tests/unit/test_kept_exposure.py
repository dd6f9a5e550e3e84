"""A serial 1-D exposure simulation is kept across cases and renewed for each
(fem_cell.model.exposure: structure_key, ExposureSimulation.renew): a kept simulation
must run exactly as a new one would, for any parameter values.

The main test perturbs every declared numeric setting in turn (the cell's parameters,
the exposure, the mesh, the solver) and runs, after each, the kept simulation renewed
for the perturbed configuration and a simulation built new for it: every history row
and the end state are equal bit for bit.  A parameter left in a compiled form as a
literal, or a Python-side value not renewed, would make the two differ for that
parameter."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest

import fem_cell
from fem_cell._dolfinx import MPI, fem
from fem_cell.config import load_config
from fem_cell.config.keys import overrides_from_keys
from fem_cell.errors import ConvergenceError, InputError, RunAborted
from fem_cell.model import CellModel, chemistry, transport_block
from fem_cell.model.exposure import (
    KEPT_SIMULATIONS,
    ExposureSimulation,
    ExposureValidityError,
    exposure_simulation,
    structure_key,
)
from fem_cell.physics.transport import Phase

CELL = tomllib.loads((Path(fem_cell.__file__).parent / "data" / "cells"
                     / "kobayashi2022.toml").read_text())
BASE = {"mesh": {"dim": 1, "cells_per_layer": 12},
        "output": {"fields": False, "plots": False, "render": False}}
#: settings that cannot be perturbed on their own here (a 2-D mesh, a list entry)
SKIP = ("mesh.dim", "mesh.file", "anneal.segments")
#: parameters the exposure depends on: each must change its result (else the comparison
#: below would prove nothing for it).  (Not the activation energies of laws stored by
#: their value at 25 °C, the exposure's temperature, nor the relative humidity of a
#: water-vapour exposure, saturated by default.)
EXPOSURE_PARAMETERS = (
    "materials.LiCoO2.li_site_density", "materials.LiCoO2.li_chemical_diffusivity",
    "transport.LiCoO2.proton_diffusivity", "transport.LiCoO2.proton_diffusivity_activation_energy",
    "transport.LiCoO2.trapping.density", "transport.LiCoO2.trapping.spacing",
    "transport.LiCoO2.trapping.detrapping_rate",
    "transport.LiCoO2.trapping.detrapping_activation_energy",
    "exposure.duration", "exposure.temperature",
    "exposure_model.surface_fraction", "degraded_layer.beta",
    "degraded_layer.pristine_resistance", "layers.LiCoO2.thickness")


@pytest.fixture
def clean():
    chemistry.clear_exposure_cache()
    yield
    chemistry.clear_exposure_cache()


def _block(cfg, film):
    """A transport block on ``film`` (exposure_simulation's argument; 1-D: unused)."""
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    return transport_block(cfg, film, T, sink=False)


def _run(sim: ExposureSimulation) -> tuple[object, list[np.ndarray]]:
    """The history rows, the solver's and the stepper's counts and the end state of a
    run, or the message of its error (a
    perturbed exposure may carry protons through the film, a perturbed solver setting
    may fail: both must fail alike)."""
    try:
        res = sim.run()
    except (ExposureValidityError, ConvergenceError, RunAborted) as e:
        return str(e), []
    b = sim.block
    state = [f.x.array.copy() for f in (*b.x.values(), *b.trapped.values(), b.phi)]
    st = res.stats
    counts = (res.solver, st.accepted, st.rejected_error, st.rejected_newton,
              st.newton_iterations) if st is not None else None
    return {"rows": {k: list(v) for k, v in res.rows.items()}, "counts": counts}, state


def _cell_entry(key: str):
    """The built-in cell file's entry of a dotted key (None: not in the file)."""
    entry = CELL
    for part in key.split("."):
        if not isinstance(entry, dict) or part not in entry:
            return None
        entry = entry[part]
    return entry


def _perturbed(key: str, setting, factor: float) -> object:
    """The setting ``factor`` times its value (ints: + 1; 0: 0.01), written as the cell
    file writes it (an Arrhenius law given by its prefactor stays one)."""
    v = setting.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int):
        return v + 1
    new = factor * v if v != 0 else 0.01
    entry = _cell_entry(key)
    if isinstance(entry, dict) and "prefactor" in entry:
        return {"prefactor": new, "unit": setting.unit}
    return f"{new!r} {setting.unit}".strip() if setting.unit else new


def _config(key, value):
    try:
        return load_config(overrides=overrides_from_keys(BASE, {key: value}))
    except InputError:
        return None


def perturbed_configs(base):
    """(key, configuration) for every declared numeric setting of ``base`` (but
    :data:`SKIP` and the derived ones) perturbed in turn by 5 % (the other way where
    that is out of bounds; ints + 1), those that load."""
    for key, setting in base.settings.items():
        if key.startswith(SKIP) or setting.origin == "derived":
            continue
        cfg = None
        for factor in (1.05, 0.95):       # (the other way where 1.05 is out of bounds)
            value = _perturbed(key, setting, factor)
            cfg = _config(key, value) if value is not None else None
            if cfg is not None or isinstance(value, int):
                break
        if cfg is not None:
            yield key, cfg


def test_a_kept_simulation_runs_as_a_new_one_for_every_parameter(clean, monkeypatch):
    base = load_config(overrides=BASE)
    comm = MPI.COMM_SELF
    renewals = []
    renew = ExposureSimulation.renew
    monkeypatch.setattr(ExposureSimulation, "renew",
                        lambda self, *a, **k: (renewals.append(1), renew(self, *a, **k))[1])

    def kept_and_new(cfg):
        """(renewed?, the kept simulation's run, a new simulation's run)"""
        film = CellModel(cfg, comm).film
        n = len(renewals)
        sim, index = exposure_simulation(cfg, film, cfg.exposure, _block(cfg, film))
        assert index is None and sim.kept
        try:
            kept = _run(sim)
        finally:
            sim.release()
        new = ExposureSimulation(cfg, film, cfg.exposure)
        try:
            fresh = _run(new)
        finally:
            new.destroy()
        return len(renewals) > n, kept, fresh

    _, base_kept, base_fresh = kept_and_new(base)
    assert base_kept[0] == base_fresh[0]
    tested, renewed, changed = [], [], []
    for key, cfg in perturbed_configs(base):
        chemistry.clear_exposed_states()
        was_renewed, (rows_k, state_k), (rows_f, state_f) = kept_and_new(cfg)
        tested.append(key)
        if was_renewed:
            renewed.append(key)
        assert rows_k == rows_f, key
        assert len(state_k) == len(state_f), key
        assert all(np.array_equal(a, b) for a, b in zip(state_k, state_f, strict=True)), key
        if rows_f != base_fresh[0]:
            changed.append(key)
    # the exposure's own parameters were all tested, on the kept simulation, and each
    # changed the exposure's result
    assert not [k for k in EXPOSURE_PARAMETERS if k not in tested]
    assert not [k for k in EXPOSURE_PARAMETERS if k not in changed]
    assert not [k for k in EXPOSURE_PARAMETERS
                if k not in renewed and not k.startswith("layers.")]
    assert len(tested) > 60 and len(renewed) > 50, (len(tested), len(renewed))


def test_the_structure_key(clean):
    base = load_config(overrides=BASE)
    film = CellModel(base, MPI.COMM_SELF).film
    key = structure_key(base, film, base.exposure)
    assert key is not None
    # a parameter value is not structure; the mesh, the traps' presence, a dry gas
    # (nothing enters: no problem), a solver setting are
    same = load_config(overrides={**BASE, "transport": {"LiCoO2": {"trapping": {
        "detrapping_activation_energy": "1.3 eV"}}}})
    assert structure_key(same, film, same.exposure) == key
    other = load_config(overrides={**BASE, "mesh": {"dim": 1, "cells_per_layer": 13}})
    assert structure_key(other, CellModel(other, MPI.COMM_SELF).film, other.exposure) != key
    dry = base.with_exposure(gas="N2")
    assert structure_key(dry, film, dry.exposure) != key
    lag = load_config(overrides={**BASE, "solver": {"transport_jacobian_lag": 3}})
    assert structure_key(lag, film, lag.exposure) != key
    two_d = load_config(overrides={**BASE, "mesh": {"dim": 2, "cells_per_layer": 3,
                                                     "lateral_cells": 10}})
    assert structure_key(two_d, CellModel(two_d, MPI.COMM_SELF).film, two_d.exposure) is None


def test_the_pool_keeps_two_structures_and_releases_failed_runs(clean):
    cfgs = [load_config(overrides={**BASE, "mesh": {"dim": 1, "cells_per_layer": n}})
            for n in (12, 13, 14)]
    sims = []
    for cfg in cfgs:
        film = CellModel(cfg, MPI.COMM_SELF).film
        sim, _ = exposure_simulation(cfg, film, cfg.exposure, _block(cfg, film))
        sim.release()
        sims.append(sim)
    assert KEPT_SIMULATIONS == 2
    assert not sims[0].kept and sims[1].kept and sims[2].kept   # the oldest was destroyed
    film = CellModel(cfgs[2], MPI.COMM_SELF).film
    again, _ = exposure_simulation(cfgs[2], film, cfgs[2].exposure,
                                   _block(cfgs[2], film))
    assert again is sims[2]
    again.release(failed=True)              # e.g. interrupted: dropped and destroyed
    assert not again.kept
    newer, _ = exposure_simulation(cfgs[2], film, cfgs[2].exposure,
                                   _block(cfgs[2], film))
    assert newer is not again and newer.kept
    newer.destroy()                         # destroyed by its caller: it leaves the pool
    assert not newer.kept
    last, _ = exposure_simulation(cfgs[2], film, cfgs[2].exposure, _block(cfgs[2], film))
    assert last is not newer and last.kept
    last.release()


def test_set_phases_refuses_a_change_of_structure(clean):
    cfg = load_config(overrides=BASE)
    film = CellModel(cfg, MPI.COMM_SELF).film
    sim = ExposureSimulation(cfg, film, cfg.exposure)
    try:
        p = sim.phase
        with pytest.raises(ValueError, match="structure"):
            sim.block.set_phases([Phase(p.name, p.regions[:1], p.properties)])
        with pytest.raises(ValueError, match="structure"):
            sim.block.set_phases([Phase(p.name, p.regions,
                                        dataclasses.replace(p.properties, trapping=None))])
        with pytest.raises(ValueError, match="0 ... 1"):
            sim.block.set_surface_fraction(1.5)
    finally:
        sim.destroy()
    full = CellModel(cfg, MPI.COMM_SELF)
    chem = full.chemistry(expose=False)
    try:
        with pytest.raises(ValueError, match="exchange"):
            chem.transport.set_phases(chem.transport.phases)
    finally:
        full.destroy()
