"""Solvers by name: the built-in ones and any a plugin registers.

A plugin adds a solver through the ``workbench.solvers`` entry-point group, naming a class
that implements ``engine.solver.Solver``; the built-in solvers are listed the same way in our
own ``pyproject.toml`` (and below, for frozen installs that carry no package metadata).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from engine.errors import InputError

__all__ = ["available_solvers", "get_solver"]

_GROUP = "workbench.solvers"
_BUILT_IN = {
    "classical": "engine.solvers.fem.classical:ClassicalSolver",
    "surrogate": "engine.surrogates.solver:SurrogateSolver",
}


def available_solvers() -> dict[str, str]:
    """Solver name -> ``module:Class``, built-in first, then plugins."""
    found = dict(_BUILT_IN)
    for ep in entry_points(group=_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def get_solver(name: str, **options):
    """An instance of the solver registered as ``name``."""
    known = available_solvers()
    if name not in known:
        raise InputError("unknown solver", field="solver.kind", value=name, expected=f"one of {', '.join(known)}")
    module, _, cls = known[name].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)
