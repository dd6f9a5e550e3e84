"""2-D impedance field maps: the complex small-signal potential, Li concentration and
current density at chosen frequencies, as a ``.pvd`` series (ParaView, pyvista)."""

from __future__ import annotations

import math
from pathlib import Path

from fem_cell._dolfinx import fem
from fem_cell.constants import FARADAY, VACUUM_PERMITTIVITY
from fem_cell.forms import compile_expression, constant
from fem_cell.model.impedance import SmallSignalModel
from fem_cell.outputs.fields import FieldSeriesWriter


def write_field_maps(cm: SmallSignalModel, solver, frequencies, path: Path) -> list[float]:
    """Complex potential and current density at ``frequencies`` (Hz) into a .pvd series.

    Per unit pad current density (1 A/m² into the pad): ``phi_re``/``phi_im`` (V per
    A/m², i.e. Ω m²), ``j_re``/``j_im`` (ionic current density per unit pad current
    density, a 2-vector, DG0: −σ∇δφ − iωε∇δφ in Li3PO4 and the degraded layer,
    −F D̃ ∇δc in LiCoO2), ``c_re``/``c_im`` (Li concentration, mol/m³ per A/m²), and the
    layer id.  The series' time value is the frequency in Hz.  Collective.
    """
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
    omega = constant(msh, 0.0)
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
        part[key] = compile_expression(e, W.element.interpolation_points)
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


__all__ = ["write_field_maps"]
