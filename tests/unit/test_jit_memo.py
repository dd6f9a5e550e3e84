"""The in-process JIT memo in front of dolfinx's FFCx look-up (fem_cell._dolfinx).

A form of a structure compiled before is served from the memo (no disk-cache look-up),
bound to its own mesh, coefficients and constants; a new structure or new compiler
options go to dolfinx; expressions pass through.  The parallel half (a memo entry on
one rank only) is tests/parallel/test_jit_memo_mpi.py.
"""

import numpy as np
import pytest

from fem_cell._dolfinx import JIT_MEMO, MPI, dolfinx, fem, mesh, ufl
from fem_cell.forms import compile_form, constant


def _integral(n, a, b):
    """∫_0^1 (a x + b) dx on an n-cell interval mesh of COMM_SELF, lifted constants."""
    msh = mesh.create_unit_interval(MPI.COMM_SELF, n)
    x = ufl.SpatialCoordinate(msh)
    return compile_form((a * x[0] + b) * ufl.dx(domain=msh))


def test_memo_is_installed_once():
    from fem_cell._dolfinx import _install_jit_memo

    assert dolfinx.jit.ffcx_jit is JIT_MEMO
    assert _install_jit_memo() is JIT_MEMO


def test_same_structure_served_from_memo_with_its_own_values():
    f1 = _integral(4, 2.0, 0.5)
    hits, misses = JIT_MEMO.hits, JIT_MEMO.misses
    f2 = _integral(7, -3.0, 10.0)       # other mesh, other values: same structure
    assert (JIT_MEMO.hits, JIT_MEMO.misses) == (hits + 1, misses)
    assert f2.module is f1.module       # the module the disk cache would have given
    # each form integrates its own values on its own mesh (exact: a linear integrand)
    assert fem.assemble_scalar(f1) == pytest.approx(2.0 / 2 + 0.5, rel=1e-14)
    assert fem.assemble_scalar(f2) == pytest.approx(-3.0 / 2 + 10.0, rel=1e-14)


def test_constants_rebound_after_a_hit():
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 3)
    c = constant(msh, 2.0)
    form = compile_form(c * c * ufl.dx(domain=msh))
    hits = JIT_MEMO.hits
    c2 = constant(msh, 5.0)
    form2 = compile_form(c2 * c2 * ufl.dx(domain=msh))
    assert JIT_MEMO.hits == hits + 1
    c.value = 3.0
    assert fem.assemble_scalar(form) == pytest.approx(9.0, rel=1e-14)
    assert fem.assemble_scalar(form2) == pytest.approx(25.0, rel=1e-14)


def test_new_structure_or_options_miss():
    _integral(4, 1.0, 1.0)
    misses = JIT_MEMO.misses
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 4)
    x = ufl.SpatialCoordinate(msh)
    # another structure (an exponent no other test uses)
    f = compile_form(x[0] ** 13 * ufl.dx(domain=msh))
    assert JIT_MEMO.misses == misses + 1
    assert fem.assemble_scalar(f) == pytest.approx(1 / 14, rel=1e-12)
    # the same structure with other form compiler options is another module
    g = fem.form(x[0] ** 13 * ufl.dx(domain=msh), form_compiler_options={"table_rtol": 1e-7})
    assert JIT_MEMO.misses == misses + 2
    assert g.module is not f.module
    assert fem.assemble_scalar(g) == pytest.approx(1 / 14, rel=1e-12)


def test_expressions_pass_through():
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 2)
    V = fem.functionspace(msh, ("Lagrange", 1))
    x = ufl.SpatialCoordinate(msh)
    counts = (JIT_MEMO.hits, JIT_MEMO.misses)
    e = fem.Expression(2 * x[0], V.element.interpolation_points)
    assert (JIT_MEMO.hits, JIT_MEMO.misses) == counts
    u = fem.Function(V)
    u.interpolate(e)
    assert np.allclose(u.x.array, 2 * V.tabulate_dof_coordinates()[:, 0], rtol=0, atol=1e-15)
