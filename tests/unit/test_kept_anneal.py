"""A serial 1-D anneal's transport (its mesh, block and problem) is kept across cases and
renewed for each (fem_cell.model.chemistry: anneal_structure_key, kept_anneal,
build_chemistry(kept=...)): a case on a kept transport must run exactly as one built
new, for any parameter values.

The main test perturbs every declared numeric setting in turn and runs the anneal, after
each, on the transport kept from the case before (a different configuration) and on one
built new: every history column, every summary number (the wall time aside) and the
end state are equal bit for bit.  A parameter left in a compiled form as a literal, or
a Python-side value not renewed, would make the two differ for that parameter."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import fem_cell.model as model_module
from fem_cell._dolfinx import MPI, fem
from fem_cell.config import load_config
from fem_cell.errors import ConvergenceError, RunAborted
from fem_cell.jobs.anneal import run_anneal
from fem_cell.jobs.interrupts import _NoGuard
from fem_cell.model import chemistry, transport_block
from fem_cell.model.chemistry import (
    KEPT_ANNEALS,
    anneal_structure_key,
    kept_anneal,
)
from fem_cell.model.exposure import ExposureValidityError
from fem_cell.model.transport import phases
from fem_cell.params import K_B
from tests.unit.test_kept_exposure import BASE, _perturbed, perturbed_configs

#: parameters the anneal depends on beyond the exposure's: each must change its result
#: (else the comparison would prove nothing for it)
ANNEAL_PARAMETERS = (
    "transport.exchange.velocity", "transport.exchange.velocity_activation_energy",
    "transport.Li3PO4.proton_diffusivity", "transport.Li3PO4.proton_diffusivity_activation_energy",
    "materials.Li3PO4.li_site_density", "materials.Li3PO4.ionic_conductivity",
    "transport.LiCoO2.trapping.detrapping_activation_energy",
    "transport.LiCoO2.proton_diffusivity", "degraded_layer.beta",
    "thermal.top_heat_transfer_coefficient", "materials.Li3PO4.thermal_conductivity",
    "anneal.initial_temperature")
#: the sink's law, read in its "rate" mode only
RATE_SINK = {"transport": {"sink": {"mode": "rate", "velocity": "1e-12 m/s"}}}


@pytest.fixture
def clean():
    chemistry.clear_exposure_cache()
    gc.collect()
    yield
    gc.collect()
    chemistry.clear_exposure_cache()


def _run(cfg) -> object:
    """History, summary (but the wall time) and end state of an anneal, or its error's
    message (a perturbed setting may fail a run: both must fail alike)."""
    try:
        r = run_anneal(cfg, MPI.COMM_SELF, progress=False)
    except (ExposureValidityError, ConvergenceError, RunAborted) as e:
        return str(e)
    h = r.history
    b = r.details["chemistry"].transport
    out = {"history": {c: np.asarray(h.column(c)).tolist() for c in h.columns},
           "summary": repr({k: v for k, v in r.summary.items() if k != "wall_time_s"}),
           "state": [f.x.array.tolist() for f in (*b.x.values(), *b.trapped.values(),
                                                  b.phi)]}
    del r, b
    gc.collect()              # the model is gone: its transport back in the pool
    return out


class _Taken:
    """Records, for every model built, whether it took a kept anneal (wraps
    kept_anneal): ``taken`` in order, ``n`` how many did."""

    def __init__(self, monkeypatch):
        self.taken: list[bool] = []
        monkeypatch.setattr(model_module, "kept_anneal", self)

    @property
    def n(self) -> int:
        return sum(self.taken)

    def __call__(self, *a, **k):
        key, kept = kept_anneal(*a, **k)
        self.taken.append(kept is not None)
        return key, kept


def _fresh(cfg, monkeypatch) -> object:
    """The anneal with a transport built new (none taken, none kept)."""
    with monkeypatch.context() as m:
        m.setattr(model_module, "kept_anneal", lambda *a, **k: (None, None))
        return _run(cfg)


def test_an_anneal_on_a_kept_transport_runs_as_on_a_new_one_for_every_parameter(
        clean, monkeypatch):
    taken = _Taken(monkeypatch)
    base = load_config(overrides=BASE)
    base_run = _run(base)
    assert base_run == _fresh(base, monkeypatch)
    tested, renewed, changed = [], [], []
    for key, cfg in perturbed_configs(base):
        n = taken.n
        kept = _run(cfg)
        tested.append(key)
        if taken.n > n:
            renewed.append(key)
        assert kept == _fresh(cfg, monkeypatch), key
        if kept != base_run:
            changed.append(key)
    assert not [k for k in ANNEAL_PARAMETERS if k not in tested]
    assert not [k for k in ANNEAL_PARAMETERS if k not in changed]
    assert not [k for k in ANNEAL_PARAMETERS if k not in renewed]
    # every setting but the mesh's and the solver's (structure) ran on a kept transport
    assert len(tested) > 60 and len(renewed) > 50, (len(tested), len(renewed))


@pytest.mark.parametrize("key", ["transport.sink.velocity",
                                 "transport.sink.velocity_activation_energy",
                                 "transport.exchange.partition"])
def test_the_rate_sinks_law_is_renewed(clean, monkeypatch, key):
    """The sink's law enters the forms in its "rate" mode only: perturbed there."""
    taken = _Taken(monkeypatch)
    over = {**BASE, **RATE_SINK}
    base = load_config(overrides=over)
    base_run = _run(base)
    setting = base.settings[key]
    value = ("0.05 eV" if setting.value == 0 else _perturbed(key, setting, 100.0))
    from fem_cell.config.keys import overrides_from_keys
    cfg = load_config(overrides=overrides_from_keys(over, {key: value}))
    kept = _run(cfg)
    assert taken.n == 1
    assert kept == _fresh(cfg, monkeypatch)
    assert kept != base_run


