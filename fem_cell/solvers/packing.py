"""A form's coefficients packed by one gather instead of dolfinx's ``pack_coefficients``.

Before every assembly dolfinx copies the values of each coefficient (a ``fem.Function``)
on each cell of each integral into one array per integral
(``dolfinx.fem.pack_coefficients``).  For Lagrange coefficients that copy is a fixed
gather: packed entry k of integral i is always entry ``src[k]`` of one coefficient's
array (owned and ghost values), whatever the values.  dolfinx redoes the work of
finding those positions at every call and allocates new arrays; on the 1-D transport's
residual (4 integrals × 22 values per cell, 8 coefficients) that was 13 µs of a
residual evaluation of about 50, and the Jacobian packs again
(docs/architecture.md).

:class:`PackedCoefficients` finds ``src`` once, by packing the form with every
coefficient's array set to its own position in the concatenation of all of them
(restored afterwards), and then packs with ``numpy.take`` into arrays it keeps.  It
checks the gather against dolfinx's packing of random values, and if the two differ in
any entry (a coefficient whose element needs DOF transformations, e.g. Nédélec) it
packs with dolfinx instead (:attr:`PackedCoefficients.gathered` False).  Every call
reads every coefficient's current array, so nothing can be stale: the result is
dolfinx's packing, bit for bit (tested).

On one form compiled as one UFCx form, only the entries a kernel reads are gathered:
FFCx marks for each integral the coefficients its kernel uses
(``enabled_coefficients``), and dolfinx packs every coefficient for every integral
anyway (1-D transport residual: 7,412 entries packed, 5,240 read).  Those entries are
copied by one compiled loop straight from the coefficients' arrays (whose storage never
moves); the others keep the values of the first, complete packing, which no kernel
reads.  Without a compiler, numpy gathers every entry as before.
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import fem
from fem_cell.solvers.compiled import CompiledModule

_CDEF = """
void fem_cell_gather(long long m, const uintptr_t *arrays, const int *which,
                     const long long *index, const long long *pos, double *out);
"""

_SOURCE = r"""
#include <stdint.h>

