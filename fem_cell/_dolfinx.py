"""Import dolfinx (and petsc4py) in the order the binary wheel needs.

The ``dolfinx-solver-real`` wheel requires ``import dolfinx_solver`` before
``dolfinx``/``petsc4py`` (it loads its own MPI first).  Inside the official dolfinx
container that module does not exist and is not needed.  Every fem_cell module that
needs dolfinx imports it from here::

    from fem_cell._dolfinx import dolfinx, fem, PETSc
"""

from __future__ import annotations

import sys

# ``import dolfinx`` passes sys.argv to its C++ logger, which rejects an argument that is
# not valid UTF-8 (Python keeps such bytes as surrogate escapes, e.g. a folder name with
# a Latin-1 byte): the import would fail before fem-cell can say what is wrong with the
# argument.  The libraries see a copy with those bytes replaced; sys.argv is restored.
_argv = sys.argv
sys.argv = [a.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            for a in _argv]
try:
    try:  # pragma: no cover - depends on how dolfinx was installed
        import dolfinx_solver  # noqa: F401
    except ImportError:  # official container / conda / source build
        pass

    from mpi4py import MPI
    from petsc4py import PETSc

    import basix
    import basix.ufl
    import dolfinx
    import dolfinx.fem.petsc
    import ufl
    from dolfinx import fem, io, mesh
finally:
    sys.argv = _argv

__all__ = ["MPI", "PETSc", "basix", "dolfinx", "fem", "io", "mesh", "ufl"]


def _stop_singledispatchmethod_leak() -> int:
    """Turn off the per-object method cache of ``functools.singledispatchmethod`` in the
    UFL/FFCx classes that use it; returns how many descriptors were changed.

    CPython 3.12.0-3.12.8 and 3.13.0-3.13.1 cache each bound method in a
    ``WeakKeyDictionary`` whose value refers to its own key, so the object is never freed
    (CPython issue gh-127750).  UFL's derivative rulesets dispatch with it: every form
    ever differentiated — with its meshes, functions and their duplicated MPI
    communicators — stayed alive, and a process that built a few hundred models (a fit, a
    posterior, a study) ran out of MPI communicators ("Too many communicators").  The
    descriptor skips the cache when it is ``None``, so this is a no-op on fixed versions
    (they have no such attribute).
    """
    import functools
    import importlib

    changed = 0
    for name in ("ufl.corealg.dag_traverser", "ufl.algorithms.apply_derivatives",
                 "ufl.algorithms.apply_coefficient_split", "ffcx.codegeneration.C.formatter"):
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - another UFL/FFCx layout
            continue
        for cls in vars(module).values():
            if not isinstance(cls, type):
                continue
            for attr in vars(cls).values():
                if (isinstance(attr, functools.singledispatchmethod)
                        and getattr(attr, "_method_cache", None) is not None):
                    attr._method_cache = None
                    changed += 1
    return changed


SINGLEDISPATCH_CACHES_OFF = _stop_singledispatchmethod_leak()


class _JitMemo:
    """An in-process memo in front of ``dolfinx.jit.ffcx_jit`` for UFL forms.

    dolfinx looks every form up in FFCx's disk cache, also when this process has loaded
    the same module before: it creates the C file's name exclusively, lists the cache
    directory to find the module (a directory of every structure this machine has
    compiled) and imports it again.  A 1-D exposure + anneal builds about 27 forms, so
    these look-ups were 12 % of a case (0.36 s → 0.32 s with the memo, this machine,
    2,352 files in the cache; a calibration or a study builds the same forms for every
    case).  The memo keys a compiled form by its UFL signature (which the look-up computes
    anyway; it names FFCx's module) and the form compiler and JIT options, and returns
    what the disk cache would have: the same module.

    Under MPI dolfinx's JIT is collective (rank 0 compiles, then the others load), so a
    rank may use its memo only if every rank of the form's communicator has the entry
    (one ``allreduce``); otherwise all take dolfinx's collective path.  Expressions and
    anything else pass through unchanged.
    """

    def __init__(self, jit):
        self._jit = jit
        self._memo: dict[tuple, tuple] = {}
        #: look-ups served from the memo and passed to dolfinx (diagnostics, tests)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _options(opts) -> str:
        return "" if opts is None else repr(sorted(opts.items(), key=lambda kv: kv[0]))

    def __call__(self, comm, ufl_object, form_compiler_options=None, jit_options=None):
        if not isinstance(ufl_object, ufl.Form):
            return self._jit(comm, ufl_object, form_compiler_options=form_compiler_options,
                             jit_options=jit_options)
        key = (ufl_object.signature(), self._options(form_compiler_options),
               self._options(jit_options))
        out = self._memo.get(key)
        if comm.size > 1 and not comm.allreduce(out is not None, op=MPI.LAND):
            out = None
        if out is None:
            self.misses += 1
            out = self._jit(comm, ufl_object, form_compiler_options=form_compiler_options,
                            jit_options=jit_options)
            self._memo[key] = out
        else:
            self.hits += 1
        return out


def _install_jit_memo() -> _JitMemo:
    """Put :class:`_JitMemo` in front of ``dolfinx.jit.ffcx_jit`` (idempotent; dolfinx's
    form and expression constructors call it through the module attribute)."""
    current = dolfinx.jit.ffcx_jit
    if isinstance(current, _JitMemo):
        return current
    memo = _JitMemo(current)
    dolfinx.jit.ffcx_jit = memo
    return memo


JIT_MEMO = _install_jit_memo()
