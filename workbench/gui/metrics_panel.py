"""MetricsPanel: the numbers of the current results: per solver its cost and convergence, per
field the comparison's error norms, and each probe's values side by side."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.comparison import Comparison
from engine.result import Result

__all__ = ["MetricsPanel"]


def _item(text: str) -> QtWidgets.QTableWidgetItem:
    return QtWidgets.QTableWidgetItem(text)


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


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
        self.stale = QtWidgets.QLabel("These results answer an earlier version of the case: run again to update them.")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a5300; font-weight: bold;")
        self.stale.setVisible(False)
        layout.addWidget(self.stale)
        self.solvers = self._table(["solver", "wall time (s)", "unknowns / model", "iterations", "residual"])
        self.comparison = self._table(["field", "relative L2", "max |error|", "at"])
        self.probes = self._table(["probe", "field", "classical", "surrogate", "difference"])
        self.probes.setToolTip("probe values; for a time series, at the last time")
        for title, table in (("Solvers", self.solvers), ("Comparison (surrogate vs classical)", self.comparison), ("Probes", self.probes)):
            layout.addWidget(QtWidgets.QLabel(f"<b>{title}</b>"))
            layout.addWidget(table)
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

    def set_stale(self, stale: bool) -> None:
        self.stale.setVisible(stale)

    def show_results(self, results: dict[str, Result], comparison: Comparison | None, why_not: str | None = None) -> None:
        self.solvers.setRowCount(len(results))
        warnings = []
        for row, (label, result) in enumerate(results.items()):
            prov = result.provenance
            size = prov.model_id or _number(prov.metrics.get("dofs"))
            for col, text in enumerate([label, _number(prov.wall_time), size, _number(prov.iterations), _number(prov.residual)]):
                self.solvers.setItem(row, col, _item(text))
            warnings += [f"{label}: {flag}" for flag in prov.metrics.get("out_of_training_range", [])]
        metrics = comparison.metrics if comparison is not None else {}
        self.comparison.setRowCount(len(metrics))
        for row, (name, m) in enumerate(metrics.items()):
            where = "(" + ", ".join(f"{v:.3g}" for v in m["max_abs_error_at"]) + ")"
            for col, text in enumerate([name, f"{m['relative_l2']:.3%}", f"{m['max_abs_error']:.4g}", where]):
                self.comparison.setItem(row, col, _item(text))
        self._show_probes(results)
        for table in (self.solvers, self.comparison, self.probes):
            table.resizeColumnsToContents()
            _fit_rows(table)
        self.stale.setVisible(False)
        if comparison is not None and metrics:
            first, m = next(iter(metrics.items()))
            self.headline.setText(f"<b>{first}</b>: surrogate vs classical relative L2 error <b>{m['relative_l2']:.2%}</b>, "
                                  f"max |error| {m['max_abs_error']:.3g}")
        elif why_not:
            self.headline.setText(f"Not compared: {why_not}")
        elif results:
            self.headline.setText("Results of " + ", ".join(results) + ". To compare, pick a surrogate in Case > Solver and Run both.")
        else:
            self.headline.setText("No results yet.")
        self.warnings.setText("\n".join(warnings))

    def _show_probes(self, results: dict[str, Result]) -> None:
        rows = []
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
                    return values[-1] if r.times is not None else values  # a series: its last time

                a, b = get(reference), get(candidate)
                if reference is None and candidate is None:  # another solver's name
                    a = get(results[labels[0]])
                diff = "-"
                if a is not None and b is not None and np.asarray(a).shape == np.asarray(b).shape:
                    diff = _probe_text(np.asarray(b) - np.asarray(a))
                rows.append([probe, field, _probe_text(a) if a is not None else "-", _probe_text(b) if b is not None else "-", diff])
        self.probes.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for col, text in enumerate(cells):
                self.probes.setItem(row, col, _item(text))
