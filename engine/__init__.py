"""The workbench engine: meshes, cases, problems, solvers, results. Headless; never imports Qt.

The public names load on first use, so ``import engine`` stays fast and pulls in neither
torch nor VTK.

Examples
--------
>>> import engine
>>> case = engine.load_case(engine.resource_path("examples/darcy_unit_square.toml"))
>>> problem = engine.Problem.from_case(case)
>>> sorted(problem.mesh.regions)
['bottom', 'domain', 'left', 'right', 'top']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine._version import __version__

_EXPORTS = {
    "Mesh": "engine.mesh.mesh",
    "Region": "engine.mesh.mesh",
    "read_mesh": "engine.mesh.io",
    "write_mesh": "engine.mesh.io",
    "build_mesh": "engine.mesh.geometry",
    "GEOMETRIES": "engine.mesh.geometry",
    "Field": "engine.fields",
    "Case": "engine.case.schema",
    "load_case": "engine.case.load",
    "parse_case": "engine.case.load",
    "save_case": "engine.case.load",
    "Problem": "engine.problem",
    "Result": "engine.result",
    "Provenance": "engine.result",
    "write_vtu": "engine.result_io",
    "write_hdf5": "engine.result_io",
    "read_hdf5": "engine.result_io",
    "Solver": "engine.solver",
    "run_case": "engine.run",
    "solve_case": "engine.run",
    "render_pictures": "engine.pictures",
    "Study": "engine.study",
    "load_study": "engine.study",
    "parse_study": "engine.study",
    "run_sweep": "engine.sweep",
    "read_results": "engine.sweep",
    "load_recipe": "engine.surrogates.datasets",
    "generate_dataset": "engine.surrogates.datasets",
    "open_dataset": "engine.surrogates.datasets",
    "train_surrogate": "engine.surrogates.fit",
    "import_model": "engine.surrogates.library",
    "export_model": "engine.surrogates.library",
    "list_models": "engine.surrogates.library",
    "Project": "engine.project",
    "save_project": "engine.project",
    "load_project": "engine.project",
    "get_solver": "engine.solvers",
    "parse_expression": "engine.expressions",
    "resource_path": "engine.resources",
    "WorkbenchError": "engine.errors",
    "InputError": "engine.errors",
    "RunError": "engine.errors",
    "Cancelled": "engine.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from engine.case.load import load_case, parse_case, save_case
    from engine.case.schema import Case
    from engine.errors import Cancelled, InputError, RunError, WorkbenchError
    from engine.expressions import parse_expression
    from engine.fields import Field
    from engine.mesh.geometry import GEOMETRIES, build_mesh
    from engine.mesh.io import read_mesh, write_mesh
    from engine.mesh.mesh import Mesh, Region
    from engine.problem import Problem
    from engine.project import Project, load_project, save_project
    from engine.resources import resource_path
    from engine.result import Provenance, Result
    from engine.result_io import read_hdf5, write_hdf5, write_vtu
    from engine.pictures import render_pictures
    from engine.run import run_case, solve_case
    from engine.study import Study, load_study, parse_study
    from engine.surrogates.datasets import generate_dataset, load_recipe, open_dataset
    from engine.surrogates.fit import train_surrogate
    from engine.surrogates.library import export_model, import_model, list_models
    from engine.sweep import read_results, run_sweep
    from engine.solver import Solver
    from engine.solvers import get_solver
