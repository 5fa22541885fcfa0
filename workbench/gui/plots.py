"""Plots (pyqtgraph): the answers along a line the user places, a histogram of the error, and
each probe's value over time for a transient run; any of them exported as PNG or SVG.

Sampling a big mesh along a line and counting its errors take seconds: both can be prepared on a
worker thread (``prepare``) and ``offer``-ed before the data arrive.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.atomic import atomic_path, atomic_write_text
from engine.comparison import line_profile
from engine.errors import InputError, WorkbenchError
from engine.physics.units import carried_unit, unit_label
from engine.result import Result

__all__ = ["LinePlotPanel", "ErrorHistogram", "ProbeTimePlot", "PreparedProfile", "PreparedHistogram", "export_plot"]

_PENS = {"classical": "#1f4e79", "surrogate": "#e4572e"}
pg.setConfigOptions(antialias=True, background="w", foreground="k")


def _plot_widget() -> pg.PlotWidget:
    """A plot with a grid whose axes show plain values: no "(x0.001)" prefix to decode."""
    plot = pg.PlotWidget()
    plot.showGrid(x=True, y=True, alpha=0.3)
    for name in ("left", "bottom"):
        plot.getAxis(name).enableAutoSIPrefix(False)
    return plot


def _clear(plot: pg.PlotWidget) -> None:
    """Empty the plot and forget the last data's axis ranges (autorange then fits the next data)."""
    plot.clear()
    plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    plot.enableAutoRange()


@dataclass(frozen=True, eq=False)
class PreparedProfile:
    """A line plot worked out ahead (see ``LinePlotPanel.prepare``)."""

    results: dict[str, Result]
    field: str
    component: str
    step: int
    line_text: tuple[str, str]  # the line's ends as the panel writes them
    distance: np.ndarray | None
    profiles: dict[str, np.ndarray]
    error: str | None  # why there is no profile (the line leaves the mesh's dimension...)


@dataclass(frozen=True, eq=False)
class PreparedHistogram:
    """An error histogram counted ahead (see ``ErrorHistogram.prepare``)."""

    values: np.ndarray
    counts: np.ndarray
    edges: np.ndarray


def _line_text(start, end) -> tuple[str, str]:
    start, end = np.asarray(start, float), np.asarray(end, float)
    scale = float(np.max(np.abs(np.concatenate([start, end])))) or 1.0
    texts = []
    for point in (start, end):
        point = np.where(np.abs(point) < 1e-12 * scale, 0.0, point)  # no 4.4e-16 for a zero
        texts.append(", ".join(f"{v:.6g}" for v in point))
    return texts[0], texts[1]


def _default_line(results: dict[str, Result]) -> tuple[str, str]:
    """The horizontal line through the middle of the first result's mesh."""
    lo, hi = next(iter(results.values())).mesh.bounding_box
    mid = (lo + hi) / 2
    start, end = mid.copy(), mid.copy()
    start[0], end[0] = lo[0], hi[0]
    return _line_text(start, end)


