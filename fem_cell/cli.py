"""Command-line interface: ``fem-cell <command> [CONFIG] ...``.

Commands:
    anneal     exposure -> heat + Li+/H+ transport through the anneal program
    expose     the exposed state of the cell (checkpoint, film fields, summary.json)
    impedance  impedance spectrum of a state (pristine, exposed, any checkpoint), fit, KK
    reproduce  the paper's experiment: all exposures, anneal, 7-day hold, spectra, report
    study      many runs from a study spec, spread over MPI sub-communicators (resumable)
    calibrate  a calibration spec: least squares, or the posterior (emcee; resumable)
    design     rank candidate experiments by how much each would narrow a prediction
    fit-spectrum  fit the model's impedance to measured spectra (free config keys)
    mesh       build the stack mesh and write it (gmsh .msh, .vtu or .xdmf)
    config     print the resolved configuration (value, unit, SI value, origin)

CONFIG is an optional user TOML; without it the built-in default cell
(``kobayashi2022``) and its default anneal program (5 K/min to 150 °C, 1 h hold,
5 K/min back to 25 °C) are used.  Works the same under ``mpirun -n N``: rank 0 reads
and validates the configuration and broadcasts it; only rank 0 prints.

The CLI is thin: it parses arguments, loads the inputs, calls a job
(:mod:`fem_cell.jobs`) and maps errors to exit statuses, always with one line on
stderr and no traceback:

    0    success
    2    invalid input (configuration, mesh file, state, output folder)
    3    the run failed (solver failure, a guard such as Li melting, an internal error:
         its traceback goes to the run folder's error_log.txt); run.json says why
    130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; run.json status "interrupted"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

from fem_cell.errors import ConvergenceError, FemCellError, RunAborted, on_root
from fem_cell.jobs.interrupts import Interrupted, InterruptGuard
from fem_cell.limits import LARGE_STUDY_RUNS

GASES = ("air", "N2", "O2", "CO2", "H2", "H2O", "vacuum")


def _job_parser(sub, name: str, help: str, description: str, *, config: bool = True,
                dim: bool = True) -> argparse.ArgumentParser:
    """A job command with the arguments every job shares: [CONFIG] --out --overwrite
    [--dim] --quiet."""
    p = sub.add_parser(name, help=help, description=description)
    if config:
        p.add_argument("config", nargs="?", type=Path,
                       help="user config TOML (default: built-in cell)")
    p.add_argument("--out", "-o", type=Path, required=True,
                   help="output folder (must be new or empty, see --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="reuse an existing --out folder: replace the files an earlier fem-cell "
                        "run wrote there (listed in its run.json); other files are never touched")
    if dim:
        p.add_argument("--dim", type=int, choices=(1, 2),
                       help="mesh dimension (overrides [mesh].dim)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fem-cell",
        description="Finite-element model of a Li/Li3PO4/LiCoO2 thin-film battery during "
                    "annealing.",
        epilog="Without CONFIG the built-in default cell 'kobayashi2022' is used. "
               "See README.md and docs/ for the configuration reference.")
    import fem_cell

    p.add_argument("--version", action="version", version=f"fem_cell {fem_cell.__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    a = _job_parser(sub, "anneal", "exposure -> heat + Li+/H+ transport through the anneal",
                    "Expose the cell ([exposure]), then simulate heat through the stack and the "
                    "protons leaving LiCoO2 over the anneal program; write fields (.pvd), "
                    "history.csv (with R_interface), plots, checkpoints, summary.json and "
                    "run.json into --out DIR.")
    a.add_argument("--restart", type=Path, metavar="CHECKPOINT",
                   help="continue from a checkpoint (a file under DIR/checkpoints/, or a run "
                        "folder = its last state); CONFIG defaults to the one that wrote it")
    a.add_argument("--heat-only", action="store_true",
                   help="solve heat only (no exposure, no proton transport)")
    a.add_argument("--data", type=Path, metavar="CSV",
                   help="a measured R(t) history (time since the program's start; "
                        "R_25C_ohm_cm2 or R_T_ohm_cm2, see docs/model.md) to overlay on "
                        "R_interface.png and compare in data_comparison.csv / summary.json")
    a.add_argument("--area-cm2", type=float, metavar="A",
                   help="electrode area, for a --data history in Ω")
    _program_flags(a)
    _exposure_flags(a, "--exposure-temperature-C")
    e = _job_parser(sub, "expose", "the exposed state of the cell (before the anneal)",
                    "Expose the bare LiCoO2 surface to a gas ([exposure] of the config, or the "
                    "flags) and write the exposed state (checkpoints/), its film fields, proton "
                    "profiles and summary.json (R_interface at 25 °C, proton inventories).")
    _exposure_flags(e, "--temperature-C", "--exposure-temperature-C")
    _impedance_parser(sub)
    rp = _job_parser(sub, "reproduce", "the paper's experiment: all cases, spectra, report",
                "Reproduce Kobayashi et al. 2022 on the cell: exposures to air, N2, O2, CO2, "
                "H2, H2O; the 150 °C / 1 h anneal of the H2O-exposed cell; 7 days at 25 °C; "
                "the impedance of each; reproduction.csv, nyquist.png and a self-contained "
                "report.html.")
    _posterior_flags(rp, "folder of a posterior calibration (fem-cell calibrate): the "
                         "predicted rows also get 5/50/95 %% bands over its samples",
                     "posterior samples for the bands (default 20)",
                     "which posterior samples (default 0)")
    st = _job_parser(sub, "study", "a study: many runs spread over MPI (sweeps, calibration)",
                     "Run the cases of a study spec (see docs/studies.md and studies/) on "
                     "groups of MPI ranks; results.csv, plots, summary.json; re-running into "
                     "the same folder resumes.", config=False, dim=False)
    st.add_argument("spec", type=Path, help="study spec TOML")
    st.add_argument("--group-size", type=int, metavar="N",
                    help="MPI ranks per case (default: the spec's, else 1)")
    _yes_flag(st)
    _posterior_flags(st, "run the sweep over posterior samples from this posterior "
                         "calibration folder; bands.csv holds each value's 5/50/95 %%",
                     "posterior samples to run (with --posterior; default 20)",
                     "which posterior samples (with --posterior; default 0)")
    ca = _job_parser(sub, "calibrate", "calibrate parameters against targets (least squares "
                     "or posterior)",
                     "Run a calibration spec (study kind 'calibration', see docs/calibration.md "
                     "and studies/calibration.toml, studies/posterior_quick.toml, "
                     "studies/posterior_surrogate.toml): the least-"
                     "squares fit, or with [calibration] method = 'posterior' the posterior "
                     "sample (posterior.csv, identifiability.csv, corner.png, chain "
                     "diagnostics); re-running into the same folder continues the chain.",
                     config=False, dim=False)
    ca.add_argument("spec", type=Path, help="calibration spec TOML")
    ca.add_argument("--group-size", type=int, metavar="N",
                    help="MPI ranks per model evaluation (default: the spec's, else 1)")
    de = _job_parser(sub, "design", "rank candidate experiments by how much each would "
                     "narrow a prediction (over a posterior)",
                     "Run a design spec (a sweep of candidate experiments with a [design] "
                     "table: what they measure, its error, the prediction of interest; see "
                     "docs/calibration.md and studies/design_anneal.toml) over posterior "
                     "samples and rank the candidates by the expected reduction of the "
                     "prediction's variance: design.csv, design.png.", config=False,
                     dim=False)
    de.add_argument("spec", type=Path, help="design spec TOML")
    _posterior_flags(de, "folder of a posterior calibration (fem-cell calibrate)",
                     "posterior samples (default 20)", "which posterior samples (default 0)",
                     required=True)
    de.add_argument("--group-size", type=int, metavar="N", help="MPI ranks per case")
    _yes_flag(de)
    fs = _job_parser(sub, "fit-spectrum", "fit the model's impedance spectrum to measured "
                     "spectra", "Fit the finite-element model's own spectrum (ROM sweep) to "
                     "measured spectra over free configuration keys, by weighted least "
                     "squares; standard errors and correlations from the Jacobian, Lin-KK "
                     "check of the data, Nyquist/Bode/residual plots, fit.json and a config "
                     "overlay fitted.toml (docs/impedance.md, 'Fitting measured spectra').",
                     config=False, dim=False)
    fs.add_argument("inputs", nargs="+", type=Path, metavar="DATA|CONFIG",
                    help="measured spectra (CSV, or instrument files with pyimpspec) and at "
                         "most one user config (.toml)")
    fs.add_argument("--free", default=None, metavar="KEY[,KEY...]",
                    help="configuration keys to fit (default: Li3PO4 ionic conductivity, "
                         "pristine interface resistance, electrode double-layer capacitance, "
                         "Li diffusivity in LiCoO2)")
    st_g = fs.add_mutually_exclusive_group()
    st_g.add_argument("--state", type=Path, help="checkpoint or run folder: the cell's state "
                      "when measured (default: pristine)")
    st_g.add_argument("--exposed", action="store_true", help="the cell after its exposure")
    fs.add_argument("--temperature-C", type=float, nargs="+", metavar="T",
                    help="temperature of each spectrum (°C; one value for all; default 25)")
    _spectrum_reading_flags(fs)
    fs.add_argument("--weighting", choices=("modulus", "proportional"), default="modulus")
    m = sub.add_parser("mesh", help="build and write the stack mesh",
                       description="Build the tagged stack mesh and write it; the format follows "
                                   "the suffix (.msh gmsh with named physical groups, .vtu, "
                                   ".xdmf). Coordinates are in mesh units ([mesh].length_scale, "
                                   "default µm).")
    m.add_argument("config", nargs="?", type=Path, help="user config TOML (default: built-in cell)")
    m.add_argument("--dim", type=int, choices=(1, 2), help="mesh dimension (overrides [mesh].dim)")
    m.add_argument("--out", "-o", type=Path, required=True, help="mesh file to write")
    c = sub.add_parser("config", help="print the resolved configuration",
                       description="Validate CONFIG and print every resolved setting with its "
                                   "value as given, unit, SI value and origin (built-in cell, "
                                   "your file, or default).")
    c.add_argument("config", nargs="?", type=Path, help="user config TOML (default: built-in cell)")
    c.add_argument("--json", action="store_true", help="print JSON instead of the text listing")
    c.add_argument("--list-cells", action="store_true", help="list the built-in cells and exit")
    return p


def _impedance_parser(sub) -> None:
    i = _job_parser(sub, "impedance", "impedance spectrum of a state of the cell",
                    "Small-signal impedance spectrum of the cell at a state (pristine by "
                    "default; --state a checkpoint or a run folder = its last state; --exposed "
                    "the configured exposure), at a temperature: impedance.csv, Nyquist/Bode "
                    "plots, element contributions, equivalent-circuit fit (impedance.py) and "
                    "Kramers-Kronig check in summary.json.")
    i.add_argument("--state", type=Path, metavar="CHECKPOINT",
                   help="checkpoint file, or run folder (its last state); CONFIG defaults to "
                        "the one that wrote it")
    i.add_argument("--exposed", action="store_true",
                   help="the state right after the configured exposure (no anneal)")
    i.add_argument("--temperature-C", type=float, default=25.0, dest="eis_temperature_C",
                   metavar="T", help="measurement temperature (°C, default 25)")
    i.add_argument("--frequencies", type=float, nargs=3, metavar=("FMIN", "FMAX", "N"),
                   help="log-spaced frequencies (Hz, Hz, count); default 0.01 1e6 61")
    i.add_argument("--method", choices=("rom", "direct"), default="rom",
                   help="reduced-order sweep (default) or one factorisation per frequency")
    i.add_argument("--data", type=Path, metavar="SPECTRUM",
                   help="a measured spectrum (CSV or an instrument file) to overlay on the "
                        "plots and compare in data_comparison.csv / summary.json; the sweep "
                        "uses its frequencies unless --frequencies is given")
    _spectrum_reading_flags(i)


def _data_units(args) -> str | None:
    """The unit of a measured spectrum's Z from ``--ohm`` / ``--ohm-cm2`` (None: its header)."""
    return "ohm" if args.ohm else ("ohm_cm2" if args.ohm_cm2 else None)


