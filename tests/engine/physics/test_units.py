"""Units: each physics' keys and fields in the unit system a case states, and the case's statement
itself (a known system validates, an unknown one is refused naming those there are)."""

from __future__ import annotations

import pytest

from engine.case.load import case_to_toml, parse_case
from engine.errors import CaseError, InputError
from engine.physics.registry import default_case
from engine.physics.units import UNIT_SYSTEMS, in_system, unit_label, unit_of


@pytest.mark.parametrize(
    "kind, name, system, unit",
    [
        ("heat", "k", "SI", "W/(m K)"),
        ("heat", "T", "SI", "K"),
        ("heat", "heat_flux", "SI", "W/m^2"),
        ("heat", "time.step", "SI", "s"),
        ("heat", "robin.h", "SI", "W/(m^2 K)"),
        ("heat", "T", "SI-degC", "°C"),
        ("heat", "robin.u_inf", "SI-degC", "°C"),
        ("heat", "k", "SI-degC", "W/(m K)"),  # a temperature difference: 1 K = 1 °C
        ("heat", "T_error", "SI-degC", "K"),  # so is an error
        ("heat", "T_abs_error", "SI-degC", "K"),
        ("heat", "k", "SI-mm", "mW/(mm K)"),
        ("heat", "rho", "SI-mm", "t/mm^3"),
        ("heat", "c", "SI-mm", "mJ/(t K)"),
        ("elasticity", "von_mises", "SI", "Pa"),
        ("elasticity", "stress", "SI", "Pa"),
        ("elasticity", "displacement", "SI", "m"),
        ("elasticity", "E", "SI-mm", "MPa"),
        ("elasticity", "body_force", "SI-mm", "N/mm^3"),
        ("elasticity", "von_mises", "SI-mm", "MPa"),
        ("elasticity", "nu", "SI-mm", "-"),
        ("heat", "T", "none", ""),
        ("heat", "k", "none", ""),
    ],
)
def test_each_key_and_field_has_its_unit_in_the_stated_system(kind, name, system, unit):
    assert unit_of(kind, name, system=system) == unit


def test_error_fields_take_the_unit_of_their_field_and_relative_ones_none():
    assert unit_of("elasticity", "von_mises_error") == "Pa"
    assert unit_of("elasticity", "displacement_abs_error", system="SI-mm") == "mm"
    assert unit_of("heat", "T_rel_error") == "-"
    assert unit_of("heat", "no_such_field") == "" and unit_of("heat", "no_such_field_error") == ""


def test_a_unit_the_mm_system_cannot_write_is_left_unlabelled_not_mislabelled():
    assert in_system("A/m^2", "SI-mm") == ""  # amperes: no counterpart named in the mm system
    assert in_system("1/s", "SI-mm") == "1/s"
    with pytest.raises(InputError, match="unknown unit system") as err:
        in_system("m", "cgs")
    assert all(name in str(err.value) for name in UNIT_SYSTEMS)


def test_labels_show_a_unit_in_brackets_and_none_for_a_dimensionless_value():
    assert unit_label("k", "W/(m K)") == "k [W/(m K)]"
    assert unit_label("nu", "-") == "nu" and unit_label("u", "") == "u"


@pytest.mark.parametrize("system", list(UNIT_SYSTEMS))
def test_a_case_stating_a_known_unit_system_validates_and_keeps_it(system):
    doc = default_case("elasticity")
    doc["units"] = system
    case = parse_case(doc)
    assert case.units == system
    assert parse_case(case_to_toml(case)).units == system


def test_a_case_states_si_when_it_says_nothing():
    assert parse_case(default_case("heat")).units == "SI"


def test_an_unknown_unit_system_is_refused_naming_the_accepted_ones():
    doc = default_case("heat")
    doc["units"] = "imperial"
    with pytest.raises(CaseError) as err:
        parse_case(doc)
    assert err.value.field == "units" and err.value.value == "imperial"
    assert all(repr(name) in str(err.value) for name in UNIT_SYSTEMS)
