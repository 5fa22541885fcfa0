"""MeshPanel: where the case's mesh comes from (a built-in geometry or a file), its named
regions and its statistics.

Choosing a geometry, its parameters or mesh options edits the case (through the CaseEditor);
the Mesh button asks the window to mesh it on a worker. Selecting a region highlights it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.case.schema import Case
from engine.mesh.geometry import GEOMETRIES
from engine.mesh.mesh import Mesh

from workbench.gui.case_editor import CaseEditor
from workbench.gui.forms import WheelGuard

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
        self.size_edit = QtWidgets.QLineEdit()
        self.size_edit.setObjectName("mesh.size")
        self.size_edit.setPlaceholderText("default: a 20th of the geometry")
        self.size_edit.setValidator(QtGui.QDoubleValidator(0.0, 1e12, 6))
        self.size_edit.editingFinished.connect(self._size_changed)
        self.order_box = QtWidgets.QComboBox()
        self.order_box.addItems(["1", "2"])
        self.order_box.setToolTip("geometric order: 2 keeps curved boundaries curved (P2/Q2)")
        self.order_box.activated.connect(lambda *_: self._set_mesh_option("order", int(self.order_box.currentText())))
        self.cell_box = QtWidgets.QComboBox()
        self.cell_box.activated.connect(lambda *_: self._set_mesh_option("cell", self.cell_box.currentText()))
        self.structured_box = QtWidgets.QCheckBox("structured (where the shape allows)")
        self.structured_box.clicked.connect(lambda on: self._set_mesh_option("structured", bool(on)))
        oform.addRow("Element size", self.size_edit)
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
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b3261e;")
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
        editor.session.caseChanged.connect(self.refresh)
        editor.session.meshChanged.connect(self.show_mesh)
        self.refresh(editor.case)
        WheelGuard(self)

    @property
    def data(self) -> dict[str, Any]:
        return self.editor.data or {}

    def _edit(self, description: str, change) -> bool:
        error = self.editor.edit(description, change)
        self.message.setText("" if error is None else f"Not applied: {error}")
        return error is None

    def clear_message(self) -> None:
        self.message.setText("")

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
        if not builtin:  # a mesh file is used as it is: no options to show
            self.size_edit.clear()
            self.order_box.setCurrentText("1")
            self.cell_box.clear()
            self.structured_box.setChecked(False)
        else:
            geo = GEOMETRIES[geometry.kind]
            self.size_edit.setText("" if case.mesh.size is None else f"{case.mesh.size:g}")
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
                edit = self.findChild(QtWidgets.QLineEdit, f"geometry.parameters.{p.name}")
                if edit is not None:
                    edit.setText(f"{values[p.name]:.12g}")
                    edit.setStyleSheet("")
            return
        self._form_for = geo.name if geo else None
        while self.parameter_form.count():
            item = self.parameter_form.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if geo is None:
            return
        for p in geo.parameters:
            edit = QtWidgets.QLineEdit(f"{values[p.name]:.12g}")
            edit.setObjectName(f"geometry.parameters.{p.name}")
            edit.setToolTip(p.description)
            edit.setValidator(QtGui.QDoubleValidator())
            edit.editingFinished.connect(lambda e=edit, n=p.name: e.isModified() and self._set_parameter(n, e))
            self.parameter_form.addRow(p.name, edit)

    def _set_parameter(self, name: str, edit: QtWidgets.QLineEdit) -> None:
        edit.setModified(False)
        try:
            value = float(edit.text())
        except ValueError:
            self.message.setText(f"Not applied: {name} = {edit.text()!r} is not a number")
            return
        if not self._edit(f"{name} = {value:g}", lambda d: d["geometry"].setdefault("parameters", {}).__setitem__(name, value)):
            QtCore.QTimer.singleShot(0, lambda: self.refresh(self.editor.case))  # show the value in use again

    def _geometry_picked(self, *_: Any) -> None:
        kind = self.geometry_box.currentText()
        if kind == "(mesh file)":
            self.openMeshRequested.emit()
            self.refresh(self.editor.case)
            return

        def change(d):
            d["geometry"] = {"kind": kind}
            d["mesh"] = {}
            d["boundary"] = []  # region names belong to the old shape
            d["probes"] = []

        if not self._edit(f"geometry: {kind}", change):
            self.refresh(self.editor.case)

    def _size_changed(self) -> None:
        if not self.size_edit.isModified():
            return
        self.size_edit.setModified(False)
        text = self.size_edit.text().strip()
        self._set_mesh_option("size", float(text) if text else None)

    def _set_mesh_option(self, name: str, value: Any) -> None:
        def change(d):
            mesh = d.setdefault("mesh", {})
            if value is None or value is False and name == "structured":
                mesh.pop(name, None)
            else:
                mesh[name] = value

        if not self._edit(f"mesh {name}", change):
            self.refresh(self.editor.case)

    # -- mesh -> widgets --
    def show_mesh(self, mesh: Mesh | None) -> None:
        self.region_list.clear()
        if mesh is None:
            self.statistics.setText("no mesh yet: press Mesh")
            return
        for name, region in mesh.regions.items():
            size = len(region.points) if region.points is not None else region.n_cells
            item = QtWidgets.QTreeWidgetItem([name, "node set" if region.points is not None else f"{region.dim}D", str(size)])
            self.region_list.addTopLevelItem(item)
        for col in range(3):
            self.region_list.resizeColumnToContents(col)
        s = mesh_statistics(mesh)
        lo, hi = s["bounds"]
        cells = ", ".join(f"{n} {t}" for t, n in s["cell_types"].items())
        self.statistics.setText(
            f"<b>{s['points']}</b> points, <b>{s['cells']}</b> cells ({cells}), {s['dimension']}D<br>"
            f"bounds {', '.join(f'[{a:.4g}, {b:.4g}]' for a, b in zip(lo, hi))}<br>"
            f"edge length {s['edge_min']:.3g} .. {s['edge_max']:.3g} (mean {s['edge_mean']:.3g})"
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
        self.message.setText(text)

    def set_busy(self, busy: bool) -> None:
        self.mesh_button.setEnabled(not busy)

