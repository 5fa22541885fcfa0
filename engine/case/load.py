"""Read, check and write case files (TOML), one loader per format version."""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationError

from engine.atomic import atomic_write_text
from engine.case.schema import CASE_VERSION, Case
from engine.errors import CaseError, InputError

__all__ = ["load_case", "parse_case", "save_case", "case_to_toml", "case_json_schema"]

# Union branch names pydantic puts into error locations; they mean nothing to a user (nor do
# the physics kinds and boundary types it adds: ``_tags``).
_LOC_NOISE = {"float", "str", "int", "bool", "FileField", "list[float]", "list[str]"}
_COEFFICIENT_EXPECTED = "a number, an expression string such as '1 + x*y', {file = ..., field = ...} or {random_field = \"grf\", ...}"


def load_case(path: str | Path) -> Case:
    """Read and validate a case file.

    Raises
    ------
    CaseError
        The file is missing or not TOML, or a field is missing, misspelled, of the wrong type
        or out of range; the message names the file, the field and the value.
    ExpressionError
        An expression does not parse or uses unknown names.

    Examples
    --------
    >>> from engine.resources import resource_path
    >>> case = load_case(resource_path("examples/darcy_unit_square.toml"))
    >>> case.physics.kind, case.geometry.kind
    ('diffusion', 'unit_square')
    """
    from engine.inputs import read_input_text

    path = Path(os.path.expanduser(os.fspath(path)))
    text = read_input_text(path, what="a case file (.toml)", error=CaseError)
    return parse_case(text, source=path)


def parse_case(document: str | Mapping[str, Any], *, source: str | Path | None = None) -> Case:
    """Validate a case given as TOML text or as an already parsed mapping."""
    from engine.inputs import check_depth, parse_toml

    if isinstance(document, str):
        data = parse_toml(document, source=source, what="a TOML document", error=CaseError)
    elif isinstance(document, Mapping):
        data = check_depth(dict(document), source=source, what="case", error=CaseError)
    else:
        raise CaseError("a case must be TOML text or a mapping", source=source, value=type(document).__name__)

    version = data.get("version")
    if version is None:
        raise CaseError("missing 'version'", source=source, field="version", expected=f"version = {CASE_VERSION}")
    loader = _LOADERS.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
    if loader is None:
        raise CaseError(
            "unsupported case format version",
            source=source,
            field="version",
            value=version,
            expected=f"one of {', '.join(map(str, _LOADERS))}, written as a number",
        )
    case = loader(data, source)
    _check_expressions(case, source)
    _check_work(case, source)
    return case.with_source(source)


def _check_work(case: Case, source: str | Path | None) -> None:
    """Refuse, at parse time, what the document alone shows to be too much work (time steps,
    probes: ``engine.work.check_case``), naming the file."""
    from engine.work import check_case

    try:
        check_case(case)
    except InputError as err:
        raise (err.with_source(source) if source is not None else err) from None


def _load_v1(data: dict[str, Any], source: str | Path | None) -> Case:
    _check_boundary_types(data, source)
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        raise _case_error(exc, data, source) from None


def _check_boundary_types(data: Mapping[str, Any], source: str | Path | None) -> None:
    """Refuse a condition the physics does not take before pydantic asks for its fields."""
    from engine.physics.registry import physics_specs

    physics, boundary = data.get("physics"), data.get("boundary")
    if not isinstance(physics, Mapping) or not isinstance(boundary, list):
        return
    kind = physics.get("kind")
    spec = physics_specs().get(kind) if isinstance(kind, str) else None
    allowed = spec.boundary_types if spec is not None else None
    for i, bc in enumerate(boundary):
        if allowed and isinstance(bc, Mapping) and isinstance(bc.get("type"), str) and bc["type"] not in allowed:
            raise CaseError(
                f"{physics['kind']} physics takes no {bc['type']!r} condition",
                source=source,
                field=f"boundary[{i}].type",
                value=bc["type"],
                expected=f"one of {', '.join(allowed)}",
            )


_LOADERS: dict[int, Callable[[dict[str, Any], str | Path | None], Case]] = {1: _load_v1}


def _check_expressions(case: Case, source: str | Path | None) -> None:
    from engine.expressions import parse_expression

    for name, value in case.parameters.items():
        if not math.isfinite(value):
            raise CaseError("a parameter is not finite", source=source, field=f"parameters.{name}", value=value, expected="a finite number")
    if case.parameters:  # names that shadow x, y, sin... are refused here, under their own field
        parse_expression("0", parameters=case.parameters, source=str(source) if source else None, field="parameters")
    for field, value in case.coefficients():
        if isinstance(value, str):
            parse_expression(value, parameters=case.parameters, source=str(source) if source else None, field=field)
        elif isinstance(value, float) and not math.isfinite(value):
            raise CaseError("a coefficient is not finite", source=source, field=field, value=value, expected="a finite number")


def _case_error(exc: ValidationError, data: Mapping[str, Any], source: str | Path | None) -> CaseError:
    """One CaseError for a pydantic ValidationError: the first problem, with the others as a hint."""
    problems: dict[str, InputError] = {}
    # Unknown keys first: a misspelt key also makes the right one "missing", and the typo is the news.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    for err in errors:
        field = _format_loc(_key_path(err["loc"], data))
        if field in problems and err["type"] not in ("missing", "extra_forbidden"):
            # A union (coefficient) reports one error per branch; say it once.
            problems[field] = CaseError("wrong type", field=field, value=problems[field].value, expected=_COEFFICIENT_EXPECTED)
            continue
        problems[field] = _translate(err, field, data)
    first, *rest = problems.values()
    hint = first.hint
    if rest:
        more = f"{len(rest)} more problem(s): " + "; ".join(f"{p.field}: {p.problem}" for p in rest[:5])
        hint = f"{hint} {more}" if hint else more
    return first.replace(source=str(source) if source is not None else None, hint=hint)


