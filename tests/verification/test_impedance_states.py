"""The impedance job's model at states: the interface elements reproduce the state's own
R_interface (physics/degraded.py) at any temperature; the spectrum's fitted interface
arc equals it; the degraded layer's discrete resistance is the state's integral; the
refined impedance mesh carries the same proton function; a full-width 2-D pad equals
its 1-D twin."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs import impedance as J
from fem_cell.meshing.refine import REFINE_2D, refined_film_domain, section_column_domain
from fem_cell.model import CellModel, OperatingPoint, build_small_signal
from fem_cell.physics.degraded import InterfaceResistance

pytestmark = pytest.mark.serial

SHORT = {"anneal": {"segments": [{"ramp_to": "150 degC", "rate": "50 K/min"},
                                 {"hold": "10 min"}]},
         "output": {"plots": False, "render": False, "fields": False}}


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, overrides=SHORT)


@pytest.fixture(scope="module")
def states(cfg):
    """pristine, exposed and annealed (short program, in-process) operating points."""
    from fem_cell.jobs.anneal import run_anneal

    comm = MPI.COMM_WORLD
    cell = CellModel(cfg, comm)
    out = {"pristine": cell.operating_point(),
           "exposed": cell.operating_point(proton_fraction="exposed")}
    res = run_anneal(cfg, comm, progress=False)
    chem = res.details["chemistry"]
    out["annealed"] = OperatingPoint(chem.film, chem.transport.x["LiCoO2"],
                                     chem.transport.x["Li3PO4"], "state")
    return out


@pytest.mark.parametrize("T", [298.15, 423.15])
@pytest.mark.parametrize("name", ["pristine", "exposed", "annealed"])
def test_interface_elements_equal_state_resistance(cfg, states, name, T):
    op = states[name]
    cm = build_small_signal(cfg, op, T, prefix=f"v_{name}_{int(T)}_")
    cm.destroy()
    el = cm.elements
    law = cfg.chemistry.degraded_layer
    R_state = law.pristine(T) + InterfaceResistance(op.film, op.x_lco, T, law=law).excess(T)
    assert el.R_interface_state == pytest.approx(R_state, rel=1e-12)
    assert el.R_degraded + el.R_ct == pytest.approx(R_state, rel=1e-6)
    # the pristine part keeps its documented share at every temperature
    share = cfg.electrochemistry.degraded_pristine_share
    assert el.R_degraded_pristine == pytest.approx(share * law.pristine(T))
    # the discrete degraded layer (DG0 harmonic σ) is exactly the state's integral
    film = cm.model.domain
    R_disc = film.integrate(1.0 / cm.sigma_degraded, film.dx("degraded"))
    if film.dim == 2:
        R_disc /= film.integrate(1.0, film.ds("substrate|LiCoO2"))
    assert R_disc == pytest.approx(el.R_degraded, rel=1e-10)
    if name == "exposed":
        assert el.R_interface * 1e4 >= 136.0 if T < 300 else True


def test_refined_mesh_carries_the_same_proton_function(cfg, states):
    op = states["exposed"]
    law = cfg.chemistry.degraded_layer
    dom, xr = refined_film_domain(op.film, op.x_lco)
    for regs in (("degraded",), ("LiCoO2", "degraded")):
        a = InterfaceResistance(op.film, op.x_lco, 298.15, law, regions=regs).excess(298.15)
        b = InterfaceResistance(dom, xr, 298.15, law, regions=regs).excess(298.15)
        assert b == pytest.approx(a, rel=1e-9)
    assert dom.mesh.topology.index_map(1).size_global > op.film.mesh.topology.index_map(
        1).size_global


@pytest.mark.parametrize("name", ["pristine", "exposed", "annealed"])
def test_fitted_interface_resistance_equals_state(cfg, states, name):
    op = states[name]
    cm = build_small_signal(cfg, op, 298.15, prefix=f"f_{name}_")
    from fem_cell.solvers.impedance import ImpedanceSolver

    s = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"fe_{name}_")
    f = J.default_frequencies()
    r = s.sweep(f)
    s.destroy()
    cm.destroy()
    fit, _, kk = J.interpret(f, r.impedance_ohm_cm2, cm.elements)
    R = cm.elements.R_interface_state * 1e4
    assert fit.value("R_interface") == pytest.approx(R, rel=5e-3)
    assert fit.value("C_interface") == pytest.approx(cm.elements.C_dl * 1e-4, rel=5e-3)
    assert kk.residual_max < 1e-3


def test_full_width_pad_2d_equals_1d_twin():
    """A pad covering the films: the 2-D cross-section (Z per pad area) equals the 1-D
    model on the same through-thickness nodes to 1e-6."""
    comm = MPI.COMM_WORLD
    cfg2 = load_config(None, overrides={"layers": {"Li": {"width": "3 mm"}}}).with_mesh(
        dim=2, lateral_cells=4)
    op2 = CellModel(cfg2, comm).operating_point(proton_fraction=0.15)
    d1, x1 = section_column_domain(op2.film, op2.x_lco)
    op1 = OperatingPoint(d1, x1, x1.copy(), "uniform")
    f = np.logspace(-2, 6, 17)
    Z = []
    from fem_cell.solvers.impedance import ImpedanceSolver

    for k, op in enumerate((op2, op1)):
        cm = build_small_signal(cfg2, op, 298.15, prefix=f"fw{k}_", refine_electrode=REFINE_2D)
        s = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"fws{k}_")
        Z.append(s.sweep(f, "direct").impedance)
        s.destroy()
        cm.destroy()
    assert np.max(np.abs(Z[0] / Z[1] - 1)) < 1e-6
