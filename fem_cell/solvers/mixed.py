"""Several fields as one mixed space: one form, one assembly.

A blocked problem (one form per field, dolfinx's ``NonlinearProblem`` with lists of
forms) is assembled block by block: per block a Python dispatch, a coefficient packing
of every function the form uses, and a kernel call per cell; its set-up splits the form
into blocks (``ufl.extract_blocks``) and compiles each.  At 1-D sizes that Python work
is the cost.  Written on the mixed element of the fields' elements
(:func:`basix.ufl.mixed_element`), the same equations are one form, one packing and one
kernel call per cell.  Measured on the default cell's 4-field transport (868 DOFs, 1-D;
docs/architecture.md): residual 0.07 ms instead of 0.19 ms, Jacobian 0.27 ms instead of
0.59 ms per assembly.

The mixed element's sparsity couples every pair of fields in every cell whatever the
equations couple.  In 1-D that is harmless (the factorisation of a banded matrix is
cheap either way: 0.45 ms against 0.42 ms), but it doubled the Jacobian's non-zeros of
the default 2-D transport (8.1 M instead of 4.0 M) and made its MUMPS factorisation
1.8x dearer (1.9 s instead of 1.05 s), where the blocked matrix holds only the blocks
the equations couple.  On a Jacobian that stores only the entries that can be non-zero
(:mod:`fem_cell.solvers.sparsity`) that cost is gone, and with the trapped fraction and
the Dirichlet DOFs condensed out of the factorisation (:mod:`fem_cell.solvers.condensed`)
the default 2-D transport assembles its Jacobian in 0.18 s instead of 0.24 s (one rank,
95 Jacobians of the default anneal; one kernel call per cell instead of one per block,
each of which re-evaluated the coefficients).
Hence two uses (chosen by :class:`fem_cell.solvers.problem.TransientProblem`):

* **one space** (direct solver: 1-D, and 2-D with node-local fields condensed):
  Newton runs on the mixed space; the fields' functions are copied in before and out
  after each solve (:meth:`MixedSpace.gather`, :meth:`MixedSpace.scatter`: one compiled
  loop over every field, 1 µs for the 1-D transport's four fields where numpy's
  indexing took 11–12 µs, a tenth of a serial 1-D Newton solve's own work) and their
  conditions are restated on the mixed space's sub-spaces
  (:meth:`MixedSpace.conditions`; conditions with a function value keep the blocked
  Newton);
* **mixed residual** (otherwise): Newton, its matrix and every caller keep dolfinx's
  blocked layout (the owned DOFs of every field in order); only the residual is
  assembled on the mixed space (:class:`MixedResidual`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fem_cell._dolfinx import MPI, PETSc, dolfinx, fem, ufl
from fem_cell.forms import compile_form
from fem_cell.solvers.compiled import CompiledModule

#: the value types of a constant Dirichlet condition (``DirichletBC.g`` is the C++ object)
_CONSTANTS = tuple(getattr(dolfinx.cpp.fem, n) for n in dir(dolfinx.cpp.fem)
                   if n.startswith("Constant_"))


_CDEF = """
void fem_cell_mixed_gather(int nf, int n, double **fields, const int *maps, double *w);
void fem_cell_mixed_scatter(int nf, int n, double **fields, const int *maps,
                            const double *w);
"""

_SOURCE = r"""
/* w[maps[f][i]] = fields[f][i] for every field f and local DOF i (maps: nf x n) */
void fem_cell_mixed_gather(int nf, int n, double **fields, const int *maps, double *w)
{
    for (int f = 0; f < nf; ++f) {
        const double *u = fields[f];
        const int *m = maps + (long)f * n;
        for (int i = 0; i < n; ++i)
            w[m[i]] = u[i];
    }
}

