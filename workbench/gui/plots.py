"""Plots (pyqtgraph): the answers along a line the user places, a histogram of the error, each
probe's value over time for a transient run, and a transient flow's drag and lift coefficients
over time; any of them exported as PNG or SVG.

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

__all__ = ["LinePlotPanel", "ErrorHistogram", "ProbeTimePlot", "ForceHistoryPlot", "PreparedProfile", "PreparedHistogram", "export_plot"]

_PENS = {"classical": "#1f4e79", "surrogate": "#e4572e"}
pg.setConfigOptions(antialias=True, background="w", foreground="k")


def _plot_widget() -> pg.PlotWidget:
    """A plot with a grid whose axes show plain values: no "(x0.001)" prefix to decode."""
    plot = pg.PlotWidget()
    _plain_axes(plot.plotItem)
    return plot


def _plain_axes(item: pg.PlotItem) -> None:
    item.showGrid(x=True, y=True, alpha=0.3)
    for name in ("left", "bottom"):
        item.getAxis(name).enableAutoSIPrefix(False)


def _time_marker() -> pg.InfiniteLine:
    """The dashed vertical line at the time the Result view shows."""
    return pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#5f6b7a", width=1, style=QtCore.Qt.PenStyle.DashLine))


def _answer_style(label: str) -> QtCore.Qt.PenStyle:
    """The classical answer solid, any other (a surrogate's) dashed."""
    return QtCore.Qt.PenStyle.SolidLine if label == "classical" else QtCore.Qt.PenStyle.DashLine


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
        self.marker = _time_marker()
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
                self.plot.plot(result.times, values, pen=pg.mkPen(colour, width=2, style=_answer_style(label)), name=f"{probe} ({label})",
                               connect="finite")
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


#: The force history's columns (``provenance.metrics["force_history"]``), as the CSV writes them.
FORCE_HISTORY_KEYS = ("time", "drag", "lift", "c_D", "c_L")
#: What each of the two plots shows: its key and what it is (the axis's tooltip).
_FORCE_PLOTS = (("c_D", "drag coefficient 2 F_x / (rho U^2 L)"), ("c_L", "lift coefficient 2 F_y / (rho U^2 L)"))
_NEEDS_FORCES = ("Forces over time need a transient flow run that reports them: a Navier-Stokes case with a [physics.time] "
                 "table and [physics.forces] (the region, reference velocity and length).")


def _force_history(result: Result) -> dict[str, np.ndarray] | None:
    """A result's force history as arrays of one length; None when it has none. Raises
    ``InputError`` for one whose columns are missing or of different lengths."""
    history = result.provenance.metrics.get("force_history")
    if history is None:
        return None
    missing = [k for k in FORCE_HISTORY_KEYS if k not in history] if isinstance(history, dict) else list(FORCE_HISTORY_KEYS)
    if missing:
        raise InputError("the force history lacks columns", field="metrics.force_history", value=", ".join(missing),
                         expected=f"lists {', '.join(FORCE_HISTORY_KEYS)}")
    columns = {k: np.asarray(history[k], dtype=float).ravel() for k in FORCE_HISTORY_KEYS}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) != 1:
        raise InputError("the force history's columns differ in length", field="metrics.force_history", value=lengths,
                         expected="one value per time in every column")
    return columns


def _robust_range(values: np.ndarray, *, tail: float = 1.0) -> tuple[float, float] | None:
    """The range of ``values`` without their ``tail`` per cent at each end, when that clips a
    spike: an impulsive start's drag is tens of times the developed flow's, and a range fitted
    to it draws the shedding as a flat line (the plot's "A" button shows everything). None where
    there are too few values or nothing to clip."""
    finite = values[np.isfinite(values)]
    if len(finite) < 50:
        return None
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    full = float(finite.max() - finite.min())
    if not hi > lo or hi - lo > 0.5 * full:
        return None
    return float(lo), float(hi)


