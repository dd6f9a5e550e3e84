"""Unit strings → SI."""

import math

import pytest

from fem_cell.errors import UnitError
from fem_cell.units import from_si, parse_quantity, parse_unit, to_si


@pytest.mark.parametrize(("value", "unit", "si"), [
    (150, "degC", 423.15),
    (150, "°C", 423.15),
    (300, "K", 300.0),
    (5, "K/min", 5 / 60),
    (5, "degC/min", 5 / 60),
    (100, "nm", 1e-7),
    (1, "um", 1e-6),
    (1, "µm", 1e-6),
    (0.5, "mm", 5e-4),
    (60, "min", 3600.0),
    (1, "h", 3600.0),
    (11.5, "W/(m K)", 11.5),
    (11.5, "W/m/K", 11.5),
    (5120, "kg/m3", 5120.0),
    (5120, "kg m-3", 5120.0),
    (5.12, "g/cm3", 5120.0),
    (540, "J/(kg K)", 540.0),
    (3e-7, "S/cm", 3e-5),
    (10, "Ohm cm2", 1e-3),
    (10, "Ω cm²", 1e-3),
    (10, "uF/cm2", 0.1),
    (1e-12, "cm2/s", 1e-16),
    (1, "eV", 1.602176634e-19),
    (5.16e4, "mol/m3", 5.16e4),
    (2, "1", 2.0),
])
def test_to_si(value, unit, si):
    assert math.isclose(to_si(value, unit), si, rel_tol=1e-12)


def test_dimension_check():
    assert to_si(1, "um", "length") == pytest.approx(1e-6)
    with pytest.raises(UnitError, match="is a temperature, expected a length"):
        to_si(1, "K", "length")
    with pytest.raises(UnitError, match="expected a thermal conductivity"):
        to_si(1, "W/m", "thermal conductivity")


@pytest.mark.parametrize("bad", ["furlong", "m/", "W/(m K", "m)", "", "kg**"])
def test_bad_units(bad):
    if bad == "":
        assert parse_unit(bad).factor == 1.0  # empty = dimensionless
        return
    with pytest.raises(UnitError):
        parse_unit(bad)


def test_quantity_and_inverse():
    assert parse_quantity("150 degC", "temperature") == pytest.approx(423.15)
    assert parse_quantity("1e-3 S/cm") == pytest.approx(0.1)
    with pytest.raises(UnitError, match="has no unit"):
        parse_quantity("5", "length")
    with pytest.raises(UnitError, match="not '<number> <unit>'"):
        parse_quantity("um 5", "length")
    assert from_si(423.15, "degC") == pytest.approx(150.0)
    assert from_si(1e-3, "Ohm cm2") == pytest.approx(10.0)


def test_clean_and_format_numbers():
    from fem_cell.units import clean_number, format_number

    assert clean_number(90 * 1e-9) == 9e-08
    assert clean_number(0.1 + 0.2) == 0.3
    assert clean_number(3) == 3 and clean_number(True) is True and clean_number(None) is None
    assert clean_number("x") == "x" and math.isinf(clean_number(math.inf))
    assert format_number(to_si(90, "nm")) == "9e-08"
    assert format_number(to_si(3e-7, "S/cm")) == "3e-05"
    assert format_number(25) == "25" and format_number(423.15) == "423.15"


def test_huge_integer_is_a_unit_error():
    with pytest.raises(UnitError, match="too large"):
        to_si(10**400, "um")


def test_si_units_cover_every_dimension():
    from fem_cell.units import DIMENSIONS, SI_UNITS

    assert set(SI_UNITS) == set(DIMENSIONS)
    for name, unit in SI_UNITS.items():
        u = parse_unit(unit)
        assert u.dims == DIMENSIONS[name] and u.factor == 1.0, name


def test_parsed_units_are_memoised_and_errors_are_not():
    """A configuration parses the same few unit strings hundreds of times: they are
    memoised (a Unit is immutable); a bad string raises every time, and a non-string
    raises UnitError (not the memo's TypeError for an unhashable argument)."""
    assert parse_unit("W/(m K)") is parse_unit("W/(m K)")
    assert parse_unit("W/(m K)") == parse_unit(" W / ( m K ) ")
    for _ in range(2):
        with pytest.raises(UnitError):
            parse_unit("W/(m K")
    with pytest.raises(UnitError, match="must be a string"):
        parse_unit(["m"])