def _posterior_flags(p, posterior_help: str, samples_help: str, seed_help: str, *,
                     required: bool = False) -> None:
    """``--posterior DIR``, ``--samples N`` (default 20), ``--sample-seed S`` (default 0)."""
    p.add_argument("--posterior", type=Path, metavar="DIR", required=required,
                   help=posterior_help)
    p.add_argument("--samples", type=int, default=20, metavar="N", help=samples_help)
    p.add_argument("--sample-seed", type=int, default=0, metavar="S", help=seed_help)


def _yes_flag(p) -> None:
    p.add_argument("--yes", action="store_true",
                   help=f"run a sweep of more than {LARGE_STUDY_RUNS} model runs (cases × "
                        "posterior samples); without it such a sweep is refused before it "
                        "starts")


def _max_runs(args) -> int | None:
    return None if args.yes else LARGE_STUDY_RUNS


def _spectrum_reading_flags(p) -> None:
    """How to read measured spectra (fit-spectrum inputs, impedance --data)."""
    p.add_argument("--area-cm2", type=float, help="electrode area, for spectra in Ω")
    u_g = p.add_mutually_exclusive_group()
    u_g.add_argument("--ohm", action="store_true", help="the data's Z is in Ω (needs "
                     "--area-cm2)")
    u_g.add_argument("--ohm-cm2", action="store_true", help="the data's Z is in Ω cm²")
    p.add_argument("--imag-sign", type=int, choices=(1, -1),
                   help="the imaginary column holds Z'' (1) or -Z'' (-1) (default: from "
                        "its header)")
    p.add_argument("--spectrum", metavar="N|LABEL",
                   help="which spectrum of an instrument file that holds several (0-based "
                        "index or label; the error for such a file lists them)")


