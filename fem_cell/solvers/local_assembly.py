"""A residual and a Jacobian assembled by a compiled loop over the form's kernels.

dolfinx's assemblers are C++, but reaching them from a Newton callback costs more than
the arithmetic on a small serial problem: on the 1-D transport (868 unknowns) a residual
took about 45 µs on the machine of docs/architecture.md's thirteenth session, of which
the kernels were a third; the rest was Python and PETSc plumbing around
``assemble_vector`` (a local form of the vector, constants packed again, the
coefficient dictionary converted, ghost updates that a single rank does not need).  A
Jacobian spent 40 µs of its 90 inserting 64 values per cell through ``MatSetValues``,
which searches each row for each column; on the default 2-D transport that search made
a Jacobian twice as slow as the kernels (165.8 against 88.7 ms on one rank), and on two
ranks the Jacobians took longer in all than on one (13.1 against 9.0 s per anneal).

:class:`LocalAssembler` does what dolfinx's assembler does, with the searching done
once:

* at construction it reads, for each integral of the form, the kernel
  (``tabulate_tensor_float64`` of the form's UFCx integral), its entities
  (``Form.domains``: on several ranks, those dolfinx integrates on this one), their
  cells' coordinates, local facet or vertex indices and facet permutations (the mesh
  does not move), and the cell DOFs; the constants' values are read through views of
  dolfinx's own storage;
* :meth:`LocalAssembler.vector` adds every element vector into an array (this rank's
  owned and ghost entries, as dolfinx fills a vector's local form) with one C call per
  integral, the coefficients packed by
  :class:`~fem_cell.solvers.packing.PackedCoefficients` (the arrays that gather keeps, so
  their addresses do not change);
* :meth:`LocalAssembler.matrix` writes the Jacobian into PETSc's own arrays
  (:mod:`fem_cell.solvers.petsc_aij`): a ``seqaij`` matrix's values, or on several ranks
  the diagonal and off-diagonal blocks of an ``mpiaij`` one; each element entry's
  position there is found once per matrix pattern (PETSc's non-zero state).  Entries of
  rows another rank owns are collected in the loop's order and sent with
  ``MatSetValues``, as dolfinx's assembler sends them (the same rows, columns, values
  and order), then the matrix is assembled.  Entries in a constrained row or column
  are skipped and the owned constrained rows get 1 on the diagonal, as
  ``assemble_matrix(J, a, bcs, diag=1)`` does.  An entry outside a compact pattern
  (:mod:`fem_cell.solvers.sparsity`) that is not zero is counted, and the caller then
  assembles with dolfinx, which extends the pattern (the positions are found again at
  the next call); on several ranks the count is summed, so every rank falls back.

The loops visit integrals, entities and element entries in dolfinx's order (cells,
exterior facets, interior facets; integrals by id), so the sums are the same
sums: at construction both are assembled with the form's coefficients and constants set
to random values (then restored) and compared entry by entry; any difference, an
element that needs DOF transformations, a form on two meshes or several cell types, or
no compiler leaves :attr:`LocalAssembler.usable` False and dolfinx assembles instead
(decided alike on every rank).  One exception on several ranks: PETSc's default stash
sorts the entries sent to another rank before it sums those of one position, with a
sort that does not keep their order, so such a sum may differ from dolfinx's in its last
bits; the check then allows :data:`PARALLEL_ULPS` units of round-off of the row's
largest entry (with ``-matstash_legacy``, which keeps the order, the two are equal bit
for bit: tests/parallel/test_local_assembly_mpi.py).  The positions take 8 bytes per
element-matrix entry (the default 2-D transport on one rank: 56,160 cells × 256
entries, 117 MB, found with the check in 1.6 s, measured beside another job).
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import MPI, PETSc, fem
from fem_cell.solvers.compiled import CompiledModule
from fem_cell.solvers.packing import PackedCoefficients
from fem_cell.solvers.petsc_aij import petsc_aij

_CDEF = """
long long fem_cell_assemble(uintptr_t kernel, int n, const double *w, long long ws,
                            const double *c, const double *x, int xs, const int *li,
                            int nli, const unsigned char *pm, int npm, int ne,
                            const long long *where, double *Ae, double **outs);
void fem_cell_zero(double *out, long long n);
void fem_cell_put(const long long *where, long long n, double value, double *out);
void fem_cell_concat(int n, const uintptr_t *from, const int *sizes, double *out);
"""

_SOURCE = r"""
#include <stdint.h>
#include <string.h>

