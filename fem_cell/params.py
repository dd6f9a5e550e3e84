"""Parameters are data: one declaration per parameter (unit, bounds, meaning).

Every parameter the model reads is a field of a frozen dataclass, declared with
:func:`param` (a quantity, number, integer, flag or choice) or :func:`rate` (an
Arrhenius law).  The declaration is the only place its unit, SI bounds and meaning
live: the configuration loader (:mod:`fem_cell.config`) reads the TOML key it names,
converts the value to SI, checks it against the bounds and records where it came
from; ``fem-cell config`` shows the meaning; the physics reads the dataclass.  Cell
parameters carry **no default** (the cell file is their only source); run settings
(mesh, solver, output) carry theirs here.

Example::

    @dataclass(frozen=True)
    class Slab:
        thickness: float = param("nm", "slab thickness", lo=0.0, lo_open=True)
        diffusivity: Arrhenius = rate("m2/s", "proton diffusivity in the slab",
                                      energy_key="diffusivity_activation_energy")

:class:`Arrhenius` is the one temperature law: k(T) = k_ref · exp(−E_a/k_B (1/T − 1/T_ref)),
with k_ref at T_ref (SI), E_a in J (written in eV at the edges), T_ref in K.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fem_cell.constants import BOLTZMANN_EV, ELEMENTARY_CHARGE, ZERO_CELSIUS

#: one electronvolt (J)
EV = ELEMENTARY_CHARGE
#: Boltzmann constant (J/K)
K_B = BOLTZMANN_EV * ELEMENTARY_CHARGE
#: reference temperature of the Arrhenius laws unless a section names its own (K)
T_REF = 25.0 + ZERO_CELSIUS
#: largest activation energy of any Arrhenius law (J)
MAX_ACTIVATION_ENERGY = 5.0 * EV

KINDS = ("quantity", "number", "integer", "boolean", "choice", "path", "rate", "derived")


@dataclass(frozen=True)
class Spec:
    """How one parameter is written, bounded and explained.

    Args:
        kind: ``quantity`` (a number with a unit), ``number`` (a bare number),
            ``integer``, ``boolean``, ``choice``, ``path``, ``rate`` (an Arrhenius law:
            a quantity at T_ref plus the activation energy under ``energy_key``) or
            ``derived`` (filled by the loader from other parameters, never written).
        unit: the unit values are written and shown in (``"m2/s"``, ``"eV"``,
            ``"degC"``, ``"1"`` for dimensionless).
        doc: what the parameter means (one sentence, shown by ``fem-cell config``).
        lo, hi: SI bounds; ``lo_open``/``hi_open`` make them exclusive.
        text: the bounds in words for error messages (e.g. ``"> 0 and < 1 m2/s"``).
        example: a valid value as a user writes it (``"1e-26 m2/s"``).
        choices: the allowed values of a ``choice``.
        energy_key: ``rate``: the TOML key of the activation energy.
        energy_lo, energy_hi: SI bounds of that activation energy (J).
        plausible: ``(lo, hi)``, SI: the physically plausible range of the value (for a
            ``rate``: of its prefactor k(T → ∞)); outside it the loader warns.
        plausible_note: where the plausible range comes from.
        difference: a temperature difference (K and degC are the same size).
        optional: may be absent (the field is then None).
        key: the TOML key when it differs from the field name.
    """

    kind: str
    unit: str = "1"
    doc: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    text: str = ""
    example: str = ""
    choices: tuple = ()
    energy_key: str = ""
    energy_lo: float = 0.0
    energy_hi: float = MAX_ACTIVATION_ENERGY
    plausible: tuple[float, float] | None = None
    plausible_note: str = ""
    difference: bool = False
    optional: bool = False
    key: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def ok(self, v: float) -> bool:
        """Whether the SI value v lies within the bounds."""
        return ((v > self.lo if self.lo_open else v >= self.lo)
                and (v < self.hi if self.hi_open else v <= self.hi))

    def energy_ok(self, e: float) -> bool:
        return self.energy_lo <= e <= self.energy_hi

    def problem(self, v: Any) -> str | None:
        """What is wrong with a value of this parameter (SI), or None."""
        if self.kind == "derived" or (v is None and self.optional):
            return None
        if self.kind == "choice":
            return None if v in self.choices else f"one of {list(self.choices)}"
        if self.kind == "boolean":
            return None if isinstance(v, bool) else "true or false"
        if self.kind == "path":
            return None if v is None or isinstance(v, str) else "a path"
        if self.kind == "rate":
            if not isinstance(v, Arrhenius):
                return "an Arrhenius law"
            if not (math.isfinite(v.value) and self.ok(v.value)):
                return f"a value {self.text or 'within its bounds'} ({self.unit})"
            if not self.energy_ok(v.activation_energy):
                return "an activation energy within its bounds"
            return None
        if v is None:
            return None if self.kind == "quantity" and self.optional else "a value"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a number"
        if self.kind == "integer" and int(v) != v:
            return "an integer"
        if not (math.isfinite(v) and self.ok(v)):
            return f"a value {self.text or 'within its bounds'} (SI)"
        return None


class Declared:
    """Base of declared parameter dataclasses: construction checks every declared field
    against its :class:`Spec` (a Python user gets the same bounds as a cell file)."""

    def __post_init__(self):
        for name, s in specs(type(self)).items():
            v = getattr(self, name)
            p = s.problem(v)
            if p is not None:
                raise ValueError(f"{type(self).__name__}.{name} = {v!r}: expected {p}")


def _field(spec: Spec, default: Any) -> dataclasses.Field:
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"spec": spec})
    return dataclasses.field(default=default, metadata={"spec": spec})


def param(unit: str, doc: str, *, default: Any = dataclasses.MISSING, kind: str | None = None,
          **spec: Any) -> Any:
    """Declare a dataclass field as a parameter.

    Args:
        unit: unit it is written in (``"1"`` dimensionless; ``""`` for integers, flags,
            choices and paths).
        doc: its meaning.
        default: run settings only; cell parameters have none.
        kind: default ``quantity`` (``number`` when the unit is ``"1"``; ``choice``
            when ``choices`` are given).
        **spec: further :class:`Spec` fields (bounds, example, choices, ...).
    """
    if kind is None:
        kind = "choice" if spec.get("choices") else ("number" if unit == "1" else "quantity")
    return _field(Spec(kind, unit, doc, **spec), default)


def rate(unit: str, doc: str, *, energy_key: str, default: Any = dataclasses.MISSING,
         **spec: Any) -> Any:
    """Declare an Arrhenius-law field: its value at T_ref (``unit``) under the field's
    key, its activation energy (eV) under ``energy_key``."""
    return _field(Spec("rate", unit, doc, energy_key=energy_key, **spec), default)


def derived(unit: str, doc: str) -> Any:
    """A field the loader derives from other parameters (never written in a file)."""
    return _field(Spec("derived", unit, doc), dataclasses.MISSING)


def specs(cls) -> dict[str, Spec]:
    """Field name → :class:`Spec` of a declared dataclass (undeclared fields skipped)."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata}


