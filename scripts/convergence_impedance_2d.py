"""2-D mesh convergence of the impedance's Li-pad-edge effect (issue 14, item 6b).

The pad-edge effect is ΔZ(f) = Z_2D(f) − Z_1D(f): the 2-D spectrum of the pristine
default cell (1 mm Li pad on 3 mm films, Z per pad area, Ω cm²) minus the 1-D spectrum of
the same cell.  On every mesh level it is computed as the impedance job does: the 2-D
small-signal model on the level's film mesh minus the 1-D model (the job's 1-D
refinement, ``REFINE_1D``) on the same ``[mesh]`` settings, whose through-thickness
nodes are those of the 2-D film mesh.  The reference is the finest level (its own
through-thickness grading in both models); each row gives, over the frequencies,

* ``err(ΔZ)/|ΔZ|``  = max |ΔZ_mesh − ΔZ_ref| / |ΔZ_ref| (relative error of the effect),
* ``err(ΔZ)/|Z|``   = max |ΔZ_mesh − ΔZ_ref| / |Z_ref|,
* ``err(Z2D)/|ΔZ|`` = max |Z_2D,mesh − Z_2D,ref| / |ΔZ_ref| (the 2-D spectrum alone).

A level's small-signal film mesh is either the one before the fix (``refine`` =
"before": :func:`fem_cell.meshing.refine.refined_film_domain`, LiCoO2 rows 1e-11 m / 1.2)
or :func:`fem_cell.meshing.refine_2d.small_signal_film_domain` with a pad-edge refinement
(first lateral cell, growth) and a LiCoO2 grading; the script passes it to
``build_small_signal`` as its ``film_mesh`` (the 1-D twins use ``refined_film_domain``
with their grading, i.e. the 1-D job model).  Run::

    .venv/bin/python scripts/convergence_impedance_2d.py [--levels default,pad25,ref]
        [--cache DIR] [--list] [--cost]

(``OMP_NUM_THREADS=1``; a level takes 10 s to 2 min on one core.)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, PETSc
from fem_cell.config import load_config
from fem_cell.jobs.impedance import cell_impedance
from fem_cell.meshing.refine import REFINE_1D, REFINE_2D, refined_film_domain
from fem_cell.meshing.refine_2d import PAD_EDGE_2D, small_signal_film_domain
from fem_cell.model import CellModel
from fem_cell.solvers.impedance import ImpedanceSolver, log_frequencies

FREQUENCIES = log_frequencies(1e-2, 1e6, 15)
#: the finest level: 32 cells per layer (growth 1.1), 240 lateral cells, 5 nm at the pad
#: edges growing by 1.1, LiCoO2 rows from 1e-14 m growing by 1.05 (2-D and 1-D)
FINE_GRADING = (1e-14, 1.05)
FINE_MESH = {"cells_per_layer": 32, "growth": 1.1, "lateral_cells": 240}


@dataclass(frozen=True)
class Level:
    """One mesh level: [mesh] settings of the anneal mesh and the small-signal refinement.

    ``refine``: "before" (the refinement before the fix) or (pad_edge, grading) for
    :func:`small_signal_film_domain` (pad_edge None: no lateral refinement).
    ``grading_1d``: the LiCoO2 grading of the 1-D twin.
    """

    name: str
    mesh: dict = field(default_factory=dict)
    refine: object = "before"
    grading_1d: tuple[float, float] = REFINE_1D


LEVELS = {
    "default": Level("default, the job before the fix"),
    "edge0.4": Level("anneal mesh lateral_edge_size 0.4 um", {"lateral_edge_size": "0.4 um"}),
    "edge0.1": Level("anneal mesh lateral_edge_size 0.1 um", {"lateral_edge_size": "0.1 um"}),
    "edge0.025": Level("anneal mesh lateral_edge_size 25 nm", {"lateral_edge_size": "0.025 um"}),
    "rows1d": Level("LiCoO2 rows of the 1-D model, no pad-edge columns", refine=(None, REFINE_1D)),
    "pad25rows2d": Level("pad edge 25 nm/1.2, LiCoO2 rows 1e-11 m/1.2",
                         refine=(PAD_EDGE_2D, REFINE_2D)),
    "pad100": Level("pad edge 100 nm/1.2, 1-D rows", refine=((100e-9, 1.2), REFINE_1D)),
    "pad50": Level("pad edge 50 nm/1.2, 1-D rows", refine=((50e-9, 1.2), REFINE_1D)),
    "pad25": Level("**pad edge 25 nm/1.2, 1-D rows (new default)**",
                   refine=(PAD_EDGE_2D, REFINE_1D)),
    "pad12.5": Level("pad edge 12.5 nm/1.2, 1-D rows", refine=((12.5e-9, 1.2), REFINE_1D)),
    "pad25cpl24": Level("pad edge 25 nm/1.2, 1-D rows, anneal mesh 24 cells/layer, growth 1.15",
                        {"cells_per_layer": 24, "growth": 1.15}, (PAD_EDGE_2D, REFINE_1D)),
    "default64": Level("before the fix, anneal mesh 64 cells/layer",
                       {"cells_per_layer": 64}),
    "pad25cpl64": Level("pad edge 25 nm/1.2, 1-D rows, anneal mesh 64 cells/layer",
                        {"cells_per_layer": 64}, (PAD_EDGE_2D, REFINE_1D)),
    "ref2": Level("pad edge 10 nm/1.1, 1-D rows, anneal mesh 32 cells/layer, growth 1.1, "
                  "240 lateral", FINE_MESH, ((10e-9, 1.1), REFINE_1D)),
    "ref": Level("reference: pad edge 5 nm/1.1, rows 1e-14 m/1.05, anneal mesh 32 cells/layer, "
                 "growth 1.1, 240 lateral", FINE_MESH, ((5e-9, 1.1), FINE_GRADING), FINE_GRADING),
}
#: the pad-edge sequence (first cell halved, growth 1.2) extrapolated by Richardson
RICHARDSON = ("pad50", "pad25", "pad12.5")


def refiner(refine):
    """The film refinement f(film, x, grading) of a level's ``refine``."""
    if refine == "before":
        return refined_film_domain
    pad_edge, grading = refine
    return lambda film, x, _grading=None: small_signal_film_domain(film, x, grading,
                                                                   pad_edge=pad_edge)


