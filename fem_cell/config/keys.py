"""Dotted configuration keys (``"transport.exchange.velocity"``, ``"anneal.segments[1]"``)
applied to user-config dicts: how studies, the calibration and the reproduction write
their overrides."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

_INDEX = re.compile(r"^(?P<name>[^\[\]]+)(?P<idx>(\[\d+\])*)$")


def set_by_key(d: dict, key: str, value: Any) -> None:
    """Set ``d[a][b][i]...`` for a dotted key ``"a.b[i].c"`` (creating tables as needed;
    list indices must exist).

    Raises:
        KeyError: a list index that does not exist, or a path through a non-table.
    """
    parts = key.split(".")
    cur: Any = d
    for n, part in enumerate(parts):
        m = _INDEX.match(part)
        if not m:
            raise KeyError(f"{key}: cannot parse {part!r}")
        name = m.group("name")
        idxs = [int(i) for i in re.findall(r"\[(\d+)\]", m.group("idx"))]
        last = n == len(parts) - 1
        if not isinstance(cur, dict):
            raise KeyError(f"{key}: {'.'.join(parts[:n])} is not a table")
        if last and not idxs:
            cur[name] = value
            return
        if name not in cur:
            if idxs:
                raise KeyError(f"{key}: {name} has no list to index (give the whole list in the "
                               f"base config)")
            cur[name] = {}
        cur = cur[name]
        for j, i in enumerate(idxs):
            if not isinstance(cur, list) or i >= len(cur):
                raise KeyError(f"{key}: index [{i}] does not exist")
            if last and j == len(idxs) - 1:
                cur[i] = value
                return
            cur = cur[i]


def overrides_from_keys(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    """A deep copy of the user-config dict ``base`` with dotted-key values set."""
    d = copy.deepcopy(dict(base))
    for k, v in values.items():
        set_by_key(d, k, v)
    return d


__all__ = ["overrides_from_keys", "set_by_key"]