/* out[pos[k]] = arrays[which[k]][index[k]] for k < m */
void fem_cell_gather(long long m, const uintptr_t *arrays, const int *which,
                     const long long *index, const long long *pos, double *out)
{
    for (long long k = 0; k < m; ++k)
        out[pos[k]] = ((const double *)arrays[which[k]])[index[k]];
}
"""

#: the compiled module, built on first use (``COMPILED.unavailable``: why it is not)
COMPILED = CompiledModule("fem_cell_packing", _CDEF, _SOURCE, "the coefficient gather",
                          "numpy gathers")


def kernels():
    """The compiled module (``ffi``, ``lib``), or None if it cannot be built
    (``COMPILED.unavailable`` says why; a ``RuntimeWarning`` once)."""
    return COMPILED.get()


def _enabled(form: fem.Form, keys) -> dict | None:
    """Per integral key, which coefficients its kernel reads (FFCx's
    ``enabled_coefficients``), or None if the form is not one UFCx form."""
    from dolfinx.fem import IntegralType

    uf = form.ufcx_form
    if uf is None or isinstance(uf, list):
        return None
    offsets = [uf.form_integral_offsets[i] for i in range(len(IntegralType) + 1)]
    out = {}
    for itype, i in keys:
        j = offsets[itype.value] + i
        if not offsets[itype.value] <= j < offsets[itype.value + 1]:
            return None
        integral = uf.form_integrals[j]
        out[(itype, i)] = np.array([bool(integral.enabled_coefficients[c])
                                    for c in range(uf.num_coefficients)])
    return out


class PackedCoefficients:
    """The coefficients of ``form`` for its assembler (``coeffs=`` of dolfinx's
    ``assemble_vector``/``assemble_matrix``).

    Call the object for the packed coefficients at the coefficients' current values;
    the arrays returned are reused (overwritten) by the next call.
    """

    def __init__(self, form: fem.Form):
        from dolfinx.fem.assemble import pack_coefficients

        self._form = form
        self._pack = pack_coefficients
        arrays = [f.x.array for f in form._cpp_object.coefficients]
        self._arrays = arrays
        #: whether the gather is used (False: dolfinx packs at every call)
        self.gathered = False
        #: whether the compiled gather of the entries the kernels read is used, and how
        #: many entries it copies
        self.compiled = False
        self.read_entries = 0
        if not arrays:
            self._packed = pack_coefficients(form)
            self.gathered = True
            return
        sizes = [a.size for a in arrays]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n = int(offsets[-1])
        saved = [a.copy() for a in arrays]
        try:
            # every value its position + 1 in the concatenation (0: no coefficient)
            for a, o in zip(arrays, offsets[:-1], strict=True):
                a[:] = o + 1 + np.arange(a.size, dtype=np.float64)
            probe = pack_coefficients(form)
            rng = np.random.default_rng(0)
            for a in arrays:
                a[:] = rng.uniform(0.5, 1.5, a.size)
            check = pack_coefficients(form)
            randoms = [a.copy() for a in arrays]
        finally:
            for a, s in zip(arrays, saved, strict=True):
                a[:] = s
        keys = list(probe)
        rows = [probe[k].shape for k in keys]
        flat = np.concatenate([probe[k].ravel() for k in keys]) if keys else np.zeros(0)
        index = np.rint(flat).astype(np.int64)
        if not (np.array_equal(index, flat) and index.min(initial=0) >= 0
                and index.max(initial=0) <= n):
            return                                     # not a plain gather: dolfinx packs
        self._src = np.where(index > 0, index - 1, n)  # n: the zero at the end
        self._source = np.zeros(n + 1)
        self._out = np.empty(self._src.size)
        self._packed = {}
        start = 0
        for k, shape in zip(keys, rows, strict=True):
            size = int(np.prod(shape))
            self._packed[k] = self._out[start:start + size].reshape(shape)
            start += size
        self._n = n
        got = self._gather(randoms)
        self.gathered = all(np.array_equal(got[k], check[k]) for k in keys)
        #: whether the compiled gather of the read entries is used
        self.compiled = False
        if self.gathered:
            self._use_compiled(form, keys, rows, index, offsets, randoms, check)

    def _use_compiled(self, form, keys, rows, index, offsets, randoms, check) -> None:
        """The compiled gather of the entries the kernels read (kept if it reproduces
        dolfinx's packing there)."""
        enabled = _enabled(form, keys)
        module = kernels() if enabled is not None else None
        if module is None:
            return
        # the coefficient each packed entry comes from (index 0: none)
        which = np.searchsorted(np.asarray(offsets), index - 1, side="right") - 1
        read = np.zeros(index.size, dtype=bool)
        start = 0
        for k, shape in zip(keys, rows, strict=True):
            size = int(np.prod(shape))
            w, i = which[start:start + size], index[start:start + size]
            read[start:start + size] = (i > 0) & enabled[k][np.clip(w, 0, None)]
            start += size
        pos = np.flatnonzero(read).astype(np.int64)
        self._which = which[pos].astype(np.intc)
        self._index = (index[pos] - 1 - np.asarray(offsets)[which[pos]]).astype(np.int64)
        self._pos = pos
        self._addresses = np.array([a.ctypes.data for a in self._arrays], dtype=np.uintp)
        ffi = module.ffi
        self._call = (module.lib.fem_cell_gather, pos.size,
                      ffi.cast("uintptr_t *", self._addresses.ctypes.data),
                      ffi.cast("int *", self._which.ctypes.data),
                      ffi.cast("long long *", self._index.ctypes.data),
                      ffi.cast("long long *", self._pos.ctypes.data),
                      ffi.cast("double *", self._out.ctypes.data))
        saved = [a.copy() for a in self._arrays]
        try:
            for a, r in zip(self._arrays, randoms, strict=True):
                a[:] = r
            self._out[:] = 0.0
            f, *args = self._call
            f(*args)
            masks = self._read_masks(keys, rows, read)
            ok = all(np.array_equal(self._packed[k][mask], check[k][mask])
                     for k, mask in masks.items())
        finally:
            for a, v in zip(self._arrays, saved, strict=True):
                a[:] = v
        self._gather(self._arrays)       # every entry once: the unread ones stay so
        self.compiled = ok
        self.read_entries = int(pos.size)
        self._masks = masks

    def read_masks(self) -> dict | None:
        """Per integral, which packed entries are kept current (the ones its kernel
        reads); None: all of them."""
        return self._masks if self.compiled else None

    def _read_masks(self, keys, rows, read) -> dict:
        out, start = {}, 0
        for k, shape in zip(keys, rows, strict=True):
            size = int(np.prod(shape))
            out[k] = read[start:start + size].reshape(shape)
            start += size
        return out

    def _gather(self, arrays) -> dict:
        np.concatenate(arrays, out=self._source[:self._n])
        self._source.take(self._src, out=self._out)
        return self._packed

    def __call__(self) -> dict:
        if not self.gathered:
            return self._pack(self._form)
        if not self._arrays:
            return self._packed
        if self.compiled:
            f, *args = self._call
            f(*args)
            return self._packed
        return self._gather(self._arrays)


__all__ = ["PackedCoefficients"]