def key_of(name: str, spec: Spec) -> str:
    """The TOML key of a field."""
    return spec.key or name


def defaults(cls) -> dict[str, Any]:
    """Field name → default of the fields that have one."""
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}


# ------------------------------------------------------------------------- Arrhenius --
def _is_number(x) -> bool:
    return isinstance(x, (int, float)) or type(x).__module__ == "numpy"


@dataclass(frozen=True)
class Arrhenius:
    """k(T) = value · exp(−E_a/k_B · (1/T − 1/T_ref)).

    Args:
        value: k at ``T_ref`` (SI unit of the quantity).
        activation_energy: E_a (J; 1 eV = 1.602176634e-19 J).
        T_ref: reference temperature (K).
    """

    value: float
    activation_energy: float
    T_ref: float = T_REF

    def factor(self, T):
        """exp(−E_a/k_B (1/T − 1/T_ref)): float for a number T, an array for a numpy
        array of temperatures, UFL for a UFL T."""
        arg = -self.activation_energy / K_B * (1.0 / T - 1.0 / self.T_ref)
        if getattr(T, "ndim", 0):
            import numpy as np

            return np.exp(arg)
        if _is_number(T):
            return math.exp(arg)
        if self.activation_energy == 0.0:
            return 1.0
        import ufl

        return ufl.exp(arg)

    def __call__(self, T):
        """k(T) (float for a number, array for an array, UFL expression for a UFL T)."""
        f = self.factor(T)
        return self.value * f if not (isinstance(f, float) and f == 1.0) else self.value

    def inverse(self, T):
        """value / factor(T): a quantity whose *inverse* is thermally activated (e.g. a
        resistance whose conductance follows the law)."""
        return self.value / self.factor(T)

    @classmethod
    def from_prefactor(cls, prefactor: float, activation_energy: float,
                       T_ref: float = T_REF) -> Arrhenius:
        """The law k(T) = prefactor · exp(−E_a/(k_B T)), stored by its value at T_ref."""
        return cls(prefactor * math.exp(-activation_energy / (K_B * T_ref)), activation_energy,
                   T_ref)

    @property
    def prefactor(self) -> float:
        """k(T → ∞) = value · exp(E_a/(k_B T_ref)) (SI)."""
        return self.value * math.exp(self.activation_energy / (K_B * self.T_ref))

    @property
    def activation_energy_ev(self) -> float:
        return self.activation_energy / EV

    def scaled(self, factor: float) -> Arrhenius:
        """The same law with its value multiplied by ``factor``."""
        return dataclasses.replace(self, value=self.value * factor)


def hop_diffusivity(jump: float, attempt_frequency: float) -> float:
    """Prefactor a²ν/6 (m²/s) of a lattice hop of length a (m) at attempt frequency ν (1/s)."""
    return jump**2 * attempt_frequency / 6.0


def walk(obj, prefix: str = "") -> list[tuple[str, Spec, Any]]:
    """Every declared parameter inside a dataclass instance, recursively:
    ``(dotted field path, spec, value)``."""
    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if "spec" in f.metadata:
            out.append((path, f.metadata["spec"], v))
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            out.extend(walk(v, path + "."))
        elif isinstance(v, dict):
            for k, item in v.items():
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    out.extend(walk(item, f"{path}.{k}."))
    return out


Law = Callable[[Any, Any], Any]

__all__ = ["Arrhenius", "Declared", "EV", "K_B", "Law", "MAX_ACTIVATION_ENERGY", "Spec", "T_REF",
           "defaults", "derived", "hop_diffusivity", "key_of", "param", "rate", "specs", "walk"]
