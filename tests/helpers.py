"""Helpers shared by the test modules (importable: tests/conftest.py puts this folder on
sys.path)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fem_cell.constants import FARADAY, GAS_CONSTANT
from fem_cell.params import EV, Arrhenius
from fem_cell.physics.parameters import (
    Chemistry,
    DegradedLayerLaw,
    Exchange,
    ExposureModel,
    PhaseTransport,
    Sink,
    Trapping,
)

#: a coarse 2-D cross-section for quick end-to-end runs (TOML [mesh] table)
COARSE_2D_MESH = """
[mesh]
dim = 2
cells_per_layer = 2
lateral_cells = 16
lateral_growth = 1.5
growth = 2.0
max_cell_size = "100 um"
"""


def run_cli(*args, cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m fem_cell ARGS`` in a fresh process (unbuffered), output captured."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "fem_cell", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- electrochemistry test cell (parameters of the science brief, fixed here) --------
#: thickness of the degraded layer of these tests (m)
EC_DEGRADED_THICKNESS = 10e-9
#: the degraded layer's law of these tests: R_p 9.75 Ω cm² (0.6 eV), 5 Ω cm² of it in the
#: proton-free 10 nm layer (σ_d0 = L_d/(s R_p) = 2e-5 S/m), β 9.6
EC_DEGRADED = DegradedLayerLaw(beta=9.6, pristine_resistance=Arrhenius(9.75e-4, 0.6 * EV),
                               pristine_share=5.0 / 9.75, reference_temperature=298.15)


def ec_conductivity(x, T):
    """σ_d(x_H, T) (S/m) of :data:`EC_DEGRADED` over a layer of
    :data:`EC_DEGRADED_THICKNESS`: the ``law(x_H, T)`` the electrochemistry block takes."""
    return EC_DEGRADED.conductivity(x, T, EC_DEGRADED_THICKNESS)


_ARRHENIUS = ("electrolyte_conductivity", "electrode_diffusivity",
              "electrode_exchange_current", "li_exchange_current")


def ec_params(**kw):
    """The parameters of these tests (science brief values; the exact formulas below are
    evaluated with whatever they hold).  An Arrhenius field given as a number keeps the
    default activation energy."""
    base = dict(
        electrolyte_conductivity=Arrhenius(3e-5, 0.57 * EV), electrolyte_relative_permittivity=10.0,
        degraded_relative_permittivity=10.0, electrode_diffusivity=Arrhenius(1e-16, 0.45 * EV),
        electrode_site_density=5.16e4, electrode_site_fraction=0.9, ocv_slope=-0.75,
        electrode_exchange_current=Arrhenius(GAS_CONSTANT * 298.15 / (FARADAY * 4.5e-4), 0.5 * EV),
        electrode_double_layer_capacitance=0.1,
        li_exchange_current=Arrhenius(GAS_CONSTANT * 298.15 / (FARADAY * 2e-4), 0.3 * EV),
        li_double_layer_capacitance=0.1, alpha_a=0.5, alpha_c=0.5, pad_area=1e-6,
        lead_resistance=0.0, lead_inductance=0.0)
    for k, v in kw.items():
        base[k] = dataclasses.replace(base[k], value=v) if k in _ARRHENIUS else v
    from fem_cell.physics.electrochem import ElectrochemParameters

    return ElectrochemParameters(**base)


def ec_model(comm, p=None, *args, **kw):
    """build_electrochem_model with these tests' parameters and degraded-layer law."""
    from fem_cell.model import build_electrochem_model

    kw.setdefault("conductivity_law", ec_conductivity)
    return build_electrochem_model(comm, p if p is not None else ec_params(), *args, **kw)


# -- transport test chemistry (explicit, not the cell's: its numbers are being fitted) --
#: LiCoO2 of the transport tests: D_H 1e-20 m²/s at 25 °C (0.6 eV: 1e-17 at 150 °C),
#: McNabb–Foster traps n_t 0.1, λ 0.28 nm, ν 1e13 s⁻¹, E_d 1.0 eV (k_d ≈ 12 s⁻¹ at
#: 150 °C, ~1e-4 s⁻¹ at 25 °C)
TEST_LCO = PhaseTransport(
    "li_chemical_diffusivity", Arrhenius(1e-20, 0.6 * EV), 5.16e4, Arrhenius(1e-16, 0.45 * EV),
    Trapping(0.1, 0.28e-9, Arrhenius.from_prefactor(1e13, 1.0 * EV)))
#: Li3PO4 of the transport tests: D_H 1e-18 m²/s at 25 °C (0.6 eV: 1e-15 at 150 °C)
TEST_LPO = PhaseTransport("ionic_conductivity", Arrhenius(1e-18, 0.6 * EV), 6.4e4,
                          Arrhenius(1.25e-16, 0.57 * EV), None)