typedef void (*fem_cell_kernel)(double *, const double *, const double *, const double *,
                                const int *, const unsigned char *, void *);

#define FEM_CELL_INDEX ((1LL << 48) - 1)

/* one integral over n entities: entity e's kernel gets its coefficients w + e ws, the
   constants c, its cells' coordinates x + e xs, local indices li + e nli and
   permutations pm + e npm (NULL: none, as dolfinx passes for cells); its element tensor
   of ne values is added at outs[p >> 48][p & (2^48 - 1)], p = where[e ne + k], where
   p >= 0 (the output array, then the position in it); where == -2 marks a position
   outside a matrix's pattern: non-zero values there are counted (returned) */
long long fem_cell_assemble(uintptr_t kernel, int n, const double *w, long long ws,
                            const double *c, const double *x, int xs, const int *li,
                            int nli, const unsigned char *pm, int npm, int ne,
                            const long long *where, double *Ae, double **outs)
{
    fem_cell_kernel k = (fem_cell_kernel)kernel;
    long long outside = 0;
    for (int e = 0; e < n; ++e) {
        memset(Ae, 0, (size_t)ne * sizeof(double));
        k(Ae, w + (size_t)e * ws, c, x + (size_t)e * xs, li ? li + (size_t)e * nli : NULL,
          pm ? pm + (size_t)e * npm : NULL, NULL);
        const long long *at = where + (size_t)e * ne;
        for (int i = 0; i < ne; ++i) {
            const long long p = at[i];
            if (p >= 0)
                outs[p >> 48][p & FEM_CELL_INDEX] += Ae[i];
            else if (p == -2 && Ae[i] != 0.0)
                ++outside;
        }
    }
    return outside;
}

void fem_cell_zero(double *out, long long n)
{
    memset(out, 0, (size_t)n * sizeof(double));
}

void fem_cell_put(const long long *where, long long n, double value, double *out)
{
    for (long long i = 0; i < n; ++i)
        out[where[i]] = value;
}

/* the values of n arrays (addresses from[i], sizes[i]) one after the other into out */
void fem_cell_concat(int n, const uintptr_t *from, const int *sizes, double *out)
{
    for (int i = 0; i < n; ++i) {
        memcpy(out, (const double *)from[i], (size_t)sizes[i] * sizeof(double));
        out += sizes[i];
    }
}
"""

#: where-code of an element entry dropped (a constrained row or column)
SKIP = -1
#: where-code of an element entry outside the matrix's pattern
OUTSIDE = -2
#: a where-code p >= 0 is (output array << SHIFT) | position in it; the arrays: a
#: vector's, or a matrix's diagonal block, its off-diagonal block (several ranks) and
#: the entries of rows another rank owns (sent to it through PETSc's stash)
SHIFT = 48
DIAGONAL, OFF_DIAGONAL, STASH = 0, 1, 2
#: on several ranks, a matrix entry may differ from dolfinx's by this many units of
#: round-off of its row's largest entry: the entries another rank sends are the same
#: numbers in the same order (equal bit for bit with PETSc's ``-matstash_legacy``), but
#: PETSc's default stash sorts them before summing duplicates, with a sort that does not
#: keep their order
PARALLEL_ULPS = 64.0

#: the compiled module, built on first use (``COMPILED.unavailable``: why it is not)
COMPILED = CompiledModule("fem_cell_assembly", _CDEF, _SOURCE, "the assembly loop",
                          "problems are assembled by dolfinx")


def kernels():
    """The compiled module (``ffi``, ``lib``), or None if it cannot be built
    (``COMPILED.unavailable`` says why; a ``RuntimeWarning`` once)."""
    return COMPILED.get()


class _Integral:
    """One integral's static data: kernel, entity arrays, cell DOFs (rows, columns)."""

    def __init__(self, kernel: int, n: int, coords: np.ndarray, local: np.ndarray | None,
                 perms: np.ndarray | None, rows: np.ndarray, cols: np.ndarray | None,
                 key):
        self.kernel, self.n, self.key = kernel, n, key
        self.coords = np.ascontiguousarray(coords, dtype=np.float64)
        self.local = None if local is None else np.ascontiguousarray(local, dtype=np.intc)
        self.perms = None if perms is None else np.ascontiguousarray(perms, dtype=np.uint8)
        self.rows = rows                  # (n, element rows): global row of each
        self.cols = cols                  # (n, element columns) or None (a vector)
        ne = rows.shape[1] * (1 if cols is None else cols.shape[1])
        self.ne = ne
        self.work = np.empty(ne)
        self.where: np.ndarray | None = rows.astype(np.int64) if cols is None else None


