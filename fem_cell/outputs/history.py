"""Scalar time histories: values are globally reduced before they get here; only
rank 0 writes the CSV.

A history can stream to its CSV as the run goes (:meth:`History.stream_to`): the
header is written at once and every row is appended and flushed when it is added, so
a run that fails or is interrupted leaves a consistent, readable prefix."""

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
        self._stream = None
        self._writer = None

    def stream_to(self, path: str | Path, comm) -> None:
        """Write the header (and rows so far) to ``path`` now, then each new row as added.

        Call on every rank; only rank 0 opens the file.
        """
        self.close()
        if comm.rank != 0:
            return
        self._stream = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._stream)
        self._writer.writerow(self.columns)
        for r in self.rows:
            self._writer.writerow(_fmt(r))
        self._stream.flush()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
            self._writer = None

    def append(self, **values: float) -> None:
        missing = set(self.columns) - set(values)
        if missing:
            raise KeyError(f"history row lacks {sorted(missing)}")
        row = [float(values[c]) for c in self.columns]
        self.rows.append(row)
        if self._writer is not None:
            self._writer.writerow(_fmt(row))
            self._stream.flush()

    def column(self, name: str) -> np.ndarray:
        i = self.columns.index(name)
        return np.array([r[i] for r in self.rows])

    def as_array(self) -> np.ndarray:
        return np.array(self.rows)

    def to_pandas(self):
        """The rows as a DataFrame (unit-suffixed columns as written to the CSV; beside
        ``time_s`` also ``time_min``, ``time_h`` and ``time_days``)."""
        import pandas as pd

        from fem_cell.outputs.results import add_time_units

        return add_time_units(pd.DataFrame(self.rows, columns=self.columns))

    def write_csv(self, path: str | Path, comm) -> None:
        """Write the CSV on rank 0 (call on every rank; it is not collective)."""
        if comm.rank != 0:
            return
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            for r in self.rows:
                w.writerow(_fmt(r))


def _fmt(row: list[float]) -> list[str]:
    return [repr(x) if isinstance(x, float) else x for x in row]


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """Read a history CSV back into column arrays."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        data = np.array([[float(x) for x in row] for row in reader])
    return {name: data[:, i] for i, name in enumerate(header)}
