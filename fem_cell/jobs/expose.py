"""The exposure job: the bare LiCoO2 surface meets a gas before Li3PO4 is deposited.

Water (or the water in humid air) exchanges H⁺ for Li⁺ at the surface and leaves an
erfc-like proton profile in the top of the LiCoO2 whose size grows with the water dose
(partial pressure × time, see :mod:`fem_cell.physics.exposure`); dry gases leave the
cell proton-free.  The job writes, into its run folder:

* ``checkpoints/t000000000.000s.h5``: the exposed cell as a state (temperature at the
  program's start, proton fields, potential) — ``fem-cell anneal --restart`` anneals it,
  ``fem-cell impedance --state`` measures it;
* ``fields/films.pvd``: the proton/Li fractions on the film mesh;
* ``proton_profiles.csv`` / ``.png`` (1-D);
* ``summary.json``: ``R_interface_ohm_cm2`` (25 °C), ``H_LiCoO2_mol_m2``,
  ``H_Li3PO4_mol_m2``, the dose, surface fraction and depth of the profile, ``status``.
"""

from __future__ import annotations

from pathlib import Path

from fem_cell._dolfinx import MPI
from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.jobs.anneal import checkpoint_name
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.jobs.lifecycle import Job, JobResult
from fem_cell.jobs.state import config_fingerprint
from fem_cell.model import CellModel, ChemistryDiagnostics
from fem_cell.outputs import plots
from fem_cell.outputs.film_fields import FilmFields, ProfileRecorder
from fem_cell.outputs.rundir import OUTPUTS
from fem_cell.physics.exposure import depth, dose, surface_fraction
from fem_cell.physics.parameters import Exposure, ExposureModel
from fem_cell.solvers.checkpoint import save_checkpoint
from fem_cell.solvers.time_stepping import StepperState


def exposure_summary(exposure: Exposure, model: ExposureModel) -> dict:
    """Gas, conditions, water dose and the resulting profile (JSON-ready, user units)."""
    return {"gas": exposure.gas, "duration_min": exposure.duration / 60.0,
            "temperature_C": exposure.temperature - ZERO_CELSIUS,
            "relative_humidity_percent": 100.0 * exposure.relative_humidity,
            "water_partial_pressure_Pa": exposure.water_partial_pressure(),
            "water_dose_Pa_s": dose(model, exposure),
            "surface_fraction": surface_fraction(model, exposure),
            "depth_scale_nm": depth(model, exposure) * 1e9}


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
        domain = model.domain
        job.check()
        chem = model.chemistry()
        model.destroy()  # no solve: the exposed state needs the fields only
        job.check()
        diag = ChemistryDiagnostics(chem)
        values = diag(after_step=False)
        if config.output.fields and job.folder is not None:
            ff = FilmFields(chem, job.file("fields/films.pvd"))
            ff.write(0.0)
            ff.close()
            job.tree("fields")
        tables = {}
        if domain.dim == 1:
            rec = ProfileRecorder(chem)
            rec.record(0.0)
            tables["profiles"] = rec
            if comm.rank == 0 and job.folder is not None:
                rec.write_csv(job.file("proton_profiles.csv"))
                if config.output.plots:
                    plots.plot_proton_profiles(rec, job.file("proton_profiles.png"),
                                               title=f"{config.title}: exposed")
        problem = chem.problem
        if job.folder is not None:
            state = StepperState(0.0, 0, config.solver.dt_initial, [], [problem.get_state()])
            save_checkpoint(job.file(checkpoint_name(0.0)), comm,
                            {f.name: f.space for f in problem.fields}, state,
                            {"job": "expose", "provenance": prov, "last_dt": 0.0,
                             "newton_iterations": 0,
                             "H_initial_total_mol_m2": diag.initial_total,
                             "R_interface_ohm_cm2": values["R_interface_ohm_cm2"]})
        job.check()
        summary = {k: values[k] for k in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2",
                                          "H_Li3PO4_mol_m2", "xH_max")}
        summary["exposure"] = exposure_summary(chem.exposure, config.chemistry.exposure_model)
        summary["state"] = checkpoint_name(0.0) if job.folder is not None else None
        return job.finish(summary, tables=tables, model=model, details={"chemistry": chem})


__all__ = ["expose_job", "exposure_summary"]
