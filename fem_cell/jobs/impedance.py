"""The impedance job: the cell's small-signal impedance at a state, interpreted.

(The model it sweeps — operating point, refined film mesh, element values — is built by
:class:`fem_cell.model.CellModel`; this module runs it, interprets and writes it.)

:func:`cell_impedance` (library, no files) and :func:`impedance_job` (run folder, what
``fem-cell impedance`` calls) build the electrochemistry block
(:mod:`fem_cell.physics.electrochem`) **on the anneal's own film sub-mesh**
(``build_domain(config, comm).submesh("LiCoO2", "degraded", "Li3PO4")``), so a state's
proton field is used node for node (no interpolation: the exponential law is very
sensitive to where the protons sit), sweep it with
:class:`~fem_cell.solvers.impedance.ImpedanceSolver`, and fit the stack's equivalent
circuit (:mod:`fem_cell.analysis.eis`, impedance.py) + Lin-KK.

Operating point (open circuit, proton field frozen, uniform temperature):

* nothing: the pristine cell (x_H = 0);
* ``state``: a checkpoint file or an anneal run folder (its last state): its
  ``xH_LiCoO2`` (and ``xH_Li3PO4``) fields;
* ``proton_fraction="exposed"`` (or an :class:`~fem_cell.physics.exposure.Exposure`):
  the exposed initial profile (:meth:`fem_cell.model.CellModel.operating_point`).

Job model of the LiCoO2|Li3PO4 interface (docs/impedance.md, "Job model"): the
degraded layer is electronically conducting LiCoO2 whose Li⁺ path has the resistivity
of ``physics/degraded.py``'s law, 1/σ_d = ρ_p(T) + (exp(β x_H) − 1)/σ0(T), with no
displacement current of its own; the double layer C_dl sits on its electrolyte side, so
the interface is one Randles arc C_dl ∥ (R_d + R_ct + Z_D) with
R_d + R_ct = the state's R_interface at any temperature:

    R_d  = ρ_p(T) L_d + ∫_degraded (exp(β x_H) − 1)/σ0(T) dz,  ρ_p L_d = s·R_p(T)
    R_ct = (1 − s) R_p(T) + ∫_LiCoO2-bulk (exp(β x_H) − 1)/σ0(T) dz

(s = ``[electrochemistry] degraded_pristine_share``).  The degraded layer's σ_d enters the
forms as a cell-wise (DG0) harmonic mean, σ_K = |K| / ∫_K ρ dx with the same quadrature as
:class:`~fem_cell.physics.degraded.InterfaceResistance`, so the discrete layer
resistance equals the state's integral exactly (a P1 x_H inside σ would give
h/⟨σ⟩ ≠ ∫ρ dz on cells where the profile is steep).

The fit and the Kramers–Kronig check need at least :data:`MIN_FIT_FREQUENCIES`
frequencies; a shorter sweep writes its spectrum and skips both with a note.  A sweep
longer than :data:`FIT_FREQUENCIES` is fitted and checked on that many of its frequencies,
evenly spaced in index (in log f for a log sweep): both cost grows with the number of
points (10,000 frequencies took 23 s to fit and 16 s to check, against 0.8 s for the
sweep itself), while a spectrum this smooth is resolved by far fewer.  ``summary.json``
names how many were used (``fit_frequencies``).

Outputs of :func:`impedance_job` (run folder, :mod:`fem_cell.outputs.rundir`):
``impedance.csv`` (:data:`CSV_COLUMNS`), ``contributions.csv``,
``spectrum_impedancepy.csv``, ``nyquist.png``, ``bode.png``, ``summary.json``,
``run.json``; in 2-D ``fields/impedance.pvd`` (complex potential and current density at
chosen frequencies; the series' "time" is the frequency in Hz).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.analysis import eis
from fem_cell.analysis.measured import MeasuredSpectrum
from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.jobs.lifecycle import Job, JobResult
from fem_cell.jobs.state import config_fingerprint
from fem_cell.model import CellModel, proton_inventories
from fem_cell.model.impedance import (
    F_CM2,
    OHM_CM2,
    Elements,
    ImpedanceJobError,
    SmallSignalModel,
)
from fem_cell.outputs import eis_plots
from fem_cell.outputs.impedance_fields import write_field_maps
from fem_cell.outputs.impedance_tables import (
    CSV_COLUMNS,
    SpectrumTable,
    write_contributions_csv,
    write_spectrum_csv,
)
from fem_cell.outputs.rundir import OUTPUTS
from fem_cell.outputs.section import render_impedance_2d
from fem_cell.solvers.impedance import ImpedanceSolver, log_frequencies
from fem_cell.solvers.problem import collect_garbage

#: fewest frequencies the circuit fit (9 parameters) and the Lin-KK check are run on
MIN_FIT_FREQUENCIES = 10
#: most frequencies the circuit fit and the Lin-KK check are run on (a longer sweep is
#: thinned to this many, evenly in index)
FIT_FREQUENCIES = 1000
#: widest sweep accepted (Hz): below 1 µHz or above 1 THz the model means nothing here
FREQUENCY_RANGE = (1e-6, 1e12)
#: most frequencies in one sweep (each costs a projected solve and a residual check)
MAX_FREQUENCIES = 10_000


#: model_spectrum collects garbage (a full gc.collect + PETSc's collective cleanup, about
#: 0.06 s: a quarter of a 1-D evaluation) once every this many calls on a communicator;
#: the models of the calls in between hold a few duplicated communicators each, far from
#: MPI's limit of 2048
GC_EVERY = 16
_calls_on: dict[int, int] = {}


def model_spectrum(config: RunConfig, comm: MPI.Comm, frequencies, *, state=None,
                   proton_fraction=None, temperature: float = 298.15) -> np.ndarray:
    """The model's impedance (Ω cm², complex) at ``frequencies`` — the sweep alone, no
    circuit fit or KK check (what a fit of the model to measured data evaluates).

    Collective.  Called in a loop (a fit, a posterior): the models' meshes and their
    duplicated communicators are collected every :data:`GC_EVERY` calls on ``comm`` (the
    same calls on every rank of it, so the collective cleanup matches) — without that a
    few hundred evaluations used up MPI's 2048 communicators ("Too many
    communicators")."""
    f = np.asarray(frequencies, dtype=float)
    model = CellModel(config, comm)
    solver = None
    try:
        op = model.operating_point(state=state, proton_fraction=proton_fraction)
        cm = model.small_signal(op, temperature, prefix="fem_cell_fit_")
        solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix="fem_cell_fit_eis_",
                                 linear_solver=config.solver.linear_solver)
        Z = np.asarray(solver.sweep(f, "rom").impedance_ohm_cm2, dtype=complex)
    finally:
        if solver is not None:
            solver.destroy()
        model.destroy()
        del solver, model
        key = comm.py2f()
        _calls_on[key] = _calls_on.get(key, 0) + 1
        if _calls_on[key] % GC_EVERY == 0:
            collect_garbage(comm)
    return Z


