"""Parse untrusted mesh files and run gmsh in a child process, so a crash cannot take us down.

gmsh's and meshio's readers are large C++ and Python parsers fed with files from other people: a
corrupt ``.msh`` can make gmsh segfault, and a hostile file can ask for gigabytes or loop. So
``run_isolated`` runs the work in a child process with a memory limit (``child_memory_bytes``)
and a time limit (``read_seconds`` for files, ``mesh_seconds`` for gmsh meshing), and hands back
the Mesh as plain arrays (``.npz`` read without pickle, plus a JSON header): the child's answer
is data, never code. A crash, a timeout or memory exhaustion there becomes a ``MeshError`` or
``InputError`` naming the file; a cancel (the app's Cancel button) stops the child at once.

Children come from a ``forkserver`` that has imported numpy, gmsh and meshio once, so each
read costs a fork, not a fresh interpreter. A process that may not have children of its own
(a daemonic worker, as Dask runs them) does the work in-process: it still reads only the file
asked for (see ``gmsh_model.private_copy_name``), without the crash guard.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine import errors
from engine.errors import InputError, MeshError, WorkbenchError
from engine.limits import LIMITS
from engine.mesh.mesh import Mesh, Region

__all__ = ["run_isolated", "isolation_available", "save_mesh_arrays", "load_mesh_arrays"]

# What every child needs, imported once in the fork server rather than in each child.
_PRELOAD = ["engine.mesh.isolation", "engine.mesh.io", "engine.mesh.geometry", "gmsh", "meshio"]
_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None
# Error classes a child may report (by name; anything else is a crash, not a user error).
_ERRORS = {cls.__name__: cls for cls in (InputError, errors.MeshError, errors.CaseError, errors.RegionError, errors.ExpressionError)}
_SIGNALS = {getattr(signal, n): n for n in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGKILL", "SIGTERM") if hasattr(signal, n)}


_LOCAL = threading.local()
_preparation_data = multiprocessing.spawn.get_preparation_data


def _preparation_data_without_main(name: str) -> dict[str, Any]:
    """multiprocessing's start-up data for a child, without the main script for ours.

    A child of multiprocessing re-runs the parent's main script (as ``__mp_main__``) to find
    functions defined there. Ours run engine functions only, and a user's script that calls
    ``build_mesh`` at top level (no ``if __name__ == "__main__"``) would otherwise mesh again
    in the child, recursively. Other processes (Dask's...) start as multiprocessing starts them.
    """
    data = _preparation_data(name)
    if getattr(_LOCAL, "without_main", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


multiprocessing.spawn.get_preparation_data = _preparation_data_without_main


def isolation_available() -> bool:
    """Whether this process may start children (a daemonic process, a Dask worker, may not)."""
    return not multiprocessing.current_process().daemon


def _context():
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
            else:  # Windows: no fork; a spawned child imports what it needs itself
                ctx = multiprocessing.get_context("spawn")
            _CONTEXT = ctx
        return _CONTEXT


def run_isolated(
    task: Callable[..., Mesh],
    args: tuple,
    *,
    seconds: str,
    doing: str,
    crashed: Callable[[str], WorkbenchError],
    source: Any = None,
    field: str | None = None,
    fits: str | None = None,
    cancel: threading.Event | None = None,
) -> Mesh:
    """``task(*args)`` run in a child process; its Mesh, or the error it met.

    Parameters
    ----------
    task
        A module-level function returning a Mesh (it is called in the child).
    seconds
        The ``engine.limits`` key of the time limit (``"read_seconds"``, ``"mesh_seconds"``).
    doing
        What the child does, for messages ("reading the file", "meshing").
    crashed
        Builds the error for a child that died (given "a segmentation fault (SIGSEGV)"...).
    source, field, fits
        Where a limit's refusal points, and the change that would fit (for messages).
    cancel
        Once set, the child is stopped and ``Cancelled`` raised.
    """
    if not isolation_available():
        return task(*args)
    limit = LIMITS[seconds]
    most = float(limit.value())
    memory = int(LIMITS["child_memory_bytes"].value())
    folder = Path(tempfile.mkdtemp(prefix="workbench-child-"))
    try:
        # A fork server's children inherit the server's environment, not ours now: pass it on
        # (limits set since, HOME...).
        context = (str(folder), dict(os.environ), os.getcwd(), memory)
        process = _context().Process(target=_child_main, args=(context, task, args), name=f"workbench {doing}", daemon=True)
        start = time.monotonic()
        _LOCAL.without_main = True
        try:
            process.start()
        finally:
            _LOCAL.without_main = False
        try:
            while process.exitcode is None:
                multiprocessing.connection.wait([process.sentinel], timeout=0.1)
                if process.exitcode is not None:
                    break
                if cancel is not None and cancel.is_set():
                    _stop(process)
                    from engine.solver import check_cancelled

                    check_cancelled(cancel, doing)
                if time.monotonic() - start > most:
                    _stop(process)
                    raise limit.refuse(time.monotonic() - start, what=doing, source=source, field=field, fits=fits)
        except BaseException:
            _stop(process)
            raise
        return _answer(folder, process.exitcode, doing=doing, crashed=crashed, source=source)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stop(process) -> None:
    if process.exitcode is None:
        process.kill()
    process.join()


def _answer(folder: Path, exitcode: int, *, doing: str, crashed, source) -> Mesh:
    report = folder / "error.json"
    if report.is_file():
        raise _error_from(json.loads(report.read_text(encoding="utf-8")), doing=doing, crashed=crashed, source=source)
    if exitcode == 0 and (folder / "mesh.json").is_file():
        return load_mesh_arrays(folder)
    if exitcode is not None and exitcode < 0:
        name = _SIGNALS.get(-exitcode, f"signal {-exitcode}")
        how = {
            "SIGSEGV": "a segmentation fault",
            "SIGABRT": "an abort",
            "SIGBUS": "a bus error",
            "SIGKILL": "being killed (out of memory?)",
        }.get(name, "a fatal signal")
        raise crashed(f"{how} ({name}{_last_words(folder)})")
    raise crashed(f"an exit with status {exitcode} and no answer")


def _last_words(folder: Path) -> str:
    """The child's last line on stderr, for the message: ``": double free or corruption"``."""
    try:
        lines = [line.strip() for line in (folder / "stderr.txt").read_text(errors="replace")[-2000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1][:200]}" if lines else ""


def _error_from(report: dict[str, Any], *, doing: str, crashed, source) -> WorkbenchError:
    kind = report.get("kind")
    if kind == "memory":
        item = LIMITS["child_memory_bytes"]
        return MeshError(
            f"{doing} needs more memory than a reader may take",
            source=source,
            expected=f"a smaller input: at most {item.describe()} of memory ({item.env} raises the limit)",
        )
    if kind in _ERRORS:
        parts = {k: report.get(k) for k in ("source", "field", "expected", "hint")}
        if "value" in report:
            parts["value"] = _Shown(report["value"]) if report.get("value_is_repr") else report["value"]
        return _ERRORS[kind](report.get("problem", "bad input"), **parts)
    if kind == "cancelled":
        return errors.Cancelled(report.get("message", f"{doing} was cancelled"))
    # Not a user error: a bug in our code or in a library, which the caller reports as a crash
    # of the reader; the detail is kept for the bug report.
    return crashed(f"an unexpected error: {report.get('detail', 'unknown')}")


class _Shown:
    """A value that came back from the child as its repr: shown exactly as it was."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _child_main(context: tuple, task, args: tuple) -> None:
    """In the child: take the parent's environment, bound the memory, run the task, leave the
    answer or the error in the folder."""
    folder, environ, cwd, memory = context
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.clear()
    os.environ.update(environ)
    # gmsh's FLTK writes a preferences file into HOME when it starts: the user's home folder is
    # not the reader's to write, so the child has a home of its own (removed with the folder).
    home = Path(folder) / "home"
    home.mkdir()
    os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    os.chdir(cwd)
    # What the child prints (a C library's last words before it aborts, "double free or
    # corruption") goes to a file the parent quotes in its message, not over the user's terminal.
    log = os.open(os.path.join(folder, "stderr.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 2)
    os.close(log)
    os.environ["LIBC_FATAL_STDERR_"] = "1"  # glibc writes fatal errors to the tty otherwise
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):  # not POSIX, or not allowed: the time limit still holds
        pass
    out = Path(folder)
    try:
        mesh = task(*args)
        save_mesh_arrays(mesh, out)
    except MemoryError:
        _report(out, {"kind": "memory"})
    except InputError as exc:
        report: dict[str, Any] = {"kind": type(exc).__name__ if type(exc).__name__ in _ERRORS else "InputError", "problem": exc.problem}
        report.update({k: getattr(exc, k) for k in ("source", "field", "expected", "hint") if getattr(exc, k) is not None})
        if exc.has_value:
            try:
                json.dumps(exc.value, allow_nan=False)
                report["value"] = exc.value
            except (TypeError, ValueError):
                report.update(value=repr(exc.value), value_is_repr=True)
        _report(out, report)
    except errors.Cancelled as exc:
        _report(out, {"kind": "cancelled", "message": str(exc)})
    except BaseException as exc:  # noqa: BLE001 - everything else is reported as a crash
        _report(out, {"kind": "crash", "detail": f"{type(exc).__name__}: {exc}"[:2000]})
    sys.stdout.flush()


def _report(out: Path, report: dict[str, Any]) -> None:
    (out / "error.json.part").write_text(json.dumps(report), encoding="utf-8")
    os.replace(out / "error.json.part", out / "error.json")


# -- a Mesh as plain arrays ----------------------------------------------------------------------


def save_mesh_arrays(mesh: Mesh, folder: Path) -> None:
    """``mesh`` as ``mesh.npz`` (numbers only) and ``mesh.json`` (names) in ``folder``.

    Data arrays that are not numbers (rare meshio leftovers, object arrays) are left out: they
    could only cross as pickles.
    """
    arrays: dict[str, np.ndarray] = {"points": mesh.points}
    types = list(mesh.cells)
    for i, ctype in enumerate(types):
        arrays[f"cells{i}"] = mesh.cells[ctype]
    regions = []
    for j, region in enumerate(mesh.regions.values()):
        rtypes = list(region.cells)
        for k, ctype in enumerate(rtypes):
            arrays[f"region{j}_{k}"] = np.asarray(region.cells[ctype])
        if region.points is not None:
            arrays[f"region{j}_points"] = np.asarray(region.points)
        regions.append({"name": region.name, "dim": region.dim, "cell_types": rtypes, "node_set": region.points is not None})
    point_data = []
    for name, values in mesh.point_data.items():
        if not values.dtype.hasobject:
            arrays[f"point_data{len(point_data)}"] = values
            point_data.append(name)
    cell_data = []
    for name, per_type in mesh.cell_data.items():
        kept = [t for t, v in per_type.items() if not v.dtype.hasobject]
        for k, ctype in enumerate(kept):
            arrays[f"cell_data{len(cell_data)}_{k}"] = per_type[ctype]
        cell_data.append([name, kept])
    header = {"source": mesh.source, "cell_types": types, "regions": regions, "point_data": point_data, "cell_data": cell_data}
    np.savez(folder / "mesh.npz", allow_pickle=False, **arrays)
    (folder / "mesh.json").write_text(json.dumps(header), encoding="utf-8")


def load_mesh_arrays(folder: Path) -> Mesh:
    """The Mesh ``save_mesh_arrays`` left in ``folder`` (checked again by ``Mesh`` itself)."""
    header = json.loads((folder / "mesh.json").read_text(encoding="utf-8"))
    with np.load(folder / "mesh.npz", allow_pickle=False) as data:
        cells = {ctype: data[f"cells{i}"] for i, ctype in enumerate(header["cell_types"])}
        regions = []
        for j, item in enumerate(header["regions"]):
            rcells = {ctype: data[f"region{j}_{k}"] for k, ctype in enumerate(item["cell_types"])}
            points = data[f"region{j}_points"] if item["node_set"] else None
            regions.append(Region(item["name"], item["dim"], rcells, points))
        point_data = {name: data[f"point_data{i}"] for i, name in enumerate(header["point_data"])}
        cell_data = {
            name: {ctype: data[f"cell_data{i}_{k}"] for k, ctype in enumerate(types)} for i, (name, types) in enumerate(header["cell_data"])
        }
        points = data["points"]
    return Mesh(points, cells, regions, point_data=point_data, cell_data=cell_data, source=header["source"])