@pytest.mark.parametrize("over", [
    {"anneal": {"segments": [{"ramp_to": "100 degC", "rate": "5 K/min"}, {"hold": "60 min"},
                             {"ramp_to": "25 degC", "rate": "5 K/min"}]}},
    {"thermal": {"bottom": "contact", "contact_conductance": "500 W/(m2 K)"}},
    {"thermal": {"top_emissivity": 0}}],
    ids=["program", "contact", "no-radiation"])
def test_the_heat_is_renewed_for_a_program_and_its_boundary_conditions(clean, monkeypatch,
                                                                       over):
    """The anneal program (skipped by the main test: a list) and the heat's other
    structures: a case on the kept heat and transport runs as a new one; a second case
    of the structure renews the first's."""
    taken = _Taken(monkeypatch)
    cfg = load_config(overrides={**BASE, **over})
    base_run = _run(load_config(overrides=BASE))
    first = _run(cfg)
    assert taken.n == ("anneal" in over)      # (another structure: its own transport)
    warmer = load_config(overrides={**BASE, **over, "anneal": {
        **over.get("anneal", {}), "initial_temperature": "27 degC"}})
    kept = _run(warmer)
    assert taken.n == 1 + ("anneal" in over)
    assert kept == _fresh(warmer, monkeypatch)
    assert first == _fresh(cfg, monkeypatch)
    assert first != base_run and kept != first


def test_the_structure_key(clean):
    base = load_config(overrides=BASE)
    comm = MPI.COMM_SELF
    key = anneal_structure_key(base, comm)
    assert key is not None
    same = load_config(overrides={**BASE, "transport": {"exchange": {
        "velocity_activation_energy": "0.7 eV"}}, "anneal": {"initial_temperature": "30 degC"}})
    assert anneal_structure_key(same, comm) == key
    for other in ({"mesh": {"dim": 1, "cells_per_layer": 13}},
                  {"layers": {"Li3PO4": {"thickness": "1.1 um"}}},
                  {"solver": {"transport_jacobian_lag": 3}},
                  RATE_SINK, {"thermal": {"bottom": "contact"}},
                  {"thermal": {"top_emissivity": 0}}):
        cfg = load_config(overrides={**BASE, **other})
        assert anneal_structure_key(cfg, comm) != key, other
    assert anneal_structure_key(base, comm, expose=False) is None
    two_d = load_config(overrides={**BASE, "mesh": {"dim": 2, "cells_per_layer": 3,
                                                     "lateral_cells": 10}})
    assert anneal_structure_key(two_d, comm) is None


def test_a_held_result_keeps_its_transport_and_a_failed_run_is_not_kept(clean, monkeypatch):
    taken = _Taken(monkeypatch)
    cfg = load_config(overrides=BASE)
    first = run_anneal(cfg, MPI.COMM_SELF, progress=False)
    state = first.details["chemistry"].transport.x["Li3PO4"].x.array.copy()
    second = run_anneal(cfg, MPI.COMM_SELF, progress=False)
    # while the first result lives, its fields are its own: the second built anew
    assert taken.n == 0
    assert np.array_equal(first.details["chemistry"].transport.x["Li3PO4"].x.array, state)
    # a second destroy() of a model whose transport is handed over destroys nothing
    second.details["chemistry"].destroy()
    second.model.destroy()
    del first, second
    gc.collect()
    # both models are gone: one transport of the key kept (the other destroyed)
    assert len(chemistry._KEPT_ANNEALS) == 1
    # (the kept transport, not destroyed by the second destroy(), runs this case)
    third = run_anneal(cfg, MPI.COMM_SELF, progress=False)
    assert taken.n == 1
    assert third.summary["R_interface_ohm_cm2"] == run_anneal(
        cfg, MPI.COMM_SELF, progress=False).summary["R_interface_ohm_cm2"]
    del third
    gc.collect()
    # a run stopped mid-way (e.g. by a guard): it took the kept transport, which is
    # then dropped, not kept
    assert len(chemistry._KEPT_ANNEALS) == 1
    with pytest.raises(RunAborted, match="the test"):
        run_anneal(cfg, MPI.COMM_SELF, progress=False, guard=_StopAt(600.0))
    assert taken.n == 2
    gc.collect()
    assert not chemistry._KEPT_ANNEALS


