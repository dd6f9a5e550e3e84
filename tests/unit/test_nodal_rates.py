"""The transport's volume-term rates as nodal functions of the temperature
(fem_cell.physics.transport.TransportPhysics.at_nodes): their values are the laws at T's
nodes, they follow T whenever T changes (every assembler brings them up to date first),
and where T is uniform the residual is the one with the laws written into the forms."""

import numpy as np
import pytest
from dolfinx.fem.assemble import _assemble_vector_array

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import load_config
from fem_cell.model import CellModel


@pytest.fixture
def chem():
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    model = CellModel(cfg, MPI.COMM_SELF)
    yield model.chemistry(expose=True)
    model.destroy()


def laws(block):
    return {key: (f, law) for key, (f, law) in block._nodal.items()}


def test_the_rates_are_the_laws_at_the_nodes_and_follow_t(chem):
    block, tp = chem.transport, chem.transport_problem
    kinds = {k[0] for k in block._nodal}
    assert {"D_H", "D_Li", "k_t", "k_d"} <= kinds
    rng = np.random.default_rng(0)
    chem.T_film.x.array[:] = rng.uniform(300.0, 450.0, chem.T_film.x.array.size)
    # the Newton residual brings them up to date before it assembles
    tp._residual(tp.snes, tp._x, tp._problem.b)
    T = chem.T_film.x.array
    for (kind, phase), (f, law) in laws(block).items():
        assert np.array_equal(f.x.array, law(T)), (kind, phase)
        # the same law as the float path, node by node
        assert np.allclose(f.x.array[:3], [law(float(t)) for t in T[:3]], rtol=1e-14,
                           atol=0.0)
    # unchanged T: nothing is recomputed (the temperatures last used are kept)
    seen = block._nodal_T
    block.before_assembly()
    assert block._nodal_T is seen


def test_diagnostics_refresh_them_too(chem):
    block = chem.transport
    chem.T_film.x.array[:] = 400.0
    block.inventory()                       # any scalar diagnostic
    for f, law in laws(block).values():
        assert np.array_equal(f.x.array, law(chem.T_film.x.array))


def test_uniform_t_gives_the_residual_of_the_laws_in_the_forms(chem, monkeypatch):
    """At a uniform temperature the interpolant of k(T) is k(T): the residual equals the
    one built with the laws evaluated in the kernels (round-off apart).  The second
    model starts from the same exposed state (the exposure cache)."""
    from fem_cell.physics.transport import TransportPhysics

    monkeypatch.setattr(TransportPhysics, "at_nodes", lambda self, key: self._law(key)(self.T))
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    other = CellModel(cfg, MPI.COMM_SELF)
    try:
        ref = other.chemistry(expose=True)
        assert not ref.transport._nodal and chem.transport._nodal
        out = []
        for c in (chem, ref):
            c.T_film.x.array[:] = 423.15
            p = c.transport_problem
            for refresh in p._before_assembly:
                refresh()
            p._space.gather()
            b = np.zeros(p._problem.b.getLocalSize())
            _assemble_vector_array(b, p._problem.F)
            out.append(b)
        assert np.abs(out[0]).max() > 0
        assert np.allclose(out[0], out[1], rtol=1e-12, atol=1e-12 * np.abs(out[1]).max())
    finally:
        other.destroy()


def test_a_non_lagrange_temperature_keeps_the_laws_in_the_forms():
    from fem_cell._dolfinx import dolfinx
    from fem_cell.physics.transport import TransportPhysics

    block = TransportPhysics.__new__(TransportPhysics)
    block._nodal = {}
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 2)
    block.T = fem.Function(fem.functionspace(msh, ("DG", 0)))
    block._law = lambda key: (lambda T: 2.0 * T)    # (the law of key, TransportPhysics._law)
    got = block.at_nodes(("D_H", "x"))
    assert not block._nodal and not isinstance(got, fem.Function)
