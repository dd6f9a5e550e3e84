"""Garbage collection between calibration cases (fem_cell.solvers.problem.collect_garbage
with ``freeze``; fem_cell.studies.calibration, fem_cell.studies.posterior).

A full collection after every case cost a quarter of a 1-D calibration case; the cases
now freeze what survives a collection, so the next one scans only what the next case
made.  The loops that freeze must unfreeze when they end, and a frozen collection must
still free a case's garbage cycles."""

from __future__ import annotations

import gc
import weakref

import pytest
from helpers_posterior import toy_problem, toy_runner

from fem_cell._dolfinx import MPI
from fem_cell.solvers.problem import collect_garbage
from fem_cell.studies.calibration import FitParameter, Target, calibrate
from fem_cell.studies.posterior import SamplerSettings, sample_posterior

SELF = MPI.COMM_SELF


class _Cycle:
    def __init__(self):
        self.me = self


@pytest.fixture(autouse=True)
def _unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_frozen_collection_still_frees_the_next_cases_cycles():
    collect_garbage(SELF, freeze=True)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    cycle = _Cycle()            # a case's garbage: a cycle made after the freeze
    ref = weakref.ref(cycle)
    del cycle
    collect_garbage(SELF, freeze=True)
    assert ref() is None
    # the survivors of this collection joined the frozen ones
    assert gc.get_freeze_count() >= frozen


def test_without_freeze_nothing_is_frozen():
    collect_garbage(SELF)
    assert gc.get_freeze_count() == 0


def _freezing(runner):
    """``runner``, freezing after every case as the default runner does."""
    def run(*args):
        try:
            return runner(*args)
        finally:
            collect_garbage(args[-1], freeze=True)
    return run


def test_calibrate_unfreezes_what_its_cases_froze():
    def model(base_config, layers, job, record, comm):
        ov = {}
        for layer in layers:
            ov.update(layer)
        return {"R": 2.0 * ov["p.a"]}

    res = calibrate(None, [FitParameter("p.a", 1.0, lower=0.1, upper=10.0, unit="1")],
                    [Target("t", {}, "anneal", "R", 3.0, 0.01, "log")], SELF,
                    runner=_freezing(model), progress=False, max_nfev=20)
    assert res.values["p.a"] == pytest.approx(1.5, rel=1e-4)
    assert gc.get_freeze_count() == 0


def test_sample_posterior_unfreezes_what_its_cases_froze():
    params, targets, _ = toy_problem(seed=0)
    seen = []

    def runner(*args):
        if len(seen) < 3:          # (gc.get_freeze_count walks the frozen objects)
            seen.append(gc.get_freeze_count())
        return toy_runner(*args)

    s = SamplerSettings(walkers=8, steps=30, seed=1, init_spread=0.01)
    sample_posterior(None, params, targets, SELF, settings=s, runner=_freezing(runner),
                     progress=False)
    assert max(seen) > 0                 # the cases ran frozen
    assert gc.get_freeze_count() == 0    # and the sampler unfroze at its end
