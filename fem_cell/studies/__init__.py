"""Studies: many runs of the model (sweeps, calibration), spread over MPI sub-communicators.

Public API::

    from fem_cell.studies import load_spec, run_study
    res = run_study("studies/recovery_map.toml", MPI.COMM_WORLD, out="runs/map")
    df = res.to_pandas()          # one row per case
    res.failed                    # rows of the cases that failed

See ``docs/studies.md``.  Importing this package does not import dolfinx; running a
study does.
"""

from fem_cell.config.keys import overrides_from_keys, set_by_key
from fem_cell.studies.cases import QUIET_OUTPUT, Record, history_at, run_case
from fem_cell.studies.result import StudyResult, read_results
from fem_cell.studies.runner import run_study
from fem_cell.studies.spec import Case, Parameter, SpecError, StudySpec, load_spec

__all__ = ["QUIET_OUTPUT", "Case", "Parameter", "Record", "SpecError", "StudyResult", "StudySpec",
           "history_at", "load_spec", "overrides_from_keys", "read_results", "run_case",
           "run_study", "set_by_key"]
