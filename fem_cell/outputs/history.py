"""Scalar time histories: values are globally reduced before they get here; only
rank 0 writes the CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


class History:
    """Rows of named scalars, written as CSV by rank 0.

    Args:
        columns: column names, with units in the name (``T_mean_C``, ``time_s``).
    """

    def __init__(self, columns: list[str]):
        self.columns = list(columns)
        self.rows: list[list[float]] = []

    def append(self, **values: float) -> None:
        missing = set(self.columns) - set(values)
        if missing:
            raise KeyError(f"history row lacks {sorted(missing)}")
        self.rows.append([float(values[c]) for c in self.columns])

    def column(self, name: str) -> np.ndarray:
        i = self.columns.index(name)
        return np.array([r[i] for r in self.rows])

    def as_array(self) -> np.ndarray:
        return np.array(self.rows)

    def write_csv(self, path: str | Path, comm) -> None:
        """Write the CSV on rank 0 (call on every rank; it is not collective)."""
        if comm.rank != 0:
            return
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            for r in self.rows:
                w.writerow([repr(x) if isinstance(x, float) else x for x in r])


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """Read a history CSV back into column arrays."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        data = np.array([[float(x) for x in row] for row in reader])
    return {name: data[:, i] for i, name in enumerate(header)}