def _exposure_flags(p, temperature_flag: str, *aliases: str) -> None:
    g = p.add_argument_group("exposure (override [exposure] of the config)")
    g.add_argument("--gas", choices=GASES, help="gas the LiCoO2 surface is exposed to")
    g.add_argument("--minutes", type=float, metavar="M", help="exposure time (min)")
    g.add_argument("--relative-humidity", type=float, metavar="PCT",
                   help="relative humidity of air (%%; gas air only)")
    g.add_argument(temperature_flag, *aliases, type=float, metavar="T",
                   dest="exposure_temperature_C", help="exposure temperature (°C)")


def _program_flags(p) -> None:
    g = p.add_argument_group("anneal program (instead of [anneal] of the config)")
    g.add_argument("--hold-temperature-C", type=float, metavar="T",
                   help="ramp to T (°C), hold, ramp back to the initial temperature")
    g.add_argument("--hold-time", metavar="TIME", help="hold duration with a unit, e.g. 2h, "
                   "90min (needs --hold-temperature-C)")
    g.add_argument("--rate", metavar="RATE", default=None,
                   help="ramp rate with a unit (default 5K/min)")


# ------------------------------------------------------------------ inputs ---------
def _program_flags_given(args) -> bool:
    """Whether --hold-temperature-C (with --hold-time/--rate) replaces the program."""
    if not hasattr(args, "hold_temperature_C"):
        return False
    if args.hold_temperature_C is None:
        if args.hold_time is not None or args.rate is not None:
            raise FemCellError("--hold-time and --rate need --hold-temperature-C")
        return False
    return True