@dataclass
class CellImpedance:
    """What :func:`cell_impedance` returns (on every rank).

    Attributes:
        frequencies: f (Hz).
        Z_ohm_cm2: Z per unit Li-pad area (Ω cm², complex).
        sweep: the solver's :class:`~fem_cell.solvers.impedance.ImpedanceResult`.
        elements: the model's element values (SI).
        fit: the equivalent-circuit fit (None if it failed: ``fit_error``).
        kk: Lin-KK result (None if the sweep is too short: ``fit_error`` says why).
        inventories: proton inventories (mol/m²).
        temperature: K.
        method: ``rom`` or ``direct``.
        dim: 1 or 2.
        dofs: unknowns of J.
        source: operating point kind.
        state_file, state_time: the checkpoint used, if any.
        wall_time: s (model, sweep, fit).
    """

    frequencies: np.ndarray
    Z_ohm_cm2: np.ndarray
    sweep: object
    elements: Elements
    fit: object
    kk: object
    inventories: dict
    temperature: float
    method: str
    dim: int
    dofs: int
    source: str
    state_file: Path | None = None
    state_time: float | None = None
    fit_error: str | None = None
    wall_time: float = 0.0
    fit_frequencies: int | None = None

    @property
    def R_interface_state_ohm_cm2(self) -> float:
        return self.elements.R_interface_state * OHM_CM2

    @property
    def R_interface_fit_ohm_cm2(self) -> float:
        return float("nan") if self.fit is None else self.fit.value("R_interface")

    def apex_frequencies(self) -> dict[str, float]:
        """Apex frequencies (Hz) of the bulk and interface arcs (fitted; model values if
        the fit failed)."""
        el = self.elements
        if self.fit is not None:
            v = self.fit.value
            return {"bulk": 1 / (2 * math.pi * v("R_bulk") * v("C_bulk")),
                    "interface": 1 / (2 * math.pi * v("R_interface") * v("C_interface"))}
        return {"bulk": 1 / (2 * math.pi * el.R_bulk * el.C_bulk),
                "interface": 1 / (2 * math.pi * el.R_interface * el.C_dl)}

    def summary(self) -> dict:
        """Headline numbers (JSON-ready; Ω cm², F/cm², Hz, °C)."""
        el = self.elements
        s = self.sweep
        out = {
            "R_interface_fit_ohm_cm2": self.R_interface_fit_ohm_cm2,
            "R_interface_fit_stderr_ohm_cm2": (float("nan") if self.fit is None
                                               else self.fit.error("R_interface")),
            "R_interface_ohm_cm2": self.R_interface_state_ohm_cm2,
            "R_interface_model_ohm_cm2": el.R_interface * OHM_CM2,
            "kk_residual_max": None if self.kk is None else self.kk.residual_max,
            "kk_elements": None if self.kk is None else self.kk.M,
            "fit_frequencies": self.fit_frequencies,
            **self.inventories,
            "temperature_C": self.temperature - ZERO_CELSIUS,
            "method": self.method,
            "factorizations": int(s.n_factorizations),
            "linear_solver": s.linear_solver,
            "krylov_iterations": int(s.krylov_iterations),
            "krylov_max": int(s.krylov_max),
            "rom_basis": int(s.n_basis),
            "rom_fallback_frequencies": int(np.count_nonzero(s.fallback)),
            "residual_max": float(np.max(s.residuals)),
            "sweep_wall_time_s": float(s.wall_time),
            "wall_time_s": self.wall_time,
            "dim": self.dim,
            "dofs": self.dofs,
            "frequencies": {"min_Hz": float(self.frequencies.min()),
                            "max_Hz": float(self.frequencies.max()),
                            "n": int(self.frequencies.size)},
            "operating_point": self.source,
            "state": None if self.state_file is None else str(self.state_file),
            "state_time_s": self.state_time,
            "model": el.ohm_cm2(),
            "apex_frequencies_Hz": self.apex_frequencies(),
        }
        if self.fit is not None:
            out["fit"] = {k: float(v) for k, v in self.fit.as_dict().items()}
            out["fit_residual_max"] = self.fit.residual_max
            out["circuit"] = self.fit.circuit
            for name in ("R_bulk", "C_bulk", "C_interface", "R_Li", "C_Li", "R_diffusion",
                         "tau_diffusion", "R_series"):
                unit = ("ohm_cm2" if name.startswith("R_") else
                        "F_cm2" if name.startswith("C_") else "s")
                out[f"{name}_fit_{unit}"] = self.fit.value(name)
        else:
            out["fit_error"] = self.fit_error
        return out



