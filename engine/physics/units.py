"""Units: what the numbers of a case and of its results are in.

The solvers compute with the numbers as given and convert nothing. A case states the system its
numbers are in (its top-level ``units``), so that the app, the documents and the exported files
label every key and field of it. Each physics declares its units in SI (``PhysicsSpec.units``
and its output fields); the other systems are read from those.

Examples
--------
>>> unit_of("heat", "k"), unit_of("heat", "T"), unit_of("elasticity", "von_mises", system="SI-mm")
('W/(m K)', 'K', 'MPa')
>>> unit_of("heat", "T_rel_error"), unit_of("heat", "robin.h", system="SI-mm"), unit_of("heat", "T", system="none")
('-', 'mW/(mm^2 K)', '')
>>> unit_of("heat", "T", system="SI-degC"), unit_of("heat", "k", system="SI-degC")
('°C', 'W/(m K)')
>>> unit_label("T", unit_of("heat", "T")), unit_label("nu", unit_of("elasticity", "nu")), unit_label("u", "")
('T [K]', 'nu', 'u')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from engine.result import Result

__all__ = ["LENGTH", "UNIT_SYSTEMS", "UnitSystem", "carried_unit", "in_system", "unit_label", "unit_of"]

#: The systems a case may state, with what each means.
UNIT_SYSTEMS: dict[str, str] = {
    "SI": "metre, kilogram, second, kelvin (newton, pascal, joule, watt): the units each physics declares",
    "SI-degC": "SI with temperatures in degrees Celsius (a temperature difference, as in W/(m K), is the same)",
    "SI-mm": "millimetre, tonne, second, kelvin (newton, megapascal, millijoule, milliwatt): "
    "the consistent set for parts measured in millimetres (E = 210000 for steel)",
    "none": "no units shown: the numbers are in whatever consistent units the case's author chose",
}
UnitSystem = Literal["SI", "SI-degC", "SI-mm", "none"]

#: The SI unit of lengths: coordinates, element sizes, thicknesses.
LENGTH = "m"

# Each SI unit's counterpart in the mm-tonne-second system. Swapping the symbols is exact because
# each counterpart is that system's coherent unit (1 t * 1 mm/s^2 = 1 N, 1 N/mm^2 = 1 MPa, ...).
_SI_MM = {"m": "mm", "kg": "t", "s": "s", "K": "K", "mol": "mol", "N": "N", "Pa": "MPa", "J": "mJ", "W": "mW"}
_SYMBOL = re.compile(r"[A-Za-z]+")


def in_system(si_unit: str, system: str) -> str:
    """An SI unit (``"W/(m^2 K)"``) as written in ``system``; "" where none is shown or known.

    A unit made of symbols the mm system has no counterpart for (a plug-in's ``"A"`` or ``"h"``)
    is "" there: no label rather than a wrong one.

    Raises
    ------
    InputError
        ``system`` is not one of ``UNIT_SYSTEMS``.
    """
    if system not in UNIT_SYSTEMS:
        from engine.errors import InputError

        raise InputError("unknown unit system", field="units", value=system, expected=f"one of {', '.join(UNIT_SYSTEMS)}")
    if system == "none":
        return ""
    if system == "SI" or si_unit in ("", "-"):
        return si_unit
    if system == "SI-degC":
        return "°C" if si_unit == "K" else si_unit  # K alone is a temperature; within a unit, a difference
    if any(symbol not in _SI_MM for symbol in _SYMBOL.findall(si_unit)):
        return ""
    return _SYMBOL.sub(lambda m: _SI_MM[m.group()], si_unit)


def unit_of(kind: str, name: str, *, system: str = "SI") -> str:
    """The unit of a key or a result field of physics ``kind``, in ``system``; "" if none is known.

    ``name`` is a key as the physics declares it (``"k"``, ``"time.step"``, ``"robin.h"`` for a
    boundary condition's key), an output field (``"T"``, ``"von_mises"``; its components and its
    magnitude share its unit), or a comparison's error field: ``"T_error"`` and ``"T_abs_error"``
    in the unit of ``T``, ``"T_rel_error"`` dimensionless.
    """
    from engine.physics.registry import get_physics

    spec = get_physics(kind)
    unit = spec.unit(name)
    if not unit:
        for suffix, same in (("_rel_error", False), ("_abs_error", True), ("_error", True)):
            base = name.removesuffix(suffix)
            if base != name and spec.unit(base):
                unit = spec.unit(base) if same else "-"
                if unit == "K" and system == "SI-degC":
                    return "K"  # an error is a temperature difference: kelvin, never degrees Celsius
                break
    return in_system(unit, system)


def unit_label(text: str, unit: str) -> str:
    """``text`` with its unit in brackets (``"T [K]"``); ``text`` alone when it has none ("") or
    is dimensionless ("-", which is also a diffusion case's own consistent unit: no label says more)."""
    return f"{text} [{unit}]" if unit and unit != "-" else text


def carried_unit(results: Mapping[str, Result], name: str) -> str:
    """The unit field ``name`` carries in ``results`` (by solver; a solve labels its fields in its
    case's unit system, a result file keeps them); "" when none of them gives it one."""
    return next((r.fields[name].units for r in results.values() if name in r.fields and r.fields[name].units), "")
