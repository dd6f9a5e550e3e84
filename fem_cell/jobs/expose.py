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

import time
from pathlib import Path

from fem_cell._dolfinx import MPI
from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.outputs.rundir import RunFolder

PLANNED_FILES = ("run.json", "summary.json", "fields/films*", "checkpoints/t*.h5",
                 "proton_profiles.csv", "proton_profiles.png")


def exposure_summary(exposure, model) -> dict:
    """Gas, conditions, water dose and the resulting profile (JSON-ready, user units)."""
    prof = model.profile(exposure)
    return {"gas": exposure.gas, "duration_min": exposure.duration / 60.0,
            "temperature_C": exposure.temperature - ZERO_CELSIUS,
            "relative_humidity_percent": 100.0 * exposure.relative_humidity,
            "water_partial_pressure_Pa": exposure.water_partial_pressure(),
            "water_dose_Pa_s": model.dose(exposure),
            "surface_fraction": prof.surface_fraction,
            "depth_scale_nm": prof.depth_scale * 1e9}


def expose_job(config: RunConfig, out: str | Path, comm: MPI.Comm, *, overwrite: bool = False,
               progress: bool = True, guard=NO_GUARD, announce=None,
               provenance: dict | None = None) -> dict:
    """``fem-cell expose``: the exposed state of the cell, in a run folder.

    Returns the summary dict (every rank).
    """
    from fem_cell.diagnostics import ChemistryDiagnostics
    from fem_cell.jobs.anneal import _record_failure, checkpoint_name
    from fem_cell.jobs.state import config_fingerprint
    from fem_cell.model import build_chemistry_model, build_domain, chemistry_parameters
    from fem_cell.outputs import plots
    from fem_cell.outputs.film_fields import FilmFields, ProfileRecorder
    from fem_cell.solvers.checkpoint import save_checkpoint
    from fem_cell.solvers.time_stepping import StepperState

    folder = RunFolder(out, comm, "expose", overwrite=overwrite, planned=PLANNED_FILES)
    if announce is not None:
        announce()
    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config)}
    folder.open(config.to_dict(), {"dim": config.mesh.dim, "provenance": prov})
    wall0 = time.perf_counter()
    try:
        with guard.deferred():
            domain = build_domain(config, comm)
            guard.check(comm)
            chem = build_chemistry_model(config, domain)
            chem.destroy()  # no solve: the exposed state needs the fields only
            guard.check(comm)
            pars = chemistry_parameters(config)
            diag = ChemistryDiagnostics(chem)
            values = diag(after_step=False)
            if config.output.fields:
                ff = FilmFields(chem, folder.file("fields/films.pvd"))
                ff.write(0.0)
                ff.close()
            if domain.dim == 1:
                rec = ProfileRecorder(chem)
                rec.record(0.0)
                if comm.rank == 0:
                    rec.write_csv(folder.file("proton_profiles.csv"))
                    if config.output.plots:
                        plots.plot_proton_profiles(rec, folder.file("proton_profiles.png"),
                                                   title=f"{config.title}: exposed")
            problem = chem.problem
            spaces = {f.name: f.space for f in problem.fields}
            state = StepperState(0.0, 0, config.solver.dt_initial, [], [problem.get_state()])
            save_checkpoint(folder.file(checkpoint_name(0.0)), comm, spaces, state,
                            {"job": "expose", "provenance": prov, "last_dt": 0.0,
                             "newton_iterations": 0,
                             "H_initial_total_mol_m2": diag.initial_total,
                             "R_interface_ohm_cm2": values["R_interface_ohm_cm2"]})
            guard.check(comm)
    except BaseException as e:
        _record_failure(folder, e, time.perf_counter() - wall0)
        raise
    folder.add_tree("fields", "films*")
    folder.add_tree("checkpoints", "t*.h5")
    summary = {k: values[k] for k in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2",
                                      "H_Li3PO4_mol_m2", "xH_max")}
    summary["exposure"] = exposure_summary(chem.exposure, pars["exposure_model"])
    summary["state"] = checkpoint_name(0.0)
    summary["wall_time_s"] = time.perf_counter() - wall0
    folder.finish("completed", wall_time_s=summary["wall_time_s"])
    folder.write_summary(summary)
    folder.update()
    return {"status": "completed", **summary}
