"""The transport block of a configuration, its solver fields and its problem, and the
interface-resistance diagnostic of its proton field (shared by the exposure, the anneal
and the impedance's operating points)."""

from __future__ import annotations

import itertools

from fem_cell._dolfinx import fem
from fem_cell.config import RunConfig, SolverSettings
from fem_cell.domain import Domain
from fem_cell.forms import constant
from fem_cell.physics.degraded import DEGRADED_REGION, InterfaceResistance
from fem_cell.physics.parameters import Chemistry
from fem_cell.physics.transport import (
    PHI_NEWTON_TOL,
    X_NEWTON_TOL,
    Phase,
    TransportPhysics,
)
from fem_cell.solvers.problem import Field, TransientProblem

#: the film layers the transport runs on, bottom → top (those present in the mesh)
FILM_TRANSPORT_LAYERS = ("LiCoO2", "degraded", "Li3PO4")
_prefixes = itertools.count()


def film_regions(domain: Domain) -> tuple[str, ...]:
    """The transport layers present in a mesh."""
    return tuple(n for n in FILM_TRANSPORT_LAYERS if n in domain.cell_names)


def phases(config: RunConfig, chem: Chemistry, film: Domain | None) -> tuple[Phase, ...]:
    """The transport phases present in ``film``, bottom → top: a phase's regions are
    the layers whose material has the phase's name (LiCoO2: ``LiCoO2`` + ``degraded``);
    ``film`` None: every layer of the stack (a 1-D mesh has them all)."""
    present = set(film.cell_names if film is not None else config.geometry.layer_names)
    out = []
    for name, props in chem.phases:
        regions = tuple(lay.name for lay in config.geometry.layers
                        if lay.material == name and lay.name in present)
        if regions:
            out.append(Phase(name, regions, props))
    if not out:
        raise ValueError(f"no transport phase {list(chem.phase_names)} has a region in the "
                         f"film (regions: {sorted(present)})")
    return tuple(out)


def sink_boundary(config: RunConfig, chem: Chemistry) -> str | None:
    """Facet group of the proton sink: ``"<top upper-phase layer>|<layer above it>"``
    (``"Li3PO4|Li"`` for the built-in cell); None when the upper phase is the top of
    the stack."""
    upper = chem.phase_names[-1]
    layers = config.geometry.layers
    idx = [i for i, lay in enumerate(layers) if lay.material == upper]
    if idx and idx[-1] + 1 < len(layers):
        return f"{layers[idx[-1]].name}|{layers[idx[-1] + 1].name}"
    return None


def transport_block(config: RunConfig, film: Domain, T: fem.Function, *,
                    sink: bool = True) -> TransportPhysics:
    """The configuration's transport block on a film (sub-)mesh at temperature T (K):
    its phases present in the mesh, the exchange, and (with ``sink``) the sink at Li."""
    chem = config.chemistry
    return TransportPhysics(film, T, phases(config, chem, film), exchange=chem.exchange,
                            sink=chem.sink if sink else None,
                            sink_boundary=sink_boundary(config, chem) if sink else None)


def transport_fields(block: TransportPhysics, settings: SolverSettings, *,
                     x_newton_tol: float = X_NEWTON_TOL,
                     phi_newton_tol: float = PHI_NEWTON_TOL) -> list[Field]:
    """The block's unknowns as solver fields: the fractions with the time-error
    tolerances of ``settings`` (``fraction_tolerance`` absolute,
    ``fraction_relative_tolerance``), Φ algebraic (not error-controlled); Newton tests
    the update of each (numerical constants of :mod:`fem_cell.physics.transport`)."""
    what = block.describe()
    return [Field(name, f, atol=settings.fraction_tolerance,
                  rtol=settings.fraction_relative_tolerance, newton_tol=x_newton_tol,
                  unit=what[name][0], meaning=what[name][1])
            if evolving else Field(name, f, atol=1e300, rtol=0.0, newton_tol=phi_newton_tol,
                                   unit=what[name][0], meaning=what[name][1])
            for name, f, evolving in block.unknowns()]


def build_transport_problem(block: TransportPhysics, settings: SolverSettings,
                            prefix: str | None = None, **newton) -> TransientProblem:
    """The transport block as a :class:`TransientProblem` (MUMPS LU, per-field Newton test).

    Fields: :func:`transport_fields` (``newton``: its Newton tolerances).  The Jacobian
    is assembled and factorised at every ``settings.transport_jacobian_lag``-th Newton
    iteration of a step, and at its first unless the step starts on an earlier step's
    (``settings.transport_jacobian_reuse``; :func:`jacobian_reuse`).
    """
    pre = prefix or f"fem_cell_transport_{next(_prefixes)}_"
    return TransientProblem(transport_fields(block, settings, **newton), [block],
                            time=constant(block.domain.mesh, 0.0), prefix=pre,
                            newton_max_it=settings.newton_max_it,
                            jacobian_lag=settings.transport_jacobian_lag,
                            jacobian_reuse=jacobian_reuse(settings, block.domain),
                            linear_solver=settings.linear_solver,
                            splits=transport_splits(block),
                            schur=block.zero_current_residual,
                            local_splits=TRANSPORT_LOCAL_SPLITS,
                            nodal=block.nodal_fields())


