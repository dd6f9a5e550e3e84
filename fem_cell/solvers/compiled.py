"""C code of our own compiled like dolfinx's form kernels (cffi, dolfinx's JIT options).

:func:`build` compiles a C source with cffi (FFCx's compiler driver) using dolfinx's JIT
options (``dolfinx.jit.get_options()``: cache directory, compiler flags) into that cache
directory, under a name that is the hash of the source, the flags and the Python
version, and loads it from there afterwards; several processes compiling at once each
write their own temporary file and move it into place.  Used by
:mod:`fem_cell.solvers.band_kernels` and :mod:`fem_cell.solvers.local_assembly`, whose
callers keep a fallback for a machine where it fails (no compiler, a read-only cache).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
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


__all__ = ["build"]
