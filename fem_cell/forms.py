"""Compiled forms whose kernels do not depend on parameter values.

FFCx names a compiled form after its UFL signature, and the signature contains every
float literal of the form.  The physics writes parameters into UFL as Python floats (an
Arrhenius law is ``value * exp(-E/k_B (1/T - 1/T_ref))``), so every new parameter value
used to make a new C module:

* a 1-D exposure + anneal with one activation energy changed took 4.05 s instead of
  1.61 s (2.4 s of C compilation per case);
* a calibration or posterior run left one set of modules per evaluation in the JIT cache
  (38,553 files, 827 MB after a few hundred evaluations here), and because FFCx lists
  the cache directory on every look-up, that slowed every later case by 0.9 s.

:func:`compile_form` lifts every float literal of a form into a ``dolfinx.fem.Constant``
before compiling it.  A constant enters the signature by its position, not its value, so
a form's kernel depends only on the form's structure: one compilation per structure,
whatever the values.  Structure still includes which terms exist (a coefficient that is
exactly zero removes its term, UFL represents it as ``Zero``), so a value crossing zero
compiles once more; that is all.

Every form and expression the package compiles goes through here (the import-layer check in
``scripts/import_layers.py`` keeps it below the physics and solver layers).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import ufl
from ufl.algorithms.map_integrands import map_integrands
from ufl.constantvalue import FloatValue, IntValue
from ufl.core.multiindex import FixedIndex, MultiIndex

from fem_cell._dolfinx import fem


def _operand_order_key(o, memo: dict):
    """A sort key of ``o`` that ignores float values (memoised by object id).

    UFL sorts the two operands of a sum, a product or an inner product by comparing
    them, float values included, so the order, and with it the kernel, could change
    with a parameter value.  This key compares structure only: type codes,
    coefficient and constant creation order, argument numbers, fixed indices; every
    float literal compares equal to every other.
    """
    k = memo.get(id(o))
    if k is not None:
        return k
    tc = o._ufl_typecode_
    if isinstance(o, FloatValue):
        k = (tc, 0)
    elif isinstance(o, (ufl.Coefficient, ufl.Constant)):
        k = (tc, o.count())
    elif isinstance(o, ufl.Argument):
        k = (tc, (o.number(), -1 if o.part() is None else o.part()))
    elif isinstance(o, MultiIndex):
        k = (tc, tuple(i._value if isinstance(i, FixedIndex) else -1 for i in o))
    elif isinstance(o, IntValue):
        k = (tc, o.value())
    elif o._ufl_is_terminal_:
        k = (tc, repr(o))
    else:
        k = (tc, tuple(_operand_order_key(op, memo) for op in o.ufl_operands))
    memo[id(o)] = k
    return k


#: counts of the package's constants: all of the same width (16 digits), see constant()
_COUNTS = itertools.count(10**15)


def constant(domain, value) -> fem.Constant:
    """A ``dolfinx.fem.Constant`` whose UFL count has a fixed width.

    UFL orders the operands of sums, products and inner products by comparing them, and
    compares two constants by their text, count included: "c_10" sorts before "c_9",
    so whether a form came out as ``a + b`` or ``b + a`` (a different kernel) depended
    on how many constants the process had made before.  Counts of one width compare as
    text the way they compare as numbers, i.e. in creation order, which is the same in
    every build of a model.  Use this for every constant that enters a form.
    """
    c = fem.Constant(domain, value)
    ufl.Constant.__init__(c, c.ufl_domain(), c.ufl_shape, count=next(_COUNTS))
    return c


class _LiftFloats:
    """Replace each float literal by a :func:`constant` of the same value on ``domain``.

    Three rules keep the result independent of the values:

    * each literal *object* gets its own constant (UFL's ``map_expr_dag`` memoises by
      structural equality, which would merge two parameters that happen to have the
      same value into one constant, and so give another kernel when they differ: the
      default cell's two 0.8 eV activation energies did); sub-expressions shared by
      identity are mapped once;
    * the operands of a node are visited, and so their constants created, in an order
      that ignores values (:func:`_operand_order_key`): UFL had sorted them comparing
      the values;
    * the constants have fixed-width counts (:func:`constant`), so UFL's re-sorting of
      the rebuilt nodes follows their creation order.
    """

    def __init__(self, domain):
        self._domain = domain
        self._memo: dict[int, ufl.core.expr.Expr] = {}
        self._keys: dict[int, tuple] = {}
        self.lifted = 0

    def __call__(self, o):
        key = id(o)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if isinstance(o, FloatValue):
            self.lifted += 1
            out = constant(self._domain, float(o))
        elif o._ufl_is_terminal_:
            out = o
        else:
            operands = o.ufl_operands
            order = sorted(range(len(operands)),
                           key=lambda i: _operand_order_key(operands[i], self._keys))
            mapped = [None] * len(operands)
            for i in order:
                mapped[i] = self(operands[i])
            unchanged = all(a is b for a, b in zip(mapped, operands, strict=True))
            out = o if unchanged else o._ufl_expr_reconstruct_(*mapped)
        self._memo[key] = out
        return out


def lift_constants(form: ufl.Form) -> ufl.Form:
    """The same form with its float literals as ``fem.Constant`` s (values unchanged).

    Integer literals stay (they are exponents and indices, structure rather than
    parameters); zero is UFL's ``Zero`` and stays.
    """
    if form is None or form.empty():
        return form
    domain = form.ufl_domains()[0]
    return map_integrands(_LiftFloats(domain), form)


class Terms:
    """A form built term by term and made a ``ufl.Form`` once (:meth:`form`).

    ``F += t`` on UFL forms makes a new ``ufl.Form`` of all the integrals so far, and
    UFL's ``Form`` constructor walks every node of every integrand (to list the
    constants): a residual of n terms built by additions walked about n²/2 integrands.
    In a 1-D exposure + anneal UFL's form constructions were the largest part of
    building the problems (docs/architecture.md).  ``Terms`` keeps the integrals and
    makes one ``Form`` of them, the same form the additions made: the same integrals in
    the same order (UFL groups a form's integrals by domain, type and subdomain and
    keeps the order of addition within a group, however many times it regroups), so the
    same signature and kernels (tests/unit/test_forms.py).
    """

    def __init__(self, *forms: ufl.Form | None):
        self._integrals: list = []
        for f in forms:
            self += f

    def __iadd__(self, form: ufl.Form | None) -> Terms:
        if form is not None:
            self._integrals.extend(form.integrals())
        return self

    def __isub__(self, form: ufl.Form) -> Terms:
        self._integrals.extend((-form).integrals())
        return self

    def form(self) -> ufl.Form | None:
        """The sum of the terms added (None if there were none)."""
        return ufl.Form(self._integrals) if self._integrals else None


#: (F's UFL signature, the position of u among F's coefficients) → the UFL signature of
#: ∂F/∂u (see jacobian_form)
_JACOBIAN_SIGNATURES: dict[tuple[str, int], str] = {}


def jacobian_form(F: ufl.Form, u) -> ufl.Form:
    """J = ∂F/∂u[δu], δu a trial function of u's space: the form dolfinx's
    ``NonlinearProblem`` makes (``derivative_block(F, u)``), with its UFL signature known
    without walking it when this process has differentiated a form of F's structure
    before.

    The JIT looks every form up by its signature, and UFL computes a signature by hashing
    every node of the form: a Jacobian (F's integrands inside a ``CoefficientDerivative``)
    cost as much as F again, 16 ms of the three problems of a 1-D case.  J is a function
    of F and of which coefficient u is, and UFL numbers a form's coefficients (and
    constants and domains) in the same order in J as in F: so two forms F of equal
    signature give Jacobians of equal signature when u is the same coefficient of each.
    That pair is the key of J's signature, which F's own compilation has computed
    anyway (``tests/unit/test_forms.py`` checks the signature known against the one UFL
    computes, on the models' problems).  A u that is not a coefficient of F: nothing
    known, UFL computes it."""
    from dolfinx.fem.forms import derivative_block

    J = derivative_block(F, u)
    coefficients = F.coefficients()
    if u not in coefficients:
        return J
    key = (F.signature(), coefficients.index(u))
    known = _JACOBIAN_SIGNATURES.get(key)
    if known is None:
        _JACOBIAN_SIGNATURES[key] = J.signature()
    else:
        J._signature = known       # what Form.signature() caches (a str)
    return J


#: cells on which the vertex rule (Gauss–Lobatto–Legendre, degree 1) exists in basix
_VERTEX_RULE_CELLS = ("interval", "quadrilateral", "hexahedron")


def vertex_quadrature(form: ufl.Form | None) -> ufl.Form | None:
    """The form with every cell integral evaluated by the vertex rule (on intervals,
    quadrilaterals and hexahedra; other cells, facet integrals and None unchanged).

    On a rectangle the vertex rule turns the Q1 stiffness matrix into the 5-point
    finite-difference stencil: only negative couplings to the four edge neighbours
    (an M-matrix), where the exact Q1 matrix of a cell of aspect ratio a ≫ 1 couples
    its long-edge neighbours with a *positive* weight ≈ a/6.  The two are spectrally
    equivalent, K ≤ K_vertex ≤ 3 K whatever the aspect ratio (tensor products of the 1-D
    P1 consistent and lumped mass matrices; tests/unit/test_linear_solver.py), so the
    vertex-rule Jacobian is a preconditioner matrix on which algebraic multigrid works
    for the thin films' cells of aspect ratio 1e3–1e4 (:mod:`fem_cell.solvers.linear`).
    """
    if form is None or form.empty():
        return form
    out = []
    for itg in form.integrals():
        cell = itg.ufl_domain().ufl_cell().cellname
        if itg.integral_type() == "cell" and cell in _VERTEX_RULE_CELLS:
            md = {**itg.metadata(), "quadrature_rule": "GLL", "quadrature_degree": 1}
            itg = itg.reconstruct(metadata=md)
        out.append(itg)
    return ufl.Form(out)


def _lift_nested(a):
    if a is None:
        return None
    if isinstance(a, ufl.Form):
        return lift_constants(a)
    if isinstance(a, Sequence):
        return [_lift_nested(x) for x in a]
    raise TypeError(f"expected a UFL form or a (nested) list of forms, got {type(a).__name__}")


def compile_form(a, **kwargs):
    """``dolfinx.fem.form`` of ``a`` (a form or nested list of forms, None allowed) with
    its float literals lifted into constants (:func:`lift_constants`); ``kwargs`` go to
    ``fem.form`` (e.g. ``entity_maps``)."""
    return fem.form(_lift_nested(a), **kwargs)


class FormsOnDemand:
    """Forms compiled on first use, one per key: ``forms(key, build)`` compiles
    ``build()`` (:func:`compile_form`) the first time ``key`` is asked for and returns
    that compiled form ever after.  For diagnostics a run may never ask for; compiling
    is collective, so every rank asks for the same keys in the same order."""

    def __init__(self):
        self._compiled: dict = {}

    def __call__(self, key, build):
        form = self._compiled.get(key)
        if form is None:
            form = self._compiled[key] = compile_form(build())
        return form


def compile_expression(expr, points) -> fem.Expression:
    """``dolfinx.fem.Expression`` of a UFL expression at ``points`` with its float
    literals lifted into constants (as :func:`compile_form`)."""
    domain = ufl.domain.extract_unique_domain(expr)
    if domain is not None:
        expr = _LiftFloats(domain)(expr)
    return fem.Expression(expr, points)
