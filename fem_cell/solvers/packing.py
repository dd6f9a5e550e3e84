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
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import fem


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

    def _gather(self, arrays) -> dict:
        np.concatenate(arrays, out=self._source[:self._n])
        self._source.take(self._src, out=self._out)
        return self._packed

    def __call__(self) -> dict:
        if not self.gathered:
            return self._pack(self._form)
        if not self._arrays:
            return self._packed
        return self._gather(self._arrays)


__all__ = ["PackedCoefficients"]
