"""Projects: one file that reopens a session exactly: the case, its results and the view settings.

A project file (``.wbproj``) is a zip archive::

    project.json        format, format_version, the case's original path, result labels, view
    case.toml           the case, as ``engine.save_case`` writes it
    results/<label>.h5  each result, as ``engine.write_hdf5`` writes it

The case keeps its original path so that files it names (a mesh, a coefficient field) resolve as
they did when it was saved. The file is written atomically; each format version has a loader.

Examples
--------
>>> import tempfile, pathlib, engine
>>> case = engine.load_case(engine.resource_path("examples/darcy_unit_square.toml"))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "study.wbproj"
>>> _ = save_project(Project(case=case, view={"field": "u"}), path)
>>> again = load_project(path)
>>> again.case.title, again.view
('Darcy flow, piecewise permeability', {'field': 'u'})
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._version import __version__
from engine.atomic import atomic_path
from engine.case.schema import Case
from engine.errors import InputError
from engine.result import Result

__all__ = ["PROJECT_FORMAT_VERSION", "PROJECT_SUFFIX", "Project", "save_project", "load_project"]

PROJECT_FORMAT_VERSION = 1
PROJECT_SUFFIX = ".wbproj"
_FORMAT_NAME = "workbench-project"


@dataclass
class Project:
    """What a session holds: a case (or none yet), results by solver label, view settings.

    ``view`` is free-form JSON owned by whichever face shows the project (the app keeps its
    field, component, camera and colour choices there).
    """

    case: Case | None = None
    results: dict[str, Result] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)


def save_project(project: Project, path: str | Path) -> Path:
    """Write ``project`` to ``path`` (a ``.wbproj`` file), atomically."""
    from engine.case.load import case_to_toml
    from engine.result_io import write_hdf5

    path = Path(path)
    if path.suffix != PROJECT_SUFFIX:
        raise InputError("a project file needs its suffix", source=path, value=path.suffix or "(none)", expected=PROJECT_SUFFIX)
    try:
        json.dumps(project.view)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the view settings are not JSON ({exc})", field="view") from None
    case = project.case
    header = {
        "format": _FORMAT_NAME,
        "format_version": PROJECT_FORMAT_VERSION,
        "workbench_version": __version__,
        "case_source": str(case.source.resolve()) if case is not None and case.source is not None else None,
        "results": list(project.results),
        "view": project.view,
    }
    with tempfile.TemporaryDirectory(prefix="wbproj-") as scratch, atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.json", json.dumps(header, indent=2) + "\n")
            if case is not None:
                archive.writestr("case.toml", case_to_toml(case))
            for label, result in project.results.items():
                _check_label(label)
                h5 = write_hdf5(result, Path(scratch) / f"{label}.h5")
                archive.write(h5, f"results/{label}.h5", compress_type=zipfile.ZIP_STORED)  # HDF5 compresses itself
    return path


def load_project(path: str | Path) -> Project:
    """Reopen a project written by ``save_project``.

    Raises
    ------
    InputError
        The file is missing, not a project, of an unknown format version, or incomplete.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path, expected=f"a project file ({PROJECT_SUFFIX})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a project file ({exc})", source=path, expected=f"a {PROJECT_SUFFIX} file saved by the workbench") from None
    with archive:
        try:
            header = json.loads(archive.read("project.json"))
        except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"not a project file (no readable project.json: {exc})", source=path) from None
        if not isinstance(header, dict) or header.get("format") != _FORMAT_NAME:
            raise InputError("not a workbench project", source=path, value=header.get("format") if isinstance(header, dict) else None, expected=repr(_FORMAT_NAME))
        version = header.get("format_version")
        loader = _LOADERS.get(version)
        if loader is None:
            raise InputError("unsupported project format version", source=path, field="format_version", value=version, expected=f"one of {list(_LOADERS)}")
        if not isinstance(header.get("results", []), list):
            raise InputError("the project's result list is not a list", source=path, field="results", value=header.get("results"))
        try:
            return loader(archive, header, path)
        except KeyError as exc:
            raise InputError(f"the project file is incomplete (missing {exc})", source=path) from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InputError(f"the project file is damaged ({exc})", source=path, expected="a .wbproj file as the workbench saved it") from None


def _load_v1(archive: zipfile.ZipFile, header: dict[str, Any], path: Path) -> Project:
    from engine.case.load import parse_case
    from engine.result_io import read_hdf5

    case = None
    if "case.toml" in archive.namelist():
        source = header.get("case_source") or path
        case = parse_case(archive.read("case.toml").decode("utf-8"), source=source)
    results = {}
    with tempfile.TemporaryDirectory(prefix="wbproj-") as scratch:
        for label in header.get("results", []):
            _check_label(label)
            target = Path(scratch) / f"{label}.h5"
            target.write_bytes(archive.read(f"results/{label}.h5"))
            results[label] = read_hdf5(target)
    view = header.get("view") or {}
    if not isinstance(view, dict):
        raise InputError("the project's view settings are not a table", source=path, field="view", value=type(view).__name__)
    return Project(case=case, results=results, view=view)


def _check_label(label: Any) -> None:
    if not isinstance(label, str) or not label.isidentifier():
        raise InputError("a result label must be a plain name", field="results", value=label, expected="letters, digits and _")


_LOADERS: dict[int, Callable[[zipfile.ZipFile, dict[str, Any], Path], Project]] = {1: _load_v1}
