"""Which widget each key of a case table calls for, read from the table's pydantic model.

The case panel builds its physics form and a boundary condition's form from these, so a form
follows its schema: a plug-in's keys, a nested table such as ``[physics.forces]``, an optional
one that a switch turns on, with no rule per key in the panel. Qt-free, so it is tested alone.

Examples
--------
>>> from engine.physics.navier_stokes import NavierStokesPhysics
>>> [field_shape(NavierStokesPhysics, k).kind for k in ("mu", "initial", "forces", "pressure_difference", "newton")]
['number', 'vector', 'table', 'probes', 'table']
>>> field_shape(NavierStokesPhysics, "time").optional, field_shape(NavierStokesPhysics, "newton").optional
(True, False)
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from engine.physics.values import Coefficient

__all__ = ["FieldShape", "field_shape", "form_layout", "names_text", "parse_names", "shown_value", "start_probes", "start_table"]

# pydantic keeps a field's Annotated validators apart from its type: a top-level Coefficient's
# annotation is this union, one inside a list or an Optional keeps its Annotated wrapper.
_COEFFICIENT = typing.get_args(Coefficient)[0]

#: Starting values of required numbers with no default, for a table switched on in the form:
#: ten time steps to t = 1, as the heat form has always started a transient case.
_STARTS: Mapping[str, float] = {"end": 1.0, "step": 0.1}

Kind = Literal["table", "coefficient", "vector", "choice", "switch", "integer", "number", "regions", "probes", "text", "other"]


@dataclass(frozen=True)
class FieldShape:
    """What a key holds, as a form shows it.

    ``kind``: ``"table"`` (a nested model, ``table``), ``"coefficient"`` (a number, an expression
    or a file field), ``"vector"`` (a list of coefficients), ``"choice"`` (``choices``),
    ``"switch"`` (a boolean), ``"integer"``, ``"number"``, ``"regions"`` or ``"probes"`` (names
    of the mesh's regions or the case's probes), ``"text"``, or ``"other"`` (a type no form
    edits: shown, edited in the case file). ``optional``: None is allowed and the key may be
    left out (its absence means "none", not a default). ``length``: the fixed number of items
    of a list (two probes), None where it may vary (a vector takes the mesh's dimension).
    ``many``: a name key that takes one name or a list of them; ``listed``: one that takes a
    list only (one name is a list of one).
    """

    kind: Kind
    optional: bool = False
    table: type[BaseModel] | None = None
    choices: tuple[str, ...] = ()
    length: int | None = None
    many: bool = False
    listed: bool = False


def _strip(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _is_coefficient(annotation: Any) -> bool:
    return _strip(annotation) == _COEFFICIENT


def _names_kind(name: str, description: str | None) -> Kind:
    words = f"{name} {description or ''}".lower()
    return "probes" if "probe" in words else "regions" if "region" in words else "text"


def field_shape(model: type[BaseModel], name: str) -> FieldShape:
    """The shape of key ``name`` of ``model`` (a case table's pydantic model)."""
    info = model.model_fields[name]
    members = tuple(_strip(m) for m in _union_members(_strip(info.annotation)))
    optional = type(None) in members
    members = tuple(m for m in members if m is not type(None))
    sizes = [m for m in info.metadata if hasattr(m, "min_length") or hasattr(m, "max_length")]
    low = next((m.min_length for m in sizes if hasattr(m, "min_length")), None)
    high = next((m.max_length for m in sizes if hasattr(m, "max_length")), None)
    length = low if low is not None and low == high else None
    inner = members[0] if len(members) == 1 else typing.Union[members]  # noqa: UP007 (a union built at run time)
    item = typing.get_args(inner)[0] if typing.get_origin(inner) is list and typing.get_args(inner) else None

    if _is_coefficient(inner) or (name in getattr(model, "coefficient_fields", ()) and item is None):
        return FieldShape("coefficient", optional)
    if item is not None and _is_coefficient(item):
        return FieldShape("vector", optional, length=length)
    if typing.get_origin(inner) is Literal:
        return FieldShape("choice", optional, choices=tuple(str(a) for a in typing.get_args(inner)))
    if inner is bool:
        return FieldShape("switch", optional)
    if inner is int:
        return FieldShape("integer", optional)
    if inner is float:
        return FieldShape("number", optional)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return FieldShape("table", optional, table=inner)
    if inner is str or set(members) == {str, list[str]}:
        return FieldShape(_names_kind(name, info.description), optional, many=len(members) > 1)
    if item is str:
        kind = _names_kind(name, info.description)
        if kind == "probes" and length is None:
            kind = "text"  # a free number of probes: typed as a list
        return FieldShape(kind, optional, length=length, listed=True)
    return FieldShape("other", optional)


def shown_value(model: type[BaseModel], name: str, table: Mapping[str, Any] | None) -> Any:
    """What a form shows for key ``name``: the table's value, else the key's default (plain data,
    as the case file has it); None where there is neither."""
    if table is not None and name in table:
        return table[name]
    info = model.model_fields[name]
    if info.is_required():
        return None
    value = info.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return None
    return value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else value


def start_table(table: type[BaseModel], *, where: str, regions: Sequence[str], probes: Sequence[str]) -> dict[str, Any]:
    """What a table switched on in the form starts as: a starting value for each key that has no
    default (the first region or probes for names, ``_STARTS`` or 1 for numbers); the defaults
    stay defaults, unwritten, as in a case file.

    Raises ``ValueError`` naming ``where`` (the table's key) when a key needs names the case does
    not have yet.
    """
    values: dict[str, Any] = {}
    for name, info in table.model_fields.items():
        if not info.is_required():
            continue
        shape = field_shape(table, name)
        if shape.kind == "regions":
            if not regions:
                raise ValueError(f"{where}.{name} needs a region and the case has none yet; expected a mesh: mesh the case first")
            values[name] = regions[0]
        elif shape.kind == "probes":
            values[name] = start_probes(f"{where}.{name}", shape, probes)
        elif shape.kind in ("number", "integer", "coefficient"):
            values[name] = _STARTS.get(name, 1.0) if shape.kind != "integer" else 1
        elif shape.kind == "choice":
            values[name] = shape.choices[0]
        elif shape.kind == "switch":
            values[name] = False
    return table.model_validate(values).model_dump(mode="json", exclude_unset=True, exclude_none=True)


def start_probes(where: str, shape: FieldShape, probes: Sequence[str]) -> list[str]:
    """The first ``shape.length`` of the case's probes, for a key of probe names switched on."""
    count = shape.length or 1
    if len(probes) < count:
        raise ValueError(f"{where} names {count} probes and the case has {len(probes)}; expected {count} probes: add them under Probes first")
    return list(probes[:count])


def parse_names(text: str, shape: FieldShape) -> str | list[str] | None:
    """The names typed in a field of ``shape``: one, or several separated by commas where the key
    takes a list; None for nothing where the key is optional.

    Raises ``ValueError`` where a name is needed.

    Examples
    --------
    >>> parse_names("obstacle, walls", FieldShape("regions", many=True)), parse_names(" inlet ", FieldShape("regions", many=True))
    (['obstacle', 'walls'], 'inlet')
    >>> parse_names("front", FieldShape("text", listed=True)), parse_names("", FieldShape("text", optional=True))
    (['front'], None)
    """
    several = shape.many or shape.listed
    names = [n.strip() for n in text.split(",")] if several else [text.strip()]
    names = [n for n in names if n]
    if not names:
        if shape.optional:
            return None
        raise ValueError("a name is needed" + ("; several go separated by commas" if several else ""))
    return names if shape.listed or len(names) > 1 else names[0]


def names_text(value: str | Sequence[str] | None) -> str:
    """Names as a field shows them: ``"obstacle, walls"``."""
    if value is None:
        return ""
    return value if isinstance(value, str) else ", ".join(value)


def form_layout(model: type[BaseModel], table: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What decides which widgets a form of ``model`` holds for ``table``: which optional tables
    and name lists are on and how long each vector is. The same layout for a changed table
    means the form can keep its widgets (and the keyboard focus) and show the new values."""
    table = table or {}
    out: list[Any] = []
    for name in model.model_fields:
        shape = field_shape(model, name)
        value = table.get(name)
        if shape.kind == "table":
            on = value is not None or not shape.optional
            out.append((name, on, form_layout(shape.table, value) if on else ()))
        elif shape.kind == "vector":
            out.append((name, len(value) if isinstance(value, list) else None))
        elif shape.kind == "probes" and shape.optional:
            out.append((name, value is not None))
    return tuple(out)
