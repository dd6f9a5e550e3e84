"""A process's pool of built solvers kept for later cases of the same structure.

A study or a calibration runs many cases whose forms, meshes and solvers are equal
apart from parameter values; a case's set-up is then a third of its cost (1-D), and a
kept object is renewed for the next case instead of being built again.  Two pools use
this one: the exposure's simulations (:mod:`fem_cell.model.exposure`: kept while in use,
a case renews the one of its key) and the anneal's heat and transport
(:mod:`fem_cell.model.chemistry`: taken out while a model uses them, given back when
it is garbage).  The pool is small and ordered by use: an object beyond its capacity,
the least recently used, is destroyed, and so is one replaced under its own key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Protocol


class Destroyable(Protocol):
    """What the pool holds: an object that frees its solvers when destroyed."""

    def destroy(self) -> None: ...


class KeptPool[T: Destroyable]:
    """Objects kept by structure key, most recently used last, at most ``capacity``.

    Args:
        capacity: how many keys the pool keeps (a study alternating two structures
            keeps both with 2); at least 1.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"a pool keeps at least one object, got capacity {capacity}")
        self.capacity = capacity
        self._kept: OrderedDict[str, T] = OrderedDict()

    def get(self, key: str) -> T | None:
        """The object kept under ``key`` (it stays, now the most recently used), or
        None."""
        obj = self._kept.get(key)
        if obj is not None:
            self._kept.move_to_end(key)
        return obj

    def take(self, key: str) -> T | None:
        """The object kept under ``key``, taken out of the pool, or None."""
        return self._kept.pop(key, None)

    def put(self, key: str, obj: T) -> None:
        """Keep ``obj`` under ``key`` as the most recently used: another object kept
        under that key is destroyed, and so are the least recently used beyond the
        capacity."""
        old = self._kept.pop(key, None)
        if old is not None and old is not obj:
            old.destroy()
        self._kept[key] = obj
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)[1].destroy()

    def holds(self, obj: T) -> bool:
        """Whether ``obj`` is kept (under any key)."""
        return any(kept is obj for kept in self._kept.values())

    def drop(self, obj: T) -> None:
        """Forget ``obj`` without destroying it (its owner does)."""
        for key in [k for k, kept in self._kept.items() if kept is obj]:
            del self._kept[key]

    def clear(self) -> None:
        """Destroy every kept object."""
        while self._kept:
            self._kept.popitem()[1].destroy()

    def __len__(self) -> int:
        return len(self._kept)

    def __iter__(self) -> Iterator[str]:
        """The keys, least recently used first."""
        return iter(list(self._kept))


__all__ = ["Destroyable", "KeptPool"]
