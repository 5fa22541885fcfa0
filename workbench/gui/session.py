"""Session: what the window is working on, as engine objects, with a signal per change.

The engine owns the data (Case, Mesh, Result, Comparison); the session only says which ones are
current and tells the widgets when that changes. Widgets never keep their own copies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from engine.case.schema import Case
from engine.comparison import Comparison, compare
from engine.mesh.mesh import Mesh
from engine.result import Result

__all__ = ["Session", "answer_key", "compare_answers", "mesh_key"]


def mesh_key(case: Case) -> str:
    """What decides a case's mesh: its geometry and mesh options (a mesh file: its path)."""
    if case.geometry.file is not None:
        return f"file:{case.resolve(case.geometry.file).resolve()}"
    return case.geometry.model_dump_json() + case.mesh.model_dump_json()


def answer_key(case: Case, solver: str) -> str:
    """What decides ``solver``'s answer to ``case``: two cases with the same key get the same answer.

    The case as validated, every default filled in (so a case file's short form and the long
    form a project saves agree), less what no answer depends on: the title and description,
    what ``workbench run`` solves with by default, what a batch run writes; and, for any solver
    but the surrogate, the surrogate's model.
    """
    data = case.model_dump(mode="json", exclude_none=True)
    for name in ("title", "description"):
        data.pop(name)
    data["solver"].pop("kind")
    if solver != "surrogate":
        data["solver"].pop("surrogate", None)
    data["output"] = sorted(case.output.fields or [])  # the fields a result keeps
    if case.geometry.file is not None:
        data["geometry"]["file"] = str(case.resolve(case.geometry.file).resolve())  # one file, however it is written
        data.pop("mesh")  # a mesh file is read as it is (and a saved case drops these options)
    return json.dumps(data, sort_keys=True)


def compare_answers(results: dict[str, Result]) -> tuple[Comparison | None, str | None]:
    """The comparison of the classical and the surrogate answer in ``results`` (None while one
    is missing), or why they cannot be compared. Slow for a big mesh; no Qt, so a worker may."""
    reference, candidate = results.get("classical"), results.get("surrogate")
    if reference is None or candidate is None:
        return None, None
    try:
        return compare(reference, candidate), None
    except Exception as exc:  # e.g. results of two different meshes: say why, keep both
        return None, str(exc)


class Session(QtCore.QObject):
    """The current case, its mesh, results by solver label and their comparison."""

    caseChanged = QtCore.Signal(object)  # Case | None
    meshChanged = QtCore.Signal(object)  # Mesh | None
    resultsChanged = QtCore.Signal()
    dirtyChanged = QtCore.Signal(bool)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.case: Case | None = None
        self.mesh: Mesh | None = None
        self._mesh_key: str | None = None
        self.results: dict[str, Result] = {}
        self.comparison: Comparison | None = None
        self.comparison_error: str | None = None
        self.project_path: Path | None = None
        #: results (or a whole new document) not saved in a project yet; case edits are the
        #: editor's undo stack's to track
        self.dirty = False

    # -- case and mesh --
    def set_case(self, case: Case | None, *, dirty: bool | None = None) -> None:
        """Make ``case`` current; results of an earlier case are kept until the next run.

        ``dirty``: set or clear the unsaved-results flag; None leaves it (case edits are tracked
        by the editor's undo stack).
        """
        self.case = case
        if case is not None and self.mesh is not None and mesh_key(case) != self._mesh_key:
            self.set_mesh(None)
        self.caseChanged.emit(case)
        if dirty is not None:
            self.set_dirty(dirty)

    def set_mesh(self, mesh: Mesh | None, case: Case | None = None) -> None:
        """Make ``mesh`` current (the mesh of ``case``, default the current case)."""
        self.mesh = mesh
        owner = case or self.case
        self._mesh_key = mesh_key(owner) if mesh is not None and owner is not None else None
        self.meshChanged.emit(mesh)

    def mesh_for(self, case: Case) -> Mesh | None:
        """The current mesh if it is ``case``'s mesh (so a run need not mesh again)."""
        return self.mesh if self.mesh is not None and self._mesh_key == mesh_key(case) else None

    # -- results --
    def set_results(self, results: dict[str, Result], *, replace: bool = False, comparison: Comparison | None = None) -> None:
        """Add (or with ``replace``, set) results by label; compare when both answers are there
        (``comparison``: theirs, when the caller compared them already; used if it compares the
        very two answers the session then holds)."""
        self.results = dict(results) if replace else {**self.results, **results}
        reference, candidate = self.results.get("classical"), self.results.get("surrogate")
        if comparison is not None and comparison.reference is reference and comparison.candidate is candidate:
            self.comparison, self.comparison_error = comparison, None
        else:
            self.comparison, self.comparison_error = compare_answers(self.results)
        self.resultsChanged.emit()
        self.set_dirty(True)

    def clear_results(self) -> None:
        self.set_results({}, replace=True)

    def set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirtyChanged.emit(dirty)

    def summary(self) -> dict[str, Any]:
        return {"case": self.case.title if self.case else None, "mesh": repr(self.mesh), "results": list(self.results)}
