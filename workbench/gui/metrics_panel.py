"""MetricsPanel: the numbers of the current results: per solver its cost and convergence, per
field the comparison's error norms, and each probe's values side by side."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.atomic import atomic_write_text
from engine.comparison import Comparison
from engine.physics.units import carried_unit, unit_label
from engine.result import Result

__all__ = ["MetricsPanel"]


def _physics_of(result: Result):
    """The PhysicsSpec of the case a result answers (None when the result does not say)."""
    import tomllib

    from engine.errors import InputError
    from engine.physics.registry import get_physics

    try:
        return get_physics(tomllib.loads(result.provenance.case or "")["physics"]["kind"])
    except (tomllib.TOMLDecodeError, KeyError, TypeError, InputError):  # a result from elsewhere, a physics not installed
        return None


def _item(text: str) -> QtWidgets.QTableWidgetItem:
    return QtWidgets.QTableWidgetItem(text)


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _seconds(value: float | None) -> str:
    """A duration to three significant digits: 0.321 s, 12.3 s, 1234 s."""
    if value is None:
        return "-"
    return f"{value:.0f} s" if value >= 1000 else f"{value:.3g} s"


def _iterations(prov) -> str:
    """Krylov iterations, or "direct" for a factorised solve (it iterates not at all)."""
    if prov.metrics.get("linear_solver") == ["direct"]:
        return "direct"
    return _number(prov.iterations)


def _probe_text(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.size == 1:
        return f"{flat[0]:.6g}"
    return "[" + ", ".join(f"{v:.4g}" for v in flat[:4]) + (", ...]" if flat.size > 4 else "]")


def _fit_rows(table: QtWidgets.QTableWidget, most: int = 6) -> None:
    """Make a table as tall as its rows (up to ``most``, then it scrolls), so none hides behind one row."""
    rows = max(1, min(table.rowCount(), most))
    height = table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
    table.setFixedHeight(height + 2 * table.frameWidth() + table.horizontalScrollBar().sizeHint().height())


class MetricsPanel(QtWidgets.QWidget):
    """Three tables: solvers, comparison per field, probes."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.headline = QtWidgets.QLabel("No results yet.")
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)
        #: what would make a comparison, as the case stands (the case panel says: set_compare_hint)
        self.compare_hint = "To compare, pick a surrogate in Case > Solver and Run both."
        self.stale = QtWidgets.QLabel("")  # which results are out of date: set_stale
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a5300; font-weight: bold;")
        self.stale.setVisible(False)
        layout.addWidget(self.stale)
        self.solvers = self._table(["solver", "wall time", "unknowns / model", "iterations", "residual"])
        self.comparison = self._table(["field", "relative L2", "max |error|", "at"])
        self.probes = self._table(["probe", "field", "classical", "surrogate", "difference"])
        self.probes.setToolTip("probe values; for a time series, at the time the Result view shows")
        self.quantities = self._table(["quantity", "value", "meaning"])
        self.quantities.setToolTip("numbers the solve reports beside its fields (forces, pressure drops); for a time series, at the last time or over the last period")
        self.probes_title = QtWidgets.QLabel("<b>Probes</b>")
        self.quantities_title = QtWidgets.QLabel("<b>Quantities</b>")
        for title, table in (("Solvers", self.solvers), ("Quantities", self.quantities), ("Comparison (surrogate vs classical)", self.comparison), (None, self.probes)):
            label = {None: self.probes_title, "Quantities": self.quantities_title}.get(title) or QtWidgets.QLabel(f"<b>{title}</b>")
            layout.addWidget(label)
            layout.addWidget(table)
        self.results: dict[str, Result] = {}
        self.compared: Comparison | None = None
        self.time: float | None = None  # the time the probes are shown at; None: the last
        #: the probes table's readings as numbers: (probe, field, classical, surrogate), None where there is none
        self.probe_readings: list[tuple[str, str, np.ndarray | None, np.ndarray | None]] = []
        self.warnings = QtWidgets.QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #8a5300;")
        layout.addWidget(self.warnings)
        layout.addStretch(1)

    def _table(self, headers: list[str]) -> QtWidgets.QTableWidget:
        table = QtWidgets.QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setStretchLastSection(True)
        table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        _fit_rows(table)
        return table

    def set_stale(self, labels: list[str]) -> None:
        """Say which results answer an earlier version of the case (none: say nothing)."""
        if labels:
            many = len(labels) > 1
            self.stale.setText(f"The {' and '.join(labels)} result{'s answer' if many else ' answers'} an earlier version "
                               f"of the case: run {'them' if many else 'it'} again to update {'them' if many else 'it'}.")
        self.stale.setVisible(bool(labels))

    def set_compare_hint(self, hint: str) -> None:
        """Say ``hint`` after results that are not compared (now, if such results are shown)."""
        shown = self.headline.text()
        if shown.endswith(self.compare_hint):
            self.headline.setText(shown[: len(shown) - len(self.compare_hint)] + hint)
        self.compare_hint = hint

    def show_results(self, results: dict[str, Result], comparison: Comparison | None, why_not: str | None = None) -> None:
        self.solvers.setRowCount(len(results))
        warnings = []
        for row, (label, result) in enumerate(results.items()):
            prov = result.provenance
            size = prov.model_id or _number(prov.metrics.get("dofs"))
            residual = "-" if prov.residual is None else f"{prov.residual:.3g}"
            for col, text in enumerate([label, _seconds(prov.wall_time), size, _iterations(prov), residual]):
                self.solvers.setItem(row, col, _item(text))
            warnings += [f"{label}: {flag}" for flag in prov.metrics.get("out_of_training_range", [])]
        self._show_quantities(results)
        metrics = comparison.metrics if comparison is not None else {}
        self.comparison.setRowCount(len(metrics))
        for row, (name, m) in enumerate(metrics.items()):
            where = "(" + ", ".join(f"{v:.3g}" for v in m["max_abs_error_at"]) + ")"
            for col, text in enumerate([unit_label(name, carried_unit(results, name)), f"{m['relative_l2']:.3%}", f"{m['max_abs_error']:.4g}", where]):
                self.comparison.setItem(row, col, _item(text))
        self.results, self.time = results, None
        self.compared = comparison if metrics else None
        self._show_probes()
        for table in (self.solvers, self.quantities, self.comparison, self.probes):
            table.resizeColumnsToContents()
            _fit_rows(table)
        self.stale.setVisible(False)
        if comparison is not None and metrics:
            first, m = next(iter(metrics.items()))
            self.headline.setText(f"<b>{first}</b>: surrogate vs classical relative L2 error <b>{m['relative_l2']:.2%}</b>, "
                                  f"max |error| {unit_label(format(m['max_abs_error'], '.3g'), carried_unit(results, first))}")
        elif why_not:
            self.headline.setText(f"Not compared: {why_not}")
        elif results:
            self.headline.setText("Results of " + ", ".join(results) + ". " + self.compare_hint)
        else:
            self.headline.setText("No results yet.")
        self.warnings.setText("\n".join(warnings))

    def _show_quantities(self, results: dict[str, Result]) -> None:
        """The physics' reported numbers (c_D, delta_p, ...) each solver's result holds; the
        table and its title hide when there are none (a diffusion case)."""
        rows = []
        for label, result in results.items():
            spec = _physics_of(result)
            for quantity in spec.quantities if spec is not None else ():
                value = result.provenance.metrics.get(quantity.key)
                if isinstance(value, (int, float)):
                    name = quantity.key if len(results) == 1 else f"{quantity.key} ({label})"
                    rows.append((name, unit_label(f"{value:.6g}", "" if quantity.unit == "-" else quantity.unit), quantity.description))
        self.quantities.setRowCount(len(rows))
        for row, texts in enumerate(rows):
            for col, text in enumerate(texts):
                self.quantities.setItem(row, col, _item(text))
        self.quantities.setVisible(bool(rows))
        self.quantities_title.setVisible(bool(rows))

    def show_time(self, time: float | None) -> None:
        """Show the probes of a time series at ``time`` (the nearest saved step; None: the last)."""
        if time != self.time:
            self.time = time
            self._show_probes()

    def _step(self, times: np.ndarray) -> int:
        """The saved step of a time series shown: the one nearest ``self.time``."""
        return -1 if self.time is None else int(np.argmin(np.abs(times - self.time)))

    def _show_probes(self) -> None:
        results = self.results
        series = [r.times for r in results.values() if r.times is not None]
        self.probes_title.setText(f"<b>Probes</b> at t = {series[0][self._step(series[0])]:.4g}" if series else "<b>Probes</b>")
        rows = []
        self.probe_readings = []
        reference, candidate = results.get("classical"), results.get("surrogate")
        labels = list(results)
        names = sorted({p for r in results.values() for p in r.probes})
        for probe in names:
            readings = [set(r.probes[probe].values) for r in results.values() if probe in r.probes]
            shared = set.intersection(*readings) if readings else set()
            fields = sorted(shared) + sorted(set.union(*readings) - shared if readings else set())  # compared first
            for field in fields:
                def get(r):
                    if r is None or probe not in r.probes or field not in r.probes[probe].values:
                        return None
                    values = r.probes[probe].values[field]
                    return values if r.times is None else values[self._step(r.times)]

                a, b = get(reference), get(candidate)
                if reference is None and candidate is None:  # another solver's name
                    a = get(results[labels[0]])
                diff = "-"
                if a is not None and b is not None and np.asarray(a).shape == np.asarray(b).shape:
                    diff = _probe_text(np.asarray(b) - np.asarray(a))
                self.probe_readings.append((probe, field, a, b))
                rows.append([probe, unit_label(field, carried_unit(results, field)), _probe_text(a) if a is not None else "-",
                             _probe_text(b) if b is not None else "-", diff])
        self.probes.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for col, text in enumerate(cells):
                self.probes.setItem(row, col, _item(text))

    def shown_time(self) -> float | None:
        """The time the probes table shows (None: the results are steady)."""
        series = [r.times for r in self.results.values() if r.times is not None]
        return float(series[0][self._step(series[0])]) if series else None

    def csv_text(self) -> str:
        """The three tables as CSV, in full precision: a titled block each (solvers, comparison,
        probes), a blank line between. A vector probe reading takes a row per component."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")

        def number(value) -> str:
            return "" if value is None else repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)

        writer.writerow(["solvers"])
        writer.writerow(["solver", "wall time (s)", "unknowns", "model", "iterations", "residual"])
        for label, result in self.results.items():
            prov = result.provenance
            iterations = "direct" if prov.metrics.get("linear_solver") == ["direct"] else prov.iterations
            writer.writerow([label, number(prov.wall_time), number(prov.metrics.get("dofs")), prov.model_id or "",
                             number(iterations), number(prov.residual)])
        writer.writerow([])
        writer.writerow(["comparison"])
        metrics = self.compared.metrics if self.compared is not None else {}
        dim = max((len(m["max_abs_error_at"]) for m in metrics.values()), default=2)
        writer.writerow(["field", "unit", "relative L2", "max |error|", *(f"at {axis}" for axis in "xyz"[:dim])])
        for name, m in metrics.items():
            writer.writerow([name, carried_unit(self.results, name), number(m["relative_l2"]), number(m["max_abs_error"]),
                             *(number(v) for v in m["max_abs_error_at"])])
        writer.writerow([])
        time = self.shown_time()
        writer.writerow(["probes" if time is None else f"probes at t = {time!r}"])
        writer.writerow(["probe", "field", "unit", "classical", "surrogate", "difference"])
        for probe, field, a, b in self.probe_readings:
            a_flat = None if a is None else np.asarray(a, dtype=float).reshape(-1)
            b_flat = None if b is None else np.asarray(b, dtype=float).reshape(-1)
            size = max(len(v) for v in (a_flat, b_flat) if v is not None)
            for i in range(size):
                name = field if size == 1 else f"{field}[{i}]"
                x = None if a_flat is None or i >= len(a_flat) else a_flat[i]
                y = None if b_flat is None or i >= len(b_flat) else b_flat[i]
                diff = None if x is None or y is None or len(a_flat) != len(b_flat) else y - x
                writer.writerow([probe, name, carried_unit(self.results, field), number(x), number(y), number(diff)])
        return out.getvalue()

    def export_csv(self, path: str | Path) -> None:
        atomic_write_text(path, self.csv_text())
