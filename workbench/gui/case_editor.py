"""CaseEditor: edits of the current case, validated by the engine and undoable.

The case is always valid: an edit is a function on the case's plain data (as its TOML has it);
the editor applies it to a copy, validates the copy with ``engine.parse_case`` and only then
makes it current (pushing an undo step). A refused edit returns the engine's message, which
names the field and what was expected, and changes nothing. Once the case is meshed, an edit is
also checked against the mesh (region names, probes inside it, coefficients positive and finite
where they act), so the Run button never meets a case that was accepted here but fails there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui

from engine.case.load import parse_case
from engine.case.schema import Case
from engine.errors import InputError, WorkbenchError

from workbench.gui.session import Session

__all__ = ["CaseEditor", "case_data", "check_geometry"]


def case_data(case: Case) -> dict[str, Any]:
    """The case as the plain data of its TOML file (only the keys it sets, so defaults stay
    defaults and a mesh file keeps no mesh options)."""
    return case.model_dump(mode="json", exclude_unset=True, exclude_none=True)


class _Step(QtGui.QUndoCommand):
    def __init__(self, editor: CaseEditor, before: dict[str, Any], after: dict[str, Any], text: str) -> None:
        super().__init__(text)
        self.editor, self.before, self.after = editor, before, after

    def redo(self) -> None:
        self.editor._apply(self.after)

    def undo(self) -> None:
        self.editor._apply(self.before)


class CaseEditor(QtCore.QObject):
    """Holds the current case's data and source; every change goes through ``edit``."""

    refused = QtCore.Signal(str)

    def __init__(self, session: Session, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_stack = QtGui.QUndoStack(self)
        self.data: dict[str, Any] | None = None
        self.source: Path | None = None

    @property
    def case(self) -> Case | None:
        return self.session.case

    def load(self, case: Case | None, *, dirty: bool = False) -> None:
        """Start editing ``case`` (a new document: the undo history is cleared)."""
        self.undo_stack.clear()
        self.data = case_data(case) if case is not None else None
        self.source = case.source if case is not None else None
        self.session.set_case(case, dirty=dirty)

    def edit(self, description: str, change: Callable[[dict[str, Any]], None]) -> str | None:
        """Apply ``change`` to a copy of the case's data; keep it if it validates.

        Returns None when the edit was taken, else the reason it was refused.
        """
        if self.data is None:
            return "no case is open"
        after = copy.deepcopy(self.data)
        try:
            change(after)
            case = parse_case(after, source=self.source)
            check_geometry(case)
            mesh = self.session.mesh_for(case)
            if mesh is not None:  # what needs the mesh: region names, probes inside, coefficient values
                from engine.problem import Problem

                Problem.from_case(case, mesh=mesh)
        except WorkbenchError as err:
            message = self._message(err)
            self.refused.emit(message)
            return message
        except (KeyError, IndexError, TypeError, ValueError) as err:
            message = f"that edit does not fit the case: {err}"
            self.refused.emit(message)
            return message
        if after != self.data:
            self.undo_stack.push(_Step(self, copy.deepcopy(self.data), after, description))
        return None

    def _message(self, err: WorkbenchError) -> str:
        """Why an edit was refused: the field and what it expects; the path of the case being
        edited goes without saying (it would fill the panel's message line)."""
        if isinstance(err, InputError) and err.source is not None and self.source is not None and Path(err.source) == Path(self.source):
            err = err.replace(source=None)
        return str(err)

    def _apply(self, data: dict[str, Any]) -> None:
        self.data = copy.deepcopy(data)
        self.session.set_case(parse_case(self.data, source=self.source))


def check_geometry(case: Case) -> None:
    """The built-in geometry's parameters, checked as the mesher would (cheap: no gmsh)."""
    if case.geometry.kind is not None:
        from engine.mesh.geometry import GEOMETRIES

        geometry = GEOMETRIES.get(case.geometry.kind)
        if geometry is None:
            from engine.errors import InputError

            raise InputError("unknown geometry", field="geometry.kind", value=case.geometry.kind, expected=f"one of {', '.join(GEOMETRIES)}")
        geometry.check_parameters(case.geometry.parameters)