def spectrum(comm, mesh: dict, refine, tag: str) -> tuple[np.ndarray, int, float, float]:
    """(Z in Ω cm² at :data:`FREQUENCIES`, unknowns, wall time in s, largest relative
    residual of the solves) of the pristine cell
    at 25 °C on ``mesh`` (direct sweep).  ``refine``: 2-D: "before" or (pad_edge, grading)
    (:func:`refiner`); 1-D: the LiCoO2 grading."""
    t0 = time.perf_counter()
    cfg = load_config(overrides={"mesh": mesh})
    cell = CellModel(cfg, comm)
    try:
        op = cell.operating_point()
        one_d = cfg.mesh.dim == 1
        cm = cell.small_signal(op, 298.15, prefix=f"conv_{tag}_",
                               refine_electrode=refine if one_d else True,
                               film_mesh=refined_film_domain if one_d else refiner(refine))
        # METIS ordering: with the default AMF ordering MUMPS's block factorisation lost
        # accuracy on the finest meshes (relative residual 0.18 at 100 Hz, 242k DOFs)
        PETSc.Options()[f"conv_{tag}_s_mat_mumps_icntl_7"] = 5
        solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"conv_{tag}_s_")
        try:
            res = solver.sweep(FREQUENCIES, "direct")
            n = solver.n_dofs()
        finally:
            solver.destroy()
    finally:
        cell.destroy()
    return res.impedance_ohm_cm2, n, time.perf_counter() - t0, float(res.residuals.max())


def run_level(comm, key: str, lev: Level, cache: Path | None = None) -> dict:
    """The level's 2-D spectrum and its 1-D twin (same [mesh] settings); read from / saved
    to ``cache/<key>.npz`` if a cache folder is given (the level's definition is stored and
    compared, so a changed level is recomputed)."""
    path = None if cache is None else cache / f"{key}.npz"
    if path is not None and path.exists():
        d = np.load(path, allow_pickle=False)
        if str(d["level"]) == repr(lev) and np.array_equal(d["f"], FREQUENCIES):
            return {"key": key, "name": lev.name, "Z2": d["Z2"], "Z1": d["Z1"],
                    "dofs": int(d["dofs"]), "dofs1": int(d["dofs1"]), "wall": float(d["wall"]),
                    "residual": float(d["residual"])}
    row = _compute_level(comm, key, lev)
    if path is not None and comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, level=repr(lev), f=FREQUENCIES, **{k: v for k, v in row.items()
                                                          if k not in ("key", "name")})
    return row


def _compute_level(comm, key: str, lev: Level) -> dict:
    z2, n2, t2, r2 = spectrum(comm, {"dim": 2, **lev.mesh}, lev.refine, key)
    mesh1 = {k: v for k, v in lev.mesh.items() if not k.startswith("lateral")}
    z1, n1, _, r1 = spectrum(comm, {"dim": 1, **mesh1}, lev.grading_1d, key + "_1d")
    return {"key": key, "name": lev.name, "Z2": z2, "Z1": z1, "dofs": n2, "dofs1": n1,
            "wall": t2, "residual": max(r1, r2)}


