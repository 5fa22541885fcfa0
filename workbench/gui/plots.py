"""Plots (pyqtgraph): the answers along a line the user places, and a histogram of the error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.atomic import atomic_write_text
from engine.comparison import line_profile
from engine.errors import WorkbenchError
from engine.result import Result

__all__ = ["LinePlotPanel", "ErrorHistogram"]

_PENS = {"classical": "#1f4e79", "surrogate": "#e4572e"}
pg.setConfigOptions(antialias=True, background="w", foreground="k")


class LinePlotPanel(QtWidgets.QWidget):
    """Both answers along the segment start -> end, with the segment editable as coordinates."""

    lineChanged = QtCore.Signal(object, object)  # start, end (arrays) or None, None

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        self.start_edit = QtWidgets.QLineEdit()
        self.end_edit = QtWidgets.QLineEdit()
        for edit, tip in ((self.start_edit, "start point, e.g. 0, 0.5"), (self.end_edit, "end point, e.g. 1, 0.5")):
            edit.setMinimumWidth(90)
            edit.setToolTip(tip)
            edit.setPlaceholderText(tip)
            edit.editingFinished.connect(self.update_plot)
        row.addWidget(QtWidgets.QLabel("Line from"))
        row.addWidget(self.start_edit)
        row.addWidget(QtWidgets.QLabel("to"))
        row.addWidget(self.end_edit)
        self.drag_button = QtWidgets.QPushButton("Drag in view")
        self.drag_button.setCheckable(True)
        self.drag_button.setToolTip("place the line with the mouse: drag its ends (or its middle) in the result or compare view")
        row.addWidget(self.drag_button)
        layout.addLayout(row)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(10, 10))
        self.plot.setLabel("bottom", "distance along the line")
        layout.addWidget(self.plot, 1)
        self.message = QtWidgets.QLabel("")
        self.message.setStyleSheet("color: #b3261e;")
        layout.addWidget(self.message)
        self.results: dict[str, Result] = {}
        self.field = ""
        self.component = ""
        self.step = -1
        self.distance: np.ndarray | None = None
        self.profiles: dict[str, np.ndarray] = {}

    def set_results(self, results: dict[str, Result], field: str, component: str = "", *, step: int = -1) -> None:
        self.results = {k: v for k, v in results.items() if field in v.fields}
        self.field, self.component, self.step = field, component, step
        if self.results and not self.start_edit.text():
            self.place_default_line()
        self.update_plot()

    def place_default_line(self) -> None:
        """The horizontal line through the middle of the first result's mesh."""
        mesh = next(iter(self.results.values())).mesh
        lo, hi = mesh.bounding_box
        mid = (lo + hi) / 2
        start, end = mid.copy(), mid.copy()
        start[0], end[0] = lo[0], hi[0]
        self.set_line(start, end)

    def set_line(self, start, end) -> None:
        start, end = np.asarray(start, float), np.asarray(end, float)
        scale = float(np.max(np.abs(np.concatenate([start, end])))) or 1.0
        for edit, point in ((self.start_edit, start), (self.end_edit, end)):
            point = np.where(np.abs(point) < 1e-12 * scale, 0.0, point)  # no 4.4e-16 for a zero
            edit.setText(", ".join(f"{v:.6g}" for v in point))
        self.update_plot()

    def line(self) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            start = np.array([float(v) for v in self.start_edit.text().split(",")])
            end = np.array([float(v) for v in self.end_edit.text().split(",")])
        except ValueError:
            return None
        if start.shape != end.shape or len(start) not in (2, 3):
            return None
        return start, end

    def update_plot(self) -> None:
        self.plot.clear()
        self.plot.enableAutoRange()
        self.distance, self.profiles = None, {}
        if not self.results or not self.field:
            self.plot.setLabel("left", "")
            self.message.setText("")
            self.lineChanged.emit(None, None)
            return
        line = self.line()
        if line is None:
            self.message.setText("The line's ends must be two points written as 'x, y' (or 'x, y, z').")
            return
        try:
            self.distance, self.profiles = line_profile(self.results, self.field, *line, component=self.component, step=self.step)
        except WorkbenchError as err:
            self.message.setText(str(err))
            return
        self.message.setText("")
        for label, values in self.profiles.items():
            self.plot.plot(self.distance, values, pen=pg.mkPen(_PENS.get(label, "#555"), width=2), name=label, connect="finite")
        self.plot.setLabel("left", self.field + (f" ({self.component})" if self.component else ""), **{"font-size": "8pt"})
        self.lineChanged.emit(*line)

    def csv_text(self) -> str:
        """The plotted samples as CSV: distance, then one column per answer."""
        out = io.StringIO()
        writer = csv.writer(out)
        labels = list(self.profiles)
        writer.writerow(["distance", *(f"{self.field}{('_' + self.component) if self.component else ''}_{label}" for label in labels)])
        if self.distance is not None:
            for i, s in enumerate(self.distance):
                writer.writerow([f"{s:.9g}", *(f"{self.profiles[label][i]:.9g}" for label in labels)])
        return out.getvalue()

    def export_csv(self, path: str | Path) -> None:
        atomic_write_text(path, self.csv_text())


class ErrorHistogram(QtWidgets.QWidget):
    """How the pointwise error of the compared field is distributed."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("left", "points")
        layout.addWidget(self.plot)
        self.counts: np.ndarray | None = None
        self.edges: np.ndarray | None = None

    def set_values(self, values: np.ndarray | None, label: str = "error") -> None:
        self.plot.clear()
        self.counts = self.edges = None
        axis = self.plot.getAxis("bottom")
        if values is None or len(values) == 0:
            axis.enableAutoSIPrefix(False)  # no stale "(x1e-06)" on an empty plot
            self.plot.setLabel("bottom", "error (run both to compare)")
            return
        axis.enableAutoSIPrefix(True)
        finite = values[np.isfinite(values)]
        self.counts, self.edges = np.histogram(finite, bins=min(60, max(10, int(np.sqrt(len(finite))))))
        self.plot.plot(self.edges, self.counts, stepMode="center", fillLevel=0, brush=(228, 87, 46, 120), pen=pg.mkPen("#e4572e"))
        self.plot.setLabel("bottom", label)
