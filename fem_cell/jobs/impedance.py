"""The impedance job: the cell's small-signal impedance at a state, interpreted.

(The model it sweeps — operating point, meshes, element values, fit — is built by
:mod:`fem_cell.impedance_model`; this module runs it and writes the outputs.)

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
  the exposed initial profile of :func:`fem_cell.model.build_chemistry_model`.

Job model of the LiCoO2|Li3PO4 interface (docs/impedance.md, "Job model"): the
degraded layer is electronically conducting LiCoO2 whose Li⁺ path has the resistivity
of ``physics/degraded.py``'s law, 1/σ_d = ρ_p(T) + (exp(β x_H) − 1)/σ0(T), with no
displacement current of its own; the double layer C_dl sits on its electrolyte side, so
the interface is one Randles arc C_dl ∥ (R_d + R_ct + Z_D) with
R_d + R_ct = the state's R_interface at any temperature:

    R_d  = ρ_p(T) L_d + ∫_degraded (exp(β x_H) − 1)/σ0(T) dz,  ρ_p L_d = s·R_p(T)
    R_ct = (1 − s) R_p(T) + ∫_LiCoO2-bulk (exp(β x_H) − 1)/σ0(T) dz

(s = :data:`DEGRADED_PRISTINE_SHARE`).  The degraded layer's σ_d enters the forms as a
cell-wise (DG0) harmonic mean, σ_K = |K| / ∫_K ρ dx with the same quadrature as
:class:`~fem_cell.physics.degraded.InterfaceResistance`, so the discrete layer
resistance equals the state's integral exactly (a P1 x_H inside σ would give
h/⟨σ⟩ ≠ ∫ρ dz on cells where the profile is steep).

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

from fem_cell._dolfinx import MPI, fem
from fem_cell.constants import FARADAY, VACUUM_PERMITTIVITY, ZERO_CELSIUS
from fem_cell.errors import FemCellError
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted

#: columns of impedance.csv
CSV_COLUMNS = ("frequency_Hz", "Z_real_ohm_cm2", "Z_imag_ohm_cm2", "Z_abs_ohm_cm2", "phase_deg")
#: columns of contributions.csv
CONTRIBUTION_COLUMNS = ("element", "region", "R_ohm_cm2", "C_F_cm2", "L_H_cm2",
                        "f_characteristic_Hz", "note")
#: files an impedance run may write
PLANNED_FILES = ("run.json", "summary.json", "impedance.csv", "contributions.csv",
                 "spectrum_impedancepy.csv", "nyquist.png", "bode.png", "fields/impedance*")
from fem_cell.impedance_model import (  # noqa: F401 - re-exported for the job's users
    ImpedanceJobError,
    OperatingPoint,
    film_domain,
    operating_point,
    Elements,
    build_cell_model,
    CellModel,
    inventories,
    interpret,
    refined_film_domain,
    refined_line_domain,
    refined_section_domain,
    section_column_domain,
    line_domain,
    DEGRADED_PRISTINE_SHARE,
    REFINE_1D,
    REFINE_2D,
    FILM_REGIONS,
    OHM_CM2,
    F_CM2,
    _law,
    _site_densities,
    _degraded_sigma,
    _p1,
    _load_state,
    _gather_level,
)


@dataclass
class CellImpedance:
    """What :func:`cell_impedance` returns (on every rank).

    Attributes:
        frequencies: f (Hz).
        Z_ohm_cm2: Z per unit Li-pad area (Ω cm², complex).
        sweep: the solver's :class:`~fem_cell.solvers.impedance.ImpedanceResult`.
        elements: the model's element values (SI).
        fit: the equivalent-circuit fit (None if it failed: ``fit_error``).
        kk: Lin-KK result.
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
            "kk_residual_max": self.kk.residual_max,
            "kk_elements": self.kk.M,
            **self.inventories,
            "temperature_C": self.temperature - ZERO_CELSIUS,
            "method": self.method,
            "factorizations": int(s.n_factorizations),
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
    from fem_cell.solvers.impedance import log_frequencies

    return log_frequencies(1e-2, 1e6, 61)


def _check_frequencies(frequencies) -> np.ndarray:
    f = default_frequencies() if frequencies is None else np.asarray(frequencies, float)
    if f.ndim != 1 or f.size < 2 or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ImpedanceJobError(f"frequencies: expected at least two positive numbers (Hz), got "
                                f"{np.asarray(frequencies).tolist()!r}")
    return f


