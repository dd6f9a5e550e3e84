"""C code of our own compiled like dolfinx's form kernels (cffi, dolfinx's JIT options).

:func:`build` compiles a C source with cffi (FFCx's compiler driver) using dolfinx's JIT
options (``dolfinx.jit.get_options()``: cache directory, compiler flags) into that cache
directory, under a name that is the hash of the source, the flags and the Python
version, and loads it from there afterwards; several processes compiling at once each
write their own temporary file and move it into place.  :class:`CompiledModule` builds
one at most once per process (a :class:`BuildOnce`, as is
:func:`fem_cell.solvers.petsc_aij.petsc_aij`) and, if that fails (no compiler, a
read-only cache), says why and warns once; its users (:mod:`fem_cell.solvers.band_kernels`,
:mod:`fem_cell.solvers.local_assembly`, :mod:`fem_cell.solvers.packing`) then fall back
to slower code with the same results.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path


def build(prefix: str, cdef: str, source: str):
    """The compiled module (``ffi``, ``lib``) of ``source`` declaring ``cdef``; raises
    whatever cffi or the compiler raises."""
    import cffi
    import dolfinx.jit

    options = dolfinx.jit.get_options()
    flags = list(options.get("cffi_extra_compile_args") or ["-O2"])
    key = hashlib.sha1((cdef + source + repr(flags) + sys.version).encode()).hexdigest()
    name = f"{prefix}_{key[:16]}"
    cache = Path(options["cache_dir"]).expanduser()
    found = sorted(cache.glob(f"{name}.*.so")) + sorted(cache.glob(f"{name}.so"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        ffi.set_source(name, source, extra_compile_args=flags)
        with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}-") as tmp:
            built = Path(ffi.compile(tmpdir=tmp, verbose=False))
            target = cache / built.name
            os.replace(built, target)       # atomic: a concurrent build wrote the same
        found = [target]
    spec = importlib.util.spec_from_file_location(name, found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildOnce:
    """An object made on first use, at most once per process, by ``make()``; if that
    fails (no compiler, a read-only cache, a library without the symbol), the reason is
    kept and the users fall back to slower code with the same results.

    Args:
        make: makes the object; raises what it raises.
        what: what it is, for the warning ("the band LU kernels").
        fallback: what is used without it ("1-D serial solves use LAPACK").
        warn: whether a failure warns (``RuntimeWarning``, once).
    """

    def __init__(self, make, what: str, fallback: str, *, warn: bool = True):
        self._make = make
        self.what, self.fallback, self.warn = what, fallback, warn
        #: the object once made
        self.module = None
        #: why it is not available (None: it is, or not tried yet)
        self.unavailable: str | None = None

    def _load(self):
        return self._make()

    def get(self):
        """The object, or None if it cannot be made (:attr:`unavailable` says why; a
        ``RuntimeWarning`` the first time, if ``warn``)."""
        if self.module is None and self.unavailable is None:
            try:
                self.module = self._load()
            except Exception as e:  # noqa: BLE001 - any failure: the fallback, reason kept
                self.unavailable = f"{type(e).__name__}: {e}"
                if self.warn:
                    warnings.warn(f"fem_cell: {self.what} could not be compiled "
                                  f"({self.unavailable}); {self.fallback} (slower, the "
                                  f"same results)", RuntimeWarning, stacklevel=3)
        return self.module


class CompiledModule(BuildOnce):
    """One C module of ours (:func:`build`), built on first use, at most once per
    process (:class:`BuildOnce`; a failure warns).

    Args:
        prefix, cdef, source: as :func:`build` takes them.
        what, fallback: as :class:`BuildOnce` takes them.
    """

    def __init__(self, prefix: str, cdef: str, source: str, what: str, fallback: str):
        super().__init__(lambda: build(prefix, cdef, source), what, fallback)
        self.prefix, self.cdef, self.source = prefix, cdef, source


__all__ = ["BuildOnce", "CompiledModule", "build"]