def jacobian_reuse(settings: SolverSettings, domain: Domain) -> bool:
    """Whether transport steps may start on an earlier step's factorised Jacobian.

    ``"no"`` (the default): every step assembles its own, so Newton ends quadratically
    and the per-step proton balance holds to round-off; with reuse, the steps' last
    iterations contract linearly and it holds to the Newton tolerance (1-D: 3e-10 →
    1.5e-6 relative), for 6–17 % off the default 2-D anneal on 2 ranks
    (docs/transport.md).  ``"auto"``: with the sparse direct solver (MUMPS: 2-D, or
    1-D on several ranks), whose numeric factorisation (of the condensed system,
    fem_cell.solvers.condensed) costs about 10 back-substitutions on the default 2-D
    transport and is 30 % of a 2-D anneal (PETSc log); not with the band LU of a serial
    1-D run (a factorisation costs about one back-substitution there, and every extra
    Newton iteration a residual: measured in docs/transport.md) nor on the iterative
    path (not a modified Newton step).  ``"yes"`` needs the direct solver.
    """
    choice = settings.transport_jacobian_reuse
    if choice == "auto":
        banded = domain.dim == 1 and domain.comm.size == 1
        return settings.linear_solver == "direct" and not banded
    return choice == "yes"     # (SolverSettings refuses "yes" on the iterative path)


def transport_splits(block: TransportPhysics) -> dict[str, list[str]]:
    """Field splits of the iterative transport preconditioner: Φ (eliminated by a Schur
    complement), then the proton and trapped fractions (the Schur complement,
    preconditioned by the Jacobian of :meth:`TransportPhysics.zero_current_residual`).

    Φ is slaved to the fractions by the zero-current condition: a block Gauss–Seidel
    over (fractions, Φ) needed 104 GMRES iterations per Newton iteration (up to 235) in
    a coarse 1-D run; this split 10–12.5 with AMG blocks and 1.5 with exact ones (16
    cells per layer; docs/scaling.md).  Φ's block gets AMG, the fractions' ILU(0)
    (:data:`TRANSPORT_LOCAL_SPLITS`).
    """
    names = [n for n, _, _ in block.unknowns()]
    return {"potential": names[-1:], "protons": names[:-1]}


#: the transport splits preconditioned by ILU(0) (overlapping rank blocks,
#: :func:`fem_cell.solvers.linear.local_options`) instead of AMG: the
#: fractions'.  With Φ eliminated, their block is the time derivative, the node-local
#: trapping and exchange, and the ion-exchange diffusion D̃ (LiCoO2 9e-15 m²/s at
#: 150 °C), which couples the films' nodes through the thickness (cells 0.2–180 nm
#: thick, 1.6–165 µm wide in the meshes measured) 10²–10¹¹ times more strongly than
#: laterally, (width/thickness)²: nearly independent columns plus node-local terms.
#: GAMG coarsened it badly whatever its threshold, aggregation or smoother (at 12 cells
#: per layer 33–153 FGMRES iterations per Newton iteration); ILU(0) 18.4 there, and the
#: counts stay within 1.35× from 3 to 48 cells per layer, laterally and on 2 ranks,
#: and, with the blocks' overlap, within 1.2× from 1 to 8 ranks at a fixed size
#: (scripts/solver_scaling.py, docs/scaling.md).  Φ keeps AMG (an elliptic problem
#: over the whole film).
TRANSPORT_LOCAL_SPLITS = ("protons",)


def interface_resistance(config: RunConfig, film: Domain, block: TransportPhysics, T, *,
                         columns: tuple[float, float] | None = None) -> InterfaceResistance:
    """The configuration's degraded-layer law on a transport block's lower phase (mobile +
    trapped protons); ``columns``: 2-D lateral range (m) averaged (None: the film)."""
    lower = block.phases[0].name
    L = config.geometry.layer(DEGRADED_REGION).thickness
    return InterfaceResistance(film, block.total_fraction(lower), T,
                               config.chemistry.degraded_layer, L, columns=columns)


def pad_columns(config: RunConfig) -> tuple[float, float] | None:
    """Lateral range (m) of the Li pad of a 2-D cross-section (the narrowest layer,
    centred); None when no layer is narrower than the film."""
    g = config.geometry
    narrow = [lay for lay in g.layers if lay.width is not None and lay.width < g.width]
    if not narrow:
        return None
    w = min(lay.width for lay in narrow)
    return (0.5 * (g.width - w), 0.5 * (g.width + w))


__all__ = ["FILM_TRANSPORT_LAYERS", "TRANSPORT_LOCAL_SPLITS", "build_transport_problem",
           "film_regions", "interface_resistance", "jacobian_reuse", "pad_columns", "phases",
           "sink_boundary", "transport_block", "transport_fields"]
