"""A form's coefficients packed by one gather (fem_cell.solvers.packing) are dolfinx's
packing, bit for bit: on the transport's residual and Jacobian (1-D and coarse 2-D, the
forms Newton assembles), on a form with cell, exterior- and interior-facet integrals of
P2, vector, mixed and DG0 coefficients, after every coefficient changed, and under MPI
(ghost values).  A packing that is not a plain gather falls back to dolfinx's.  The
compiled gather copies only the entries the kernels read (FFCx's enabled coefficients);
those are compared, and a kernel that read any other entry would make the compiled
assembly's own check against dolfinx fail (tests/unit/test_local_assembly.py)."""

import numpy as np
import pytest
import ufl
from basix.ufl import element, mixed_element
from helpers import without_compiler

from fem_cell._dolfinx import MPI, fem, mesh
from fem_cell.solvers.packing import PackedCoefficients

COARSE_2D = {"dim": 2, "cells_per_layer": 2, "lateral_cells": 6, "growth": 1.5,
             "max_cell_size": "50 um"}


def _same(packed, form) -> None:
    from dolfinx.fem.assemble import pack_coefficients

    ref = pack_coefficients(form)
    got = packed()
    masks = packed.read_masks()     # compiled: the entries the kernels read
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape
        if masks is None:
            np.testing.assert_array_equal(got[k], ref[k])
        else:
            np.testing.assert_array_equal(got[k][masks[k]], ref[k][masks[k]])


def _randomise(form, rng) -> None:
    for f in form._cpp_object.coefficients:
        f.x.array[:] = rng.normal(size=f.x.array.size)


@pytest.mark.mpi
def test_mixed_form_with_facet_integrals_packs_as_dolfinx():
    comm = MPI.COMM_WORLD
    msh = mesh.create_unit_square(comm, 5, 4, ghost_mode=mesh.GhostMode.shared_facet)
    cell = msh.basix_cell()
    spaces = {"p2": fem.functionspace(msh, ("Lagrange", 2)),
              "vec": fem.functionspace(msh, ("Lagrange", 1, (2,))),
              "mixed": fem.functionspace(msh, mixed_element(
                  [element("Lagrange", cell, 1), element("Lagrange", cell, 2)])),
              "dg0": fem.functionspace(msh, ("DG", 0))}
    f = {k: fem.Function(V) for k, V in spaces.items()}
    V = fem.functionspace(msh, ("Lagrange", 1))
    v = ufl.TestFunction(V)
    a, b = ufl.split(f["mixed"])
    n = ufl.FacetNormal(msh)
    integrand = f["p2"] * a + ufl.dot(f["vec"], f["vec"]) + b * f["dg0"]
    F = fem.form(integrand * v * ufl.dx
                 + ufl.dot(f["vec"], n) * f["p2"] * v * ufl.ds
                 + ufl.avg(f["dg0"]) * ufl.jump(b) * ufl.avg(v) * ufl.dS)
    rng = np.random.default_rng(comm.rank)
    _randomise(F, rng)
    packed = PackedCoefficients(F)
    assert packed.gathered
    _same(packed, F)
    for _ in range(2):                      # every call reads the current values
        _randomise(F, rng)
        _same(packed, F)


@pytest.mark.mpi
@pytest.mark.parametrize("mesh_", [{"dim": 1}, COARSE_2D], ids=["1d", "2d"])
def test_transport_residual_and_jacobian_pack_as_dolfinx(mesh_):
    from fem_cell.config import load_config
    from fem_cell.model import CellModel

    cfg = load_config(overrides={"mesh": {**mesh_, "cells_per_layer": 4}
                                 if mesh_["dim"] == 1 else mesh_,
                                 "output": {"fields": False}})
    model = CellModel(cfg, MPI.COMM_WORLD)
    chem = model.chemistry(expose=False)
    tp = chem.transport_problem
    p = tp._problem
    assert tp._packed_residual is not None and tp._packed_residual.gathered
    assert tp._packed_jacobian is not None and tp._packed_jacobian.gathered
    _same(tp._packed_residual, p.F)
    _same(tp._packed_jacobian, p.J)
    saved = [f.x.array.copy() for f in p.F._cpp_object.coefficients]
    _randomise(p.F, np.random.default_rng(3))
    _same(tp._packed_residual, p.F)
    _same(tp._packed_jacobian, p.J)
    for f, s in zip(p.F._cpp_object.coefficients, saved, strict=True):
        f.x.array[:] = s
    model.destroy()


def test_a_packing_that_is_not_a_gather_falls_back_to_dolfinx(monkeypatch):
    """A coefficient whose element needs DOF transformations is packed as a combination
    of values, not a copy: simulated by a packing that scales one coefficient's
    values; the gather is then not used, and the result is still dolfinx's."""
    from dolfinx.fem import assemble

    msh = mesh.create_unit_interval(MPI.COMM_SELF, 6)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u, w = fem.Function(V), fem.Function(V)
    F = fem.form(u * w * ufl.TestFunction(V) * ufl.dx)
    real = assemble.pack_coefficients

    def transformed(form):
        out = real(form)
        return {k: np.where(np.arange(a.shape[1]) % 2 == 0, -a, a) for k, a in out.items()}

    monkeypatch.setattr(assemble, "pack_coefficients", transformed)
    packed = PackedCoefficients(F)
    assert not packed.gathered
    u.x.array[:] = np.linspace(0.0, 1.0, u.x.array.size)
    w.x.array[:] = 2.0
    got = packed()
    ref = transformed(F)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])


def test_probe_restores_the_coefficients():
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 5)
    V = fem.functionspace(msh, ("Lagrange", 2))
    u = fem.Function(V)
    u.x.array[:] = np.random.default_rng(1).normal(size=u.x.array.size)
    before = u.x.array.copy()
    PackedCoefficients(fem.form(u * ufl.TestFunction(V) * ufl.dx))
    np.testing.assert_array_equal(u.x.array, before)


def test_the_compiled_gather_reads_the_enabled_coefficients_only(monkeypatch):
    """A form whose facet integral reads one of two coefficients: its other entries are
    not copied; without a compiler numpy gathers every entry."""
    from fem_cell.solvers import packing

    msh = mesh.create_unit_square(MPI.COMM_SELF, 3, 3)
    V = fem.functionspace(msh, ("Lagrange", 1))
    f, g, v = fem.Function(V), fem.Function(V), ufl.TestFunction(V)
    F = fem.form(f * g * v * ufl.dx + f * v * ufl.ds)
    rng = np.random.default_rng(1)
    _randomise(F, rng)
    packed = PackedCoefficients(F)
    assert packed.compiled and packed.read_entries < packed._src.size
    masks = packed.read_masks()
    assert all(m.all() for k, m in masks.items() if k[0].name == "cell")
    assert any(not m.all() for k, m in masks.items() if k[0].name == "exterior_facet")
    _randomise(F, rng)
    _same(packed, F)

    without_compiler(monkeypatch, packing.COMPILED)
    with pytest.warns(RuntimeWarning, match="could not be compiled"):
        fallback = PackedCoefficients(F)
    assert fallback.gathered and not fallback.compiled
    assert fallback.read_masks() is None
    _same(fallback, F)
