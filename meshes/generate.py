"""Regenerate the small reference meshes of the default cell in this folder.

    python meshes/generate.py

Writes ``kobayashi2022_1d.msh`` (graded through-thickness line) and
``kobayashi2022_2d.msh`` (coarse structured cross-section, refined toward the Li pad
edges), gmsh format with named
physical groups (layers, interfaces ``lower|upper``, ``bottom``/``top``/...),
coordinates in µm.  Use them as templates for your own meshes:
``[mesh] file = "meshes/kobayashi2022_2d.msh"``.
"""

from pathlib import Path

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.meshing.io import write_mesh
from fem_cell.model import build_domain

HERE = Path(__file__).resolve().parent


def main() -> None:
    # 2-D: coarse, but with the default pad-edge refinement (first lateral cell at a
    # pad edge <= the 1.6 µm film stack); lateral_growth 1.5 keeps the file small
    for dim, over in ((1, {}), (2, {"cells_per_layer": 2, "lateral_cells": 24, "growth": 2.0,
                                     "max_cell_size": "100 um", "lateral_growth": 1.5})):
        cfg = load_config(overrides={"mesh": {"dim": dim, **over}})
        domain = build_domain(cfg, MPI.COMM_WORLD)
        path = HERE / f"kobayashi2022_{dim}d.msh"
        write_mesh(domain, path)
        if MPI.COMM_WORLD.rank == 0:
            print(f"wrote {path.name}: {domain.mesh.topology.index_map(dim).size_global} cells")


if __name__ == "__main__":
    main()