def _run(config, comm, *, state=None, proton_fraction=None, temperature=298.15,
         frequencies=None, method="rom", prefix="fem_cell_imp_", guard=NO_GUARD,
         say=None, refine_electrode=True) -> tuple[CellImpedance, CellModel, object]:
    """cell_impedance keeping the model and solver (for field maps); caller destroys."""
    from fem_cell.solvers.impedance import ImpedanceSolver

    wall0 = time.perf_counter()
    f = _check_frequencies(frequencies)
    if method not in ("rom", "direct"):
        raise ImpedanceJobError(f"method {method!r}: expected 'rom' or 'direct'")
    op = operating_point(config, comm, state=state, proton_fraction=proton_fraction)
    guard.check(comm)
    cm = build_cell_model(config, op, temperature, prefix=prefix,
                          refine_electrode=refine_electrode)
    solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=prefix + "eis_")
    if say:
        say(f"{op.film.dim}-D film mesh, {solver.n_dofs()} unknowns; sweeping {f.size} "
            f"frequencies ({method})")
    with guard.deferred():
        sweep = solver.sweep(f, method)
    guard.check(comm)
    Z = sweep.impedance_ohm_cm2
    fit, fit_err, kk = interpret(f, Z, cm.elements, comm)
    res = CellImpedance(f, Z, sweep, cm.elements, fit, kk,
                        inventories(op, _site_densities(config)), cm.temperature, method,
                        op.film.dim, solver.n_dofs(), op.source, op.state_file, op.state_time,
                        fit_err, time.perf_counter() - wall0)
    return res, cm, solver


def cell_impedance(config, comm: MPI.Comm, *, state=None, proton_fraction=None,
                   temperature: float = 298.15, frequencies=None,
                   method: str = "rom", refine_electrode: bool = True) -> CellImpedance:
    """Impedance of the configured cell at a state (collective; no files).

    Args:
        config: validated configuration (its ``[mesh] dim`` chooses 1-D or 2-D).
        comm: communicator.
        state: checkpoint file or run folder (last state) whose proton field to use.
        proton_fraction: see :func:`operating_point` (``"exposed"``, a number, …).
        temperature: uniform temperature (K); default 25 °C.
        frequencies: Hz; default 61 points 10 mHz – 1 MHz.
        method: ``"rom"`` (default) or ``"direct"``.
        refine_electrode: 1-D: split the LiCoO2 bulk cells of the film mesh
            (:func:`refined_line_domain`) to resolve the Li diffusion; False = the film
            mesh as it is (what 2-D uses).

    Returns:
        A :class:`CellImpedance` (Z in Ω cm² per Li-pad area, fit, KK, elements).
    """
    res, cm, solver = _run(config, comm, state=state, proton_fraction=proton_fraction,
                           temperature=temperature, frequencies=frequencies, method=method,
                           refine_electrode=refine_electrode)
    solver.destroy()
    cm.model.destroy()
    return res


