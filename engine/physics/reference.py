"""The physics section of ``docs/case-format.md``, written from the registry.

Every registered physics gets its keys (default, unit, meaning, range), its boundary conditions
and its output fields, so the doc cannot fall behind a spec. A test checks that the doc holds
what ``markdown()`` writes; ``python -m engine.physics.reference docs/case-format.md`` writes it
there (between the ``BEGIN``/``END`` marker lines).
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from engine.physics.base import PhysicsSpec, tag_values
from engine.physics.registry import physics_specs

__all__ = ["BEGIN", "END", "markdown", "physics_markdown", "update_doc"]

BEGIN = "<!-- BEGIN physics: written from the physics registry by `python -m engine.physics.reference docs/case-format.md` -->"
END = "<!-- END physics -->"


def markdown() -> str:
    """The section for every registered physics, between the marker lines."""
    kinds = ", ".join(f"`{kind}`" for kind in physics_specs())
    head = [
        BEGIN,
        "## `[physics]`",
        "",
        f"`kind` selects the physics: {kinds}.",
        "The other keys depend on it, and so do the boundary condition types a case may use.",
        "The units are SI, as each physics declares them; a case that states another unit system",
        "(its top-level `units`, see [Units](#units)) is labelled in that one. `-` is dimensionless.",
        "Sources, coefficients and boundary values are coefficients (a number, an expression or a",
        "field from a file, as above). A plug-in adds a physics of its own (a `PhysicsSpec`, see",
        "`engine/physics/base.py`, named in the `workbench.physics` entry-point group of its package).",
    ]
    return "\n".join(head + [line for spec in physics_specs().values() for line in ["", *physics_markdown(spec)]] + [END]) + "\n"


def physics_markdown(spec: PhysicsSpec) -> list[str]:
    """One physics: its keys, its boundary conditions and its output fields, as markdown lines."""
    lines = [f"### `{spec.kind}`: {spec.title.replace('``', '`')}", "", "| key | default | unit | meaning |", "|---|---|---|---|"]
    for key in spec.form_order():
        lines += _key_rows(spec, key, spec.model.model_fields[key])
    lines += ["", "| boundary `type` | keys [unit] (default) | meaning |", "|---|---|---|"]
    for bc in spec.boundaries:
        name = tag_values(bc, "type")[0]
        keys = [f"`{k}` [{spec.unit(f'{name}.{k}') or '-'}]{_default(info, brackets=True)}" for k, info in bc.model_fields.items() if k not in ("type", "region")]
        rules = [f"`{k.split('.', 1)[1]}` {check.rule}" for k, check in spec.checks.items() if k.startswith(f"{name}.")]
        lines.append(f"| `{name}` | {', '.join(keys)} | {_doc(bc)}{_rules(rules)} |")
    outputs = "; ".join(f"`{f.name}` [{f.unit}]" + (f", {f.shape}" if f.shape != "scalar" else "") + (f": {f.description}" if f.description else "") for f in spec.outputs)
    return lines + ["", f"Output fields: {outputs}."]


def _key_rows(spec: PhysicsSpec, key: str, info: Any, prefix: str = "") -> list[str]:
    table = next((t for t in _flatten(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)), None)
    if table is not None and key not in spec.model.coefficient_fields:  # a nested table: a row for it, then one per key
        rows = [f"| `[physics.{prefix}{key}]` | {_default(info) or 'none'} | | {_doc(table)} |"]
        for sub, sub_info in table.model_fields.items():
            rows += _key_rows(spec, sub, sub_info, prefix=f"{prefix}{key}.")
        return rows
    meaning = (info.description or "").rstrip(".")
    choices = [str(c) for t in _flatten(info.annotation) if typing.get_origin(t) is Literal for c in typing.get_args(t)]
    if choices:
        meaning += ("; " if meaning else "") + "one of " + ", ".join(f"`{c}`" for c in choices)
    low = next((m.min_length for m in info.metadata if hasattr(m, "min_length")), None)
    high = next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
    if low and high and list in map(typing.get_origin, _flatten(info.annotation)):  # a vector: one value per axis
        meaning += "; " + " or ".join(f"`[{', '.join('xyz'[:n])}]`" for n in range(low, high + 1))
    check = spec.checks.get(f"{prefix}{key}")
    if check is not None and check.rule not in meaning:
        meaning += f"; {check.rule} everywhere"
    return [f"| `{prefix}{key}` | {_default(info) or 'required'} | {spec.unit(prefix + key)} | {meaning} |"]


def _flatten(annotation: Any) -> list[Any]:
    out, stack = [], [annotation]
    while stack:
        item = stack.pop()
        out.append(item)
        if typing.get_origin(item) is not Literal:
            stack.extend(typing.get_args(item))
    return out


def _default(info: Any, *, brackets: bool = False) -> str:
    if info.is_required():
        return ""
    value = info.get_default(call_default_factory=True) if info.default is PydanticUndefined else info.default
    text = "none" if value is None else f"`{value}`" if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return f" ({text})" if brackets else text


def _doc(model: type) -> str:
    return " ".join((model.__doc__ or "").split()).replace("``", "`")


def _rules(rules: list[str]) -> str:
    return f" ({'; '.join(rules)})" if rules else ""


def update_doc(path: str | Path) -> bool:
    """Write ``markdown()`` into the doc at ``path`` between its marker lines; True if it changed."""
    from engine.atomic import atomic_write_text

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    updated = text[:start] + markdown() + text[end:]
    if updated != text:
        atomic_write_text(path, updated)
    return updated != text


if __name__ == "__main__":
    print("updated" if update_doc(sys.argv[1]) else "already current")
