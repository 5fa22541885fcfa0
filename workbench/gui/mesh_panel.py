"""MeshPanel: where the case's mesh comes from (a built-in geometry or a file), its named
regions and its statistics.

Choosing a geometry, its parameters or mesh options edits the case (through the CaseEditor);
the Mesh button asks the window to mesh it on a worker. Selecting a region highlights it.
A value the case refuses stays in its field, marked, with the reason in the panel's status line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.case.schema import Case
from engine.mesh.geometry import GEOMETRIES
from engine.mesh.mesh import Mesh
from engine.physics.units import LENGTH, in_system, unit_label
from engine.problem import element_for_cell

from workbench.gui.case_editor import CaseEditor
from workbench.gui.forms import NumberEdit, StatusLine, WheelGuard

__all__ = ["MeshPanel", "mesh_statistics"]


#: Corner-to-corner edges of each cell shape (VTK/meshio node order).
_EDGES = {
    "triangle": [(0, 1), (1, 2), (2, 0)],
    "quad": [(0, 1), (1, 2), (2, 3), (3, 0)],
    "tetra": [(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)],
    "hexahedron": [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)],
}


def mesh_statistics(mesh: Mesh) -> dict[str, Any]:
    """Counts, bounds and element sizes of a mesh, for the panel and its tests."""
    lo, hi = mesh.bounding_box
    edges = []
    for ctype, conn in mesh.domain_cells.items():
        for a, b in _EDGES[ctype.rstrip("0123456789")]:
            edges.append(np.linalg.norm(mesh.points[conn[:, a]] - mesh.points[conn[:, b]], axis=1))
    lengths = np.concatenate(edges) if edges else np.zeros(1)
    return {
        "points": mesh.n_points,
        "cells": mesh.n_cells,
        "cell_types": {t: len(c) for t, c in mesh.domain_cells.items()},
        "dimension": mesh.dim,
        "bounds": [lo.tolist(), hi.tolist()],
        "edge_min": float(lengths.min()),
        "edge_max": float(lengths.max()),
        "edge_mean": float(lengths.mean()),
        "regions": len(mesh.regions),
    }


class MeshPanel(QtWidgets.QWidget):
    """Geometry and mesh of the case: source, options, Mesh, regions, statistics."""

    meshRequested = QtCore.Signal()
    openMeshRequested = QtCore.Signal()
    regionSelected = QtCore.Signal(object)  # region name or None

    def __init__(self, editor: CaseEditor, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        layout = QtWidgets.QVBoxLayout(self)
        source = QtWidgets.QGroupBox("Geometry")
        form = QtWidgets.QFormLayout(source)
        self.geometry_box = QtWidgets.QComboBox()
        self.geometry_box.setObjectName("geometry.kind")
        for name, geo in GEOMETRIES.items():
            self.geometry_box.addItem(name)
            self.geometry_box.setItemData(self.geometry_box.count() - 1, geo.description, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.geometry_box.addItem("(mesh file)")
        self.geometry_box.activated.connect(self._geometry_picked)
        form.addRow("Built-in", self.geometry_box)
        self.file_label = QtWidgets.QLabel("")
        self.file_label.setWordWrap(True)
        open_button = QtWidgets.QPushButton("Open mesh file...")
        open_button.clicked.connect(self.openMeshRequested.emit)
        form.addRow(open_button, self.file_label)
        self.parameter_form = QtWidgets.QFormLayout()
        form.addRow(self.parameter_form)
        layout.addWidget(source)

        options = QtWidgets.QGroupBox("Mesh options")
        oform = QtWidgets.QFormLayout(options)
        self.size_edit = NumberEdit(label="element size (mesh.size)", optional=True, hint="global maximum element size; empty: the default")
        self.size_edit.setObjectName("mesh.size")
        self.size_edit.setPlaceholderText("default: a 20th of the geometry")
        self.size_edit.committed.connect(lambda size: self._set_mesh_option("size", size, source=self.size_edit))
        self.size_edit.rejected.connect(self._show_rejected)
        self.order_box = QtWidgets.QComboBox()
        self.order_box.addItems(["1", "2"])
        self.order_box.setToolTip("geometric order: 2 keeps curved boundaries curved (P2/Q2)")
        self.order_box.activated.connect(lambda *_: self._set_mesh_option("order", int(self.order_box.currentText())))
        self.cell_box = QtWidgets.QComboBox()
        self.cell_box.activated.connect(self._cell_picked)
        self.structured_box = QtWidgets.QCheckBox("structured (where the shape allows)")
        self.structured_box.clicked.connect(lambda on: self._set_mesh_option("structured", bool(on)))
        oform.addRow("Element size", self.size_edit)
        self.options_form = oform
        oform.addRow("Order", self.order_box)
        oform.addRow("Cells", self.cell_box)
        oform.addRow(self.structured_box)
        self.options_box = options
        layout.addWidget(options)

        self.mesh_button = QtWidgets.QPushButton("Mesh")
        self.mesh_button.setObjectName("mesh.button")
        self.mesh_button.setToolTip("mesh the geometry with gmsh (on a worker; the window stays responsive)")
        self.mesh_button.clicked.connect(self.meshRequested.emit)
        layout.addWidget(self.mesh_button)
        self.message = StatusLine()  # its space is kept: a message coming or going moves nothing
        self.message.setObjectName("mesh.message")
        layout.addWidget(self.message)

        regions = QtWidgets.QGroupBox("Named regions")
        rl = QtWidgets.QVBoxLayout(regions)
        self.region_list = QtWidgets.QTreeWidget()
        self.region_list.setObjectName("mesh.regions")
        self.region_list.setHeaderLabels(["region", "kind", "size"])
        self.region_list.setRootIsDecorated(False)
        self.region_list.itemSelectionChanged.connect(self._region_selected)
        rl.addWidget(self.region_list)
        layout.addWidget(regions, 1)
        self.statistics = QtWidgets.QLabel("no mesh yet")
        self.statistics.setObjectName("mesh.statistics")
        self.statistics.setWordWrap(True)
        self.statistics.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.statistics)
        self._mesh: Mesh | None = None
        self._statistics: tuple[Mesh, dict[str, Any]] | None = None  # a mesh and its mesh_statistics
        self._length = ""  # the unit of lengths the mesh is shown in
        editor.session.caseChanged.connect(self.refresh)
        editor.session.meshChanged.connect(self.show_mesh)
        self.refresh(editor.case)
        WheelGuard(self)

    @property
    def data(self) -> dict[str, Any]:
        return self.editor.data or {}

    def _edit(self, description: str, change, source: NumberEdit | None = None) -> bool:
        """Apply an edit; when refused, say why, and keep what was typed in ``source``, marked."""
        error = self.editor.edit(description, change)
        if error is None:
            self.message.clear()
        elif source is not None:
            source.refuse(error)
            self.message.show_message(f"Not applied: {error}; kept {source.in_use_text()}")
        else:
            self.message.show_message(f"Not applied: {error}")
        return error is None

    def _show_rejected(self, why: str) -> None:
        self.message.show_message(f"Not applied: {why}")

    def clear_message(self) -> None:
        """A new document: no old message, nothing typed for the old one."""
        self.message.clear()
        for edit in self.findChildren(NumberEdit):
            edit.show_in_use()

    # -- case -> widgets --
    def refresh(self, case: Case | None) -> None:
        self.setEnabled(case is not None)
        if case is None:
            return
        geometry = case.geometry
        builtin = geometry.kind is not None and geometry.kind in GEOMETRIES
        self.geometry_box.setCurrentText(geometry.kind if builtin else "(mesh file)")
        self.file_label.setText(str(case.resolve(geometry.file).resolve()) if geometry.file else "")
        self.options_box.setEnabled(builtin)
        self._parameters_form(case)
        length = in_system(LENGTH, case.units)
        self.options_form.labelForField(self.size_edit).setText(unit_label("Element size", length))
        if length != self._length:
            self._length = length
            self.show_mesh(self._mesh)
        if not builtin:  # a mesh file is used as it is: no options to show
            self.size_edit.set_value(None)
            self.order_box.setCurrentText("1")
            self.cell_box.clear()
            self.structured_box.setChecked(False)
        else:
            geo = GEOMETRIES[geometry.kind]
            self.size_edit.set_value(case.mesh.size)
            self.order_box.setCurrentText(str(case.mesh.order))
            cells = ("triangle", "quad") if geo.dim == 2 else ("tetra", "hexahedron")
            self.cell_box.clear()
            self.cell_box.addItems(list(cells))
            self.cell_box.setCurrentText(case.mesh.cell or cells[0])
            self.structured_box.setEnabled(geo.supports_structured)
            self.structured_box.setChecked(case.mesh.structured)

    def _parameters_form(self, case: Case) -> None:
        geo = GEOMETRIES.get(case.geometry.kind) if case.geometry.kind else None
        values = {**geo.defaults, **case.geometry.parameters} if geo else {}
        if geo is not None and getattr(self, "_form_for", None) == geo.name:
            for p in geo.parameters:  # same geometry: show the values in use, keep the widgets
                edit = self.findChild(NumberEdit, f"geometry.parameters.{p.name}")
                if edit is not None:
                    edit.set_value(float(values[p.name]))
            return
        self._form_for = geo.name if geo else None
        while self.parameter_form.count():
            item = self.parameter_form.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if geo is None:
            return
        for p in geo.parameters:
            edit = NumberEdit(label=p.name, hint=p.description)
            edit.setObjectName(f"geometry.parameters.{p.name}")
            edit.set_value(float(values[p.name]))
            edit.committed.connect(lambda value, e=edit, n=p.name: self._set_parameter(n, value, e))
            edit.rejected.connect(self._show_rejected)
            self.parameter_form.addRow(p.name, edit)

    def _set_parameter(self, name: str, value: float, edit: NumberEdit) -> None:
        self._edit(f"{name} = {value:g}", lambda d: d["geometry"].setdefault("parameters", {}).__setitem__(name, value), source=edit)

    def _geometry_picked(self, *_: Any) -> None:
        kind = self.geometry_box.currentText()
        if kind == "(mesh file)":
            self.openMeshRequested.emit()
            self.refresh(self.editor.case)
            return

        cell = "triangle" if GEOMETRIES[kind].dim == 2 else "tetra"  # the mesh options start again at their default
        element, fitting = self._element_moves(cell)

        def change(d):
            d["geometry"] = {"kind": kind}
            d["mesh"] = {}
            d["boundary"] = []  # region names belong to the old shape
            d["probes"] = []
            if fitting != element:
                d.setdefault("solver", {}).setdefault("classical", {})["element"] = fitting

        if not self._edit(f"geometry: {kind}", change):
            self.refresh(self.editor.case)
        elif fitting != element:
            self._say_element_moved(cell, element, fitting)

    def _element_moves(self, cell: str) -> tuple[str, str]:
        """The case's element and the one that fits ``cell`` cells (the same where it fits)."""
        element = self.editor.case.solver.classical.element
        return element, element_for_cell(element, cell)

    def _say_element_moved(self, cell: str, element: str, fitting: str) -> None:
        self.message.show_message(f"The cells are {cell} now, so the element changed from {element} to {fitting} "
                                  f"(Case > Solver; Edit > Undo takes both back).", error=False)

    def _cell_picked(self, *_: Any) -> None:
        """A new cell shape, with the element moved along (P on triangles, Q on quadrilaterals),
        as one edit: the case stays one that can be solved."""
        cell = self.cell_box.currentText()
        element, fitting = self._element_moves(cell)

        def change(d):
            d.setdefault("mesh", {})["cell"] = cell
            if fitting != element:
                d.setdefault("solver", {}).setdefault("classical", {})["element"] = fitting

        if not self._edit(f"mesh cell {cell}" + (f", element {fitting}" if fitting != element else ""), change):
            self.refresh(self.editor.case)
        elif fitting != element:
            self._say_element_moved(cell, element, fitting)

    def _set_mesh_option(self, name: str, value: Any, source: NumberEdit | None = None) -> None:
        def change(d):
            mesh = d.setdefault("mesh", {})
            if value is None or value is False and name == "structured":
                mesh.pop(name, None)
            else:
                mesh[name] = value

        if not self._edit(f"mesh {name}", change, source=source):
            self.refresh(self.editor.case)

    # -- mesh -> widgets --
    def offer(self, mesh: Mesh, statistics: dict[str, Any]) -> None:
        """Show ``statistics`` (``mesh_statistics(mesh)``, worked out on a worker: slow for a big
        mesh) when ``mesh`` comes, instead of working them out here."""
        self._statistics = (mesh, statistics)

    def show_mesh(self, mesh: Mesh | None) -> None:
        self._mesh = mesh
        self.region_list.clear()
        if mesh is None:
            self._statistics = None
            self.statistics.setText("no mesh yet: press Mesh")
            return
        for name, region in mesh.regions.items():
            size = len(region.points) if region.points is not None else region.n_cells
            item = QtWidgets.QTreeWidgetItem([name, "node set" if region.points is not None else f"{region.dim}D", str(size)])
            self.region_list.addTopLevelItem(item)
        for col in range(3):
            self.region_list.resizeColumnToContents(col)
        if self._statistics is None or self._statistics[0] is not mesh:
            self._statistics = (mesh, mesh_statistics(mesh))
        s = self._statistics[1]
        lo, hi = s["bounds"]
        cells = ", ".join(f"{n} {t}" for t, n in s["cell_types"].items())
        unit = f" {self._length}" if self._length else ""
        self.statistics.setText(
            f"<b>{s['points']}</b> points, <b>{s['cells']}</b> cells ({cells}), {s['dimension']}D<br>"
            f"bounds {', '.join(f'[{a:.4g}, {b:.4g}]' for a, b in zip(lo, hi))}{unit}<br>"
            f"edge length {s['edge_min']:.3g} .. {s['edge_max']:.3g}{unit} (mean {s['edge_mean']:.3g}{unit})"
        )

    def _region_selected(self) -> None:
        items = self.region_list.selectedItems()
        self.regionSelected.emit(items[0].text(0) if items else None)

    def select_region(self, name: str) -> None:
        for i in range(self.region_list.topLevelItemCount()):
            item = self.region_list.topLevelItem(i)
            if item.text(0) == name:
                self.region_list.setCurrentItem(item)
                return

    def error(self, text: str) -> None:
        self.message.show_message(text)

    def set_busy(self, busy: bool) -> None:
        self.mesh_button.setEnabled(not busy)