# ------------------------------------------------------------------ field maps (2-D) ----
def write_field_maps(cm: CellModel, solver, frequencies, path: Path) -> list[float]:
    """Complex potential and current density at ``frequencies`` (Hz) into a .pvd series.

    Per unit pad current density (1 A/m² into the pad): ``phi_re``/``phi_im`` (V per
    A/m², i.e. Ω m²), ``j_re``/``j_im`` (ionic current density per unit pad current
    density, a 2-vector, DG0: −σ∇δφ − iωε∇δφ in Li3PO4 and the degraded layer,
    −F D̃ ∇δc in LiCoO2), ``c_re``/``c_im`` (Li concentration, mol/m³ per A/m²), and the
    layer id.  The series' time value is the frequency in Hz.  Collective.
    """
    from fem_cell.outputs.fields import FieldSeriesWriter

    film = cm.model.domain
    msh = film.mesh
    phys = cm.model.physics
    s = solver.system
    fields = cm.model.problem.fields
    P1 = fem.functionspace(msh, ("Lagrange", 1))
    gdim = msh.geometry.dim
    W = fem.functionspace(msh, ("DG", 0, (gdim,)))
    out = {n: fem.Function(P1, name=n) for n in ("phi_re", "phi_im", "c_re", "c_im")}
    jr, ji = fem.Function(W, name="j_re"), fem.Function(W, name="j_im")
    layer = film.layer_id_function()
    tmp_phi = fem.Function(fields[0].space)
    tmp_c = fem.Function(fields[1].space)
    ind = film.region_indicator({"Li3PO4": 1.0})
    ind_d = film.region_indicator({"degraded": 1.0})
    ind_c = film.region_indicator({"LiCoO2": 1.0})
    p = phys.params
    sig_se = phys.electrolyte_sigma()
    eps_se = p.electrolyte_relative_permittivity * VACUUM_PERMITTIVITY
    D = p.diffusivity(cm.temperature)
    omega = fem.Constant(msh, 0.0)
    part = {}
    for key in ("re", "im"):
        # j = −(σ + iωε)∇φ (Li3PO4), −σ_d∇φ (degraded), −F D ∇c (LiCoO2); complex parts
        ph_r, ph_i = out["phi_re"], out["phi_im"]
        c_r, c_i = out["c_re"], out["c_im"]
        if key == "re":
            e = (-ind * (sig_se * film.grad(ph_r) - omega * eps_se * film.grad(ph_i))
                 - ind_d * cm.sigma_degraded * film.grad(ph_r)
                 - ind_c * FARADAY * D * film.grad(c_r))
        else:
            e = (-ind * (sig_se * film.grad(ph_i) + omega * eps_se * film.grad(ph_r))
                 - ind_d * cm.sigma_degraded * film.grad(ph_i)
                 - ind_c * FARADAY * D * film.grad(c_i))
        part[key] = fem.Expression(e, W.element.interpolation_points)
    writer = FieldSeriesWriter(film.comm, path, [*out.values(), jr, ji, layer])
    done = []
    fac = None
    try:
        for fr in frequencies:
            w = 2 * math.pi * float(fr)
            if fac is None:
                fac = s.factorize(w)
            else:
                fac.factor(w)            # same pattern: numeric refactorisation only
            x = fac.solve(s.rhs(w))
            dI = s.current(x, w)
            scale = s.area / dI          # δu per unit pad current density
            x = x * scale
            for k, (tmp, names) in enumerate(((tmp_phi, ("phi_re", "phi_im")),
                                              (tmp_c, ("c_re", "c_im")))):
                seg = x[s.offsets[k]:s.offsets[k + 1]]
                for arr, name in ((seg.real, names[0]), (seg.imag, names[1])):
                    tmp.x.array[:len(arr)] = arr
                    tmp.x.scatter_forward()
                    out[name].x.array[:] = tmp.x.array
            # c is measured from c0: the pinned DOFs hold 0 in δu already
            omega.value = w
            jr.interpolate(part["re"])
            ji.interpolate(part["im"])
            writer.write(float(fr))
            done.append(float(fr))
    finally:
        if fac is not None:
            fac.destroy()
        writer.close()
    return done


# ------------------------------------------------------------------ outputs ----------
def _contribution_rows(el: Elements) -> list[dict]:
    def fch(R, C):
        return 1.0 / (2 * math.pi * R * C) if R > 0 and C > 0 else float("nan")

    nan = float("nan")
    R_int = el.R_interface
    return [
        dict(element="Li3PO4 bulk", region="Li3PO4", R_ohm_cm2=el.R_bulk * OHM_CM2,
             C_F_cm2=el.C_bulk * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(el.R_bulk, el.C_bulk),
             note="ionic resistance L/sigma parallel to the geometric capacitance eps/L"),
        dict(element="degraded layer", region="degraded", R_ohm_cm2=el.R_degraded * OHM_CM2,
             C_F_cm2=nan, L_H_cm2=nan, f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"Li+ path through the protonated LiCoO2 skin (pristine part "
                   f"{el.R_degraded_pristine * OHM_CM2:.4g} Ohm cm2); in series with the charge "
                   f"transfer inside the C_dl branch: frequency of that interface arc")),
        dict(element="LiCoO2 charge transfer", region="LiCoO2|degraded",
             R_ohm_cm2=el.R_ct * OHM_CM2, C_F_cm2=el.C_dl * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"Butler-Volmer R_ct incl. the excess of the protons in the LiCoO2 bulk "
                   f"({el.R_ct_bulk_protons * OHM_CM2:.4g} Ohm cm2); C_dl at degraded|Li3PO4")),
        dict(element="LiCoO2|Li3PO4 interface (arc)", region="degraded|Li3PO4",
             R_ohm_cm2=R_int * OHM_CM2, C_F_cm2=el.C_dl * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"R_degraded + R_ct = the state's R_interface "
                   f"{el.R_interface_state * OHM_CM2:.6g} Ohm cm2")),
        dict(element="Li interface", region="Li3PO4|Li", R_ohm_cm2=el.R_Li * OHM_CM2,
             C_F_cm2=el.C_Li * F_CM2, L_H_cm2=nan, f_characteristic_Hz=fch(el.R_Li, el.C_Li),
             note="Butler-Volmer charge transfer parallel to its double layer"),
        dict(element="LiCoO2 diffusion", region="LiCoO2",
             R_ohm_cm2=el.R_diffusion * OHM_CM2,
             C_F_cm2=el.tau_diffusion / el.R_diffusion * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=1.0 / (2 * math.pi * el.tau_diffusion),
             note="finite-length reflective Warburg R_D coth(sqrt(iw tau))/sqrt(iw tau); "
                  "C = tau/R_D is the low-frequency (intercalation) capacitance"),
        dict(element="leads", region="-", R_ohm_cm2=el.R_series * OHM_CM2, C_F_cm2=nan,
             L_H_cm2=el.L_series * OHM_CM2,
             f_characteristic_Hz=(el.R_series / (2 * math.pi * el.L_series)
                                  if el.L_series > 0 else nan),
             note="series resistance and inductance of leads and contacts (times pad area)"),
    ]