#: transport chemistry of these tests: a fast exchange into Li3PO4 (K = 1e6), an ideal sink
#: at Li, the helpers' degraded-layer law
TEST_CHEMISTRY = Chemistry(
    phases=(("LiCoO2", TEST_LCO), ("Li3PO4", TEST_LPO)),
    exchange=Exchange(Arrhenius(1e-9, 0.6 * EV), Arrhenius(1e6, 0.0)),
    sink=Sink("sink", Arrhenius(1e-9, 0.0)), degraded_layer=EC_DEGRADED,
    exposure_model=ExposureModel(Arrhenius(1e-4, 0.0), 298.15))


def with_test_chemistry(config, **changes):
    """``config`` with :data:`TEST_CHEMISTRY` (``changes``: its fields replaced)."""
    return dataclasses.replace(config, chemistry=dataclasses.replace(TEST_CHEMISTRY, **changes))


def set_exposed_profile(block, mobile: float = 2e-3, trapped: float = 0.05,
                        depth: float = 3e-9, phase: str = "LiCoO2") -> None:
    """An explicit, exposure-like initial state of a transport block (collective): in
    ``phase`` the mobile fraction ``mobile·erfc(d/depth)`` and, with traps, the trapped
    fraction ``trapped·erfc(d/(2 depth))`` (d: depth below the phase's top); 0 in the
    other phases; Φ = 0.  Independent of the exposure model and its calibration."""
    import math

    from mpi4py import MPI

    import numpy as np

    d = block.domain
    vert = d.dim - 1
    cells = d.cells(*block.phase(phase).regions)
    dofs = np.unique(block.V.dofmap.list[cells].ravel())
    xyz = block.V.tabulate_dof_coordinates()[dofs]
    top = d.comm.allreduce(float(xyz[:, vert].max()) if len(dofs) else -np.inf, op=MPI.MAX)
    top *= d.length_scale
    erfc = np.vectorize(math.erfc)
    block.set_zero()
    block.set_profile(phase, lambda X: mobile * erfc(np.maximum(top - X[vert], 0.0) / depth))
    if phase in block.trapped:
        block.set_profile(phase, lambda X: trapped * erfc(np.maximum(top - X[vert], 0.0)
                                                          / (2 * depth)), trapped=True)


#: a coarse mesh ([mesh] overrides, any dim) for tests of the transport's linear algebra
COARSE_FILM_MESH = {"cells_per_layer": 3, "growth": 1.5, "max_cell_size": "50 um",
                    "lateral_cells": 30}


def exposed_transport_block(mesh: dict, overrides: dict | None = None):
    """The anneal's transport block of the default cell on the films of the mesh that
    ``mesh`` ([mesh] overrides) describes, at 150 degC, in an exposure-like proton state
    (:func:`set_exposed_profile`); ``overrides``: further configuration overrides (e.g.
    a cell without traps); returns (block, config)."""
    from fem_cell._dolfinx import MPI, fem
    from fem_cell.config import load_config
    from fem_cell.model import CellModel, transport_block
    from fem_cell.model.chemistry import film_regions

    cfg = load_config(overrides={**(overrides or {}), "mesh": mesh})
    model = CellModel(cfg, MPI.COMM_WORLD)
    film = model.domain.submesh(*film_regions(model.domain))
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = 423.15
    block = transport_block(cfg, film, T)
    set_exposed_profile(block)
    return block, cfg


#: chromium's flags for a headless run on a closed network (no background connections)
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


def find_browser() -> str | None:
    """The system's chromium (``FEM_CELL_BROWSER``, /usr/bin/chromium, …) or None;
    ``scripts/setup_browser.sh`` (run by ``make test``) installs Debian's."""
    import shutil

    for b in (os.environ.get("FEM_CELL_BROWSER"), "/usr/bin/chromium",
              "/usr/bin/chromium-browser", shutil.which("chromium"),
              shutil.which("chromium-browser")):
        if b and os.path.isfile(b) and os.access(b, os.X_OK):
            return b
    return None


# -- a synthetic 2-D cross-section run folder (field view and section renders) ----------
#: the films (µm): LiCoO2 0.09, degraded 0.01, Li3PO4 1.0 above a 500 µm substrate
SECTION_EDGES = [500.0, 500.09, 500.1, 501.1]
SECTION_TIMES = [0.0, 1500.0, 6600.0]
SECTION_WIDTH_UM = 3000.0


