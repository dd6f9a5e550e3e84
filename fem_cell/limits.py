"""Sizes fem-cell starts only when asked (the CLI's ``--yes``).

A study sweep costs one model run per case (× posterior samples with ``--posterior`` or
in ``fem-cell design``): about 1 s per 1-D case and 10–300 s per 2-D case on this kind of
machine.  A slip in a range's ``num`` (100 for 10) can turn an afternoon into a week; such
a sweep is refused before its cases are validated, with one line naming its size and
``--yes``.  Python callers choose with ``max_runs`` (None: any size).
"""

from __future__ import annotations

from fem_cell.errors import SizeError
from fem_cell.units import format_duration

#: most model runs (cases × posterior samples) a sweep starts without ``--yes``
LARGE_STUDY_RUNS = 5000


def check_size(cases: int, limit: int | None, source: str, samples: int = 1) -> None:
    """Refuse (:class:`~fem_cell.errors.SizeError`, one line naming ``--yes``) a sweep of
    ``cases`` cases × ``samples`` posterior samples above ``limit`` model runs (None: any
    size)."""
    runs = cases * samples
    if limit is None or runs <= limit:
        return
    what = f"{cases} cases" + (f" × {samples} posterior samples" if samples > 1 else "")
    raise SizeError(f"{source}: {what} = {runs} model runs, more than the {limit} fem-cell "
                    f"starts unasked (at about 1 s per 1-D case: {format_duration(runs)} or "
                    f"more on one rank); pass --yes to run it")


__all__ = ["LARGE_STUDY_RUNS", "check_size"]
