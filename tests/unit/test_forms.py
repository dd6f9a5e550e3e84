"""Compiled forms do not depend on parameter values (fem_cell.forms).

A float literal in a UFL form is part of its signature, so every parameter value used to
compile a new C module (2.4 s per calibration case, and a JIT cache that grew to 38,553
files).  These tests pin the contract: same structure → same signature → one kernel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import ufl

from fem_cell._dolfinx import MPI, fem, mesh
from fem_cell.config import load_config
from fem_cell.forms import (
    FormsOnDemand,
    Terms,
    compile_expression,
    compile_form,
    lift_constants,
)
from fem_cell.model import CellModel


@pytest.fixture(scope="module")
def space():
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 8)
    return fem.functionspace(msh, ("Lagrange", 1))


def _arrhenius_form(u, value, energy):
    return value * ufl.exp(-energy * (1.0 / (u + 1.0) - 0.5)) * u**2 * ufl.dx


def test_lifted_signature_ignores_values_raw_does_not(space):
    u = fem.Function(space)
    raw = [_arrhenius_form(u, 2.0, 3.0), _arrhenius_form(u, 5.0, 7.0)]
    assert raw[0].signature() != raw[1].signature()
    lifted = [lift_constants(f) for f in raw]
    assert lifted[0].signature() == lifted[1].signature()
    # value, energy, the two literals 1.0 and 0.5 became constants; the exponent 2 is
    # structure
    assert len(lifted[0].constants()) == 5


def test_lifting_keeps_the_value(space):
    u = fem.Function(space)
    u.interpolate(lambda x: 0.2 + x[0])
    form = _arrhenius_form(u, 2.0, 3.0)
    got = fem.assemble_scalar(compile_form(form))
    # the same integral compiled with its literals in the kernel
    ref = fem.assemble_scalar(fem.form(form))
    assert got == pytest.approx(ref, rel=1e-14)
    assert got > 0.0


def _interleaved_terms(space):
    """Terms on three measures and two subdomains of each, added out of group order (UFL
    regroups a form's integrals by domain, type and subdomain)."""
    msh = space.mesh
    u, v = fem.Function(space), ufl.TestFunction(space)
    cells = mesh.meshtags(msh, 1, np.arange(8, dtype=np.int32), np.arange(8) % 2)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cells)
    return [u * v * dx(1), 2.0 * v * ufl.ds(domain=msh), u**2 * v * dx(0),
            3.0 * u * v * dx(1), ufl.avg(u) * ufl.avg(v) * ufl.dS(domain=msh),
            ufl.exp(u) * v * dx(0), 4.0 * u * v * ufl.ds(domain=msh)]


def test_terms_make_the_form_the_additions_make(space):
    """One ``ufl.Form`` of the terms' integrals is the form their additions make: the
    same integrals in the same order, so the same signature and kernels."""
    terms = _interleaved_terms(space)
    added = terms[0]
    for t in terms[1:]:
        added = added + t
    added = added - 5.0 * terms[2]
    made = Terms(*terms[:1])
    for t in [*terms[1:], None]:
        made += t
    made -= 5.0 * terms[2]
    form = made.form()
    assert form.integrals() == added.integrals()
    assert form.signature() == added.signature()
    # and the constructions: one for the Terms' form instead of one per addition
    assert [itg.subdomain_id() for itg in form.integrals()] != [
        itg.subdomain_id() for t in terms for itg in t.integrals()]   # (regrouped)