class ForceHistoryPlot(QtWidgets.QWidget):
    """The drag and lift coefficients over time of each transient flow answer that reports its
    forces (``provenance.metrics["force_history"]``), c_D above c_L on one time axis, with a
    vertical marker at the time the Result view shows."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        #: both coefficients' plots in one layout, which ``export_plot`` writes as one picture
        self.plot = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.markers: dict[str, pg.InfiniteLine] = {}
        for row, (key, meaning) in enumerate(_FORCE_PLOTS):
            item = self.plot.addPlot(row=row, col=0)
            _plain_axes(item)
            item.setLabel("left", key, **{"font-size": "8pt"})  # (short: the two plots share a small dock)
            item.getAxis("left").setToolTip(meaning)
            if row:
                item.setXLink(self.plots[_FORCE_PLOTS[0][0]])
            else:
                item.addLegend(offset=(10, 10))  # one legend: the answers are drawn alike in both
            self.plots[key] = item
            self.markers[key] = _time_marker()
        self.plots[_FORCE_PLOTS[-1][0]].setLabel("bottom", "time [s]")
        layout.addWidget(self.plot, 1)
        self.message = QtWidgets.QLabel(_NEEDS_FORCES)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #5f6b7a;")
        layout.addWidget(self.message)
        self.results: dict[str, Result] = {}
        self.time: float | None = None
        #: what is plotted, by answer: its force history (FORCE_HISTORY_KEYS -> arrays)
        self.histories: dict[str, dict[str, np.ndarray]] = {}
        #: what is plotted: (coefficient, answer) -> (times, values)
        self.curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def set_results(self, results: dict[str, Result]) -> None:
        """Plot the force histories among ``results`` (say why when there are none)."""
        self.results = dict(results)
        self.histories, problems = {}, []
        for label, result in results.items():
            try:
                history = _force_history(result)
            except InputError as err:
                problems.append(f"{label}: {err}")
                continue
            if history is not None and len(history["time"]):
                self.histories[label] = history
        self.message.setText("; ".join(problems) if problems else "" if self.histories else _NEEDS_FORCES if results else "")
        self.update_plot()

    def update_plot(self) -> None:
        self.curves = {}
        for key, item in self.plots.items():
            item.clear()
            item.enableAutoRange()
            for index, (label, history) in enumerate(self.histories.items()):
                colour = _PENS.get(label, _PROBE_COLOURS[index % len(_PROBE_COLOURS)])
                self.curves[(key, label)] = (history["time"], history[key])
                item.plot(history["time"], history[key], pen=pg.mkPen(colour, width=2, style=_answer_style(label)), name=label, connect="finite")
            item.addItem(self.markers[key], ignoreBounds=True)  # the marker never widens the time axis
            values = np.concatenate([h[key] for h in self.histories.values()]) if self.histories else np.zeros(0)
            window = _robust_range(values)
            if window is not None:
                item.setYRange(*window, padding=0.1)
        self.set_time(self.time)

    def set_time(self, time: float | None) -> None:
        """Move the markers to ``time`` (None: hide them)."""
        self.time = time
        for marker in self.markers.values():
            marker.setVisible(time is not None and bool(self.curves))
            if time is not None:
                marker.setValue(time)

    def csv_text(self) -> str:
        """The force histories as CSV: time, then drag, lift, c_D and c_L of each answer (a time
        one answer has no value at is left empty)."""
        times = sorted({float(t) for h in self.histories.values() for t in h["time"]})
        rows = {label: {float(t): i for i, t in enumerate(h["time"])} for label, h in self.histories.items()}
        quantities = FORCE_HISTORY_KEYS[1:]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["time", *(f"{q}_{label}" for label in self.histories for q in quantities)])
        for t in times:
            cells = []
            for label, history in self.histories.items():
                i = rows[label].get(t)
                cells += ["" if i is None else repr(float(history[q][i])) for q in quantities]
            writer.writerow([repr(t), *cells])
        return out.getvalue()

    def export_csv(self, path: str | Path) -> None:
        if not self.histories:
            raise InputError("no forces over time to export", expected="a transient flow run with [physics.forces]")
        atomic_write_text(path, self.csv_text())


def _export_item(plot: pg.PlotWidget | pg.GraphicsLayoutWidget):
    """What a plot's exporters draw: a plot's own item, or the whole layout of several."""
    return plot.plotItem if isinstance(plot, pg.PlotWidget) else plot.ci


def _svg_of(plot: pg.PlotWidget | pg.GraphicsLayoutWidget) -> bytes:
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
    return SVGExporter(_export_item(plot)).export(toBytes=True)


def export_plot(plot: pg.PlotWidget | pg.GraphicsLayoutWidget, path: str | Path, *, width: int | None = None) -> Path:
    """Write ``plot`` (one plot, or a layout of several) as PNG or SVG, by the suffix of ``path`` (atomically).

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
    exporter = ImageExporter(_export_item(plot))
    if width is not None:
        exporter.parameters()["width"] = int(width)  # the height follows
    image = exporter.export(toBytes=True)
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise InputError("cannot write the picture", source=path, expected="a folder you can write to, with room to spare")
    return path
