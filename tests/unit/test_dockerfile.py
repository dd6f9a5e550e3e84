"""The Dockerfile, checked on paper (no docker engine here): it starts FROM the official
dolfinx image of the version the suite runs on, copies paths that exist, installs the
system libraries the gmsh and VTK wheels load, and its build-time smoke test runs
commands and a config that are valid for this code base."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_from_matches_tested_dolfinx():
    from fem_cell._dolfinx import dolfinx

    m = re.search(r"^FROM ghcr\.io/fenics/dolfinx/dolfinx:v(\d+)\.(\d+)\.(\d+)\s*$", DOCKERFILE,
                  re.M)
    assert m, "FROM must name an official dolfinx image with a version tag"
    major, minor = dolfinx.__version__.split(".")[:2]
    assert (m.group(1), m.group(2)) == (major, minor)


def test_copied_paths_exist():
    for src in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for p in src.split():
            assert (ROOT / p).exists(), p


@pytest.mark.parametrize("lib", ["libglu1-mesa", "libxcursor1", "libxft2", "libxinerama1",
                                 "libxrender1", "libgl1", "libegl1"])
def test_system_libraries_for_wheels(lib):
    assert re.search(rf"\b{re.escape(lib)}\b", DOCKERFILE)


def test_build_smoke_step(tmp_path):
    """The build runs imports + a 1-D anneal + a 2-D run with a render; its inline config
    is valid TOML that this code base accepts."""
    step = DOCKERFILE[DOCKERFILE.index("# Smoke test at build time"):]
    assert "import dolfinx, gmsh, pyvista" in step
    assert "fem-cell anneal --dim 1" in step
    assert "test -s /tmp/fem_cell_check_2d/temperature_2d.png" in step
    printf = re.search(r"printf ('[^']*') > /tmp/check2d\.toml", step)
    assert printf
    cfg = tmp_path / "check2d.toml"
    subprocess.run(["bash", "-c", f"printf {printf.group(1)} > {cfg}"], check=True)
    from fem_cell.config import load_config

    c = load_config(cfg)
    assert c.mesh.dim == 2