def test_a_scaled_measure_over_several_regions_makes_the_integrals_ufl_makes(space):
    """``expr * ScaledMeasure`` builds a several-region form from its integrals directly
    (one Form instead of one per region and one of them): the integrals, their order and
    the signature are those of UFL's own ``(factor * expr) * measure``; anything else
    (one id, every cell, a float, a non-scalar) is UFL's own path."""
    from fem_cell.domain import ScaledMeasure

    msh = space.mesh
    u, v = fem.Function(space), ufl.TestFunction(space)
    cells = mesh.meshtags(msh, 1, np.arange(8, dtype=np.int32), np.arange(8) % 3)
    facets = mesh.meshtags(msh, 0, np.arange(9, dtype=np.int32), np.arange(9) % 3)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cells)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=facets)
    dS = ufl.Measure("dS", domain=msh, subdomain_data=facets)
    md = {"quadrature_degree": 1}
    cases = [(u**2 * v, dx((2, 0))), (u * v, dx((1,))), (u * v, dx((0, 1, 2), metadata=md)),
             (ufl.exp(u) * v, ds((0, 2))), (ufl.avg(u) * ufl.avg(v), dS((1, 2))),
             (u * v, dx(1)), (u * v, dx), (3.0, dx((0, 1)))]
    for expr, m in cases:
        got = expr * ScaledMeasure(1e-6, m)
        ref = (1e-6 * expr) * m
        assert got.integrals() == ref.integrals()
        assert [i.subdomain_id() for i in got.integrals()] == [
            i.subdomain_id() for i in ref.integrals()]
        assert got.signature() == ref.signature()
    with pytest.raises(ValueError, match="scalar"):
        ufl.grad(u) * ScaledMeasure(2.0, dx((0, 1)))


def test_terms_of_nothing_is_none():
    assert Terms().form() is None
    assert Terms(None, None).form() is None


def test_nested_lists_and_none(space):
    u, v = fem.Function(space), ufl.TestFunction(space)
    forms = compile_form([3.0 * u * v * ufl.dx, None])
    assert forms[1] is None
    assert forms[0].rank == 1


def test_forms_on_demand_compile_each_key_once(space):
    u = fem.Function(space)
    u.x.array[:] = 2.0
    built = []

    def build(k):
        def make():
            built.append(k)
            return k * u * ufl.dx
        return make

    forms = FormsOnDemand()
    first = forms("a", build(3.0))
    assert forms("a", build(5.0)) is first          # compiled once: the builder unused
    other = forms("b", build(5.0))
    assert other is not first and built == [3.0, 5.0]
    assert fem.assemble_scalar(first) == pytest.approx(6.0, rel=1e-14)
    assert fem.assemble_scalar(other) == pytest.approx(10.0, rel=1e-14)
    # lifted like compile_form: the literal is a constant, not in the kernel
    assert first.ufcx_form.num_constants == 1


def test_expression_lifting(space):
    u = fem.Function(space)
    u.x.array[:] = 2.0
    expr = compile_expression(1.5 * u + 0.25, space.element.interpolation_points)
    w = fem.Function(space)
    w.interpolate(expr)
    assert np.allclose(w.x.array, 3.25)


@pytest.mark.parametrize("override", [
    {"transport": {"Li3PO4": {"proton_diffusivity_activation_energy": "1.37 eV"}}},
    {"transport": {"exchange": {"velocity_activation_energy": "0.7 eV"}}},
    {"degraded_layer": {"pristine_share": 0.4}},
    {"transport": {"LiCoO2": {"trapping": {"detrapping_activation_energy": "1.2 eV",
                                           "spacing": "0.3 nm"}}}},
    {"materials": {"LiCoO2": {"thermal_conductivity": "7 W/(m K)"}}},
    {"exposure_model": {"surface_fraction": 2e-4}},
])
def test_a_parameter_change_keeps_every_kernel(override):
    """The anneal's heat and transport residuals and the R_interface form of two cells
    that differ in one parameter value have the same signatures (no recompilation)."""
    sigs = []
    for ov in ({}, override):
        cfg = load_config(overrides={"mesh": {"dim": 1}, **ov})
        model = CellModel(cfg, MPI.COMM_SELF)
        chem = model.chemistry(expose=True)
        sigs.append((chem.heat.problem.form.signature(),
                     chem.transport_problem.form.signature(),
                     chem.resistance._form_c.module.__name__,
                     chem.exposure_result is not None))
        model.destroy()
    assert sigs[0] == sigs[1]


