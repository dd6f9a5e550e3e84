"""The exposed state is simulated once per process for the same cell and exposure
(fem_cell.model.chemistry.expose_block): a study's anneal cases that differ only in the
program, or a posterior evaluation's three cases, share it.  The reuse must not change
any result, and any other change (a transport parameter, the exposure) must simulate
again."""

from __future__ import annotations

import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal
from fem_cell.model import chemistry
from fem_cell.model.exposure import ExposureSimulation

QUIET = {"mesh": {"dim": 1}, "output": {"fields": False, "plots": False, "render": False}}
SHORT = {"anneal": {"segments": [{"ramp_to": "100 degC", "rate": "10 K/min"},
                                 {"hold": "10 min"}]}}


@pytest.fixture
def runs(monkeypatch):
    """Count the exposure simulations actually run."""
    count = {"n": 0}
    original = ExposureSimulation.run

    def counted(self, *a, **k):
        count["n"] += 1
        return original(self, *a, **k)

    monkeypatch.setattr(ExposureSimulation, "run", counted)
    chemistry.clear_exposure_cache()
    yield count
    chemistry.clear_exposure_cache()


def _anneal(**over):
    cfg = load_config(overrides={**QUIET, **over})
    return run_anneal(cfg, MPI.COMM_SELF, progress=False).summary


def test_same_cell_other_program_reuses_the_exposure(runs):
    a = _anneal()
    b = _anneal(**SHORT)
    assert runs["n"] == 1
    assert b["R_interface_ohm_cm2_initial"] == a["R_interface_ohm_cm2_initial"]
    chemistry.clear_exposure_cache()
    fresh = _anneal(**SHORT)
    assert runs["n"] == 2
    for k in ("R_interface_ohm_cm2", "H_LiCoO2_removed_fraction", "steps_accepted"):
        assert fresh[k] == b[k], k            # reuse changes nothing, bit for bit


@pytest.mark.parametrize("change", [
    {"transport": {"LiCoO2": {"trapping": {"spacing": "0.3 nm"}}}},
    {"exposure": {"duration": "20 min"}},
    {"mesh": {"dim": 1, "cells_per_layer": 12}},
])
def test_any_other_change_simulates_again(runs, change):
    _anneal(**SHORT)
    over = {**SHORT, **change}
    if "mesh" in change:
        over = {**SHORT, "mesh": change["mesh"]}
    cfg = load_config(overrides={**QUIET, **over})
    run_anneal(cfg, MPI.COMM_SELF, progress=False)
    assert runs["n"] == 2