def write_spectrum_csv(path: Path, f, Z) -> None:
    """impedance.csv: :data:`CSV_COLUMNS` (Ω cm², degrees)."""
    data = np.column_stack([f, Z.real, Z.imag, np.abs(Z), np.degrees(np.angle(Z))])
    np.savetxt(path, data, delimiter=",", header=",".join(CSV_COLUMNS), comments="",
               fmt="%.12e")


def write_contributions_csv(path: Path, el: Elements) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(CONTRIBUTION_COLUMNS))
        w.writeheader()
        for row in _contribution_rows(el):
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})


def _say(comm, progress: bool):
    def say(msg: str) -> None:
        if progress and comm.rank == 0:
            print(f"[impedance] {msg}", flush=True)
    return say


def impedance_job(config, out, comm: MPI.Comm, *, state=None, temperature: float = 298.15,
                  frequencies=None, method: str = "rom", overwrite: bool = False,
                  progress: bool = True, announce=None, guard=NO_GUARD, provenance=None,
                  field_frequencies=None, proton_fraction=None, compare_1d: bool = True):
    """``fem-cell impedance``: :func:`cell_impedance` in a run folder.

    Args:
        config: validated configuration (``[mesh] dim`` 1 or 2).
        out: run folder (checked before any work; never overwritten without
            ``overwrite``; a user's own files are never touched).
        comm: communicator.
        state: checkpoint file or run folder (its last state); None = pristine (or
            ``proton_fraction``).
        temperature: uniform temperature (K), default 25 °C.
        frequencies: Hz; default 61 points 10 mHz – 1 MHz.
        method: ``"rom"`` or ``"direct"``.
        overwrite, announce, guard: as for :func:`fem_cell.jobs.anneal.anneal_job`.
        provenance: how the configuration was made (stored in run.json).
        field_frequencies: 2-D: frequencies (Hz) of the field maps; default the apex
            frequencies of the bulk and the interface arcs.
        proton_fraction: instead of a state: ``"exposed"``, a number, … (see
            :func:`operating_point`).
        compare_1d: 2-D: also run the 1-D model of the same configuration in-process and
            report the differences (pristine/exposed/uniform operating points).

    Returns:
        The :class:`CellImpedance`.
    """
    from fem_cell.analysis import eis
    from fem_cell.jobs.state import config_fingerprint
    from fem_cell.outputs import eis_plots
    from fem_cell.outputs.rundir import RunFolder

    folder = RunFolder(out, comm, "impedance", overwrite=overwrite, planned=PLANNED_FILES)
    if announce is not None:
        announce()
    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config)}
    folder.open(config.to_dict(), {"dim": config.mesh.dim, "provenance": prov,
                                   "state": None if state is None else str(state),
                                   "temperature_C": float(temperature) - ZERO_CELSIUS,
                                   "method": method})
    say = _say(comm, progress)
    wall0 = time.perf_counter()
    try:
        res, cm, solver = _run(config, comm, state=state, proton_fraction=proton_fraction,
                               temperature=temperature, frequencies=frequencies,
                               method=method, guard=guard, say=say)
        try:
            summary = res.summary()
            f, Z = res.frequencies, res.Z_ohm_cm2
            if comm.rank == 0:
                write_spectrum_csv(folder.file("impedance.csv"), f, Z)
                write_contributions_csv(folder.file("contributions.csv"), res.elements)
                eis.write_spectrum_csv(folder.file("spectrum_impedancepy.csv"), f, Z)
            else:
                for n in ("impedance.csv", "contributions.csv", "spectrum_impedancepy.csv"):
                    folder.file(n)
            if res.dim == 2:
                ff = field_frequencies
                if ff is None:
                    ap = res.apex_frequencies()
                    ff = sorted({ap["bulk"], ap["interface"]})
                say(f"field maps at {', '.join(f'{x:.4g}' for x in ff)} Hz")
                done = write_field_maps(cm, solver, ff, folder.file("fields/impedance.pvd"))
                summary["field_frequencies_Hz"] = done
                folder.add_tree("fields", "impedance*")
        finally:
            solver.destroy()
            cm.model.destroy()
        guard.check(comm)
        if res.dim == 2 and compare_1d:
            summary["comparison_1d"] = _compare_1d(config, comm, res, state, proton_fraction,
                                                   temperature, f, method, say)
        if comm.rank == 0:
            eis_plots.plot_nyquist(folder.file("nyquist.png"), f, Z, res.fit,
                                   title=_title(config, res), zoom=_zoom(res))
            eis_plots.plot_bode(folder.file("bode.png"), f, Z, res.fit, title=_title(config, res))
        else:
            folder.file("nyquist.png")
            folder.file("bode.png")
        comm.Barrier()
    except BaseException as e:
        _fail(folder, e, time.perf_counter() - wall0)
        raise
    res.wall_time = time.perf_counter() - wall0
    summary["wall_time_s"] = res.wall_time
    folder.add_tree("fields", "impedance*")
    folder.finish("completed", dim=res.dim, dofs=res.dofs,
                  wall_time_s=res.wall_time, factorizations=int(res.sweep.n_factorizations))
    folder.write_summary(summary)
    folder.update()
    say(f"R_interface fit {res.R_interface_fit_ohm_cm2:.4g} Ohm cm2 "
        f"(state {res.R_interface_state_ohm_cm2:.4g}), KK residual {res.kk.residual_max:.2e}, "
        f"{res.wall_time:.1f} s")
    return res


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
    return (f"{getattr(config, 'title', '')}\n{res.dim}-D, {src}, "
            f"{res.temperature - ZERO_CELSIUS:.1f} °C")