@pytest.mark.parametrize("dim", [1, 2])
def test_a_known_jacobian_signature_is_the_one_ufl_computes(dim, monkeypatch):
    """jacobian_form gives a Jacobian whose F has the structure of one differentiated
    before the signature recorded then; it must be the one UFL computes for this J:
    checked on every Jacobian jacobian_form makes for two models (a parameter changed),
    1-D (Newton on the mixed space) and coarse 2-D."""
    from ufl.algorithms.signature import compute_form_signature

    import fem_cell.forms
    import fem_cell.model
    import fem_cell.solvers.problem

    made = []

    def recording(F, u):
        J = fem_cell.forms.jacobian_form(F, u)
        made.append((J, J._signature))
        return J

    monkeypatch.setattr(fem_cell.solvers.problem, "jacobian_form", recording)
    # the second model builds its own problems (a serial 1-D model would otherwise renew
    # the first's kept ones: fem_cell.model.chemistry.kept_anneal)
    monkeypatch.setattr(fem_cell.model, "kept_anneal", lambda *a, **k: (None, None))
    mesh = {"dim": dim, **({"cells_per_layer": 2} if dim == 2 else {})}
    for ov in ({}, {"transport": {"exchange": {"velocity_activation_energy": "0.7 eV"}}}):
        cfg = load_config(overrides={"mesh": mesh, **ov})
        model = CellModel(cfg, MPI.COMM_SELF)
        model.chemistry(expose=True)
        model.destroy()
    known = [(J, sig) for J, sig in made if sig is not None]
    assert len(known) >= 2           # the second model's Jacobians (heat, transport)
    for J, sig in known:
        assert compute_form_signature(J, J._compute_renumbering()) == sig


def _cache_entries() -> set[str]:
    from dolfinx.jit import get_options

    d = Path(get_options()["cache_dir"])
    return set(os.listdir(d)) if d.is_dir() else set()


def test_a_new_parameter_value_compiles_nothing():
    """End to end: an exposure + anneal of a cell with a changed activation energy and a
    changed trap spacing adds no module to the JIT cache after the default cell ran."""
    from fem_cell.jobs.anneal import run_anneal

    quiet = {"output": {"fields": False, "plots": False, "render": False}}
    cfg = load_config(overrides={"mesh": {"dim": 1}, **quiet})
    run_anneal(cfg, MPI.COMM_SELF, progress=False)
    before = _cache_entries()
    changed = load_config(overrides={
        "mesh": {"dim": 1}, **quiet,
        "transport": {"Li3PO4": {"proton_diffusivity_activation_energy": "0.93 eV"},
                      "LiCoO2": {"trapping": {"spacing": "0.31 nm"}}}})
    r = run_anneal(changed, MPI.COMM_SELF, progress=False)
    assert r.summary["R_interface_ohm_cm2_final"] > 0.0
    assert sorted(_cache_entries() - before) == []


def test_every_form_constant_and_expression_goes_through_fem_cell_forms():
    """The contract of fem_cell.forms holds only if nothing bypasses it: no module but
    fem_cell/forms.py calls fem.form, fem.Constant or fem.Expression directly."""
    import re

    import fem_cell

    root = Path(fem_cell.__file__).parent
    direct = re.compile(r"\bfem\.(form|Constant|Expression)\(")
    offenders = [f"{p.relative_to(root)}:{i}" for p in sorted(root.rglob("*.py"))
                 if p.name != "forms.py" or p.parent != root
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if direct.search(line)]
    assert offenders == []


def test_model_spectrum_leaves_no_meshes_behind():
    """A loop over model_spectrum (a fit, a posterior with spectrum targets) must not keep
    meshes alive: each holds duplicated MPI communicators, and 10 seeds of a 4-parameter
    fit (~450 evaluations) used up all 2048 ("Too many communicators").  The cause was
    CPython's singledispatchmethod cache (gh-127750) in UFL's derivative rulesets, turned
    off by fem_cell._dolfinx; the model's own cycles are collected by model_spectrum."""
    import gc

    from dolfinx.mesh import Mesh

    from fem_cell.jobs.impedance import model_spectrum

    cfg = load_config()
    f = np.logspace(0, 5, 6)

    def meshes() -> int:
        gc.collect()
        return sum(isinstance(o, Mesh) for o in gc.get_objects())

    model_spectrum(cfg, MPI.COMM_SELF, f)
    before = meshes()
    for _ in range(4):
        model_spectrum(cfg, MPI.COMM_SELF, f)
    assert meshes() == before