def _translate(err: Mapping[str, Any], field: str, data: Mapping[str, Any]) -> CaseError:
    kind = err["type"]
    if kind == "missing":
        return CaseError("missing required key", field=field or None, expected="a value; see docs/case-format.md")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1], data)
        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        return CaseError(
            "unknown key",
            field=field,
            expected=f"one of {', '.join(allowed)}" if allowed else None,
            hint=f"Did you mean {close[0]!r}?" if close else None,
        )
    if kind == "union_tag_not_found":
        key = err["ctx"]["discriminator"].strip("'")
        tags = _tags().get(key)
        expected = ", ".join(map(repr, tags)) if tags else "the documented kinds"
        return CaseError(f"missing '{key}'", field=f"{field}.{key}" if field else key, expected=f"one of {expected}")
    if kind == "union_tag_invalid":
        key = err["ctx"]["discriminator"].strip("'")
        return CaseError(f"unknown {key}", field=f"{field}.{key}" if field else key, value=err["ctx"]["tag"], expected=f"one of {err['ctx']['expected_tags']}")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]  # our own words: keep them as written
    else:
        message = message[:1].lower() + message[1:]
    value = err.get("input")
    if isinstance(value, Mapping):  # a whole table: the message says enough
        return CaseError(message, field=field or None)
    return CaseError(message, field=field or None, value=value)


def _key_path(loc: tuple[Any, ...], data: Mapping[str, Any]) -> list[Any]:
    """The keys and indices of a pydantic error location as the case file has them: without
    pydantic's type names, and without the union branch it tried, which is the table's own
    'kind' or 'type' value (only there: a key may be spelt like a tag, e.g. forces.velocity)."""
    path: list[Any] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else {}
        elif part in _LOC_NOISE or "[" in part:
            continue
        elif isinstance(node, Mapping) and part not in node and part in (node.get("kind"), node.get("type")):
            continue
        else:
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        path.append(part)
    return path


def _tags() -> dict[str, list[str]]:
    """The values of the case's union tags: every registered physics kind and boundary type."""
    from engine.physics.base import tag_values
    from engine.physics.registry import boundary_models, physics_models

    return {
        "kind": [tag for model in physics_models() for tag in tag_values(model, "kind")],
        "type": [tag for model in boundary_models() for tag in tag_values(model, "type")],
    }


def _allowed_keys(loc: tuple[Any, ...], data: Mapping[str, Any]) -> list[str]:
    """The keys the table at ``loc`` takes, following the document to pick union branches."""
    from pydantic import BaseModel

    model: Any = Case
    node: Any = data
    annotation: Any = None
    for part in _key_path(loc, data):
        if isinstance(part, int):  # an item of a list of tables ([[boundary]]): its branch by its own tag
            node = node[part] if isinstance(node, list) and part < len(node) else {}
            model = _branch(annotation, node)
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
        info = model.model_fields.get(part)
        # pydantic keeps a field's Annotated metadata apart; the registry's unions live there
        annotation = None if info is None else Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        model = _branch(annotation, node)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _branch(annotation: Any, node: Any) -> Any:
    """The model class a table validates against (by its 'kind' or 'type' for unions)."""
    import typing

    from pydantic import BaseModel

    from engine.case.schema import RegistryUnion

    candidates = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        union = next((m for m in getattr(item, "__metadata__", ()) if isinstance(m, RegistryUnion)), None)
        if union is not None:  # a union read from the physics registry
            stack.extend(union.choices())
        elif isinstance(item, type) and issubclass(item, BaseModel):
            candidates.append(item)
        else:
            stack.extend(typing.get_args(item))
    if len(candidates) == 1:
        return candidates[0]
    tag = node.get("kind", node.get("type")) if isinstance(node, Mapping) else None
    for cls in candidates:
        for key in ("kind", "type"):
            field = cls.model_fields.get(key)
            if field is not None and tag in typing.get_args(field.annotation):
                return cls
    # untagged tables (a coefficient's {file, field} or {random_field, ...}): the one branch with a key the table has
    keys = set(node) if isinstance(node, Mapping) else set()
    owners = [cls for cls in candidates if keys & (set(cls.model_fields) - {f for other in candidates if other is not cls for f in other.model_fields})]
    return owners[0] if len(owners) == 1 else None


def _format_loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def case_to_toml(case: Case) -> str:
    """The case as TOML text (defaults included, so the file documents every setting)."""
    import tomli_w

    data = case.model_dump(mode="json", exclude_none=True)
    if case.geometry.file is not None:
        data.pop("mesh")  # mesh options are for built-in geometries only
    head = {k: data.pop(k) for k in ("version", "title", "description", "parameters") if k in data}
    return tomli_w.dumps({**head, **data})


def save_case(case: Case, path: str | Path) -> None:
    """Write ``case`` to ``path`` as TOML, atomically."""
    atomic_write_text(path, case_to_toml(case))


def case_json_schema() -> dict[str, Any]:
    """The JSON schema of the current case format (``docs/case-format.schema.json``)."""
    schema = Case.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Workbench case, format version {CASE_VERSION}"
    return schema


def case_json_schema_text() -> str:
    return json.dumps(case_json_schema(), indent=2, sort_keys=True) + "\n"