def _compare_1d(config, comm, res2: CellImpedance, state, proton_fraction, temperature, f,
                method, say) -> dict:
    """The 1-D model of the same configuration and operating point, in-process."""
    if state is not None:
        return {"available": False,
                "reason": "a 2-D state has no 1-D counterpart without interpolation"}
    say("1-D model of the same configuration for comparison")
    cfg1 = config.with_mesh(dim=1)
    r1 = cell_impedance(cfg1, comm, proton_fraction=proton_fraction, temperature=temperature,
                        frequencies=f, method=method)
    dz = np.abs(res2.Z_ohm_cm2 - r1.Z_ohm_cm2) / np.abs(r1.Z_ohm_cm2)
    return {"available": True,
            "Z_max_relative_difference": float(dz.max()),
            "Z_relative_difference_at_max_Hz": float(f[int(np.argmax(dz))]),
            "R_interface_fit_1d_ohm_cm2": r1.R_interface_fit_ohm_cm2,
            "R_interface_fit_difference_ohm_cm2": (res2.R_interface_fit_ohm_cm2
                                                   - r1.R_interface_fit_ohm_cm2),
            "R_interface_state_1d_ohm_cm2": r1.R_interface_state_ohm_cm2,
            "dofs_1d": r1.dofs}


def _fail(folder, e: BaseException, wall: float) -> None:
    """Rank-0 bookkeeping of a run that stopped early."""
    folder.add_tree("fields", "impedance*")
    if isinstance(e, Interrupted):
        folder.finish("interrupted", reason=e.signal_name, wall_time_s=wall)
    elif isinstance(e, (FemCellError, KeyboardInterrupt)):
        folder.finish("failed", reason=str(e) or type(e).__name__, wall_time_s=wall)
    else:
        folder.finish("failed", reason=f"internal error: {type(e).__name__}: {e}",
                      wall_time_s=wall)
    folder.write_summary({"reason": folder._info.get("reason")})
    folder.update()


__all__ = ["CSV_COLUMNS", "CellImpedance", "CellModel", "DEGRADED_PRISTINE_SHARE", "Elements",
           "ImpedanceJobError", "OperatingPoint", "REFINE_1D", "REFINE_2D", "build_cell_model",
           "cell_impedance", "default_frequencies", "film_domain", "impedance_job", "interpret",
           "inventories", "line_domain", "operating_point", "refined_film_domain",
           "refined_line_domain", "refined_section_domain", "section_column_domain",
           "write_field_maps"]
