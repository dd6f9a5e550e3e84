"""The pool of kept solvers (fem_cell.model.pool.KeptPool), shared by the exposure's
simulations and the anneal's heat and transport: least recently used first out, an
object replaced under its key or pushed out beyond the capacity destroyed, one taken
out or dropped not."""

from __future__ import annotations

import pytest

from fem_cell.model.pool import KeptPool


class Solver:
    def __init__(self, name: str):
        self.name = name
        self.destroyed = 0

    def destroy(self) -> None:
        self.destroyed += 1


def test_capacity_and_use_order():
    pool = KeptPool(2)
    a, b, c = Solver("a"), Solver("b"), Solver("c")
    pool.put("A", a)
    pool.put("B", b)
    assert pool.get("A") is a            # A now the most recently used
    assert list(pool) == ["B", "A"]
    pool.put("C", c)                     # beyond the capacity: B, the least recent, goes
    assert list(pool) == ["A", "C"] and len(pool) == 2
    assert (a.destroyed, b.destroyed, c.destroyed) == (0, 1, 0)
    assert pool.get("B") is None


def test_take_put_back_and_replace():
    pool = KeptPool(2)
    a, a2 = Solver("a"), Solver("a2")
    pool.put("A", a)
    assert pool.take("A") is a and len(pool) == 0 and pool.take("A") is None
    pool.put("A", a)                     # given back: kept again, not destroyed
    pool.put("A", a)                     # the same object again: still not destroyed
    assert a.destroyed == 0 and pool.holds(a)
    pool.put("A", a2)                    # another object under the key: the old one goes
    assert a.destroyed == 1 and pool.get("A") is a2 and not pool.holds(a)


def test_drop_and_clear():
    pool = KeptPool(3)
    a, b = Solver("a"), Solver("b")
    pool.put("A", a)
    pool.put("B", b)
    pool.drop(a)                         # its owner destroys it: forgotten, not destroyed
    assert not pool.holds(a) and a.destroyed == 0 and list(pool) == ["B"]
    pool.clear()
    assert len(pool) == 0 and b.destroyed == 1


def test_a_pool_keeps_at_least_one():
    with pytest.raises(ValueError, match="at least one"):
        KeptPool(0)