def section_grid(t: float, *, impedance: bool = False):
    """Three film layers of quadrilaterals (two rows each, 6 across) with fields known in
    closed form at time ``t``, plus a ghost copy of the first cell."""
    import numpy as np
    import pyvista

    xs = np.linspace(0.0, SECTION_WIDTH_UM, 7)
    ys = np.concatenate([np.linspace(SECTION_EDGES[k], SECTION_EDGES[k + 1], 3)[:-1]
                         for k in range(3)] + [[SECTION_EDGES[-1]]])
    X, Y = np.meshgrid(xs, ys)
    pts = np.c_[X.ravel(), Y.ravel(), np.zeros(X.size)]
    nx = xs.size
    cells, layer = [], []
    for j in range(ys.size - 1):
        for i in range(nx - 1):
            a = j * nx + i
            cells.append([4, a, a + 1, a + 1 + nx, a + nx])
            yc = 0.5 * (ys[j] + ys[j + 1])
            layer.append(2 + int(np.searchsorted(SECTION_EDGES, yc) - 1))
    # a ghost copy of the first cell, as a parallel piece carries it
    cells.append(list(cells[0]))
    layer.append(layer[0])
    ghost = np.zeros(len(cells), dtype=np.uint8)
    ghost[-1] = 1
    g = pyvista.UnstructuredGrid(np.array(cells).ravel(),
                                 np.full(len(cells), pyvista.CellType.QUAD), pts)
    y = pts[:, 1]
    xH = np.where(y > 500.05, 10 ** (-1 - 3 * (y - 500.05) - t / 3000.0), 1e-12)
    g.point_data["xH"] = xH
    g.point_data["xLi"] = 1 - xH
    g.point_data["phi_V"] = 1e-3 * pts[:, 0] / SECTION_WIDTH_UM
    g.point_data["T_C"] = np.full(len(pts), 25.0 + t / 60.0)
    g.point_data["T_K"] = g.point_data["T_C"] + 273.15 - 1e-3 * (y - 500.0)
    g.cell_data["layer"] = np.array(layer, dtype=float)
    if impedance:  # the impedance job's small-signal fields
        g.point_data["phi_re"] = 1e-3 * (y - 500.0) * (np.abs(pts[:, 0] - 1500.0) < 500)
        j = np.zeros((len(cells), 3))
        j[:, 1] = np.where(np.array(layer) == 4, 1.0, 0.5)
        g.cell_data["j_re"] = j
    g.cell_data["vtkGhostType"] = ghost
    return g


def write_section_run(d, name: str = "films", times=None, *, impedance: bool = False):
    """A run folder with ``fields/<name>.pvd`` (one VTU per time, a ghost cell duplicated)
    and the ``run.json`` stack of the built-in cell (pad 1 mm wide, centred)."""
    import json

    times = SECTION_TIMES if times is None else times
    (d / "fields").mkdir(exist_ok=True)
    entries = []
    for k, t in enumerate(times):
        section_grid(t, impedance=impedance).save(d / "fields" / f"{name}_{k:06d}.vtu")
        entries.append(f'<DataSet timestep="{t}" part="0" file="{name}_{k:06d}.vtu"/>')
    (d / "fields" / f"{name}.pvd").write_text(
        '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n<Collection>\n'
        + "\n".join(entries) + "\n</Collection>\n</VTKFile>\n")
    layers = [{"name": n, "thickness_m": th, "width_m": w, "li_metal": li}
              for n, th, w, li in (("substrate", 5e-4, None, False),
                                   ("LiCoO2", 9e-8, None, False),
                                   ("degraded", 1e-8, None, False),
                                   ("Li3PO4", 1e-6, None, False), ("Li", 5e-7, 1e-3, True))]
    (d / "run.json").write_text(json.dumps({"config": {"layers": layers, "geometry": {
        "width_m": SECTION_WIDTH_UM * 1e-6}}}))
    return d


# -- the hardening tests' shared inputs (tests/system/test_hardening*.py) -----------------
#: a 30-min hold in 0.5 s steps: a run that is still going when a test acts on it
LONG_HOLD = """
[anneal]
initial_temperature = "25 degC"
segments = [{ hold = "30 min" }]
[solver]
dt_max = "0.5 s"
[output]
fields = false
plots = false
render = false
checkpoints = false
"""


def corrupt_checkpoint(src, dst, how: str):
    """A copy of checkpoint ``src`` at ``dst`` spoiled as ``how`` says: ``bytes`` (every
    97th byte of the middle flipped), ``json`` (metadata not JSON), ``levels`` (an
    impossible level count) or ``nan`` (time NaN)."""
    import h5py

    dst.write_bytes(src.read_bytes())
    if how == "bytes":  # every 97th byte of the middle of the file
        data = bytearray(dst.read_bytes())
        for i in range(int(0.3 * len(data)), int(0.9 * len(data)), 97):
            data[i] ^= 0xFF
        dst.write_bytes(bytes(data))
    else:
        with h5py.File(dst, "r+") as f:
            m = f["meta"].attrs
            if how == "json":
                m["json"] = "{not json"
            elif how == "levels":
                m["n_levels"] = 7
            elif how == "nan":
                m["t"] = float("nan")
    return dst