def default_frequencies() -> np.ndarray:
    """61 log-spaced points from 10 mHz to 1 MHz."""
    return log_frequencies(1e-2, 1e6, 61)


def check_frequencies(frequencies) -> np.ndarray:
    """The sweep's frequencies (Hz), validated: finite, positive, within
    :data:`FREQUENCY_RANGE`, at most :data:`MAX_FREQUENCIES`."""
    f = default_frequencies() if frequencies is None else np.asarray(frequencies, float)
    lo, hi = FREQUENCY_RANGE
    if (f.ndim != 1 or f.size < 2 or not np.all(np.isfinite(f)) or np.any(f < lo)
            or np.any(f > hi)):
        raise ImpedanceJobError(f"frequencies: expected at least two numbers from {lo:g} to "
                                f"{hi:g} Hz, got {np.asarray(frequencies).tolist()!r}"[:300])
    if f.size > MAX_FREQUENCIES:
        raise ImpedanceJobError(f"frequencies: {f.size} points; at most {MAX_FREQUENCIES} per "
                                "sweep (split the band into several runs)")
    return f


def interpret(frequencies, Z_ohm_cm2, el: Elements, comm: MPI.Comm | None = None):
    """Circuit fit (:data:`~fem_cell.analysis.eis.RANDLES_STACK_CIRCUIT`, initial guess from
    the model's elements) and Lin-KK; rank 0 computes, the result is broadcast.

    Returns:
        ``(fit, note, kk)``: fit and kk are None when the sweep has fewer than
        :data:`MIN_FIT_FREQUENCIES` points (or the fit failed: ``note`` says why).
    """
    out = None
    if comm is None or comm.rank == 0:
        n = len(frequencies)
        if n < MIN_FIT_FREQUENCIES:
            note = (f"{n} frequencies: the circuit fit and the Kramers-Kronig check need at "
                    f"least {MIN_FIT_FREQUENCIES}; skipped")
            out = (None, note, None)
        else:
            keep = fit_subset(n)
            out = _fit_and_check(np.asarray(frequencies)[keep], np.asarray(Z_ohm_cm2)[keep],
                                 el)
    if comm is not None:
        out = comm.bcast(out, root=0)
    return out


