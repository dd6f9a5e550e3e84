"""Run settings that are not cell data: time integration and outputs (declared once).

``[solver]`` and ``[output]`` of a user config; every key has its default here and
nowhere else.  ``[mesh]`` is :class:`fem_cell.meshing.settings.MeshSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fem_cell.params import Declared, param
from fem_cell.physics.parameters import MAX_DURATION
from fem_cell.solvers import LINEAR_SOLVERS

SCHEMES = ("bdf2", "backward_euler")
JACOBIAN_REUSE = ("auto", "yes", "no")
_TIME = {"lo": 0.0, "hi": MAX_DURATION, "lo_open": True,
         "text": "> 0 s and at most 100 years"}


@dataclass(frozen=True)
class SolverSettings(Declared):
    """``[solver]``: time integration and Newton settings (SI)."""

    scheme: str = param("", "time scheme: 'bdf2' (2nd order) or 'backward_euler' (1st order)",
                        default="bdf2", choices=SCHEMES)
    dt_initial: float = param("s", "first step, and first step after every program breakpoint",
                              default=0.01, example="0.01 s", **_TIME)
    dt_max: float = param("s", "largest step (the fixed step if not adaptive); under the "
                          "chemistry, of the transport only: the heat's adaptive steps are "
                          "limited by its error and the program's breakpoints",
                          default=300.0, example="5 min", **_TIME)
    dt_min: float = param("s", "smallest step before the run gives up", default=1e-6,
                          example="1e-6 s", **_TIME)
    temperature_tolerance: float = param(
        "K", "local time-error tolerance on the temperature", default=1e-3, lo=0.0,
        lo_open=True, hi=1e3, text="> 0 and <= 1000 K", example="1 mK", difference=True)
    relative_tolerance: float = param("1", "relative part of the temperature tolerance",
                                      default=1e-6, lo=0.0, hi=1.0, text=">= 0 and <= 1",
                                      example="1e-6")
    fraction_tolerance: float = param(
        "1", "local time-error tolerance on the proton site fractions (absolute)",
        default=1e-3, lo=0.0, hi=1.0, lo_open=True, text="> 0 and <= 1", example="1e-4")
    fraction_relative_tolerance: float = param(
        "1", "relative part of the proton-fraction tolerance", default=1e-3, lo=0.0, hi=1.0,
        text=">= 0 and <= 1", example="1e-3")
    adaptive: bool = param("", "adapt the step from the local error estimate (false: fixed "
                           "dt_max steps)", default=True, kind="boolean")
    newton_rtol: float = param("1", "Newton relative residual tolerance (heat)", default=1e-10,
                               lo=0.0, hi=1.0, lo_open=True, text="> 0 and <= 1",
                               example="1e-10")
    newton_max_it: int = param("", "Newton iteration limit per step", default=25,
                               kind="integer", lo=1, hi=1000)
    transport_jacobian_lag: int = param(
        "", "transport Newton: re-assemble and factorise the Jacobian every this many "
        "iterations of a step (1 = full Newton)", default=6, kind="integer", lo=1, hi=100)
    transport_jacobian_reuse: str = param(
        "", "transport Newton: may a step start on an earlier step's factorised Jacobian "
        "(modified Newton: fewer factorisations, more iterations, the per-step proton "
        "balance at the Newton tolerance instead of round-off)? 'no', 'yes', or 'auto' "
        "(yes with the sparse direct solver, whose factorisation costs many "
        "back-substitutions; no with the 1-D band LU and the iterative path); "
        "docs/transport.md", default="no", choices=JACOBIAN_REUSE)
    linear_solver: str = param(
        "", "linear solves inside Newton: 'direct' (sparse LU; exact, for up to ~1e5-1e6 "
        "unknowns on one machine) or 'iterative' (Krylov + algebraic multigrid; work and "
        "memory proportional to the unknowns, for large 2-D meshes on many ranks; "
        "docs/scaling.md)", default="direct", choices=LINEAR_SOLVERS)

    def __post_init__(self):
        super().__post_init__()
        if not self.dt_min <= self.dt_initial <= self.dt_max:
            raise ValueError("dt_min <= dt_initial <= dt_max")
        if self.transport_jacobian_reuse == "yes" and self.linear_solver != "direct":
            raise ValueError("transport_jacobian_reuse = 'yes' needs linear_solver = 'direct' "
                             "(a Krylov solve on an old operator is not a modified Newton "
                             "step; 'auto' reuses with the sparse direct solver only)")


@dataclass(frozen=True)
class OutputSettings(Declared):
    """``[output]``: what a run writes."""

    field_interval: float = param("min", "write fields every this long (and at every "
                                  "breakpoint and the end); 0 = breakpoints and end only",
                                  default=300.0, lo=0.0, hi=MAX_DURATION,
                                  text=">= 0 and at most 100 years", example="5 min")
    fields: bool = param("", "write the .pvd/.vtu field series", default=True, kind="boolean")
    plots: bool = param("", "write the matplotlib plots", default=True, kind="boolean")
    render: bool = param("", "write off-screen pyvista pictures (2-D runs)", default=True,
                         kind="boolean")
    checkpoints: bool = param("", "write a checkpoint at every output time (needed by "
                              "--restart and impedance --state)", default=True,
                              kind="boolean")


__all__ = ["JACOBIAN_REUSE", "OutputSettings", "SCHEMES", "SolverSettings"]