def assert_rom_matches_direct(rom, direct, *, rtol: float = 1e-6, tol: float = 1e-6) -> None:
    """The reduced-order sweep's accuracy check against the direct sweep (both
    :class:`~fem_cell.solvers.impedance.ImpedanceResult` at the same frequencies): Z to
    ``rtol`` relative, every ROM residual within the sweep's ``tol``, no direct fallback."""
    import numpy as np

    assert np.abs(rom.impedance / direct.impedance - 1).max() < rtol
    assert rom.residuals.max() <= tol
    assert not rom.fallback.any()


def petsc_aij(A, extra_room: bool = False):
    """A sequential PETSc AIJ matrix with the pattern and values of the SciPy matrix
    ``A``; ``extra_room``: values may later be added outside that pattern (as into a
    compact Jacobian)."""
    from fem_cell._dolfinx import PETSc

    A = A.tocsr()
    A.sort_indices()
    M = PETSc.Mat().createAIJ(A.shape, csr=(A.indptr.astype(PETSc.IntType),
                                            A.indices.astype(PETSc.IntType), A.data),
                              comm=PETSc.COMM_SELF)
    if extra_room:
        M.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, False)
    M.assemble()
    return M


class BandSolver:
    """A ``preonly`` KSP on the PETSc matrix ``M`` whose preconditioner is the band LU
    (``fem_cell.solvers.banded.use_banded``; ``compiled``: its kernels when available)."""

    def __init__(self, M, compiled: bool = True):
        from fem_cell._dolfinx import PETSc
        from fem_cell.solvers.banded import use_banded
        from fem_cell.solvers.linear import direct_solver_options

        self.ksp = PETSc.KSP().create(PETSc.COMM_SELF)
        self.ksp.setType("preonly")
        self.ksp.setOperators(M)
        self.ctx = use_banded(self.ksp.getPC(), direct_solver_options(), compiled=compiled)
        self.rhs, self.x = M.createVecLeft(), M.createVecRight()

    def solve(self, b):
        """The solution of M x = b (a copy) and the KSP's converged reason."""
        self.rhs.setArray(b)
        self.ksp.solve(self.rhs, self.x)
        return self.x.getArray().copy(), self.ksp.getConvergedReason()

    def destroy(self) -> None:
        for obj in (self.ksp, self.rhs, self.x):
            obj.destroy()


def wait_for_handlers(pid: int, timeout: float = 60.0) -> None:
    """Wait until process ``pid`` catches SIGTERM: the first statement of fem-cell's
    console script (fem_cell/_entry.py) has run (Python itself catches only SIGINT, and
    PETSc, which also catches SIGTERM, is imported after it).  A signal sent before that
    reaches the interpreter's own start-up, where no code of ours runs.  Returns at once
    without /proc (not Linux)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        caught = int(next(ln.split()[1] for ln in status.splitlines()
                          if ln.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("fem-cell did not install its signal handlers")


def anneals_with_and_without_compiled_assembly(monkeypatch, comm, mesh: dict):
    """The summaries of a short anneal (ramp to 150 degC at 10 K/min, 10 min hold, no
    outputs) on ``mesh`` over ``comm``: with the compiled assembly
    (fem_cell.solvers.local_assembly), then with dolfinx's; the exposure simulated each
    time (its cache would share the exposed state)."""
    from fem_cell.config import load_config
    from fem_cell.jobs.anneal import run_anneal
    from fem_cell.model import chemistry
    from fem_cell.solvers.problem import TransientProblem

    def run():
        chemistry.clear_exposure_cache()
        cfg = load_config(overrides={
            "mesh": mesh, "output": {"fields": False, "plots": False, "render": False},
            "anneal": {"segments": [{"ramp_to": "150 degC", "rate": "10 K/min"},
                                    {"hold": "10 min"}]}})
        return run_anneal(cfg, comm, progress=False).summary

    with_loop = run()
    monkeypatch.setattr(TransientProblem, "_use_local_assembly", lambda self: None)
    without = run()
    chemistry.clear_exposure_cache()
    return with_loop, without


def without_compiler(monkeypatch, compiled) -> None:
    """Make ``compiled`` (a :class:`fem_cell.solvers.compiled.BuildOnce`, e.g. a
    ``CompiledModule``) behave as on a machine without a C compiler, for this test: not
    built yet, and its build raising."""
    def no_compiler():
        raise OSError("no C compiler")

    monkeypatch.setattr(compiled, "_load", no_compiler)
    monkeypatch.setattr(compiled, "module", None)
    monkeypatch.setattr(compiled, "unavailable", None)
