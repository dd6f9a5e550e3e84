"""Files written whole (fem_cell.files.replaced_whole, and on it
fem_cell.outputs.rundir.atomic_open / atomic_write): run.json, field series, study case
records and tables, posterior chains and surrogate caches, checkpoints.  A reader never
sees a half-written file, and a write that fails leaves the old file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from fem_cell._dolfinx import MPI, fem, mesh
from fem_cell.files import replaced_whole
from fem_cell.outputs.rundir import atomic_open, atomic_write
from fem_cell.solvers import checkpoint
from fem_cell.solvers.time_stepping import StepperState


def test_text_and_binary_replace_the_file_whole(tmp_path):
    p = tmp_path / "table.csv"
    p.write_text("old\n", encoding="utf-8")
    with atomic_open(p, "w", newline="") as f:
        f.write("a,b\r\n1,Ω\r\n")
        assert p.read_text(encoding="utf-8") == "old\n"      # not yet replaced
    assert p.read_bytes() == "a,b\r\n1,Ω\r\n".encode()
    q = tmp_path / "chain.npz"
    with atomic_open(q, "wb") as f:
        np.savez(f, x=np.arange(3.0))
    assert np.load(q)["x"].tolist() == [0.0, 1.0, 2.0]
    atomic_write(p, "new\n")
    assert p.read_text(encoding="utf-8") == "new\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["chain.npz", "table.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "run.json"
    p.write_text("{}\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk"), atomic_open(p) as f:
        f.write('{"half": ')
        raise RuntimeError("disk full")
    assert p.read_text(encoding="utf-8") == "{}\n"
    assert [x.name for x in tmp_path.iterdir()] == ["run.json"]


def test_only_whole_file_modes(tmp_path):
    for mode in ("a", "r+", "x"):
        with pytest.raises(ValueError, match="whole"), atomic_open(tmp_path / "f", mode):
            pass


def test_replaced_whole_renames_on_success_and_cleans_up_on_failure(tmp_path):
    p = tmp_path / "state.h5"
    with replaced_whole(p) as tmp:
        assert tmp.parent == tmp_path and tmp.name == ".state.h5.tmp"
        tmp.write_bytes(b"one")
        assert not p.exists()
    assert p.read_bytes() == b"one"
    with pytest.raises(KeyboardInterrupt), replaced_whole(p) as tmp:
        tmp.write_bytes(b"tw")
        raise KeyboardInterrupt
    assert p.read_bytes() == b"one"
    assert [x.name for x in tmp_path.iterdir()] == ["state.h5"]


def test_a_checkpoint_that_fails_keeps_the_earlier_one(tmp_path, monkeypatch):
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 4)
    V = fem.functionspace(msh, ("Lagrange", 1))
    state = StepperState(t=1.0, step=1, dt_next=0.5, dts=[1.0], states=[[np.arange(5.0)]])
    p = tmp_path / "ck.h5"
    checkpoint.save_checkpoint(p, MPI.COMM_SELF, {"u": V}, state)
    before = p.read_bytes()

    def full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "_checksum", full)   # fails halfway through
    later = StepperState(t=2.0, step=2, dt_next=0.5, dts=[1.0, 1.0],
                         states=[[np.ones(5)], [np.arange(5.0)]])
    with pytest.raises(OSError, match="space"):
        checkpoint.save_checkpoint(p, MPI.COMM_SELF, {"u": V}, later)
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["ck.h5"]
    with h5py.File(p, "r") as f:
        assert f["meta"].attrs["t"] == 1.0
