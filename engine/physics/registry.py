"""Physics by kind: the built-in ones and any a plug-in adds.

A plug-in adds a physics through the ``workbench.physics`` entry-point group, naming a
``PhysicsSpec`` (``my_package.physics:SPEC``); the built-in physics are listed the same way in
our own ``pyproject.toml`` (and below, for frozen installs that carry no package metadata).
A physics defined at run time (a script, a test) is added with ``register_physics``.

The Case schema, the app's physics list and the case-format doc are built from this registry,
so a plug-in shows up everywhere by itself.

Examples
--------
>>> physics_kinds()[:3]
['diffusion', 'heat', 'elasticity']
>>> get_physics("elasticity").boundary_types
('displacement', 'traction', 'pressure')
"""

from __future__ import annotations

import copy
import importlib
import sys
import warnings
from importlib.metadata import entry_points
from typing import Any

from engine.physics.base import BoundaryModel, PhysicsModel, PhysicsSpec, tag_values

__all__ = [
    "boundary_model",
    "boundary_models",
    "default_case",
    "get_physics",
    "physics_kinds",
    "physics_models",
    "physics_specs",
    "register_physics",
    "unregister_physics",
]

_GROUP = "workbench.physics"
_BUILT_IN = {
    "diffusion": "engine.physics.diffusion:DIFFUSION",
    "heat": "engine.physics.heat:HEAT",
    "elasticity": "engine.physics.elasticity:ELASTICITY",
    "navier_stokes": "engine.physics.navier_stokes:NAVIER_STOKES",
}
_installed: dict[str, PhysicsSpec] | None = None  # built-in and entry points, loaded on first use
_added: dict[str, PhysicsSpec] = {}  # register_physics


def physics_specs() -> dict[str, PhysicsSpec]:
    """Kind -> PhysicsSpec: built-in first, then installed plug-ins, then those registered at run time."""
    global _installed
    if _installed is None:
        _installed = _load_installed()
    return {**_installed, **_added}


def physics_kinds() -> list[str]:
    """The kinds of physics a case may have, in the order the app lists them."""
    return list(physics_specs())


def get_physics(kind: str) -> PhysicsSpec:
    """The physics registered as ``kind``.

    Raises
    ------
    InputError
        No physics of that kind is registered (the message names those that are).
    """
    specs = physics_specs()
    if kind not in specs:
        from engine.errors import InputError

        raise InputError("unknown physics", field="physics.kind", value=kind, expected=f"one of {', '.join(specs)}")
    return specs[kind]


def physics_models() -> tuple[type[PhysicsModel], ...]:
    """The ``[physics]`` table models, one per physics: the Case's union tagged by ``kind``."""
    return tuple(spec.model for spec in physics_specs().values())


def boundary_models() -> tuple[type[BoundaryModel], ...]:
    """Every boundary-condition model some physics takes, each once: the Case's union tagged by ``type``."""
    return tuple(dict.fromkeys(bc for spec in physics_specs().values() for bc in spec.boundaries))


def boundary_model(type_: str) -> type[BoundaryModel]:
    """The model of the boundary condition of type ``type_`` (KeyError if none has it)."""
    return {tag_values(bc, "type")[0]: bc for bc in boundary_models()}[type_]


def default_case(kind: str | None = None) -> dict[str, Any]:
    """The case document the app starts from: a physics' default case (the first physics'
    when ``kind`` is None), a fresh copy to edit or parse.

    Examples
    --------
    >>> from engine.case.load import parse_case
    >>> parse_case(default_case()).physics.kind
    'diffusion'
    """
    spec = get_physics(kind) if kind is not None else next(iter(physics_specs().values()))
    return copy.deepcopy(dict(spec.default_case))


def register_physics(spec: PhysicsSpec) -> None:
    """Add a physics defined at run time; the Case schema takes it at once.

    It is known to this process only: the worker processes of a sweep know the installed
    physics (entry points), so a plug-in meant for sweeps is installed as a package.

    Raises
    ------
    ValueError
        Its kind is taken, or one of its boundary types names another model than the one
        already registered under that type.
    """
    _check_fits(spec, physics_specs())
    _added[spec.kind] = spec
    _case_schema_changed()


def unregister_physics(kind: str) -> None:
    """Remove a physics added with ``register_physics`` (installed ones stay)."""
    if _added.pop(kind, None) is not None:
        _case_schema_changed()


def _load_installed() -> dict[str, PhysicsSpec]:
    found = {kind: _resolve(target) for kind, target in _BUILT_IN.items()}
    for ep in entry_points(group=_GROUP):
        if ep.name in found:
            continue  # a built-in, listed in our own package metadata too
        try:
            spec = ep.load()
            if not isinstance(spec, PhysicsSpec) or spec.kind != ep.name:
                raise ValueError(f"it names {spec!r}, not a PhysicsSpec of kind {ep.name!r}")
            _check_fits(spec, found)
        except Exception as exc:  # a broken plug-in must not take the built-in physics down with it
            warnings.warn(f"the physics plug-in {ep.name!r} ({ep.value}) is left out: {exc}", stacklevel=2)
            continue
        found[spec.kind] = spec
    return found


def _resolve(target: str) -> PhysicsSpec:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _check_fits(spec: PhysicsSpec, known: dict[str, PhysicsSpec]) -> None:
    if spec.kind in known:
        raise ValueError(f"a physics of kind {spec.kind!r} is already registered")
    # The Case's boundary union is tagged by type: one model per type name across all physics.
    taken = {tag_values(bc, "type")[0]: bc for other in known.values() for bc in other.boundaries}
    for bc in spec.boundaries:
        name = tag_values(bc, "type")[0]
        if taken.get(name, bc) is not bc:
            raise ValueError(f"boundary type {name!r} of physics {spec.kind!r} is already another model's ({taken[name].__name__})")


def _case_schema_changed() -> None:
    # The Case's physics and boundary unions are built from this registry when its pydantic
    # schema is built; once it is, a physics added or removed needs it built again.
    schema = sys.modules.get("engine.case.schema")
    if schema is not None:
        schema.rebuild_case_schema()
