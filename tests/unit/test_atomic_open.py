"""Files written whole (fem_cell.outputs.rundir.atomic_open / atomic_write): run.json,
field series, study case records and tables, posterior chains and surrogate caches.  A
reader never sees a half-written file, and a write that fails leaves the old file."""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell.outputs.rundir import atomic_open, atomic_write


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
