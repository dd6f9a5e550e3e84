"""Several transient problems advanced together by one time stepper.

The anneal couples heat (on the whole stack) to Li⁺/H⁺ transport (on the film
sub-mesh) one way: transport reads the temperature, heat does not depend on the ions
(their Joule and mixing heats are negligible at open circuit).  Within every time step
:class:`SequentialProblem` therefore solves heat, hands the new temperature to the
transport block (``couplings``), then solves transport at the same time level — the
same discrete solution as a monolithic solve of the block-triangular system, with two
smaller factorisations instead of one large one, and each problem keeps its own
Newton tolerances and linear solver (Cholesky for heat, LU for the non-symmetric
transport Jacobian).

The stepper sees one problem: the state is the concatenation of the sub-problems'
fields, the local error estimate is the maximum over all fields, a Newton failure in
either part rejects the step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fem_cell.solvers.problem import TransientProblem


class SequentialProblem:
    """Problems solved in order within each step (the stepper's problem protocol).

    Args:
        problems: the sub-problems, in solve order.
        couplings: ``couplings[k]`` (or None) is called before problem k is solved, e.g.
            to copy the temperature just computed by problem k−1.
        prefix: a name for messages.
    """

    def __init__(self, problems: Sequence[TransientProblem],
                 couplings: Sequence[Callable[[], None] | None] | None = None,
                 prefix: str = "fem_cell_coupled"):
        self.problems = list(problems)
        self.couplings = list(couplings) if couplings is not None else [None] * len(problems)
        if len(self.couplings) != len(self.problems):
            raise ValueError("one coupling (or None) per problem")
        self.prefix = prefix
        self.comm = self.problems[0].comm
        self.fields = [f for p in self.problems for f in p.fields]
        self._counts = [len(p.fields) for p in self.problems]
        self.last_iterations: list[int] = [0] * len(self.problems)
        #: why the last solve failed (the failing sub-problem's ``last_error``)
        self.last_error: str | None = None

    def destroy(self) -> None:
        """Destroy every sub-problem's PETSc objects, in solve order (collective)."""
        for p in self.problems:
            p.destroy()

    def _split(self, state: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        out, i = [], 0
        for n in self._counts:
            out.append(list(state[i:i + n]))
            i += n
        return out

    def set_time_level(self, t_new: float, dt: float, order: int, dt_prev: float | None) -> None:
        for p in self.problems:
            p.set_time_level(t_new, dt, order, dt_prev)

    def solve(self) -> tuple[bool, int, int]:
        total = 0
        for k, (p, couple) in enumerate(zip(self.problems, self.couplings, strict=False)):
            if couple is not None:
                couple()
            ok, its, reason = p.solve()
            self.last_iterations[k] = its
            total += its
            if not ok:
                self.last_error = f"{p.prefix}: {p.last_error}" if p.last_error else None
                return False, total, reason
        self.last_error = None
        return True, total, 1

    def get_state(self) -> list[np.ndarray]:
        return [a for p in self.problems for a in p.get_state()]

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        for p, s in zip(self.problems, self._split(state), strict=False):
            p.set_state(s)
        for couple in self.couplings:  # keep coupled data consistent with the state
            if couple is not None:
                couple()

    def set_history(self, u_n: Sequence[np.ndarray], u_nm1: Sequence[np.ndarray]) -> None:
        for p, a, b in zip(self.problems, self._split(u_n), self._split(u_nm1), strict=False):
            p.set_history(a, b)

    def error_norm(self, state: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                   factor: float) -> float:
        return max(p.error_norm(s, r, factor) for p, s, r in
                   zip(self.problems, self._split(state), self._split(reference), strict=False))
