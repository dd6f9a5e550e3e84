"""The exposure job: the bare LiCoO2 surface meets a gas before Li3PO4 is deposited.

The exposure is simulated (:mod:`fem_cell.model.exposure`): water (or the water in humid
air) holds a small mobile proton fraction x_s = S(T) a_w at the surface, and the cell's
own proton transport — the same traps and laws as the hold and the anneal — carries the
protons into the LiCoO2 for the exposure's duration at its temperature.  Dry gases leave
the cell proton-free.  The job writes, into its run folder:

* ``checkpoints/t000000000.000s.h5``: the exposed cell as a state (temperature at the
  program's start, mobile and trapped proton fields, potential) — ``fem-cell anneal
  --restart`` anneals it, ``fem-cell impedance --state`` measures it;
* ``exposure_history.csv`` (+ ``.png``): R_interface (25 °C), proton inventories and the
  loaded depth against exposure time, written as the exposure runs;
* ``fields/films.pvd``: the proton/Li fractions on the film mesh at the end;
* ``proton_profiles.csv`` / ``.png`` (1-D);
* ``summary.json``: ``R_interface_ohm_cm2`` (25 °C), ``H_LiCoO2_mol_m2``,
  ``H_trapped_mol_m2``, ``H_Li3PO4_mol_m2``, the exposure's conditions, water activity,
  surface fraction and loaded depth, ``status``.
"""

from __future__ import annotations

import time
from pathlib import Path

from fem_cell._dolfinx import MPI
from fem_cell.config import RunConfig
from fem_cell.jobs.anneal import checkpoint_name
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.jobs.lifecycle import Job, JobResult
from fem_cell.jobs.progress import ProgressLine
from fem_cell.jobs.state import config_fingerprint
from fem_cell.model import CellModel, ChemistryDiagnostics
from fem_cell.model.exposure import EXPOSURE_COLUMNS
from fem_cell.outputs import plots
from fem_cell.outputs.film_fields import FilmFields, ProfileRecorder
from fem_cell.outputs.rundir import OUTPUTS
from fem_cell.solvers.checkpoint import field_descriptions, save_checkpoint
from fem_cell.solvers.time_stepping import StepperState


def expose_job(config: RunConfig, out: str | Path | None, comm: MPI.Comm, *,
               overwrite: bool = False, progress: bool = True, guard=NO_GUARD, announce=None,
               provenance: dict | None = None) -> JobResult:
    """``fem-cell expose``: the exposed state of the cell, in a run folder."""
    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config)}
    inputs = (config.mesh.file,) if config.mesh.file else ()
    with Job("expose", out, comm, config=config, overwrite=overwrite, planned=OUTPUTS["expose"],
             inputs=inputs, announce=announce, guard=guard, progress=progress,
             info={"dim": config.mesh.dim, "provenance": prov}) as job, guard.deferred():
        model = CellModel(config, comm)
        job.check()
        log = _ExposureLog(job, comm, config.exposure.duration, progress)
        chem = model.chemistry(exposure_hooks={"on_step": log, "poll": lambda t: job.check()})
        model.destroy()  # the exposure's solver is gone; the anneal's is not needed
        log.close(chem.exposure_result)
        job.check()
        diag = ChemistryDiagnostics(chem, config.solver)
        values = diag(after_step=False)
        tables = _write_state(config, chem, job, comm, prov, diag, values)
        summary = {k: values[k] for k in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2",
                                          "H_trapped_mol_m2", "H_Li3PO4_mol_m2", "xH_max")}
        if "R_interface_pad_ohm_cm2" in values:
            summary["R_interface_pad_ohm_cm2"] = values["R_interface_pad_ohm_cm2"]
        summary["exposure"] = chem.exposure_result.summary()
        summary["state"] = checkpoint_name(0.0) if job.folder is not None else None
        tables["exposure_history"] = chem.exposure_result.rows
        return job.finish(summary, tables=tables, model=model, details={"chemistry": chem})


class _ExposureLog:
    """Streams the exposure history to ``exposure_history.csv`` and prints progress."""

    def __init__(self, job: Job, comm, duration: float, progress: bool):
        self.job, self.comm, self.progress = job, comm, progress
        self.bar = ProgressLine(comm, duration, label="exposure") if progress else None
        self.path = job.file("exposure_history.csv") if job.folder is not None else None
        self._header = False
        self._wall0 = time.perf_counter()

    def __call__(self, info, row: dict) -> None:
        if self.bar is not None:
            self.bar(info, time.perf_counter() - self._wall0)
        if self.path is None or self.comm.rank != 0:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            if not self._header:
                f.write(",".join(EXPOSURE_COLUMNS) + "\n")
                self._header = True
            f.write(",".join(repr(float(row[c])) for c in EXPOSURE_COLUMNS) + "\n")

    def close(self, result) -> None:
        """Rewrite the full history (incl. the initial row) and plot it (rank 0)."""
        if self.path is None or self.comm.rank != 0:
            return
        rows = result.rows
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(",".join(EXPOSURE_COLUMNS) + "\n")
            for i in range(len(rows["t_s"])):
                f.write(",".join(repr(float(rows[c][i])) for c in EXPOSURE_COLUMNS) + "\n")


def _write_state(config: RunConfig, chem, job: Job, comm, prov: dict, diag,
                 values: dict) -> dict:
    """Fields, profiles, plots and the exposed state's checkpoint (collective)."""
    tables = {}
    if config.output.fields and job.folder is not None:
        ff = FilmFields(chem, job.file("fields/films.pvd"))
        ff.write(0.0)
        ff.close()
        job.tree("fields")
    if chem.film.dim == 1:
        rec = ProfileRecorder(chem)
        rec.record(0.0)
        tables["profiles"] = rec
        if comm.rank == 0 and job.folder is not None:
            rec.write_csv(job.file("proton_profiles.csv"))
            if config.output.plots:
                plots.plot_proton_profiles(rec, job.file("proton_profiles.png"),
                                           title=f"{config.title}: exposed")
    if comm.rank == 0 and job.folder is not None and config.output.plots:
        plots.plot_exposure_history(chem.exposure_result.rows,
                                    job.file("exposure_history.png"), title=config.title)
    problem = chem.problem
    if job.folder is not None:
        state = StepperState(0.0, 0, config.solver.dt_initial, [], [problem.get_state()])
        save_checkpoint(job.file(checkpoint_name(0.0)), comm,
                        {f.name: f.space for f in problem.fields}, state,
                        {"job": "expose", "provenance": prov, "last_dt": 0.0,
                         "newton_iterations": 0,
                         "H_initial_total_mol_m2": diag.initial_total,
                         "R_interface_ohm_cm2": values["R_interface_ohm_cm2"]},
                        describe=field_descriptions(problem),
                        length_scale_m=config.mesh.length_scale)
    return tables


__all__ = ["expose_job"]
