"""A checkpoint written on N ranks loads on M ranks (values to 1e-8): the 2-D anneal state
(temperature, proton fractions of both phases, potential) written by the whole
communicator is loaded on one rank (COMM_SELF) and compared with the same run computed
on one rank; and a 1-rank checkpoint loads on all ranks."""

import textwrap

import numpy as np
import pytest
from helpers import COARSE_2D_MESH

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import anneal_job, checkpoint_name
from fem_cell.model import CellModel
from fem_cell.solvers.checkpoint import load_checkpoint

CFG = COARSE_2D_MESH + textwrap.dedent("""
    [anneal]
    initial_temperature = "25 degC"
    segments = [{ ramp_to = "80 degC", rate = "10 K/min" }, { hold = "5 min" }]
    [output]
    field_interval = "2 min"
    plots = false
    render = false
""")


def _spaces(model):
    return {f.name: f.space for f in model.problem.fields}


def _model(cfg, comm):
    model = CellModel(cfg, comm)
    chem = model.chemistry()
    model.destroy()  # only the spaces and fields are used
    return chem


@pytest.mark.mpi
def test_checkpoint_n_to_m_ranks(shared_tmp):
    world = MPI.COMM_WORLD
    path = shared_tmp / "c.toml"
    if world.rank == 0:
        path.write_text(CFG)
    world.Barrier()
    cfg = load_config(path)
    anneal_job(cfg, shared_tmp / "world", world, progress=False)
    ck_world = shared_tmp / "world" / checkpoint_name(240.0)
    # the same run on one rank (rank 0 only)
    if world.rank == 0:
        anneal_job(cfg, shared_tmp / "self", MPI.COMM_SELF, progress=False)
    world.Barrier()
    ck_self = shared_tmp / "self" / checkpoint_name(240.0)

    if world.rank == 0:  # N (= world size) -> 1
        model = _model(cfg, MPI.COMM_SELF)
        s_world, _ = load_checkpoint(ck_world, MPI.COMM_SELF, _spaces(model))
        s_self, _ = load_checkpoint(ck_self, MPI.COMM_SELF, _spaces(model))
        assert s_world.t == s_self.t == 240.0
        assert len(s_world.states) == len(s_self.states)
        assert len(s_world.states[0]) == 5  # T, xH_LiCoO2, xH_Li3PO4, xT_LiCoO2, phi
        for lw, ls in zip(s_world.states, s_self.states, strict=False):
            for fw, fs in zip(lw, ls, strict=False):
                assert np.allclose(fw, fs, rtol=1e-8, atol=1e-8 * np.abs(fs).max())
        assert np.allclose(s_world.dts, s_self.dts, rtol=1e-8)
        # the transport's fields share one coordinates dataset (hard links), the
        # temperature has its own; each field still reads its own "coords"
        import h5py

        with h5py.File(ck_world, "r") as f:
            c = {n: f[f"fields/{n}/coords"] for n in f["fields"]}
            assert c["xH_LiCoO2"] == c["xH_Li3PO4"] == c["xT_LiCoO2"] == c["phi"]
            assert c["T"] != c["phi"] and c["T"].shape[0] != c["phi"].shape[0]
            assert f["fields/phi/level0"].compression_opts == 1
        # the heat's own (sub-cycled) stepper state: its levels and steps, at its own
        # time (ahead of the transport's: here the ramp's end, 330 s)
        lw, ls = s_world.lead, s_self.lead
        assert lw is not None and ls is not None and lw.t == ls.t >= 240.0
        assert lw.restarted == ls.restarted
        assert lw.step == ls.step and np.allclose(lw.dts, ls.dts, rtol=1e-8)
        assert len(lw.states) == len(ls.states) and len(lw.states[0]) == 1  # T only
        for a, b in zip(lw.states, ls.states, strict=True):
            assert np.allclose(a[0], b[0], rtol=1e-8, atol=1e-8 * np.abs(b[0]).max())
    # 1 -> N: every rank gets its own DOFs of the 1-rank state
    model = _model(cfg, world)
    s_self, _ = load_checkpoint(ck_self, world, _spaces(model))
    s_world, _ = load_checkpoint(ck_world, world, _spaces(model))
    for lw, ls in zip(s_world.states, s_self.states, strict=False):
        for fw, fs in zip(lw, ls, strict=False):
            scale = world.allreduce(float(np.abs(fs).max()) if fs.size else 0.0, op=MPI.MAX)
            assert np.allclose(fw, fs, rtol=1e-8, atol=1e-8 * scale)
    T = model.T
    T.x.array[:] = s_self.states[0][0]
    T_plate = cfg.anneal.temperature(240.0)  # 65 °C on the 10 K/min ramp
    assert abs(world.allreduce(T.x.array.max(), op=MPI.MAX) - T_plate) < 0.5