def fit_subset(n: int) -> np.ndarray:
    """Indices of the frequencies the fit and the KK check use: all ``n`` up to
    :data:`FIT_FREQUENCIES`, else that many evenly spaced in index (first and last kept)."""
    if n <= FIT_FREQUENCIES:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, FIT_FREQUENCIES)).astype(int))


def _fit_and_check(frequencies, Z, el: Elements):
    guess = eis.randles_initial_guess(
        R_bulk=el.R_bulk * OHM_CM2, C_bulk=el.C_bulk * F_CM2,
        R_interface=el.R_interface * OHM_CM2, C_interface=el.C_dl * F_CM2,
        R_Li=el.R_Li * OHM_CM2, C_Li=el.C_Li * F_CM2,
        R_diffusion=el.R_diffusion * OHM_CM2, tau_diffusion=el.tau_diffusion,
        R_series=el.R_series * OHM_CM2)
    try:
        fit = eis.fit_equivalent_circuit(frequencies, Z, guess, circuit=eis.RANDLES_STACK_CIRCUIT,
                                         names=eis.RANDLES_STACK_PARAMETERS)
        note = None
    except (RuntimeError, ValueError, FloatingPointError) as e:
        fit, note = None, f"circuit fit failed: {e}"
    try:
        kk = eis.kramers_kronig_checked(frequencies, Z)
    except (RuntimeError, ValueError, NameError, np.linalg.LinAlgError) as e:
        kk = None
        note = ((note + "; ") if note else "") + f"Kramers-Kronig check failed: {e}"
    return fit, note, kk


