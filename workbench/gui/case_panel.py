"""CasePanel: the physics, boundary conditions, probes and solver of the current Case.

Every field is validated as it is typed (numbers and expressions through the engine's parser)
and committed through the CaseEditor, which validates the whole case again; a refused value
stays visible in red with the engine's message beneath, and the case keeps its last valid value.
"""

from __future__ import annotations

import math
import typing
from typing import Any, Literal

from PySide6 import QtCore, QtGui, QtWidgets

from engine.case.schema import ALLOWED_BOUNDARIES, Case, DiffusionPhysics, ElasticityPhysics, HeatPhysics, TimeStepping
from engine.errors import WorkbenchError
from engine.expressions import parse_expression
from engine.mesh.mesh import Mesh

from workbench.gui.case_editor import CaseEditor
from workbench.gui.forms import WheelGuard

__all__ = ["CasePanel", "CoefficientEdit", "coefficient_text", "parse_coefficient"]

PHYSICS = {"diffusion": DiffusionPhysics, "heat": HeatPhysics, "elasticity": ElasticityPhysics}
#: What a new physics of each kind starts with (elasticity has no defaults for E and nu).
PHYSICS_START = {
    "diffusion": {"kind": "diffusion", "k": 1.0, "f": 1.0},
    "heat": {"kind": "heat", "k": 1.0, "f": 0.0},
    "elasticity": {"kind": "elasticity", "E": 210e9, "nu": 0.3, "model": "plane_stress"},
}
#: The values of each boundary condition type, with what a new one starts with.
BOUNDARY_FIELDS: dict[str, dict[str, Any]] = {
    "dirichlet": {"value": 0.0},
    "neumann": {"flux": 0.0},
    "robin": {"h": 1.0, "u_inf": 0.0},
    "displacement": {"ux": 0.0, "uy": 0.0, "uz": None},
    "traction": {"vector": [0.0, 0.0]},
    "pressure": {"value": 0.0},
}
_OK_STYLE = ""
_BAD_STYLE = "QLineEdit { background: #fde2e1; }"


