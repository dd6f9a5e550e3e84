"""Helpers shared by the test modules (importable: tests/conftest.py puts this folder on
sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys

#: a coarse 2-D cross-section for quick end-to-end runs (TOML [mesh] table)
COARSE_2D_MESH = """
[mesh]
dim = 2
cells_per_layer = 2
lateral_cells = 16
lateral_growth = 1.5
growth = 2.0
max_cell_size = "100 um"
"""


def run_cli(*args, cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m fem_cell ARGS`` in a fresh process (unbuffered), output captured."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "fem_cell", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
