"""Physics blocks.  Each returns UFL forms: the coefficient of ∂u/∂t (``mass``) and
the steady residual G(u) (``residual``); solvers compose them (see
:mod:`fem_cell.solvers.problem`)."""