def coefficient_text(value: Any) -> str:
    """How a coefficient is shown in a field: a number, an expression, or file:field."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return f"{value.get('file')}:{value.get('field')}"
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def parse_coefficient(text: str, parameters: dict[str, float], *, optional: bool = False) -> Any:
    """A coefficient from what was typed: a number, or an expression the engine parses.

    Raises ``WorkbenchError`` (an expression that does not parse or names unknown symbols) or
    ``ValueError`` (empty where a value is needed).
    """
    text = text.strip()
    if not text:
        if optional:
            return None
        raise ValueError("a value is needed: a number or an expression in x, y, z, t")
    try:
        number = float(text)
    except ValueError:
        parse_expression(text, parameters=parameters)
        return text
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


class CoefficientEdit(QtWidgets.QLineEdit):
    """A line edit for a number or an expression, checked on every keystroke."""

    committed = QtCore.Signal(object)
    rejected = QtCore.Signal(str)  # what was typed could not be used; the field shows the value in use again

    def __init__(self, parameters: typing.Callable[[], dict[str, float]], *, optional: bool = False, parent=None) -> None:
        super().__init__(parent)
        self._parameters = parameters
        self._optional = optional
        self.setPlaceholderText("free" if optional else "number or expression in x, y, z, t")
        self.textEdited.connect(self._check)
        self.editingFinished.connect(self._commit)
        self.error = ""
        self._in_use: Any = None

    def set_value(self, value: Any) -> None:
        self._in_use = value
        self.blockSignals(True)
        self.setText(coefficient_text(value))
        self.setCursorPosition(0)
        self.setReadOnly(isinstance(value, dict))  # a field read from a file: edit the case file
        self.blockSignals(False)
        self._mark("")

    def _mark(self, error: str) -> None:
        self.error = error
        self.setStyleSheet(_BAD_STYLE if error else _OK_STYLE)
        self.setToolTip(error or "a number, or an expression such as 1 + x*y, where(x > 0.5, 12, 3), sin(pi*x)")

    def value(self) -> Any:
        return parse_coefficient(self.text(), self._parameters(), optional=self._optional)

    def _check(self, *_: Any) -> bool:
        try:
            self.value()
        except (WorkbenchError, ValueError) as err:
            self._mark(str(err))
            return False
        self._mark("")
        return True

    def _commit(self) -> None:
        if self.isReadOnly() or not self.isModified():
            return
        self.setModified(False)
        if self._check():
            self.committed.emit(self.value())
        else:
            why = self.error
            self.set_value(self._in_use)
            self.rejected.emit(f"{why}; kept {coefficient_text(self._in_use) or 'no value'}")


def _literal_choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return None


class CasePanel(QtWidgets.QScrollArea):
    """Physics, parameters, boundary conditions by region, probes and solver of the case."""

    modelSelected = QtCore.Signal(str)
    compatibilityChanged = QtCore.Signal(list)  # why the chosen surrogate cannot answer the case (empty: it can)

    def __init__(self, editor: CaseEditor, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.mesh: Mesh | None = None
        #: why the chosen surrogate cannot answer the case, once the case is meshed
        self.incompatible: list[str] = []
        self.setWidgetResizable(True)
        body = QtWidgets.QWidget()
        self.setWidget(body)
        self.layout_ = QtWidgets.QVBoxLayout(body)
        self.title_edit = QtWidgets.QLineEdit()
        self.title_edit.setPlaceholderText("case title")
        self.title_edit.editingFinished.connect(lambda: self._edit("title", lambda d: d.__setitem__("title", self.title_edit.text())))
        self.layout_.addWidget(self.title_edit)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b3261e;")
        self.layout_.addWidget(self.message)

        self.physics_box = QtWidgets.QGroupBox("Physics")
        self.physics_form = QtWidgets.QFormLayout(self.physics_box)
        self.layout_.addWidget(self.physics_box)
        self.parameters_box = QtWidgets.QGroupBox("Parameters (names usable in expressions)")
        self._build_parameters()
        self.layout_.addWidget(self.parameters_box)
        self.boundary_box = QtWidgets.QGroupBox("Boundary conditions")
        self._build_boundary()
        self.layout_.addWidget(self.boundary_box)
        self.probes_box = QtWidgets.QGroupBox("Probes")
        self._build_probes()
        self.layout_.addWidget(self.probes_box)
        self.solver_box = QtWidgets.QGroupBox("Solver")
        self._build_solver()
        self.layout_.addWidget(self.solver_box)
        self.layout_.addStretch(1)
        self.wheel_guard = WheelGuard(body)
        self.editor.refused.connect(self._show_refusal)
        self.editor.session.caseChanged.connect(self.refresh)
        self.editor.session.meshChanged.connect(self._mesh_changed)
        self.refresh(self.editor.case)

    # -- helpers --
    @property
    def data(self) -> dict[str, Any]:
        return self.editor.data or {}

    def parameters(self) -> dict[str, float]:
        return dict(self.data.get("parameters", {}))

    def _edit(self, description: str, change) -> bool:
        """Apply an edit; when refused, show the form's values in use again (and the reason)."""
        error = self.editor.edit(description, change)
        if error is None:
            self.message.setText("")
        else:
            QtCore.QTimer.singleShot(0, lambda: self.refresh(self.editor.case))  # not while the editor emits
        return error is None

    def _connect_coefficient(self, edit: CoefficientEdit) -> CoefficientEdit:
        edit.rejected.connect(lambda why: self.message.setText(f"Not applied: {why}"))
        return edit

    def clear_message(self) -> None:
        self.message.setText("")

    def _show_refusal(self, message: str) -> None:
        self.message.setText(f"Not applied: {message}")

    @staticmethod
    def _clear(layout: QtWidgets.QLayout) -> None:
        while layout.count():
            item = layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
            elif item.layout() is not None:
                CasePanel._clear(item.layout())

    def refresh(self, case: Case | None) -> None:
        self.setEnabled(case is not None)
        if case is None:
            return
        self.title_edit.setText(case.title)
        self._refresh_physics(case)
        self._refresh_parameters()
        self._refresh_boundary()
        self._refresh_probes()
        self._refresh_solver()
        self.wheel_guard.guard(self.widget())

    def _mesh_changed(self, mesh: Mesh | None) -> None:
        self.mesh = mesh
        self._refresh_boundary()
        self._refresh_compatibility()

    # -- physics --
    def _refresh_physics(self, case: Case) -> None:
        physics = self.data.get("physics", {})
        shape = (case.physics.kind, physics.get("time") is not None, repr(physics.get("body_force")))  # body force: rebuilt on change
        if shape == getattr(self, "_physics_shape", None):
            self._update_physics(physics)  # same fields: keep the widgets (and the keyboard focus)
            return
        self._physics_shape = shape
        self._clear(self.physics_form)
        kind_box = QtWidgets.QComboBox()
        kind_box.addItems(list(PHYSICS))
        kind_box.setCurrentText(case.physics.kind)
        kind_box.currentTextChanged.connect(self._change_kind)
        kind_box.setObjectName("physics.kind")
        self.physics_form.addRow("Kind", kind_box)
        cls = PHYSICS[case.physics.kind]
        for name, info in cls.model_fields.items():
            if name == "kind":
                continue
            label = name
            tip = info.description or ""
            value = physics.get(name, None)
            if name in cls.coefficient_fields and name != "body_force":
                edit = self._connect_coefficient(CoefficientEdit(self.parameters))
                edit.set_value(value if value is not None else info.default)
                edit.committed.connect(lambda v, n=name: self._edit(f"set {n}", lambda d: d["physics"].__setitem__(n, v)))
                widget = edit
            elif name == "body_force":
                widget = self._vector_edit(value, optional=True, on_commit=lambda vec: self._edit(
                    "set body force", lambda d: d["physics"].__setitem__("body_force", vec) if vec else d["physics"].pop("body_force", None)))
            elif (choices := _literal_choices(info.annotation)) is not None:
                widget = QtWidgets.QComboBox()
                widget.addItems(choices)
                widget.setCurrentText(str(value if value is not None else info.default))
                widget.currentTextChanged.connect(lambda v, n=name: self._edit(f"set {n}", lambda d: d["physics"].__setitem__(n, v)))
            elif name == "time":
                widget = self._time_widget(physics.get("time"))
                label = "Time"
            else:  # a plain positive number (thickness)
                widget = self._number_edit(value if value is not None else info.default,
                                           lambda v, n=name: self._edit(f"set {n}", lambda d: d["physics"].__setitem__(n, v)))
            widget.setObjectName(f"physics.{name}")
            widget.setToolTip(tip if not isinstance(widget, CoefficientEdit) else widget.toolTip())
            self.physics_form.addRow(label, widget)

    def _update_physics(self, physics: dict[str, Any]) -> None:
        """Show the case's physics values in the existing widgets."""
        cls = PHYSICS[physics["kind"]]
        values = {f"physics.{k}": v for k, v in physics.items() if k != "time"}
        values |= {f"physics.time.{k}": v for k, v in (physics.get("time") or {}).items()}
        for widget in self.physics_box.findChildren(QtWidgets.QWidget):
            name = widget.objectName()
            if not name.startswith("physics.") or name == "physics.kind":
                continue
            key = name.split(".")[-1]
            info = (TimeStepping if name.startswith("physics.time.") else cls).model_fields.get(key)
            if info is None:
                continue
            value = values.get(name, info.default)
            widget.blockSignals(True)
            if isinstance(widget, CoefficientEdit):
                widget.set_value(value)
            elif isinstance(widget, QtWidgets.QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, QtWidgets.QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QtWidgets.QLineEdit) and isinstance(value, (int, float)):
                widget.setText(f"{value:.12g}")
            widget.blockSignals(False)

    def _number_edit(self, value: Any, commit) -> QtWidgets.QLineEdit:
        edit = QtWidgets.QLineEdit(f"{value:.12g}" if isinstance(value, (int, float)) else "")
        edit.setValidator(QtGui.QDoubleValidator())
        edit.editingFinished.connect(lambda: edit.isModified() and (edit.setModified(False) or commit(float(edit.text()))))
        return edit

    def _vector_edit(self, value: list[Any] | None, *, optional: bool, on_commit) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        n = 3 if self.mesh is not None and self.mesh.gdim == 3 else 2
        if value:
            n = len(value)
        edits = [self._connect_coefficient(CoefficientEdit(self.parameters, optional=optional)) for _ in range(n)]
        for i, edit in enumerate(edits):
            edit.set_value(value[i] if value else None)
            edit.setPlaceholderText("xyz"[i] + (" (none)" if optional else ""))
            row.addWidget(edit)

        def commit(_=None):
            try:
                parts = [e.value() for e in edits]
            except (WorkbenchError, ValueError):
                return
            if all(p is None for p in parts):
                on_commit(None)
            else:
                on_commit([0.0 if p is None else p for p in parts])

        for edit in edits:
            edit.committed.connect(commit)
        return box

    def _time_widget(self, time: dict[str, Any] | None) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        transient = QtWidgets.QCheckBox("transient")
        transient.setObjectName("physics.time.transient")
        transient.setChecked(time is not None)
        transient.toggled.connect(lambda on: self._edit(
            "transient" if on else "steady",
            lambda d: d["physics"].__setitem__("time", {"end": 1.0, "step": 0.1}) if on else d["physics"].pop("time", None)))
        form.addRow(transient)
        if time is not None:
            for name, info in TimeStepping.model_fields.items():
                value = time.get(name, info.default)
                if (choices := _literal_choices(info.annotation)) is not None:
                    widget = QtWidgets.QComboBox()
                    widget.addItems(choices)
                    widget.setCurrentText(str(value))
                    widget.currentTextChanged.connect(lambda v, n=name: self._edit(f"set time.{n}", lambda d: d["physics"]["time"].__setitem__(n, v)))
                elif info.annotation is bool:
                    widget = QtWidgets.QCheckBox()
                    widget.setChecked(bool(value))
                    widget.toggled.connect(lambda v, n=name: self._edit(f"set time.{n}", lambda d: d["physics"]["time"].__setitem__(n, v)))
                else:
                    cast = int if name == "save_every" else float
                    widget = self._number_edit(value, lambda v, n=name, cast=cast: self._edit(
                        f"set time.{n}", lambda d: d["physics"]["time"].__setitem__(n, cast(v))))
                widget.setObjectName(f"physics.time.{name}")
                widget.setToolTip(info.description or "")
                form.addRow(name, widget)
        return box

    def _change_kind(self, kind: str) -> None:
        allowed = ALLOWED_BOUNDARIES[kind]

        def change(d):
            d["physics"] = dict(PHYSICS_START[kind])
            d["boundary"] = [bc for bc in d.get("boundary", []) if bc.get("type") in allowed]
            d.pop("output", None)  # its field list named the old physics' fields

        if not self._edit(f"physics: {kind}", change):
            self.refresh(self.editor.case)

    @staticmethod
    def _row_table(box: QtWidgets.QGroupBox, headers: list[str], height: int, changed, add_text: str, add, remove) -> QtWidgets.QTableWidget:
        """An editable table with Add and Remove buttons beneath, filling ``box``."""
        layout = QtWidgets.QVBoxLayout(box)
        table = QtWidgets.QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.horizontalHeader().setStretchLastSection(True)
        table.verticalHeader().setVisible(False)
        table.setMaximumHeight(height)
        table.itemChanged.connect(changed)
        layout.addWidget(table)
        buttons = QtWidgets.QHBoxLayout()
        for text, slot in ((add_text, add), ("Remove", remove)):
            button = QtWidgets.QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        return table

    # -- parameters --
    def _build_parameters(self) -> None:
        self.parameters_table = self._row_table(self.parameters_box, ["name", "value"], 110, self._parameter_changed,
                                                "Add parameter", self._add_parameter, self._remove_parameter)

    def _refresh_parameters(self) -> None:
        table = self.parameters_table
        table.blockSignals(True)
        params = self.parameters()
        table.setRowCount(len(params))
        for row, (name, value) in enumerate(params.items()):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(f"{value:.12g}"))
        table.blockSignals(False)

    def _table_parameters(self) -> dict[str, float]:
        out = {}
        for row in range(self.parameters_table.rowCount()):
            name_item, value_item = self.parameters_table.item(row, 0), self.parameters_table.item(row, 1)
            if name_item is None or not name_item.text().strip():
                continue
            try:
                value = float(value_item.text()) if value_item is not None else float("nan")
            except ValueError:
                raise ValueError(f"parameter {name_item.text()!r} has value {value_item.text()!r}; expected a number") from None
            out[name_item.text().strip()] = value
        return out

    def _parameter_changed(self, *_: Any) -> None:
        try:
            params = self._table_parameters()
        except ValueError as err:
            self.message.setText(f"Not applied: {err}")
            return
        if not self._edit("set parameters", lambda d: d.__setitem__("parameters", params)):
            self._refresh_parameters()

    def _add_parameter(self) -> None:
        existing = self.parameters()
        n = 1
        while f"p{n}" in existing:
            n += 1
        self._edit("add parameter", lambda d: d.setdefault("parameters", {}).__setitem__(f"p{n}", 1.0))

    def _remove_parameter(self) -> None:
        row = self.parameters_table.currentRow()
        item = self.parameters_table.item(row, 0) if row >= 0 else None
        if item is not None:
            name = item.text()
            self._edit(f"remove parameter {name}", lambda d: d.get("parameters", {}).pop(name, None))

    # -- boundary conditions --
    def _build_boundary(self) -> None:
        layout = QtWidgets.QVBoxLayout(self.boundary_box)
        hint = QtWidgets.QLabel("Select a boundary region, then pick its condition. Regions without one keep the natural "
                                "condition (zero flux / free).")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.region_table = QtWidgets.QTableWidget(0, 2)
        self.region_table.setObjectName("boundary.regions")
        self.region_table.setHorizontalHeaderLabels(["region", "condition"])
        self.region_table.horizontalHeader().setStretchLastSection(True)
        self.region_table.verticalHeader().setVisible(False)
        self.region_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.region_table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.region_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.region_table.setMaximumHeight(170)
        self.region_table.itemSelectionChanged.connect(self._region_selected)
        layout.addWidget(self.region_table)
        self.condition_box = QtWidgets.QComboBox()
        self.condition_box.setObjectName("boundary.type")
        self.condition_box.activated.connect(self._condition_picked)
        self.condition_form = QtWidgets.QFormLayout()
        row = QtWidgets.QFormLayout()
        row.addRow("Condition", self.condition_box)
        layout.addLayout(row)
        layout.addLayout(self.condition_form)

    def boundary_regions(self) -> list[str]:
        """Boundary regions the case can put conditions on: from the mesh, else from the
        built-in geometry's boundary names, plus any the case already names."""
        names: list[str] = []
        if self.mesh is not None:
            names = [n for n, r in self.mesh.regions.items() if r.dim < self.mesh.dim or r.points is not None]
        elif self.data.get("geometry", {}).get("kind"):
            from engine.mesh.geometry import GEOMETRIES

            geo = GEOMETRIES.get(self.data["geometry"]["kind"])  # None for an unknown name
            if geo is not None:
                try:
                    names = list(geo.boundary_names(self.data["geometry"].get("parameters", {})))
                except WorkbenchError:
                    names = list(geo.boundaries)
        for bc in self.data.get("boundary", []):
            for r in [bc["region"]] if isinstance(bc["region"], str) else bc["region"]:
                if r not in names:
                    names.append(r)
        return names

    def condition_of(self, region: str) -> tuple[int, dict[str, Any]] | None:
        """The (index, table) of the condition on ``region``, or None."""
        for i, bc in enumerate(self.data.get("boundary", [])):
            regions = [bc["region"]] if isinstance(bc["region"], str) else bc["region"]
            if region in regions:
                return i, bc
        return None

    def _refresh_boundary(self) -> None:
        if self.editor.case is None:
            return
        table = self.region_table
        selected = self.selected_region()
        table.blockSignals(True)
        regions = self.boundary_regions()
        table.setRowCount(len(regions))
        for row, name in enumerate(regions):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            found = self.condition_of(name)
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(_describe(found[1]) if found else "(natural)"))
        table.blockSignals(False)
        if selected in regions:
            self.select_region(selected)
        else:
            self._region_selected()

    def selected_region(self) -> str | None:
        rows = self.region_table.selectionModel().selectedRows() if self.region_table.selectionModel() else []
        if not rows:
            return None
        item = self.region_table.item(rows[0].row(), 0)
        return item.text() if item else None

    def select_region(self, name: str) -> None:
        for row in range(self.region_table.rowCount()):
            if self.region_table.item(row, 0).text() == name:
                self.region_table.selectRow(row)
                self._region_selected()
                return

    def _region_selected(self) -> None:
        region = self.selected_region()
        found = self.condition_of(region) if region else None
        shape = (region, found[1]["type"] if found else None, repr(found[1].get("vector")) if found else None)
        if shape == getattr(self, "_condition_shape", None) and found is not None:
            for name, value in found[1].items():  # same form: show the values, keep the widgets (and focus)
                edit = self.findChild(CoefficientEdit, f"boundary.{name}")
                if edit is not None:
                    edit.set_value(value)
            return
        self._condition_shape = shape
        self._clear(self.condition_form)
        kind = self.editor.case.physics.kind if self.editor.case else "diffusion"
        self.condition_box.blockSignals(True)
        self.condition_box.clear()
        self.condition_box.addItems(["(natural)", *ALLOWED_BOUNDARIES[kind]])
        self.condition_box.setEnabled(region is not None)
        found = self.condition_of(region) if region else None
        self.condition_box.setCurrentText(found[1]["type"] if found else "(natural)")
        self.condition_box.blockSignals(False)
        if found is None or region is None:
            return
        index, bc = found
        for name, start in BOUNDARY_FIELDS[bc["type"]].items():
            if name == "uz" and (self.mesh is None or self.mesh.gdim < 3) and bc.get("uz") is None:
                continue
            if name == "vector":
                widget = self._vector_edit(bc.get("vector"), optional=False, on_commit=lambda vec, r=region: self._set_condition_value(r, "vector", vec))
            else:
                widget = self._connect_coefficient(CoefficientEdit(self.parameters, optional=bc["type"] == "displacement"))
                widget.set_value(bc.get(name, start if bc["type"] != "displacement" else None))
                widget.committed.connect(lambda v, n=name, r=region: self._set_condition_value(r, n, v))
            widget.setObjectName(f"boundary.{name}")
            self.condition_form.addRow(name, widget)

    def _condition_picked(self, *_: Any) -> None:
        region = self.selected_region()
        if region is None:
            return
        kind = self.condition_box.currentText()

        def change(d):
            _detach(d, region)
            if kind != "(natural)":
                start = {k: v for k, v in BOUNDARY_FIELDS[kind].items() if v is not None}
                if kind == "traction" and self.mesh is not None and self.mesh.gdim == 3:
                    start["vector"] = [0.0, 0.0, 0.0]
                d.setdefault("boundary", []).append({"region": region, "type": kind, **start})

        if not self._edit(f"{region}: {kind}", change):
            self._region_selected()

    def _set_condition_value(self, region: str, name: str, value: Any) -> None:
        def change(d):
            bc = _detach(d, region)
            if bc is None:
                raise ValueError(f"region {region!r} has no condition")
            bc = {**bc, "region": region}
            if value is None:
                bc.pop(name, None)
            else:
                bc[name] = value
            d.setdefault("boundary", []).append(bc)

        self._edit(f"{region}: {name}", change)

    # -- probes --
    def _build_probes(self) -> None:
        self.probes_table = self._row_table(self.probes_box, ["name", "x", "y", "z"], 130, self._probes_changed,
                                            "Add probe", self._add_probe, self._remove_probe)
        self.probes_table.setObjectName("probes")

    def _refresh_probes(self) -> None:
        table = self.probes_table
        table.blockSignals(True)
        probes = self.data.get("probes", [])
        table.setRowCount(len(probes))
        for row, probe in enumerate(probes):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(probe["name"]))
            for j in range(3):
                text = f"{probe['point'][j]:.12g}" if j < len(probe["point"]) else ""
                table.setItem(row, j + 1, QtWidgets.QTableWidgetItem(text))
        table.blockSignals(False)

    def _probes_changed(self, *_: Any) -> None:
        probes = []
        try:
            for row in range(self.probes_table.rowCount()):
                cells = [self.probes_table.item(row, j) for j in range(4)]
                texts = [c.text().strip() if c is not None else "" for c in cells]
                coords = [float(t) for t in texts[1:] if t]
                probes.append({"name": texts[0], "point": coords})
        except ValueError as err:
            self.message.setText(f"Not applied: a probe coordinate is not a number ({err})")
            return
        if not self._edit("edit probes", lambda d: d.__setitem__("probes", probes)):
            self._refresh_probes()

    def _add_probe(self) -> None:
        names = {p["name"] for p in self.data.get("probes", [])}
        n = 1
        while f"probe{n}" in names:
            n += 1
        if self.mesh is not None:
            lo, hi = self.mesh.bounding_box
            point = ((lo + hi) / 2).tolist()
        else:
            point = [0.5, 0.5]
        self._edit("add probe", lambda d: d.setdefault("probes", []).append({"name": f"probe{n}", "point": point}))

    def _remove_probe(self) -> None:
        row = self.probes_table.currentRow()
        if row >= 0:
            self._edit("remove probe", lambda d: d["probes"].pop(row))

    # -- solver --
    def _build_solver(self) -> None:
        form = QtWidgets.QFormLayout(self.solver_box)
        self.element_box = QtWidgets.QComboBox()
        self.element_box.addItems(["P1", "P2", "Q1", "Q2"])
        self.element_box.setObjectName("solver.classical.element")
        self.element_box.setToolTip("finite element: P on triangles/tetrahedra, Q on quadrilaterals/hexahedra")
        self.element_box.currentTextChanged.connect(lambda v: self._edit("element", lambda d: _classical(d).__setitem__("element", v)))
        self.linear_box = QtWidgets.QComboBox()
        self.linear_box.addItems(["auto", "direct", "cg_amg", "gmres_amg"])
        self.linear_box.setObjectName("solver.classical.linear_solver")
        self.linear_box.currentTextChanged.connect(lambda v: self._edit("linear solver", lambda d: _classical(d).__setitem__("linear_solver", v)))
        self.tolerance_edit = self._number_edit(1e-8, lambda v: self._edit("tolerance", lambda d: _classical(d).__setitem__("tolerance", v)))
        self.tolerance_edit.setObjectName("solver.classical.tolerance")
        form.addRow(QtWidgets.QLabel("<b>Classical (finite elements)</b>"))
        form.addRow("Element", self.element_box)
        form.addRow("Linear solver", self.linear_box)
        form.addRow("Tolerance", self.tolerance_edit)
        form.addRow(QtWidgets.QLabel("<b>Surrogate (neural operator)</b>"))
        self.model_box = QtWidgets.QComboBox()
        self.model_box.setObjectName("solver.surrogate.model")
        self.model_box.activated.connect(self._model_picked)
        form.addRow("Model", self.model_box)
        self.compatibility = QtWidgets.QLabel("")
        self.compatibility.setWordWrap(True)
        form.addRow(self.compatibility)
        self.card_view = QtWidgets.QTextBrowser()
        self.card_view.setMaximumHeight(160)
        form.addRow(self.card_view)

    def reload_models(self) -> None:
        from engine.surrogates.library import list_models

        self._cards: dict[str, Any] = {}  # read again from disk
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem("(none)")
        self.model_box.addItems(list(list_models()))
        self.model_box.blockSignals(False)
        self._refresh_solver()

    def _refresh_solver(self) -> None:
        case = self.editor.case
        if case is None:
            return
        if self.model_box.count() == 0:
            self.reload_models()
            return
        for box, value in ((self.element_box, case.solver.classical.element), (self.linear_box, case.solver.classical.linear_solver)):
            box.blockSignals(True)
            box.setCurrentText(value)
            box.blockSignals(False)
        self.tolerance_edit.setText(f"{case.solver.classical.tolerance:.3g}")
        model = case.solver.surrogate.model if case.solver.surrogate else "(none)"
        self.model_box.blockSignals(True)
        if self.model_box.findText(model) < 0:
            self.model_box.addItem(model)
        self.model_box.setCurrentText(model)
        self.model_box.blockSignals(False)
        self._show_card(model)

    def _model_picked(self, *_: Any) -> None:
        model = self.model_box.currentText()

        def change(d):
            solver = d.setdefault("solver", {})
            if model == "(none)":
                solver.pop("surrogate", None)
                if solver.get("kind") in ("surrogate", "both"):
                    solver["kind"] = "classical"
            else:
                solver["surrogate"] = {"model": model}

        self._edit(f"surrogate: {model}", change)
        self.modelSelected.emit(model)

    def _show_card(self, model: str) -> None:
        if model == "(none)":
            self.card_view.setHtml("<i>No surrogate chosen. Pick a model from the library to run the surrogate and compare.</i>")
            self.compatibility.setText("")
            return
        try:
            card = self._card(model)
        except WorkbenchError as err:
            self.card_view.setPlainText(f"cannot read this model's card: {err}")
            self.compatibility.setText("")
            return
        self.card_view.setHtml(card_html(card))
        self._refresh_compatibility()

    def _problem(self):
        """The case bound to the current mesh, or None (no mesh yet, or the case does not fit it);
        built once per case and mesh."""
        case = self.editor.case
        if case is None or self.mesh is None:
            return None
        cached = getattr(self, "_bound", None)
        if cached is not None and cached[0] is case and cached[1] is self.mesh:
            return cached[2]
        from engine.problem import Problem

        try:
            problem = Problem.from_case(case, mesh=self.mesh)
        except WorkbenchError:
            problem = None
        self._bound = (case, self.mesh, problem)
        return problem

    def _card(self, model: str):
        cards = getattr(self, "_cards", None)
        if cards is None:
            cards = self._cards = {}
        if model not in cards:
            from engine.surrogates.library import load_card

            cards[model] = load_card(model)
        return cards[model]

    def _reasons(self, problem, model: str) -> list[str]:
        from engine.surrogates.solver import check_compatible

        try:
            return check_compatible(problem, self._card(model))
        except WorkbenchError as err:
            return [str(err)]

    def _refresh_compatibility(self) -> None:
        """Say whether the chosen model can answer the case; grey out (with the reasons as a
        tooltip) the library's models that cannot."""
        case = self.editor.case
        problem = self._problem()
        if problem is not None:
            for i in range(1, self.model_box.count()):
                reasons = self._reasons(problem, self.model_box.itemText(i))
                tip = "cannot answer this case: " + "; ".join(reasons) if reasons else "can answer this case"
                self.model_box.setItemData(i, tip, QtCore.Qt.ItemDataRole.ToolTipRole)
                self.model_box.setItemData(i, QtGui.QColor("#8a8a8a") if reasons else None, QtCore.Qt.ItemDataRole.ForegroundRole)
        reasons = [] if case is None or case.solver.surrogate is None or problem is None else self._reasons(problem, case.solver.surrogate.model)
        if reasons != self.incompatible:
            self.incompatible = reasons
            self.compatibilityChanged.emit(reasons)
        if case is None or case.solver.surrogate is None:
            return
        if problem is None:
            self.compatibility.setText("<i>Mesh the case to check whether this model can answer it.</i>")
            return
        if reasons:
            self.compatibility.setText("<span style='color:#b3261e'><b>This model cannot answer this case:</b><br>"
                                       + "<br>".join(f"&bull; {r}" for r in reasons) + "</span>")
        else:
            self.compatibility.setText("<span style='color:#1b7f3b'><b>This model can answer this case.</b></span>")