def _run(model: CellModel, *, state=None, proton_fraction=None, temperature=298.15,
         frequencies=None, method="rom", prefix="fem_cell_imp_", guard=NO_GUARD,
         say=None, refine_electrode=True,
         film_mesh=None) -> tuple[CellImpedance, SmallSignalModel, object]:
    """The sweep keeping the model and the solver (for field maps); caller destroys."""
    wall0 = time.perf_counter()
    comm = model.comm
    f = check_frequencies(frequencies)
    if method not in ("rom", "direct"):
        raise ImpedanceJobError(f"method {method!r}: expected 'rom' or 'direct'")
    op = model.operating_point(state=state, proton_fraction=proton_fraction)
    guard.check(comm)
    cm = model.small_signal(op, temperature, prefix=prefix, refine_electrode=refine_electrode,
                            film_mesh=film_mesh)
    solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=prefix + "eis_",
                             linear_solver=model.config.solver.linear_solver)
    if say:
        how = (f"{method}, iterative shifted solves"
               if method == "rom" and solver.linear_solver == "iterative" else method)
        say(f"{op.film.dim}-D film mesh, {solver.n_dofs()} unknowns; sweeping {f.size} "
            f"frequencies ({how})")
    with guard.deferred():
        sweep = solver.sweep(f, method, poll=lambda: guard.check(comm))
    guard.check(comm)
    Z = sweep.impedance_ohm_cm2
    fit, note, kk = interpret(f, Z, cm.elements, comm)
    res = CellImpedance(f, Z, sweep, cm.elements, fit, kk,
                        proton_inventories(op.film, op.x_lco, op.x_lpo, model.config.chemistry),
                        cm.temperature, method, op.film.dim, solver.n_dofs(), op.source,
                        op.state_file, op.state_time, note, time.perf_counter() - wall0,
                        fit_frequencies=(None if f.size < MIN_FIT_FREQUENCIES
                                         else int(fit_subset(f.size).size)))
    return res, cm, solver


def cell_impedance(config: RunConfig, comm: MPI.Comm, *, state=None, proton_fraction=None,
                   temperature: float = 298.15, frequencies=None,
                   method: str = "rom", refine_electrode: bool = True,
                   film_mesh=None) -> CellImpedance:
    """Impedance of the configured cell at a state (collective; no files).

    Args:
        config: validated configuration (its ``[mesh] dim`` chooses 1-D or 2-D).
        comm: communicator.
        state: checkpoint file or run folder (last state) whose proton field to use.
        proton_fraction: see :meth:`fem_cell.model.CellModel.operating_point`.
        temperature: uniform temperature (K); default 25 °C.
        frequencies: Hz; default 61 points 10 mHz – 1 MHz.
        method: ``"rom"`` (default) or ``"direct"``.
        refine_electrode: solve on a refinement of the film mesh (the LiCoO2 bulk
            graded for the Li diffusion, in 2-D also the Li pad edges); False = the film
            mesh as it is.
        film_mesh: the refinement, f(film, x, grading) → (domain, x on it) (None: the
            default, :func:`fem_cell.meshing.refine_2d.small_signal_film_domain`; e.g.
            another grading for a mesh-convergence study).

    Returns:
        A :class:`CellImpedance` (Z in Ω cm² per Li-pad area, fit, KK, elements).
    """
    model = CellModel(config, comm)
    try:
        res, _, solver = _run(model, state=state, proton_fraction=proton_fraction,
                              temperature=temperature, frequencies=frequencies, method=method,
                              refine_electrode=refine_electrode, film_mesh=film_mesh)
        solver.destroy()
    finally:
        model.destroy()
    return res