def _program_overrides(args, initial_temperature: float) -> dict:
    """``[anneal]`` from the program flags (validated like a file)."""
    from fem_cell.program import hold_program

    return {"anneal": hold_program(f"{args.hold_temperature_C!r} degC", args.hold_time or "1 h",
                                   args.rate or "5 K/min", initial_temperature)}


def _exposure_changes(args) -> dict:
    changes = {}
    if args.gas is not None:
        changes["gas"] = args.gas
    if args.minutes is not None:
        changes["duration"] = f"{args.minutes!r} min"
    if args.relative_humidity is not None:
        changes["relative_humidity"] = f"{args.relative_humidity!r} %"
    if args.exposure_temperature_C is not None:
        changes["temperature"] = f"{args.exposure_temperature_C!r} degC"
    return changes


def _with_exposure(cfg, changes: dict):
    if not changes:
        return cfg
    gas = changes.get("gas", cfg.exposure.gas if cfg.exposure is not None else None)
    if "relative_humidity" in changes and gas != "air":
        raise FemCellError(f"--relative-humidity applies to gas 'air' only (the exposure's gas "
                           f"is {gas!r}); drop it or pass --gas air")
    return cfg.with_exposure(**changes)


def _load(args, comm):
    """The configuration of the command, the state it starts from, its provenance
    (rank 0 reads and validates, then broadcasts; any failure there reaches every rank)."""
    from fem_cell.config import load_config
    from fem_cell.jobs.state import config_for_state, reconcile_dim

    state = getattr(args, "restart", None) or getattr(args, "state", None)
    changes = _exposure_changes(args) if hasattr(args, "gas") else {}
    program = _program_flags_given(args)
    if state is not None:
        if changes:
            raise FemCellError(f"{', '.join('--' + k.replace('_', '-') for k in changes)}: a "
                               "state's exposure is fixed; drop the exposure flags")
        if program:
            raise FemCellError("--hold-temperature-C: a restart continues the state's own "
                               "program; pass the program in CONFIG instead")
        return on_root(comm, lambda: config_for_state(state, args.config, args.dim))

    def load():
        cfg = load_config(args.config)
        overrides = _program_overrides(args, cfg.anneal.initial_temperature) if program else {}
        if overrides:
            cfg = load_config(args.config, overrides=overrides, origin="command line")
        cfg = reconcile_dim(cfg, getattr(args, "dim", None))
        if args.command in ("anneal", "expose"):
            cfg = _with_exposure(cfg, changes)
        prov = {"config_file": str(args.config.resolve()) if args.config else None,
                "dim": cfg.mesh.dim, "overrides": overrides or None,
                "exposure": changes or None}
        return cfg, None, prov

    return on_root(comm, load)


def _say(comm, msg: str, err: bool = True) -> None:
    """One message on rank 0 (a path with undecodable bytes is shown escaped)."""
    if comm is None or comm.rank == 0:
        msg = msg.encode("utf-8", "backslashreplace").decode("utf-8")
        print(msg, file=sys.stderr if err else sys.stdout, flush=True)


