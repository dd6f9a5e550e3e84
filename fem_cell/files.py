"""Files replaced whole: written beside their final name, then renamed over it.

A reader (or a run killed while writing) never sees a half-written file, and a write
that fails leaves the earlier file as it was.  The base layer, so that every layer
writes its files this way (the solvers' checkpoints, the outputs' run folder).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def replaced_whole(path: str | Path):
    """Yield the temporary path to write instead of ``path`` (``.<name>.tmp`` beside
    it); when the block ends it is renamed over ``path`` (``os.replace``, atomic on one
    file system).  If the block raises, ``path`` is left as it was and the temporary
    file removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["replaced_whole"]
