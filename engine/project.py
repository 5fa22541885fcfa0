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
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine._version import __version__
from engine.atomic import atomic_path, write_error
from engine.case.schema import Case
from engine.errors import InputError
from engine.inputs import open_input, parse_json
from engine.limits import LIMITS
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

    A project may come from someone else: each member's declared size is checked before it is
    read and it is read no further than that (a small archive can declare, or hide, gigabytes),
    the header is parsed with bounded depth, and every failure names the project file and the
    member (``study.wbproj:results/classical.h5``).

    Raises
    ------
    InputError
        The file is missing, not a project, of an unknown format version, incomplete, damaged or
        beyond a limit (``project_member_bytes``, ``text_file_bytes``, ``array_bytes``).
    """
    path = Path(path)
    expected = f"a project file ({PROJECT_SUFFIX})"
    with open_input(path, what=expected) as fh:
        try:
            archive = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise InputError(f"not a project file ({exc})", source=path, expected=f"a {PROJECT_SUFFIX} file saved by the workbench") from None
        with archive:
            header = _read_header(archive, path)
            loader = _LOADERS[header["format_version"]]
            try:
                return loader(archive, header, path)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise InputError(f"the project file is damaged ({exc})", source=path, expected="a .wbproj file as the workbench saved it") from None


def _read_header(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    """``project.json``, checked: the format, a known version, a list of results."""
    try:
        text = _read_member(archive, "project.json", path, limit="text_file_bytes")
    except InputError as err:
        raise err.replace(problem=f"not a project file (no readable project.json: {err.problem})") from None
    header = parse_json(text, source=_member_source(path, "project.json"), what="a project header (JSON)")
    if not isinstance(header, dict) or header.get("format") != _FORMAT_NAME:
        raise InputError("not a workbench project", source=path, value=header.get("format") if isinstance(header, dict) else None, expected=repr(_FORMAT_NAME))
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in _LOADERS:
        raise InputError("unsupported project format version", source=path, field="format_version", value=version, expected=f"one of {list(_LOADERS)}")
    if not isinstance(header.get("results", []), list):
        raise InputError("the project's result list is not a list", source=path, field="results", value=header.get("results"))
    if not isinstance(header.get("case_source"), (str, type(None))):
        raise InputError("the case's original path is not text", source=path, field="case_source", value=header.get("case_source"))
    return header


def _member_source(path: Path, member: str) -> str:
    """How messages name a member: ``study.wbproj:results/classical.h5``."""
    return f"{path}:{member}"


def _open_member(archive: zipfile.ZipFile, member: str, path: Path, *, limit: str) -> tuple[BinaryIO, int]:
    """The open member and the most bytes it may give, once its entry is known to be sound.

    The declared size is checked against ``limit`` before a byte is decompressed; only the
    methods ``save_project`` writes are accepted (no encryption, no bzip2 or LZMA whose single
    steps are unbounded).
    """
    source = _member_source(path, member)
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise InputError("the project file is incomplete: the member is missing", source=source, expected="a project as the workbench saved it") from None
    if info.flag_bits & 0x1:
        raise InputError("the member is encrypted", source=source, expected="a project as the workbench saved it")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InputError("the member uses an unsupported compression", source=source, value=info.compress_type, expected="stored or deflated")
    LIMITS[limit].check(info.file_size, what="the member", source=source)
    try:
        return archive.open(info), info.file_size
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise _damaged_member(source, exc) from None


def _damaged_member(source: str, exc: BaseException) -> InputError:
    detail = "it ends early" if isinstance(exc, EOFError) else f"{exc}" or type(exc).__name__
    return InputError(f"the member is damaged ({detail})", source=source, expected="a project as the workbench saved it")


def _read_member(archive: zipfile.ZipFile, member: str, path: Path, *, limit: str) -> bytes:
    """The bytes of a small member (text), never more than it declared."""
    fh, size = _open_member(archive, member, path, limit=limit)
    try:
        with fh:
            return fh.read(size)  # zipfile stops at the declared size and checks the CRC there
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
        raise _damaged_member(_member_source(path, member), exc) from None


def _extract_member(archive: zipfile.ZipFile, member: str, path: Path, target: Path, *, limit: str) -> Path:
    """Copy a large member to ``target`` in pieces (a result file is not held in memory)."""
    fh, size = _open_member(archive, member, path, limit=limit)
    with fh, open(target, "wb") as out:
        left = size
        while left > 0:
            try:
                piece = fh.read(min(left, 1 << 20))
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                raise _damaged_member(_member_source(path, member), exc) from None
            if not piece:
                break
            try:
                out.write(piece)
            except OSError as exc:  # the scratch folder, not the project, failed
                raise write_error(exc, Path(target).parent, writing=f"a scratch copy of {member}", hint="free space in the temporary folder (TMPDIR)") from None
            left -= len(piece)
    return target


def _load_v1(archive: zipfile.ZipFile, header: dict[str, Any], path: Path) -> Project:
    from engine.case.load import parse_case
    from engine.result_io import read_hdf5

    case = None
    if "case.toml" in archive.namelist():
        member = _member_source(path, "case.toml")
        data = _read_member(archive, "case.toml", path, limit="text_file_bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the case is not UTF-8 text (byte {exc.start})", source=member, expected="a case file (TOML)") from None
        try:  # the case keeps its original path, so the files it names resolve as they did
            case = parse_case(text, source=header.get("case_source") or path)
        except InputError as err:
            raise err.replace(source=member) from None
    results = {}
    with tempfile.TemporaryDirectory(prefix="wbproj-") as scratch:
        for label in header.get("results", []):
            try:
                _check_label(label)
            except InputError as err:
                raise err.with_source(path) from None
            member = f"results/{label}.h5"
            target = _extract_member(archive, member, path, Path(scratch) / f"{label}.h5", limit="project_member_bytes")
            results[label] = read_hdf5(target, source=_member_source(path, member))
    view = header.get("view") or {}
    if not isinstance(view, dict):
        raise InputError("the project's view settings are not a table", source=path, field="view", value=type(view).__name__)
    return Project(case=case, results=results, view=view)


def _check_label(label: Any) -> None:
    if not isinstance(label, str) or not label.isidentifier():
        raise InputError("a result label must be a plain name", field="results", value=label, expected="letters, digits and _")


_LOADERS: dict[int, Callable[[zipfile.ZipFile, dict[str, Any], Path], Project]] = {1: _load_v1}