def table(rows: list[dict], ref: dict) -> list[str]:
    """Markdown rows: mesh, DOFs, errors of ΔZ and of Z_2D against ``ref``."""
    dref = ref["Z2"] - ref["Z1"]
    out = ["| mesh | DOFs | err(ΔZ)/|ΔZ| | err(ΔZ)/|Z| | err(Z2D)/|ΔZ| | 2-D model + sweep [s] "
           "| residual |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["Z2"] - r["Z1"]
        e = np.abs(d - dref)
        e2 = np.abs(r["Z2"] - ref["Z2"])
        out.append(f"| {r['name']} | {r['dofs']} | {np.max(e / np.abs(dref)):.3f} | "
                   f"{np.max(e / np.abs(ref['Z2'])):.2e} | {np.max(e2 / np.abs(dref)):.3f} | "
                   f"{r['wall']:.0f} | {r['residual']:.0e} |")
    return out


def richardson(rows: list[dict], keys=RICHARDSON) -> tuple[np.ndarray, np.ndarray] | None:
    """ΔZ extrapolated from three levels whose pad-edge cell halves: (ΔZ_R, order per f)."""
    by = {r["key"]: r["Z2"] - r["Z1"] for r in rows}
    if not all(k in by for k in keys):
        return None
    a, b, c = (by[k] for k in keys)
    p = np.log2(np.abs(b - a) / np.abs(c - b))
    return c + (c - b) / (2.0 ** p - 1.0), p


def cost(comm, meshes=({}, {"cells_per_layer": 64})) -> None:
    """The impedance job's own path (``cell_impedance``: ROM, 61 frequencies, fit and
    Lin-KK) on the default 2-D cell (and each of ``meshes``' [mesh] overrides), with the
    job's small-signal mesh and with the pad-edge refinement."""
    for mesh in meshes:
        cfg = load_config(overrides={"mesh": {"dim": 2, **mesh}})
        for name, refine in (("before the fix", "before"), ("pad-edge refined",
                                                    (PAD_EDGE_2D, REFINE_1D))):
            t0 = time.perf_counter()
            r = cell_impedance(cfg, comm, film_mesh=refiner(refine))
            wall = time.perf_counter() - t0
            sw = r.sweep
            if comm.rank == 0:
                print(f"{mesh or 'default'} {name:18s} {r.dofs} DOFs, sweep {sw.wall_time:.1f} s"
                      f" ({sw.n_factorizations} LU, basis {sw.n_basis}, residual "
                      f"{sw.residuals.max():.1e}), cell_impedance {r.wall_time:.1f} s "
                      f"(incl. fit + Lin-KK), total {wall:.1f} s; R_interface fit "
                      f"{r.R_interface_fit_ohm_cm2:.4f} Ω cm²", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(LEVELS), help="comma-separated level keys "
                    "(--list; the reference is always run)")
    ap.add_argument("--list", action="store_true", help="list the levels and exit")
    ap.add_argument("--cache", type=Path, default=None, help="folder of per-level results "
                    "(reused when the level is unchanged)")
    ap.add_argument("--cost", action="store_true", help="time the job's path (ROM, 61 "
                    "frequencies) with and without the pad-edge refinement, and exit")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    if args.cost:
        cost(comm)
        return
    if args.list:
        for k, lev in LEVELS.items():
            print(f"{k:12s} {lev}")
        return
    keys = args.levels.split(",")
    if "ref" not in keys:
        keys.append("ref")
    rows = []
    for k in keys:
        rows.append(run_level(comm, k, LEVELS[k], args.cache))
        if comm.rank == 0:
            r = rows[-1]
            print(f"  {k}: {r['dofs']} DOFs, {r['wall']:.0f} s, residual {r['residual']:.1e}",
                  flush=True)
    ref = next(r for r in rows if r["key"] == "ref")
    if comm.rank == 0:
        dref = ref["Z2"] - ref["Z1"]
        print("f [Hz]:        " + " ".join(f"{f:9.2e}" for f in FREQUENCIES))
        print("|ΔZ_ref|/|Z|:  " + " ".join(f"{v:9.2e}" for v in np.abs(dref / ref["Z2"])))
        for r in rows:
            d = r["Z2"] - r["Z1"]
            print(f"{r['key']:14s} " + " ".join(f"{v:9.2e}" for v in np.abs(d - dref)
                                                / np.abs(dref)))
        print("\n".join(table(rows, ref)))
        rich = richardson(rows)
        if rich is not None:
            ext, p = rich
            print(f"Richardson {'/'.join(RICHARDSON)}: order {np.median(p):.2f} "
                  f"({p.min():.2f}-{p.max():.2f}); max |ΔZ_ref - ΔZ_R|/|ΔZ_R| = "
                  f"{np.max(np.abs(dref - ext) / np.abs(ext)):.4f}")
            for r in rows:
                d = r["Z2"] - r["Z1"]
                print(f"  {r['key']:12s} vs Richardson: "
                      f"{np.max(np.abs(d - ext) / np.abs(ext)):.4f}")

if __name__ == "__main__":
    main()