# ------------------------------------------------------------------ main ------------
def main(argv: list[str] | None = None, guard: InterruptGuard | None = None) -> int:
    """Entry point of ``fem-cell``; returns the exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        guard: an interrupt guard already installed (the console script installs one at
            its first line); default: installed here.
    """
    guard = guard if guard is not None else InterruptGuard().install()
    comm = None
    args = None
    try:
        # Signals only set a flag for the whole command; it is checked collectively at
        # safe points (after set-up stages, between time steps, between cases).  Raising
        # from the handler itself could unwind through C++ frames (dolfinx calls Python
        # callbacks, e.g. mesh markers) and abort the process.  Numerical libraries'
        # warnings (an overflow in an exponential, an ill-conditioned fit) are not for
        # the console: results and their checks are reported in run.json.
        with guard.deferred(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            args = _parser().parse_args(argv)
            from fem_cell._dolfinx import MPI

            guard.install()  # PETSc's initialisation replaced our SIGTERM handler
            comm = MPI.COMM_WORLD
            guard.check(comm)
            return _dispatch(args, comm, guard)
    except Interrupted as e:
        return _interrupted(e, comm, getattr(args, "out", None))
    except KeyboardInterrupt:  # pragma: no cover - a handler was not installed
        return _interrupted(Interrupted(2), comm, None)
    except Exception as e:  # noqa: BLE001 - the outermost guard: one line, exit 3
        return _unexpected(e, comm, getattr(args, "out", None))
    finally:
        guard.uninstall()


def _completed(out) -> bool:
    """The run folder's run.json says the run completed (read on every rank)."""
    try:
        return json.loads(Path(out, "run.json").read_text(encoding="utf-8")).get(
            "status") == "completed"
    except (OSError, ValueError, AttributeError):
        return False


def _interrupted(e: Interrupted, comm, out) -> int:
    if (out is not None and _completed(out)
            and (comm is None or comm.size == 1 or e.collective)):
        # the signal came after the job had finished and recorded it: the exit status
        # agrees with run.json (completed), the results are whole
        _say(comm, f"fem-cell: {e.signal_name} arrived after the run completed; its "
                   f"results in {out} are complete")
        return 0
    where = "" if e.t is None else f" at t = {e.t / 60:.2f} min"
    msg = f"fem-cell: interrupted{where} ({e.signal_name})"
    if out is not None and Path(out, "run.json").exists():
        msg += f"; partial results in {out}"
    _say(comm, msg)
    if comm is not None and comm.size > 1 and not e.collective:
        # stopped outside a collective check: other ranks may sit in a collective
        # call that never returns, so end them all with the same status
        comm.Abort(e.exit_status)
    return e.exit_status


def _unexpected(e: BaseException, comm, out) -> int:
    """An exception nobody expected: its traceback to a log file, one line on the
    console, exit 3 (every rank: under MPI the others may wait in a collective)."""
    text = "".join(traceback.format_exception(e))
    log = None
    try:
        if out is not None and Path(out, "run.json").is_file():
            log = Path(out, "error_log.txt")
        else:
            fd, name = tempfile.mkstemp(prefix="fem_cell_error_", suffix=".txt")
            os.close(fd)
            log = Path(name)
        with open(log, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError:
        log = None
    where = f"; traceback in {log}" if log is not None else ""
    rank = "" if comm is None or comm.size == 1 else f" (rank {comm.rank})"
    msg = f"fem-cell: internal error{rank}: {type(e).__name__}: {str(e)[:300]}{where}"
    print(msg.encode("utf-8", "backslashreplace").decode("utf-8"), file=sys.stderr, flush=True)
    if comm is not None and comm.size > 1:
        comm.Abort(3)
    return 3


def _dispatch(args, comm, guard) -> int:
    try:
        if args.command == "config":
            return _config(args, comm)
        if args.command in ("study", "calibrate"):
            return _study(args, comm, guard)
        if args.command == "design":
            return _design(args, comm, guard)
        if args.command == "fit-spectrum":
            return _fit_spectrum(args, comm, guard)
        guard.check(comm)
        cfg, state, provenance = _load(args, comm)
        for w in cfg.warnings:
            _say(comm, f"fem-cell: warning: {w}")
        if args.command == "mesh":
            return _mesh(cfg, args.out, comm)
        run = {"anneal": _anneal, "expose": _expose, "impedance": _impedance,
               "reproduce": _reproduce}[args.command]
        return run(cfg, args, comm, guard, state, provenance)
    except (ConvergenceError, RunAborted) as e:
        _say(comm, f"fem-cell: run failed: {e}")
        return 3
    except FemCellError as e:
        _say(comm, f"fem-cell: error: {e}")
        return 2


def _config(args, comm) -> int:
    from fem_cell.config import available_cells, load_config
    from fem_cell.config.display import render

    if args.list_cells:
        _say(comm, "\n".join(available_cells()), err=False)
        return 0
    cfg = on_root(comm, lambda: load_config(args.config))
    for w in cfg.warnings:
        _say(comm, f"fem-cell: warning: {w}")
    _say(comm, render(cfg, "json" if args.json else "text"), err=False)
    return 0


def _mesh(cfg, out: Path, comm) -> int:
    from fem_cell.meshing.io import write_mesh
    from fem_cell.model import build_domain
    from fem_cell.outputs.rundir import OutputError

    if out.suffix not in (".msh", ".vtu", ".xdmf"):
        raise FemCellError(f"--out {out}: expected a .msh, .vtu or .xdmf file name")

    def check():
        if out.is_dir():
            raise OutputError(f"--out {out}: is a folder, expected a mesh file name")
        for parent in out.parents:
            if parent.exists() and not parent.is_dir():
                raise OutputError(f"--out {out}: {parent} is a file, so nothing can be "
                                  "written under it")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"--out {out}: cannot create {out.parent} "
                              f"({e.strerror or e})") from None

    on_root(comm, check)
    domain = build_domain(cfg, comm)
    write_mesh(domain, out)
    n = domain.mesh.topology.index_map(domain.dim).size_global
    _say(comm, f"fem-cell: wrote {out} ({domain.dim}-D, {n} cells, regions "
               f"{sorted(domain.cell_names, key=domain.cell_names.get)}, facet groups "
               f"{sorted(domain.facet_names, key=domain.facet_names.get)}; coordinates in "
               f"units of {domain.length_scale:g} m)", err=False)
    return 0


def _anneal(cfg, args, comm, guard, state, provenance) -> int:
    from fem_cell.jobs.anneal import anneal_job

    src = f"mesh file {cfg.mesh.file}" if cfg.mesh.file else "built mesh"
    ex = cfg.exposure
    what = ("heat only" if args.heat_only or cfg.chemistry is None else
            f"state {state}" if state is not None else
            f"exposure {ex.gas} {ex.duration / 60:g} min at {ex.temperature - 273.15:g} °C")

    def banner():
        _say(comm, f"fem-cell anneal: cell {cfg.name}, {cfg.mesh.dim}-D ({src}), {what}, "
                   f"program {cfg.anneal.duration / 60:.1f} min up to "
                   f"{cfg.anneal.max_temperature - 273.15:.1f} °C, {comm.size} MPI rank(s) "
                   f"-> {args.out}", err=False)

    data = None
    if args.data is not None:
        from fem_cell.analysis.measured import read_history

        data = on_root(comm, lambda: read_history(args.data, area_cm2=args.area_cm2))
    elif args.area_cm2 is not None:
        raise FemCellError("--area-cm2 is for a --data history in Ω; give --data too")
    res = anneal_job(cfg, args.out, comm, overwrite=args.overwrite, progress=not args.quiet,
                     guard=guard, announce=banner, restart=state, provenance=provenance,
                     chemistry=not args.heat_only, data=data)
    s = res.summary
    _say(comm, f"fem-cell anneal: done in {res.wall_time:.1f} s ({s['dofs']} DOFs, "
               f"{s['steps_accepted']} steps, {s['steps_rejected']} rejected); film mean − "
               f"plate ranged from {s['film_mean_minus_plate_min_mK']:+.1f} to "
               f"{s['film_mean_minus_plate_max_mK']:+.1f} mK; outputs in {args.out}", err=False)
    if "R_interface_ohm_cm2" in s:
        gone = 100.0 * s.get("H_LiCoO2_removed_fraction", 0.0)
        _say(comm, f"fem-cell anneal: R_interface (25 °C) {s['R_interface_ohm_cm2_initial']:.1f} "
                   f"-> {s['R_interface_ohm_cm2']:.2f} Ω cm²; {gone:.1f} % of the protons "
                   "left LiCoO2", err=False)
    if "data_comparison" in s:
        d = s["data_comparison"]
        _say(comm, f"fem-cell anneal: measured history {args.data}: {d['points']} points, "
                   f"model − data rms {100 * d['rms_relative_difference']:.1f} %, max "
                   f"{100 * d['max_relative_difference']:.1f} % (data_comparison.csv)"
                   + (f"; {d['outside_model_time']} point(s) after the program's end left out"
                      if d["outside_model_time"] else ""), err=False)
    return 0


def _impedance(cfg, args, comm, guard, state, provenance) -> int:
    import numpy as np

    from fem_cell.jobs.impedance import impedance_job
    from fem_cell.model.impedance import check_temperature

    if state is not None and args.exposed:
        raise FemCellError("give --state or --exposed, not both")
    f = None
    if args.frequencies is not None:
        fmin, fmax, n = args.frequencies
        if not (0 < fmin < fmax and np.isfinite(fmax) and n >= 2 and float(n).is_integer()):
            raise FemCellError(f"--frequencies {fmin:g} {fmax:g} {n:g}: expected 0 < FMIN < FMAX "
                               f"(Hz) and an integer N >= 2")
        f = np.logspace(np.log10(fmin), np.log10(fmax), int(n))
    T = check_temperature(args.eis_temperature_C + 273.15, cfg, "--temperature-C")
    what = (f"state {state}" if state else "exposed state" if args.exposed else "pristine cell")

    def banner():
        _say(comm, f"fem-cell impedance: cell {cfg.name}, {cfg.mesh.dim}-D, {what}, "
                   f"{args.eis_temperature_C:g} °C, {args.method} -> {args.out}", err=False)

    data = None
    if args.data is not None:
        from fem_cell.analysis.measured import read_spectrum

        data = on_root(comm, lambda: read_spectrum(args.data, units=_data_units(args),
                                                   area_cm2=args.area_cm2,
                                                   imag_sign=args.imag_sign,
                                                   spectrum=args.spectrum))
    elif (args.area_cm2 is not None or args.ohm or args.ohm_cm2 or args.imag_sign is not None
          or args.spectrum is not None):
        raise FemCellError("--area-cm2, --ohm, --ohm-cm2, --imag-sign and --spectrum say how "
                           "to read --data; give --data too")
    res = impedance_job(cfg, args.out, comm, state=state, temperature=T, frequencies=f,
                        method=args.method, overwrite=args.overwrite, progress=not args.quiet,
                        announce=banner, guard=guard, provenance=provenance,
                        proton_fraction="exposed" if args.exposed else None, data=data)
    s = res.summary
    fit = ("no fit (" + s["fit_error"] + ")" if s.get("fit_error") and s.get("fit") is None
           else f"{s['R_interface_fit_ohm_cm2']:.2f} ± "
                f"{s['R_interface_fit_stderr_ohm_cm2']:.2g} Ω cm² (fit)")
    kk = "skipped" if s["kk_residual_max"] is None else f"{s['kk_residual_max']:.1e}"
    cost = f"{s['factorizations']} factorisations"
    if s["linear_solver"] == "iterative" and s["krylov_iterations"]:
        cost = f"{s['krylov_iterations']} Krylov iterations" + (
            f" + {cost} (fallback)" if s["factorizations"] else "")
    _say(comm, f"fem-cell impedance: R_interface {fit}, {s['R_interface_ohm_cm2']:.2f} (state); "
               f"Kramers-Kronig residual {kk}; {cost}; outputs in {args.out}", err=False)
    if "data_comparison" in s:
        d = s["data_comparison"]
        _say(comm, f"fem-cell impedance: measured spectrum {args.data}: {d['points']} points, "
                   f"|Z_model − Z_data|/|Z_data| rms {100 * d['rms_relative_residual']:.2f} %, "
                   f"max {100 * d['max_relative_residual']:.2f} % (data_comparison.csv)",
             err=False)
    return 0


def _study(args, comm, guard) -> int:
    from fem_cell.studies.job import study_job

    name = args.command

    def banner():
        _say(comm, f"fem-cell {name}: {args.spec}, {comm.size} MPI rank(s) -> {args.out}",
             err=False)

    if name == "study" and args.posterior is not None:
        from fem_cell.studies.posterior_study import run_posterior_study

        res = run_posterior_study(args.spec, args.posterior, comm, args.out,
                                  samples=args.samples, seed=args.sample_seed,
                                  progress=not args.quiet, guard=guard,
                                  overwrite=args.overwrite, group_size=args.group_size,
                                  announce=banner, max_runs=_max_runs(args))
        _say(comm, f"fem-cell {name}: {res.report()}", err=False)
        return 0
    res = study_job(args.spec, args.out, comm, overwrite=args.overwrite,
                    progress=not args.quiet, guard=guard, announce=banner,
                    group_size=args.group_size,
                    kind="calibration" if name == "calibrate" else None,
                    max_runs=_max_runs(args) if name == "study" else None)
    _say(comm, f"fem-cell {name}: {res.report()}", err=False)
    return 0


def _fit_spectrum(args, comm, guard) -> int:
    from fem_cell.errors import InputError, on_root
    from fem_cell.studies.fit_spectrum import DEFAULT_FREE, fit_spectrum_job, read_spectra

    configs = [p for p in args.inputs if p.suffix.lower() == ".toml"]
    data = [p for p in args.inputs if p.suffix.lower() != ".toml"]
    if len(configs) > 1:
        raise InputError(f"at most one config (.toml) among the inputs: {configs}")
    if not data:
        raise InputError("no measured spectrum among the inputs")
    temps = args.temperature_C or [25.0]
    if len(temps) not in (1, len(data)):
        raise InputError(f"--temperature-C: one value, or one per spectrum ({len(data)})")
    temps = temps * len(data) if len(temps) == 1 else temps
    spectra = on_root(comm, lambda: read_spectra(data, temps, units=_data_units(args),
                                                 area_cm2=args.area_cm2,
                                                 imag_sign=args.imag_sign,
                                                 flag="--temperature-C",
                                                 spectrum=args.spectrum))
    free = args.free.split(",") if args.free else list(DEFAULT_FREE)
    state = "exposed" if args.exposed else args.state
    base = configs[0] if configs else None

    def banner():
        _say(comm, f"fem-cell fit-spectrum: {len(spectra)} spectrum/spectra, free "
                   f"{', '.join(free)}, {comm.size} MPI rank(s) -> {args.out}", err=False)

    res = fit_spectrum_job(base, spectra, args.out, comm, free=free,
                           states=[state] * len(spectra), weighting=args.weighting,
                           overwrite=args.overwrite, progress=not args.quiet, guard=guard,
                           announce=banner, inputs=tuple(args.inputs) + (
                               (args.state,) if args.state else ()))
    vals = "; ".join(f"{p['key']} = {p['value']:.4g} ± {p['stderr']:.2g} {p['unit']}"
                     for p in res.parameters)
    for w in res.warnings:
        _say(comm, f"fem-cell: warning: {w}")
    _say(comm, f"fem-cell fit-spectrum: {vals}; chi2 {res.chi2:.3g} ({res.dof} dof), "
               f"{res.evaluations} model evaluations; fit.json and fitted.toml in {args.out}",
         err=False)
    return 0


def _design(args, comm, guard) -> int:
    from fem_cell.studies.design import run_design

    def banner():
        _say(comm, f"fem-cell design: {args.spec}, {comm.size} MPI rank(s) -> {args.out}",
             err=False)

    s = run_design(args.spec, args.posterior, comm, args.out, samples=args.samples,
                   seed=args.sample_seed, progress=not args.quiet, guard=guard,
                   overwrite=args.overwrite, group_size=args.group_size, announce=banner,
                   max_runs=_max_runs(args))
    b = s["best"]
    conv = "" if s.get("posterior_converged") else " (posterior NOT converged)"
    best = (f"best: {b['case']} removes {b['variance_reduction']:.0%} of the prediction's "
            f"variance" if b and b["variance_reduction"] == b["variance_reduction"]
            else "no candidate informative")
    _say(comm, f"fem-cell design: {len(s['table'])} candidates over {s['samples']} posterior "
               f"samples{conv}; {best}; table in {args.out / 'design.csv'}", err=False)
    return 0


def _reproduce(cfg, args, comm, guard, state, provenance) -> int:
    from fem_cell.jobs.reproduce import reproduce_job

    if cfg.chemistry is None:
        raise FemCellError("reproduce needs a cell with chemistry ([transport], "
                           "[degraded_layer], [exposure_model] sections)")

    def banner():
        _say(comm, f"fem-cell reproduce: cell {cfg.name}, {cfg.mesh.dim}-D, {comm.size} MPI "
                   f"rank(s) -> {args.out}", err=False)

    s = reproduce_job(cfg, args.out, comm, overwrite=args.overwrite, progress=not args.quiet,
                      guard=guard, announce=banner, provenance=provenance,
                      posterior=args.posterior, samples=args.samples,
                      sample_seed=args.sample_seed).summary
    roles = "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in s["by_role"].items())
    _say(comm, f"fem-cell reproduce: {s['cases_meeting_paper']}/{s['cases_total']} rows meet "
               f"their criterion ({roles}); "
               f"{100 * s['H_LiCoO2_removed_fraction_after_anneal']:.1f} % of the protons left "
               f"LiCoO2; report: {args.out / 'report.html'}", err=False)
    if s.get("posterior_bands"):
        b = s["posterior_bands"]
        bands = "; ".join(f"{k} {v['band_ohm_cm2'][1]:.3g} [{v['band_ohm_cm2'][0]:.3g}, "
                          f"{v['band_ohm_cm2'][2]:.3g}]" for k, v in s["predictions"].items()
                          if v.get("band_ohm_cm2"))
        _say(comm, f"fem-cell reproduce: predictions over {b['samples']} posterior samples, "
                   f"median [5 %, 95 %] Ω cm²: {bands}"
                   + ("" if b["converged"] else " (posterior NOT converged: indicative only)"),
             err=False)
    return 0


def _expose(cfg, args, comm, guard, state, provenance) -> int:
    from fem_cell.jobs.expose import expose_job

    ex = cfg.exposure
    if ex is None or cfg.chemistry is None:
        raise FemCellError("expose needs a cell with chemistry and an [exposure] table")

    def banner():
        _say(comm, f"fem-cell expose: cell {cfg.name}, {cfg.mesh.dim}-D, {ex.gas} for "
                   f"{ex.duration / 60:g} min at {ex.temperature - 273.15:g} °C"
                   + (f", {100 * ex.relative_humidity:g} % RH" if ex.gas == "air" else "")
                   + f" -> {args.out}", err=False)

    s = expose_job(cfg, args.out, comm, overwrite=args.overwrite, progress=not args.quiet,
                   guard=guard, announce=banner, provenance=provenance).summary
    e = s["exposure"]
    _say(comm, f"fem-cell expose: water activity {e['water_activity']:.3g} -> mobile surface "
               f"fraction {e['surface_mobile_fraction']:.3g}; loaded depth "
               f"{e['loaded_depth_nm']:.2f} nm; R_interface (25 °C) "
               f"{s['R_interface_ohm_cm2']:.1f} Ω cm²; state in {args.out / s['state']}",
         err=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