/* fields[f][i] = w[maps[f][i]] */
void fem_cell_mixed_scatter(int nf, int n, double **fields, const int *maps,
                            const double *w)
{
    for (int f = 0; f < nf; ++f) {
        double *u = fields[f];
        const int *m = maps + (long)f * n;
        for (int i = 0; i < n; ++i)
            u[i] = w[m[i]];
    }
}
"""

#: the gather and scatter loops, built on first use (without them: numpy's indexing,
#: the same values)
COPIES = CompiledModule("fem_cell_mixed", _CDEF, _SOURCE,
                        "the mixed space's copy loops", "numpy copies the fields")


def _field_to_mixed(V: fem.FunctionSpace, W_sub: fem.FunctionSpace) -> np.ndarray:
    """For each local DOF of ``V`` (owned and ghost), its local DOF in the mixed space
    (``W_sub``: the sub-space of ``V``'s field), matched through the cells' DOF lists."""
    out = np.full(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts, -1,
                  dtype=np.int32)
    out[V.dofmap.list.ravel()] = W_sub.dofmap.list.ravel()
    return out


class MixedSpace:
    """The mixed space of ``fields`` (scalar-per-node fields on one mesh).

    Attributes:
        space: the mixed function space W.
        w: a function of W (the Newton iterate in the one-space use).
        maps: per field, the W-local DOF of each of its local DOFs (owned, then ghost).
        owned: per field, the W-local DOFs of its owned DOFs (all owned in W).

    Use :meth:`build`, which returns None where the fields do not qualify.
    """

    def __init__(self, fields: Sequence, space: fem.FunctionSpace, maps: Sequence[np.ndarray]):
        self.fields = list(fields)
        self.space = space
        self.w = fem.Function(space, name="mixed_iterate")
        self.maps = list(maps)
        self.owned = [m[:f.n_owned] for f, m in zip(fields, maps, strict=True)]
        #: the W-local DOF of each owned DOF of the blocked layout
        self.blocked_to_mixed = np.concatenate(self.owned)
        # views of w's and the fields' arrays (dolfinx's storage never moves; each
        # look-up through the properties costs about 3 µs)
        self._w_array = self.w.x.array
        self._pairs = [(f.u.x.array, m) for f, m in zip(self.fields, self.maps, strict=True)]
        #: the compiled loops' arguments (None: numpy's indexing): every field's array
        #: has the same length, as the fields of one mixed space do
        self._copy_args = None
        module = COPIES.get()
        sizes = {u.size for u, _ in self._pairs}
        if module is not None and len(sizes) == 1:
            ffi = module.ffi
            self._maps_all = np.ascontiguousarray(np.stack(self.maps), dtype=np.intc)
            self._field_ptrs = ffi.new("double *[]", [ffi.cast("double *", u.ctypes.data)
                                                       for u, _ in self._pairs])
            self._copy_args = (len(self._pairs), sizes.pop(), self._field_ptrs,
                               ffi.cast("int *", self._maps_all.ctypes.data),
                               ffi.cast("double *", self._w_array.ctypes.data))
            self._copies = module.lib

    @classmethod
    def build(cls, fields: Sequence, comm: MPI.Comm, entity_maps=None) -> MixedSpace | None:
        """A :class:`MixedSpace`, or None (on every rank alike) if the fields cannot share
        one: fewer than two, on different meshes or with entity maps, with a block size
        (vector fields), or a field's owned DOF that W does not own."""
        import basix.ufl

        if len(fields) < 2 or entity_maps:
            return None
        msh = fields[0].space.mesh
        if any(f.space.mesh is not msh or f.space.dofmap.index_map_bs != 1 for f in fields):
            return None
        W = fem.functionspace(msh, basix.ufl.mixed_element(
            [f.space.ufl_element() for f in fields]))
        maps = [_field_to_mixed(f.space, W.sub(i)) for i, f in enumerate(fields)]
        n_mixed = W.dofmap.index_map.size_local * W.dofmap.index_map_bs
        flat = np.concatenate([m[:f.n_owned] for f, m in zip(fields, maps, strict=True)])
        ok = (all(np.all(m >= 0) for m in maps) and flat.size == n_mixed
              and bool(np.all(flat < n_mixed)) and np.unique(flat).size == n_mixed)
        if not comm.allreduce(bool(ok), op=MPI.LAND):
            return None
        return cls(fields, W, maps)

    def components(self) -> tuple[dict, dict]:
        """(unknowns, test functions): dicts field name → UFL component of ``w`` / of
        W's test function."""
        names = [f.name for f in self.fields]
        return (dict(zip(names, ufl.split(self.w), strict=True)),
                dict(zip(names, ufl.TestFunctions(self.space), strict=True)))

    def gather(self) -> None:
        """``w`` ← the fields' functions (owned and ghost DOFs)."""
        if self._copy_args is not None:
            self._copies.fem_cell_mixed_gather(*self._copy_args)
            return
        a = self._w_array
        for u, m in self._pairs:
            a[m] = u

    def scatter(self) -> None:
        """The fields' functions ← ``w`` (owned and ghost DOFs)."""
        if self._copy_args is not None:
            self._copies.fem_cell_mixed_scatter(*self._copy_args)
            return
        a = self._w_array
        for u, m in self._pairs:
            u[:] = a[m]

    def conditions(self, bcs: Sequence) -> list | None:
        """The Dirichlet conditions ``bcs`` of the fields, restated on W's sub-spaces (the
        same DOFs, the same value object), or None if one cannot be: a value that is not
        a ``fem.Constant`` (e.g. a function), or a condition on no field's space."""
        out = []
        for bc in bcs:
            i = next((i for i, f in enumerate(self.fields)
                      if f.space._cpp_object.contains(bc.function_space)), None)
            if i is None or not isinstance(bc.g, _CONSTANTS):
                return None
            dofs, _ = bc.dof_indices()
            out.append(fem.dirichletbc(bc.g, self.maps[i][dofs].astype(np.int32),
                                       self.space.sub(i)))
        return out


class MixedResidual:
    """The residual of a blocked problem assembled as one form on its mixed space.

    Args:
        space: the fields' :class:`MixedSpace`.
        weak_form: ``weak_form(u, v)`` → the residual form, given dicts (field name →
            UFL) of the unknowns and test functions; called once, with W's components.
    """

    def __init__(self, space: MixedSpace, weak_form: Callable[[Mapping, Mapping], ufl.Form]):
        from dolfinx.fem.petsc import create_vector

        self.mixed = space
        self.form = compile_form(weak_form(*space.components()))
        self.vector = create_vector(space.space)

    def assemble(self, x: PETSc.Vec, b: PETSc.Vec) -> None:
        """The residual at the blocked iterate ``x`` into the owned entries of the
        blocked vector ``b`` (no boundary conditions; ``b``'s ghosts are not updated)."""
        from dolfinx.fem.petsc import assemble_vector

        index = self.mixed.blocked_to_mixed
        w = self.mixed.w
        w.x.array[index] = x.getArray(readonly=True)
        w.x.scatter_forward()
        r = self.vector
        with r.localForm() as loc:
            loc.set(0.0)
        assemble_vector(r, self.form)
        r.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        with b.localForm() as loc:
            loc.array_w[:index.size] = r.getArray(readonly=True)[index]

    def destroy(self) -> None:
        self.vector.destroy()


__all__ = ["MixedResidual", "MixedSpace"]