def _parse_line(start_text: str, end_text: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        start = np.array([float(v) for v in start_text.split(",")])
        end = np.array([float(v) for v in end_text.split(",")])
    except ValueError:
        return None
    if start.shape != end.shape or len(start) not in (2, 3):
        return None
    return start, end


def _with_field(results: dict[str, Result], field: str) -> dict[str, Result]:
    return {k: v for k, v in results.items() if field in v.fields}


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
        self.plot = _plot_widget()
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
        self._offered: PreparedProfile | None = None

    @staticmethod
    def prepare(results: dict[str, Result], field: str, component: str = "", *, step: int = -1,
                line_text: tuple[str, str] = ("", "")) -> PreparedProfile | None:
        """The profiles ``set_results`` plots while the line's ends read ``line_text`` (empty:
        the default line). Slow for a big mesh; no Qt, so any thread may. None: nothing to plot."""
        results = _with_field(results, field)
        if not results or not field:
            return None
        if not line_text[0]:
            line_text = _default_line(results)
        line = _parse_line(*line_text)
        if line is None:
            return None
        try:
            distance, profiles = line_profile(results, field, *line, component=component, step=step)
        except WorkbenchError as err:
            return PreparedProfile(results, field, component, step, line_text, None, {}, str(err))
        return PreparedProfile(results, field, component, step, line_text, distance, profiles, None)

    def offer(self, prepared: PreparedProfile | None) -> None:
        """Plot ``prepared`` when the panel gets its results and line, instead of sampling here."""
        self._offered = prepared

    def set_results(self, results: dict[str, Result], field: str, component: str = "", *, step: int = -1) -> None:
        self.results = _with_field(results, field)
        self.field, self.component, self.step = field, component, step
        if not self.results:
            self._offered = None  # nothing holds on to the answers of an earlier document
        if self.results and not self.start_edit.text():
            self._write_line(*_default_line(self.results))
        self.update_plot()

    def place_default_line(self) -> None:
        """The horizontal line through the middle of the first result's mesh."""
        self._write_line(*_default_line(self.results))
        self.update_plot()

    def set_line(self, start, end) -> None:
        self._write_line(*_line_text(start, end))
        self.update_plot()

    def _write_line(self, start_text: str, end_text: str) -> None:
        self.start_edit.setText(start_text)
        self.end_edit.setText(end_text)

    def line(self) -> tuple[np.ndarray, np.ndarray] | None:
        return _parse_line(self.start_edit.text(), self.end_edit.text())

    def _prepared(self) -> PreparedProfile | None:
        """The offered profile if it is the one to plot now."""
        offered = self._offered
        if offered is None or offered.results.keys() != self.results.keys() or any(offered.results[k] is not v for k, v in self.results.items()):
            return None
        if (offered.field, offered.component, offered.step, offered.line_text) != (self.field, self.component, self.step, (self.start_edit.text(), self.end_edit.text())):
            return None
        return offered

    def update_plot(self) -> None:
        _clear(self.plot)
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
        prepared = self._prepared() or LinePlotPanel.prepare(self.results, self.field, self.component, step=self.step,
                                                             line_text=(self.start_edit.text(), self.end_edit.text()))
        if prepared.error is not None:
            self.message.setText(prepared.error)
            return
        self.distance, self.profiles = prepared.distance, prepared.profiles
        self.message.setText("")
        for label, values in self.profiles.items():
            self.plot.plot(self.distance, values, pen=pg.mkPen(_PENS.get(label, "#555"), width=2), name=label, connect="finite")
        shown = self.field + (f" ({self.component})" if self.component else "")
        self.plot.setLabel("left", unit_label(shown, carried_unit(self.results, self.field)), **{"font-size": "8pt"})
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
        self.plot = _plot_widget()
        self.plot.setLabel("left", "points")
        layout.addWidget(self.plot)
        self.counts: np.ndarray | None = None
        self.edges: np.ndarray | None = None
        self._offered: PreparedHistogram | None = None

    @staticmethod
    def prepare(values: np.ndarray) -> PreparedHistogram:
        """The counts ``set_values(values)`` plots (no Qt, so any thread may)."""
        finite = values[np.isfinite(values)]
        counts, edges = np.histogram(finite, bins=min(60, max(10, int(np.sqrt(len(finite))))))
        return PreparedHistogram(values, counts, edges)

    def offer(self, prepared: PreparedHistogram | None) -> None:
        """Plot ``prepared`` when its values come, instead of counting them here."""
        self._offered = prepared

    def set_values(self, values: np.ndarray | None, label: str = "error") -> None:
        _clear(self.plot)
        self.counts = self.edges = None
        if values is None or len(values) == 0:
            self._offered = None
            self.plot.setLabel("bottom", "error (run both to compare)")
            return
        offered = self._offered if self._offered is not None and self._offered.values is values else ErrorHistogram.prepare(values)
        self.counts, self.edges = offered.counts, offered.edges
        self.plot.plot(self.edges, self.counts, stepMode="center", fillLevel=0, brush=(228, 87, 46, 120), pen=pg.mkPen("#e4572e"))
        self.plot.setLabel("bottom", label)


#: one colour per probe (the solver is told by the line's style: surrogate dashed)
_PROBE_COLOURS = ["#1f4e79", "#2a9d8f", "#8e44ad", "#e9a03b", "#c0392b", "#16a085", "#7f8c8d", "#d35400"]
_NEEDS_TRANSIENT = "Probes over time need a transient run: give the case a [physics.time] table (as in the NAFEMS T3 example)."
_NEEDS_PROBES = "This run has no probes: add one in Case > Probes to follow its value over time."


def _probe_choices(results: dict[str, Result]) -> list[str]:
    """What the probes can be plotted by: each probed field, a vector's magnitude and components
    as the views name them ("flux (x)")."""
    from engine.visual import component_names

    choices: list[str] = []
    for result in results.values():
        for reading in result.probes.values():
            for name in reading.values:
                f = result.fields.get(name)
                names = component_names(f) if f is not None else [""]
                for component in names:
                    choice = name + (f" ({component})" if component else "")
                    if choice not in choices:
                        choices.append(choice)
    return choices


def _split_choice(choice: str) -> tuple[str, str]:
    name, _, component = choice.partition(" (")
    return name, component.rstrip(")")


def _probe_series(result: Result, probe: str, field: str, component: str) -> np.ndarray | None:
    """One number per saved time of ``probe``'s reading of ``field`` (a vector's magnitude or one
    component); None when the probe does not read the field."""
    reading = result.probes.get(probe)
    if reading is None or field not in reading.values:
        return None
    values = np.asarray(reading.values[field], dtype=float).reshape(len(result.times), -1)
    if values.shape[1] == 1:
        return values[:, 0]
    if component in ("", "magnitude"):
        return np.linalg.norm(values, axis=1)
    f = result.fields.get(field)
    names = list(f.components) if f is not None and f.components else [str(i) for i in range(values.shape[1])]
    return values[:, names.index(component)] if component in names else None


class ProbeTimePlot(QtWidgets.QWidget):
    """Each probe's value over time, for every transient answer (classical solid, surrogate
    dashed), with a vertical marker at the time the Result view shows."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Field"))
        self.field_box = QtWidgets.QComboBox()
        self.field_box.setToolTip("the probed field (a vector: its magnitude or one component)")
        self.field_box.currentTextChanged.connect(lambda _: self.update_plot())
        row.addWidget(self.field_box, 1)
        layout.addLayout(row)
        self.plot = _plot_widget()
        self.plot.addLegend(offset=(10, 10))
        self.plot.setLabel("bottom", "time")
        layout.addWidget(self.plot, 1)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #5f6b7a;")
        layout.addWidget(self.message)
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#5f6b7a", width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.results: dict[str, Result] = {}
        self.time: float | None = None
        #: what is plotted: (probe, solver) -> (times, values)
        self.curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def set_results(self, results: dict[str, Result]) -> None:
        """Plot the probes of the transient ones among ``results`` (say why when there are none)."""
        self.results = {label: r for label, r in results.items() if r.times is not None}
        keep = self.field_box.currentText()
        choices = _probe_choices(self.results)
        self.field_box.blockSignals(True)
        self.field_box.clear()
        self.field_box.addItems(choices)
        if keep in choices:
            self.field_box.setCurrentText(keep)
        self.field_box.blockSignals(False)
        self.field_box.setEnabled(bool(choices))
        if not self.results:
            self.message.setText(_NEEDS_TRANSIENT if results else "")
        elif not choices:
            self.message.setText(_NEEDS_PROBES)
        else:
            self.message.setText("")
        self.update_plot()

    def set_time(self, time: float | None) -> None:
        """Move the marker to ``time`` (None: hide it)."""
        self.time = time
        self.marker.setVisible(time is not None and bool(self.curves))
        if time is not None:
            self.marker.setValue(time)

    def update_plot(self) -> None:
        _clear(self.plot)
        self.curves = {}
        choice = self.field_box.currentText()
        if not choice:
            self.plot.setLabel("left", "")
            self.set_time(self.time)
            return
        field, component = _split_choice(choice)
        probes = sorted({p for r in self.results.values() for p in r.probes})
        for index, probe in enumerate(probes):
            colour = _PROBE_COLOURS[index % len(_PROBE_COLOURS)]
            for label, result in self.results.items():
                values = _probe_series(result, probe, field, component)
                if values is None:
                    continue
                self.curves[(probe, label)] = (np.asarray(result.times, dtype=float), values)
                style = QtCore.Qt.PenStyle.SolidLine if label == "classical" else QtCore.Qt.PenStyle.DashLine
                self.plot.plot(result.times, values, pen=pg.mkPen(colour, width=2, style=style), name=f"{probe} ({label})", connect="finite")
        self.plot.addItem(self.marker, ignoreBounds=True)  # the marker never widens the time axis
        self.plot.setLabel("left", unit_label(choice, carried_unit(self.results, field)), **{"font-size": "8pt"})
        self.set_time(self.time)

    def csv_text(self) -> str:
        """The plotted curves as CSV: time, then one column per probe and solver (a time one
        curve has no value at is left empty)."""
        times = sorted({float(t) for ts, _ in self.curves.values() for t in ts})
        columns = [dict(zip((float(t) for t in ts), vs)) for ts, vs in self.curves.values()]
        field, component = _split_choice(self.field_box.currentText())
        quantity = field + (f"_{component}" if component else "")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["time", *(f"{probe}.{quantity}_{label}" for probe, label in self.curves)])
        for t in times:
            writer.writerow([repr(t), *("" if t not in column else repr(float(column[t])) for column in columns)])
        return out.getvalue()

    def export_csv(self, path: str | Path) -> None:
        if not self.curves:
            raise InputError("no probes over time to export", expected="a transient run with probes")
        atomic_write_text(path, self.csv_text())


def _svg_of(plot: pg.PlotWidget) -> bytes:
    """``plot`` as SVG, by pyqtgraph's exporter (it clips the curves to the axes, which Qt's own
    SVG generator does not). pyqtgraph 0.14 cannot read the close-path command ("Z") that Qt 6
    writes into each item's path (pyqtgraph issue 3485): the command is dropped before it reads
    them; every path Qt closes ends on its first point already, so the drawing is the same."""
    import importlib

    from pyqtgraph.exporters import SVGExporter

    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    read = module.correctCoordinates
    if not getattr(read, "drops_close_path", False):
        def read_without_close_path(node, defs, item, options):
            for element in node.getElementsByTagName("path"):
                element.setAttribute("d", " ".join(t for t in element.getAttribute("d").split() if t not in ("Z", "z")))
            return read(node, defs, item, options)

        read_without_close_path.drops_close_path = True
        module.correctCoordinates = read_without_close_path
    return SVGExporter(plot.plotItem).export(toBytes=True)


def export_plot(plot: pg.PlotWidget, path: str | Path, *, width: int | None = None) -> Path:
    """Write ``plot`` as PNG or SVG, by the suffix of ``path`` (atomically).

    ``width``: the PNG's width in pixels (its height keeps the plot's aspect); default the
    plot's size on screen. An SVG has the plot's size on screen.
    """
    from pyqtgraph.exporters import ImageExporter

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InputError("cannot tell the picture's format", source=path, expected="a file name ending in .png or .svg")
    if suffix == ".svg":
        data = _svg_of(plot)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return path
    exporter = ImageExporter(plot.plotItem)
    if width is not None:
        exporter.parameters()["width"] = int(width)  # the height follows
    image = exporter.export(toBytes=True)
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise InputError("cannot write the picture", source=path, expected="a folder you can write to, with room to spare")
    return path