def impedance_job(config: RunConfig, out, comm: MPI.Comm, *, state=None,
                  temperature: float = 298.15, frequencies=None, method: str = "rom",
                  overwrite: bool = False, progress: bool = True, announce=None,
                  guard=NO_GUARD, provenance=None, field_frequencies=None,
                  proton_fraction=None, compare_1d: bool = True,
                  data: MeasuredSpectrum | None = None) -> JobResult:
    """``fem-cell impedance``: the spectrum of a state in a run folder.

    Args:
        config: validated configuration (``[mesh] dim`` 1 or 2).
        out: run folder (see :mod:`fem_cell.jobs.lifecycle`); it must not contain ``state``.
        comm: communicator.
        state: checkpoint file or run folder (its last state); None = pristine (or
            ``proton_fraction``).
        temperature: uniform temperature (K), default 25 °C.
        frequencies: Hz; default 61 points 10 mHz – 1 MHz.
        method: ``"rom"`` or ``"direct"``.
        overwrite, announce, guard, progress: as for :func:`fem_cell.jobs.anneal.anneal_job`.
        provenance: how the configuration was made (stored in run.json).
        field_frequencies: 2-D: frequencies (Hz) of the field maps; default the apex
            frequencies of the bulk and the interface arcs.
        proton_fraction: instead of a state: ``"exposed"``, a number, … (see
            :meth:`fem_cell.model.CellModel.operating_point`).
        compare_1d: 2-D: also run the 1-D model of the same configuration in-process and
            report the differences (pristine/exposed/uniform operating points).
        data: a measured spectrum (:func:`fem_cell.analysis.measured.read_spectrum`),
            overlaid on nyquist.png / bode.png and compared at its own frequencies
            (``data_comparison.csv``, ``summary["data_comparison"]``); without
            ``frequencies`` the sweep uses the data's.

    Returns:
        A :class:`~fem_cell.jobs.lifecycle.JobResult`: ``summary`` (:meth:`CellImpedance.summary`),
        ``tables["spectrum"]``, ``details["impedance"]`` (the :class:`CellImpedance`).
    """
    if data is not None and frequencies is None:
        frequencies = data.frequencies
    f = check_frequencies(frequencies)
    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config)}
    inputs = tuple(p for p in (state, config.mesh.file, data and data.source) if p)
    with Job("impedance", out, comm, config=config, overwrite=overwrite,
             planned=OUTPUTS["impedance"], inputs=inputs, announce=announce, guard=guard,
             progress=progress,
             info={"dim": config.mesh.dim, "provenance": prov,
                   "state": None if state is None else str(state),
                   "temperature_C": float(temperature) - ZERO_CELSIUS, "method": method}) as job:
        model = CellModel(config, comm)
        try:
            res, cm, solver = _run(model, state=state, proton_fraction=proton_fraction,
                                   temperature=temperature, frequencies=f, method=method,
                                   guard=guard, say=job.say)
            try:
                summary = res.summary()
                _write_tables(job, res)
                if res.dim == 2 and job.folder is not None:
                    summary["field_frequencies_Hz"] = _field_maps(job, res, cm, solver,
                                                                  field_frequencies)
                if data is not None:
                    same = (data.frequencies.size == f.size
                            and np.allclose(data.frequencies, f, rtol=1e-12))
                    Zm = res.Z_ohm_cm2 if same else np.asarray(
                        solver.sweep(data.frequencies, method).impedance_ohm_cm2)
                    summary["data_comparison"] = _compare_spectrum(job, data, Zm)
            finally:
                solver.destroy()
        finally:
            model.destroy()
        job.check()
        if res.dim == 2 and compare_1d:
            summary["comparison_1d"] = _compare_1d(config, comm, res, state, proton_fraction,
                                                   temperature, f, method, job.say)
        if comm.rank == 0 and job.folder is not None:
            eis_plots.plot_nyquist(job.file("nyquist.png"), f, res.Z_ohm_cm2, res.fit,
                                   title=_title(config, res), zoom=_zoom(res), data=data)
            eis_plots.plot_bode(job.file("bode.png"), f, res.Z_ohm_cm2, res.fit,
                                title=_title(config, res), data=data)
        comm.Barrier()
        job.check()  # a signal during the last stage: interrupted, not completed
        kk = "skipped" if res.kk is None else f"{res.kk.residual_max:.2e}"
        job.say(f"R_interface fit {res.R_interface_fit_ohm_cm2:.4g} Ohm cm2 "
                f"(state {res.R_interface_state_ohm_cm2:.4g}), KK residual {kk}, "
                f"{job.wall_time():.1f} s")
        return job.finish(summary, tables={"spectrum": SpectrumTable(res.frequencies,
                                                                     res.Z_ohm_cm2)},
                          details={"impedance": res}, dim=res.dim, dofs=res.dofs,
                          factorizations=int(res.sweep.n_factorizations))


def _compare_spectrum(job: Job, data: MeasuredSpectrum, Z_model: np.ndarray) -> dict:
    """Model vs measured spectrum at the data's frequencies: ``data_comparison.csv`` and
    the summary entry (relative residual |Z_model − Z_data|/|Z_data|: rms and max)."""
    Zd = data.Z_ohm_cm2
    rel = np.abs(Z_model - Zd) / np.abs(Zd)
    if job.folder is not None and job.comm.rank == 0:
        rows = "".join(f"{a:.9g},{zd.real:.9g},{zd.imag:.9g},{zm.real:.9g},{zm.imag:.9g},"
                       f"{r:.6g}\n" for a, zd, zm, r in zip(data.frequencies, Zd, Z_model, rel,
                                                            strict=True))
        job.file("data_comparison.csv").write_text(
            "frequency_Hz,Z_data_real_ohm_cm2,Z_data_imag_ohm_cm2,Z_model_real_ohm_cm2,"
            "Z_model_imag_ohm_cm2,relative_residual\n" + rows, encoding="utf-8")
    return {"file": data.source, "points": int(rel.size),
            "rms_relative_residual": float(np.sqrt(np.mean(rel**2))),
            "max_relative_residual": float(rel.max())}