def card_html(card) -> str:
    """A model card as a short HTML summary."""
    metrics = card.metrics
    test = metrics.get("test_relative_l2")
    rows = [
        ("model", f"{card.name}: {card.model} ({metrics.get('parameters', '?')} parameters)"),
        ("answers", f"{card.physics.get('kind')}: {card.physics.get('equation', '')}"),
        ("assumes", f"boundary {card.physics.get('boundary', '-')}, " + ", ".join(f"{k} = {v}" for k, v in card.physics.get("constants", {}).items())),
        ("inputs / outputs", f"{', '.join(card.inputs)} -> {', '.join(card.outputs)}"),
        ("grid", f"{card.grid.get('resolution')} x {card.grid.get('resolution')} on {card.grid.get('domain')}"),
        ("trained on", ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in card.training_ranges.items()) + f"; {card.dataset.get('samples', '?')} samples"),
        ("test error", f"relative L2 {test:.2%}" if isinstance(test, float) else
         f"validation relative L2 {metrics['validation_relative_l2']:.2%} (no separate test set)" if isinstance(metrics.get("validation_relative_l2"), float)
         else "not recorded"),
        ("created", card.created),
    ]
    return "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _classical(d: dict[str, Any]) -> dict[str, Any]:
    return d.setdefault("solver", {}).setdefault("classical", {})


def _detach(d: dict[str, Any], region: str) -> dict[str, Any] | None:
    """Take ``region`` out of the condition that holds it (dropping a condition left with no
    region); return that condition's table, or None."""
    for i, bc in enumerate(d.get("boundary", [])):
        regions = [bc["region"]] if isinstance(bc["region"], str) else list(bc["region"])
        if region in regions:
            rest = [r for r in regions if r != region]
            if rest:
                d["boundary"][i] = {**bc, "region": rest if len(rest) > 1 else rest[0]}
            else:
                d["boundary"].pop(i)
            return dict(bc)
    return None


def _describe(bc: dict[str, Any]) -> str:
    def text(v: Any) -> str:
        return "(" + ", ".join(coefficient_text(x) for x in v) + ")" if isinstance(v, list) else coefficient_text(v)

    values = ", ".join(f"{k} = {text(v)}" for k, v in bc.items() if k not in ("region", "type"))
    return f"{bc['type']}: {values}" if values else bc["type"]
