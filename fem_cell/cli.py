"""Command-line interface: ``fem-cell <command> [CONFIG] ...``.

Commands:
    anneal   heat diffusion through the stack over the anneal program (fields, history,
             plots, metadata in --out DIR)
    mesh     build the stack mesh and write it (gmsh .msh, .vtu or .xdmf)
    config   print the resolved configuration (values, SI values, sources)

CONFIG is an optional user TOML; without it the built-in default cell
(``kobayashi2022``) and its default anneal program (5 K/min to 150 °C, 1 h hold,
5 K/min back to 25 °C) are used.  Works the same under ``mpirun -n N``: rank 0 reads
and validates the configuration and broadcasts it; only rank 0 prints.

Exit status: 0 success, 2 invalid input (message, no traceback), 3 solver failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fem_cell import __version__
from fem_cell.errors import ConvergenceError, FemCellError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fem-cell",
        description="Finite-element model of a Li/Li3PO4/LiCoO2 thin-film battery during annealing.",
        epilog="Without CONFIG the built-in default cell 'kobayashi2022' is used. "
               "See README.md and docs/ for the configuration reference.")
    p.add_argument("--version", action="version", version=f"fem_cell {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("anneal", help="heat diffusion through the stack during the anneal program",
                       description="Simulate heat diffusion through the stack over the anneal "
                                   "program and write fields (.pvd), history.csv, plots and run.json.")
    a.add_argument("config", nargs="?", type=Path, help="user config TOML (default: built-in cell)")
    a.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    a.add_argument("--dim", type=int, choices=(1, 2), help="mesh dimension (overrides [mesh].dim)")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress line")

    m = sub.add_parser("mesh", help="build and write the stack mesh",
                       description="Build the tagged stack mesh and write it; the format follows "
                                   "the suffix (.msh gmsh with named physical groups, .vtu, .xdmf). "
                                   "Coordinates are in mesh units ([mesh].length_scale, default µm).")
    m.add_argument("config", nargs="?", type=Path, help="user config TOML (default: built-in cell)")
    m.add_argument("--dim", type=int, choices=(1, 2), help="mesh dimension (overrides [mesh].dim)")
    m.add_argument("--out", "-o", type=Path, required=True, help="mesh file to write")

    c = sub.add_parser("config", help="print the resolved configuration",
                       description="Validate CONFIG and print the resolved configuration as JSON "
                                   "(values as given, SI values and sources).")
    c.add_argument("config", nargs="?", type=Path, help="user config TOML (default: built-in cell)")
    c.add_argument("--list-cells", action="store_true", help="list the built-in cells and exit")
    return p


def _load(path: Path | None, comm, dim: int | None):
    """Rank 0 reads and validates, then broadcasts the config (or the error)."""
    from fem_cell.config import load_config

    payload = None
    if comm.rank == 0:
        try:
            cfg = load_config(path)
            if dim is not None:
                cfg = cfg.with_mesh(dim=dim)
            payload = ("ok", cfg)
        except FemCellError as e:
            payload = ("error", e)
    status, value = comm.bcast(payload, root=0)
    if status == "error":
        raise value
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fem-cell``; returns the exit status."""
    args = _parser().parse_args(argv)
    from fem_cell._dolfinx import MPI

    comm = MPI.COMM_WORLD
    try:
        if args.command == "config":
            from fem_cell.config import available_cells

            if args.list_cells:
                if comm.rank == 0:
                    print("\n".join(available_cells()))
                return 0
            cfg = _load(args.config, comm, None)
            if comm.rank == 0:
                print(json.dumps(cfg.to_dict(), indent=2, default=str))
            return 0
        cfg = _load(args.config, comm, args.dim)
        if args.command == "mesh":
            return _mesh(cfg, args.out, comm)
        if args.command == "anneal":
            return _anneal(cfg, args.out, comm, quiet=args.quiet)
    except ConvergenceError as e:
        if comm.rank == 0:
            print(f"fem-cell: solver failure: {e}", file=sys.stderr)
        return 3
    except FemCellError as e:
        if comm.rank == 0:
            print(f"fem-cell: error: {e}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover - argparse guarantees a known command


def _mesh(cfg, out: Path, comm) -> int:
    from fem_cell.model import build_domain
    from fem_cell.meshing.io import write_mesh

    if out.suffix not in (".msh", ".vtu", ".xdmf"):
        raise FemCellError(f"--out {out}: expected a .msh, .vtu or .xdmf file name")
    domain = build_domain(cfg, comm)
    if comm.rank == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    write_mesh(domain, out)
    n = domain.mesh.topology.index_map(domain.dim).size_global
    if comm.rank == 0:
        print(f"fem-cell: wrote {out} ({domain.dim}-D, {n} cells, regions "
              f"{sorted(domain.cell_names, key=domain.cell_names.get)}, facet groups "
              f"{sorted(domain.facet_names, key=domain.facet_names.get)}; coordinates in "
              f"units of {domain.length_scale:g} m)")
    return 0


def _anneal(cfg, out: Path, comm, quiet: bool) -> int:
    from fem_cell.jobs.anneal import run_anneal

    if comm.rank == 0 and not quiet:
        print(f"fem-cell anneal: cell {cfg.name}, {cfg.mesh.dim}-D, program "
              f"{cfg.anneal.duration / 60:.1f} min up to "
              f"{cfg.anneal.max_temperature - 273.15:.1f} °C, {comm.size} MPI rank(s) -> {out}",
              flush=True)
    res = run_anneal(cfg, out, comm, progress=not quiet)
    h = res.history
    if comm.rank == 0:
        lag = (h.column("T_mean_C") - h.column("T_plate_C")) * 1e3
        st = res.stats
        n = res.model.T.function_space.dofmap.index_map.size_global
        print(f"fem-cell anneal: done in {res.wall_time:.1f} s ({n} DOFs, {st.accepted} steps, "
              f"{st.rejected_error + st.rejected_newton} rejected); film mean lags the plate by "
              f"up to {abs(lag).max():.1f} mK; outputs in {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