def _write_tables(job: Job, res: CellImpedance) -> None:
    if job.folder is None:
        return
    f, Z = res.frequencies, res.Z_ohm_cm2
    paths = [job.file(n) for n in ("impedance.csv", "contributions.csv",
                                   "spectrum_impedancepy.csv")]
    if job.comm.rank == 0:
        write_spectrum_csv(paths[0], f, Z)
        write_contributions_csv(paths[1], res.elements)
        eis.write_spectrum_csv(paths[2], f, Z)


def _field_maps(job: Job, res: CellImpedance, cm, solver, field_frequencies) -> list[float]:
    ff = field_frequencies
    if ff is None:
        ap = res.apex_frequencies()
        ff = sorted({ap["bulk"], ap["interface"]})
    job.say(f"field maps at {', '.join(f'{x:.4g}' for x in ff)} Hz")
    done = write_field_maps(cm, solver, ff, job.file("fields/impedance.pvd"))
    job.tree("fields")
    if job.config.output.render:
        png = job.file("impedance_2d.png")
        if job.comm.rank == 0:
            render_impedance_2d(job.folder.path / "fields" / "impedance.pvd", png)
        job.comm.Barrier()
    return done


def _zoom(res: CellImpedance):
    """Z' span (Ω cm²) of the interface arcs (Li, LiCoO2|Li3PO4) for the Nyquist inset."""
    if res.fit is None:
        return None
    v = res.fit.value
    start = v("R_series") + v("R_bulk")
    small = v("R_Li") + v("R_interface")
    if small > 0.2 * v("R_bulk"):      # already visible in the main plot
        return None
    return (start - 0.15 * small, start + 1.6 * small)


def _title(config, res: CellImpedance) -> str:
    src = res.source if res.state_file is None else f"state {res.state_file.name}"
    return (f"{config.title}\n{res.dim}-D, {src}, "
            f"{res.temperature - ZERO_CELSIUS:.1f} °C")


def _compare_1d(config, comm, res2: CellImpedance, state, proton_fraction, temperature, f,
                method, say) -> dict:
    """The 1-D model of the same configuration and operating point, in-process."""
    if state is not None:
        return {"available": False,
                "reason": "a 2-D state has no 1-D counterpart without interpolation"}
    say("1-D model of the same configuration for comparison")
    r1 = cell_impedance(config.with_mesh(dim=1), comm, proton_fraction=proton_fraction,
                        temperature=temperature, frequencies=f, method=method)
    dz = np.abs(res2.Z_ohm_cm2 - r1.Z_ohm_cm2) / np.abs(r1.Z_ohm_cm2)
    return {"available": True,
            "Z_max_relative_difference": float(dz.max()),
            "Z_relative_difference_at_max_Hz": float(f[int(np.argmax(dz))]),
            "R_interface_fit_1d_ohm_cm2": r1.R_interface_fit_ohm_cm2,
            "R_interface_fit_difference_ohm_cm2": (res2.R_interface_fit_ohm_cm2
                                                   - r1.R_interface_fit_ohm_cm2),
            "R_interface_state_1d_ohm_cm2": r1.R_interface_state_ohm_cm2,
            "dofs_1d": r1.dofs}


__all__ = ["CSV_COLUMNS", "CellImpedance", "MIN_FIT_FREQUENCIES", "cell_impedance",
           "check_frequencies", "default_frequencies", "impedance_job", "interpret",
           "write_contributions_csv", "write_field_maps", "write_spectrum_csv"]