_ORDER = ("cell", "exterior_facet", "interior_facet")


class LocalAssembler:
    """Compiled assembly of one form on one rank.

    Args:
        form: a rank-1 (residual) or rank-2 (Jacobian) ``fem.Form``.
        packed: its coefficients' gather (:class:`PackedCoefficients`, made if None).
        bcs: the Dirichlet conditions of a Jacobian (rows and columns dropped, 1 on the
            diagonal); unused for a residual.
        check: compare with dolfinx at random coefficient values at construction
            (:attr:`usable` False if any entry differs).
    """

    def __init__(self, form: fem.Form, packed: PackedCoefficients | None = None, bcs=(),
                 *, matrix: PETSc.Mat | None = None, check: bool = True):
        self.form = form
        self.packed = packed if packed is not None else PackedCoefficients(form)
        self.rank = form.rank
        self.bcs = list(bcs)
        self._comm = form.mesh.comm
        self._parallel = self._comm.size > 1
        #: why dolfinx assembles instead (None: the compiled loop does); the same on
        #: every rank
        self.reason: str | None = None
        self._module = None
        self._pattern = None          # (matrix handle, non-zero state) of the positions
        self._diag: np.ndarray | None = None
        self._packed_arrays = None
        self._args: list[tuple] = []
        self._stash = None            # rows other ranks own: rows, pointers, columns, values
        self.reason = self._agreed(self._setup)
        if self.reason is None:
            self._outs = self._module.ffi.new("double *[3]")
            if self.rank == 1:
                self._args = self._arguments()
        if self.reason is None and check:
            self.reason = self._agreed(lambda: self._compare(matrix))

    def _agreed(self, decide) -> str | None:
        """``decide()``'s reason not to assemble (None: assemble), made every rank's (the
        lowest rank's with one): both ways of assembling a matrix are collective.  An
        exception on any rank is raised on every rank (as a RuntimeError on the others),
        instead of leaving them waiting."""
        if not self._parallel:
            return decide()
        try:
            reason, error = decide(), None
        except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
            reason, error = None, e
        found = self._comm.allgather((reason, None if error is None else
                                      f"{type(error).__name__}: {error}"))
        if error is not None:
            raise error
        failed = [(i, e) for i, (_, e) in enumerate(found) if e is not None]
        if failed:
            raise RuntimeError(f"the compiled assembly's set-up failed on rank "
                               f"{failed[0][0]}: {failed[0][1]}")
        return next((r for r, _ in found if r is not None), None)

    @property
    def usable(self) -> bool:
        return self.reason is None

    # -- set-up ---------------------------------------------------------------------
    def _setup(self) -> str | None:
        form = self.form
        cf = form._cpp_object
        if self.rank not in (1, 2):
            return f"a rank-{self.rank} form"
        if isinstance(form.ufcx_form, list):
            return "several cell types"
        spaces = form.function_spaces
        mesh = cf.mesh
        for V in spaces:
            if V.mesh is not mesh and V.mesh.topology.index_map(
                    V.mesh.topology.dim) is not mesh.topology.index_map(mesh.topology.dim):
                return "a form on two meshes"
            if V.element.needs_dof_transformations:
                return "an element that needs DOF transformations"
        if not self.packed.gathered:
            return "its coefficients are not a plain gather"
        types = cf.integral_types
        other = {t.name for t in types} - set(_ORDER)
        if other:
            # (dolfinx's Form.domains does not give vertex integrals' entities)
            return f"{', '.join(sorted(other))} integrals"
        module = kernels()
        if module is None:
            return f"no compiled loop ({COMPILED.unavailable})"
        if self.rank == 2 and petsc_aij() is None:
            return "PETSc's array is not reachable"
        self._module = module
        ffi = module.ffi
        uf = form.ufcx_form
        from dolfinx.fem import IntegralType

        offsets = [uf.form_integral_offsets[i] for i in range(len(IntegralType) + 1)]
        geometry = mesh.geometry
        xg = geometry.x
        gmap = geometry.dofmaps[0]
        perms_all = None
        if cf.needs_facet_permutations:
            mesh.topology.create_entity_permutations()
            perms_all = mesh.topology.get_facet_permutations()
        cell_dofs = []
        for V in spaces:
            dm = V.dofmap
            bs = dm.bs
            m = dm.map()
            flat = (m[:, :, None] * bs + np.arange(bs)[None, None, :]).reshape(
                m.shape[0], m.shape[1] * bs)      # (a rank may have no cells)
            cell_dofs.append(flat)

        def coords_of(cells):
            return xg[gmap[cells]].reshape(len(cells), -1)

        self._integrals: list[_Integral] = []
        for name in _ORDER:
            itype = getattr(IntegralType, name)
            if itype not in types:
                continue
            count = cf.num_integrals(itype, 0)
            start, stop = offsets[itype.value], offsets[itype.value + 1]
            if stop - start != count:
                return "several kernels per integral"
            for i in range(count):
                ptr = int(ffi.cast("uintptr_t", uf.form_integrals[start + i]
                                   .tabulate_tensor_float64))
                ent = np.asarray(cf.domains(itype, i))
                if ent.size == 0:
                    continue
                if name == "cell":
                    cells = ent.reshape(-1)
                    n = cells.size
                    coords, local, perms = coords_of(cells), None, None
                    rows = cell_dofs[0][cells]
                    cols = cell_dofs[-1][cells] if self.rank == 2 else None
                elif name == "exterior_facet":
                    ent = ent.reshape(-1, 2)
                    cells, le = ent[:, 0], ent[:, 1]
                    n = cells.size
                    coords, local = coords_of(cells), le.reshape(-1, 1)
                    if perms_all is not None:
                        nf = perms_all.size // gmap.shape[0]
                        perms = perms_all[cells * nf + le].reshape(-1, 1)
                    else:
                        perms = np.zeros((n, 1), dtype=np.uint8)
                    rows = cell_dofs[0][cells]
                    cols = cell_dofs[-1][cells] if self.rank == 2 else None
                else:  # interior facets: both cells
                    ent = ent.reshape(-1, 2, 2)
                    c0, c1 = ent[:, 0, 0], ent[:, 1, 0]
                    n = c0.size
                    coords = np.hstack([coords_of(c0), coords_of(c1)])
                    local = ent[:, :, 1]
                    if perms_all is not None:
                        nf = perms_all.size // gmap.shape[0]
                        perms = np.stack([perms_all[c0 * nf + ent[:, 0, 1]],
                                          perms_all[c1 * nf + ent[:, 1, 1]]], axis=1)
                    else:
                        perms = np.zeros((n, 2), dtype=np.uint8)
                    rows = np.hstack([cell_dofs[0][c0], cell_dofs[0][c1]])
                    cols = (np.hstack([cell_dofs[-1][c0], cell_dofs[-1][c1]])
                            if self.rank == 2 else None)
                self._integrals.append(_Integral(ptr, n, coords, local, perms, rows, cols,
                                                 (itype, i)))
        # the constants: views of dolfinx's own storage, concatenated at each call
        views = [np.asarray(c.value).reshape(-1) for c in cf.constants]
        for c, v in zip(cf.constants, views, strict=True):
            if not np.shares_memory(v, c.value):
                return "a constant whose values are not a view"
        self._constants = views
        size = sum(v.size for v in views)
        self._c = np.zeros(max(size, 1))
        self._addresses = np.array([v.ctypes.data for v in views], dtype=np.uintp)
        self._sizes = np.array([v.size for v in views], dtype=np.intc)
        self._concat_args = (len(views), ffi.cast("uintptr_t *", self._addresses.ctypes.data),
                             ffi.cast("int *", self._sizes.ctypes.data),
                             ffi.cast("double *", self._c.ctypes.data))
        if self.rank == 2:
            self._bc_dofs = (np.unique(np.concatenate(
                [bc._cpp_object.dof_indices()[0] for bc in self.bcs]))
                if self.bcs else np.zeros(0, dtype=np.int32))
        return None

    def _pack_constants(self) -> None:
        """The constants' current values into the kept array, in dolfinx's order
        (``pack_constants``), read from dolfinx's storage by their addresses (a
        constant's storage never moves: its size is fixed)."""
        if self._constants:
            self._module.lib.fem_cell_concat(*self._concat_args)

    # -- matrix positions -----------------------------------------------------------
    def _global(self, space: int) -> tuple[np.ndarray, int]:
        """Global index of each local (unblocked) DOF of the form's space ``space``
        (owned, then ghosts) and the number owned."""
        dm = self.form.function_spaces[space].dofmap
        im, bs = dm.index_map, dm.index_map_bs
        blocks = im.local_to_global(np.arange(im.size_local + im.num_ghosts, dtype=np.int32))
        flat = (blocks.astype(np.int64)[:, None] * bs + np.arange(bs)[None, :]).reshape(-1)
        return flat, im.size_local * bs

    def _positions(self, A: PETSc.Mat, aij) -> str | None:
        """Each element entry's where-code in ``A`` (None: done).

        One rank: its position in the ``seqaij`` value array.  Several ranks, an
        ``mpiaij`` matrix: an owned row's entry goes to its position in the diagonal or
        the off-diagonal block; an entry of a row another rank owns gets a slot of its
        own in :data:`STASH`, in the loop's order (entities, then element entries), and
        is sent with ``MatSetValues`` as dolfinx's assembler sends it: the same rows,
        columns, values and order (a constrained row's or column's entry as a zero),
        so the owner adds the same numbers in the same order."""
        kind = A.getType()
        if kind not in (PETSc.Mat.Type.SEQAIJ, PETSc.Mat.Type.MPIAIJ):
            return f"a {kind} matrix, not aij"
        rows_g, n_rows = self._global(0)
        cols_g, _ = self._global(len(self.form.function_spaces) - 1)
        bc = np.zeros(max(rows_g.size, cols_g.size), dtype=bool)
        bc[self._bc_dofs] = True
        if kind == PETSc.Mat.Type.SEQAIJ:
            handles = [A.handle]
            col_start = 0
            n_cols = A.getSize()[1]
            columns = np.zeros(0, dtype=np.int64)
        else:
            ad, ao, columns = aij.mpi_blocks(A)
            handles = [ad, ao]
            col_start, col_end = A.getOwnershipRangeColumn()
            n_cols = col_end - col_start
        # each block's pattern as ascending keys row * (its columns) + column
        keys, widths, self._nnz = [], [n_cols, max(columns.size, 1)], []
        for h, width in zip(handles, widths, strict=False):
            ai, aj = aij.row_ij(h)
            keys.append(np.repeat(np.arange(ai.size - 1, dtype=np.int64), np.diff(ai))
                        * width + aj)
            self._nnz.append(int(ai[-1]))

        def find(block, key):
            k = np.minimum(np.searchsorted(keys[block], key), max(keys[block].size - 1, 0))
            hit = keys[block].size > 0
            found = (keys[block][k] == key) if hit else np.zeros(key.shape, dtype=bool)
            return np.where(found, (block << SHIFT) | k, OUTSIDE)

        def owned_codes(r, gc):
            """Where-codes of owned row r's entries at global columns gc."""
            code = np.full(r.shape, OUTSIDE, dtype=np.int64)
            local = (gc >= col_start) & (gc < col_start + n_cols)
            code[local] = find(DIAGONAL, r[local] * n_cols + (gc[local] - col_start))
            other = ~local
            if other.any() and columns.size:
                k = np.minimum(np.searchsorted(columns, gc[other]), columns.size - 1)
                hit = columns[k] == gc[other]
                sub = np.full(k.shape, OUTSIDE, dtype=np.int64)
                sub[hit] = find(OFF_DIAGONAL, r[other][hit] * columns.size + k[hit])
                code[other] = sub
            return code

        stash_rows, stash_cols, chunk_of = [], [], []
        slots = 0
        for number, it in enumerate(self._integrals):
            nc = it.cols.shape[1]
            r = np.repeat(it.rows, nc, axis=1).reshape(-1)
            c = np.tile(it.cols, (1, it.rows.shape[1])).reshape(-1)
            where = np.full(r.shape, SKIP, dtype=np.int64)
            skip = bc[r] | bc[c]
            mine = r < n_rows
            keep = mine & ~skip
            where[keep] = owned_codes(r[keep], cols_g[c[keep]])
            theirs = np.flatnonzero(~mine)          # in the loop's order
            if theirs.size:
                slot = slots + np.arange(theirs.size, dtype=np.int64)
                where[theirs] = np.where(skip[theirs], SKIP, (STASH << SHIFT) | slot)
                slots += theirs.size
                stash_rows.append(rows_g[r[theirs]])
                stash_cols.append(cols_g[c[theirs]])
                # one MatSetValues row per element row: entity e, element row i
                chunk_of.append(number * (1 << 40) + theirs // nc)
            it.where = np.ascontiguousarray(where.reshape(it.n, -1))
        self._stash = None
        if slots:
            chunk = np.concatenate(chunk_of)
            first = np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1]])
            itype = aij.int_type
            self._stash = (np.concatenate(stash_rows)[first].astype(itype),
                           np.r_[first, slots].astype(itype),
                           np.concatenate(stash_cols).astype(itype),
                           np.zeros(slots))
        owned_bc = self._bc_dofs[self._bc_dofs < n_rows]
        d = owned_codes(owned_bc.astype(np.int64), rows_g[owned_bc])
        if (d < 0).any() or ((d >> SHIFT) != DIAGONAL).any():
            return "a constrained row without its diagonal in the pattern"
        self._diag = np.ascontiguousarray(d & ((1 << SHIFT) - 1), dtype=np.int64)
        return None

    # -- assembly -------------------------------------------------------------------
    def _arguments(self) -> list[tuple]:
        """Each integral's call arguments but the outputs, cast once: every array they
        point to is kept (the gather's packed arrays are overwritten in place)."""
        ffi = self._module.ffi
        coeffs = self.packed()
        cp = ffi.cast("double *", self._c.ctypes.data)
        args = []
        for it in self._integrals:
            w = coeffs[it.key]
            args.append((
                it.kernel, it.n, ffi.cast("double *", w.ctypes.data), w.size // it.n, cp,
                ffi.cast("double *", it.coords.ctypes.data), it.coords.shape[1],
                ffi.NULL if it.local is None else ffi.cast("int *", it.local.ctypes.data),
                0 if it.local is None else it.local.shape[1],
                ffi.NULL if it.perms is None else ffi.cast("unsigned char *",
                                                           it.perms.ctypes.data),
                0 if it.perms is None else it.perms.shape[1], it.ne,
                ffi.cast("long long *", it.where.ctypes.data),
                ffi.cast("double *", it.work.ctypes.data)))
        self._packed_arrays = coeffs
        return args

    def _run(self) -> int:
        """Every integral added into the arrays of ``self._outs``; returns the count of
        non-zeros outside a matrix's pattern (this rank's)."""
        coeffs = self.packed()
        if coeffs is not self._packed_arrays:          # pragma: no cover - gather kept
            raise RuntimeError("the packed coefficients moved")
        self._pack_constants()
        assemble = self._module.lib.fem_cell_assemble
        outs = self._outs
        outside = 0
        for args in self._args:
            outside += assemble(*args, outs)
        return outside

    def vector(self, b: np.ndarray) -> None:
        """The residual into ``b`` (float64, contiguous: this rank's DOFs, owned then
        ghosts, as dolfinx's ``assemble_vector`` fills a vector's local form): zeroed,
        then every integral added.  Several ranks: the caller then adds the ghosts'
        entries to their owners (``ghostUpdate(ADD, REVERSE)``), as after dolfinx's."""
        b[:] = 0.0
        self._outs[DIAGONAL] = self._module.ffi.cast("double *", b.ctypes.data)
        self._run()

    def matrix(self, A: PETSc.Mat) -> bool:
        """The Jacobian into ``A`` (``seqaij`` on one rank, ``mpiaij`` on several:
        values zeroed, every entry of the pattern written, 1 on the owned constrained
        rows' diagonal, other ranks' rows sent; then assembled on several ranks).
        Collective on several ranks.  Returns False (on every rank), with ``A``'s
        values unspecified, if a non-zero fell outside the pattern on any rank: the
        caller then assembles with dolfinx."""
        aij = petsc_aij()
        if aij is None:
            raise RuntimeError(f"PETSc's array is not reachable: {self.reason}")
        key = (A.handle, aij.nonzero_state(A))
        stale = key != self._pattern
        if self._parallel:          # (PETSc sums the ranks' states only for some options)
            stale = self._comm.allreduce(stale, op=MPI.LOR)
        if stale:
            reason = self._agreed(lambda: self._positions(A, aij))
            if reason is not None:
                self.reason = reason
                return False
            self._pattern = key
            self._args = self._arguments()
        lib, ffi = self._module.lib, self._module.ffi
        blocked = A.getType() == PETSc.Mat.Type.MPIAIJ     # (_positions allows these two)
        handles = list(aij.mpi_blocks(A)[:2]) if blocked else [A.handle]
        outs = self._outs
        taken = []
        try:
            for i, h in enumerate(handles):
                outs[i] = ffi.cast("double *", aij.get_write(h))
                taken.append(h)
                lib.fem_cell_zero(outs[i], self._nnz[i])
            if self._stash is not None:
                values = self._stash[3]
                values[:] = 0.0
                outs[STASH] = ffi.cast("double *", values.ctypes.data)
            outside = self._run()
            if self._diag.size:
                lib.fem_cell_put(ffi.cast("long long *", self._diag.ctypes.data),
                                 self._diag.size, 1.0, outs[DIAGONAL])
        finally:
            for h in taken:
                aij.restore_write(h)
        if blocked:             # the blocks' values changed under the mpiaij matrix
            if self._stash is not None:
                rows, pointers, columns, values = self._stash
                A.setValuesIJV(pointers, columns, values, addv=PETSc.InsertMode.ADD_VALUES,
                               rowmap=rows)
            A.assemble()
        if self._parallel:
            outside = self._comm.allreduce(outside)
        return outside == 0

    # -- the check against dolfinx --------------------------------------------------
    @staticmethod
    def _worst_difference(ia: np.ndarray, va: np.ndarray, vb: np.ndarray) -> float:
        """The largest difference of two matrices' values of one pattern (CSR row
        pointers ``ia``), in units of round-off of the largest entry of its row."""
        scale = np.abs(va)
        rows = np.repeat(np.arange(ia.size - 1), np.diff(ia))
        big = np.zeros(ia.size - 1)
        np.maximum.at(big, rows, scale)
        unit = np.finfo(np.float64).eps * np.maximum(big[rows], np.finfo(np.float64).tiny)
        return float(np.max(np.abs(va - vb) / unit)) if va.size else 0.0

    def _compare(self, A: PETSc.Mat | None) -> str | None:
        from dolfinx.fem.assemble import _assemble_vector_array
        from dolfinx.fem.petsc import assemble_matrix

        cf = self.form._cpp_object
        arrays = [f.x.array for f in cf.coefficients]
        constants = [np.asarray(c.value) for c in cf.constants]
        saved = [a.copy() for a in arrays], [c.copy() for c in constants]
        rng = np.random.default_rng(1)
        try:
            for a in arrays:
                a[:] = rng.uniform(0.5, 1.5, a.size)
            for c in constants:
                c[...] = c * rng.uniform(0.9, 1.1, c.shape)
            if self.rank == 1:
                dm = self.form.function_spaces[0].dofmap
                n = (dm.index_map.size_local + dm.index_map.num_ghosts) * dm.index_map_bs
                ref = np.zeros(n)
                _assemble_vector_array(ref, self.form)
                got = np.zeros(n)
                self.vector(got)
                if not np.array_equal(ref, got):
                    return (f"differs from dolfinx's assembly (by up to "
                            f"{np.max(np.abs(ref - got)):.3g})")
                return None
            if A is None:
                return "no matrix to compare in"
            # dolfinx first: it also makes the pattern of a matrix not assembled yet
            A.zeroEntries()
            assemble_matrix(A, self.form, self.bcs, diag=1.0)
            A.assemble()
            ia, ja, va = (a.copy() for a in A.getValuesCSR())
            if not self.matrix(A):
                return self.reason or "a non-zero outside the matrix's pattern"
            ib, jb, vb = A.getValuesCSR()
            if not (np.array_equal(ia, ib) and np.array_equal(ja, jb)):
                return "the matrix's pattern changed"
            if not np.array_equal(va, vb):
                worst = self._worst_difference(ia, va, vb)
                if not self._parallel or worst > PARALLEL_ULPS:
                    return (f"differs from dolfinx's assembly (by up to "
                            f"{np.max(np.abs(va - vb)):.3g})")
            return None
        finally:
            for a, s in zip(arrays, saved[0], strict=True):
                a[:] = s
            for c, s in zip(constants, saved[1], strict=True):
                c[...] = s


__all__ = ["COMPILED", "LocalAssembler", "kernels"]