class _StopAt(_NoGuard):
    """A guard that stops the run at its first check after time ``t`` (s)."""

    def __init__(self, t: float):
        self.t = t

    def check(self, comm, t: float | None = None) -> None:
        if t is not None and t > self.t:
            raise RunAborted("stopped by the test")


def test_the_pool_keeps_two_structures(clean):
    for n in (12, 13, 14):
        cfg = load_config(overrides={**BASE, "mesh": {"dim": 1, "cells_per_layer": n}})
        run_anneal(cfg, MPI.COMM_SELF, progress=False)
        gc.collect()
    assert len(chemistry._KEPT_ANNEALS) == KEPT_ANNEALS == 2
    keys = [anneal_structure_key(load_config(overrides={**BASE, "mesh": {
        "dim": 1, "cells_per_layer": n}}), MPI.COMM_SELF) for n in (13, 14)]
    assert list(chemistry._KEPT_ANNEALS) == keys


def test_set_phases_renews_the_exchange_and_refuses_a_change_of_structure(clean):
    cfg = load_config(overrides=BASE)
    film = model_module.CellModel(cfg, MPI.COMM_SELF).film
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = 400.0
    block = transport_block(cfg, film, T)
    chem = cfg.chemistry
    ph = phases(cfg, chem, film)
    with pytest.raises(ValueError, match="interface exchange"):
        block.set_phases(ph, sink=chem.sink)
    rate = load_config(overrides={**BASE, **RATE_SINK}).chemistry
    with pytest.raises(ValueError, match="sink"):
        block.set_phases(ph, exchange=chem.exchange, sink=rate.sink)
    faster = load_config(overrides={**BASE, "transport": {"exchange": {
        "velocity_activation_energy": "0.5 eV"}}}).chemistry
    block.set_phases(ph, exchange=faster.exchange, sink=chem.sink)
    law = block._exchange_laws["velocity"]
    assert float(law.temperature.value) == faster.exchange.velocity.activation_energy / K_B
    # the law's UFL evaluates to the parameters' law
    form = fem.form(law(block.T) * film.dx())
    expected = faster.exchange.velocity(400.0) * film.volume(*film.cell_names)
    assert fem.assemble_scalar(form) == pytest.approx(expected, rel=1e-12)


def test_heat_set_parameters_refreshes_values_and_refuses_a_change_of_structure(clean):
    from fem_cell.physics.heat import HeatPhysics, SurfaceLossBC, TemperatureBC

    cfg = load_config(overrides=BASE)
    domain = model_module.CellModel(cfg, MPI.COMM_SELF).domain
    names = list(domain.cell_names)
    k = {n: 1.0 + i for i, n in enumerate(names)}
    rho_cp = {n: 1e6 for n in names}
    bcs = [SurfaceLossBC(("top",), 10.0, 0.5, 298.15), TemperatureBC(("bottom",), 300.0)]
    heat = HeatPhysics(domain, k, rho_cp, bcs)
    new_k = {n: 2.0 * v for n, v in k.items()}
    heat.set_parameters(new_k, rho_cp, [SurfaceLossBC(("top",), 20.0, 0.7, 290.0),
                                        TemperatureBC(("bottom",), lambda t: 310.0 + t)])
    assert np.array_equal(heat.k.x.array, domain.region_indicator(new_k).x.array)
    h, eps, amb = (heat._slots[0][key] for key in ("h", "emissivity", "T"))
    assert (float(h.value), float(eps.value), float(amb.constant.value)) == (20.0, 0.7, 290.0)
    with pytest.raises(ValueError, match="structure"):      # radiation switched off
        heat.set_parameters(k, rho_cp, [SurfaceLossBC(("top",), 10.0, 0.0, 298.15), bcs[1]])
    with pytest.raises(ValueError, match="structure"):      # another boundary
        heat.set_parameters(k, rho_cp, [SurfaceLossBC(("bottom",), 10.0, 0.5, 298.15),
                                        bcs[1]])
    with pytest.raises(ValueError, match="regions"):
        heat.set_parameters({names[0]: 1.0}, rho_cp, bcs)
