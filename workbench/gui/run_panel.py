"""RunPanel: the running mesh or solve's progress bar and Cancel, a line on a training running
beside it (its dialog has its own progress and Cancel), and the log of every job."""

from __future__ import annotations

import time

from PySide6 import QtCore, QtGui, QtWidgets

from workbench.gui.worker import Job

__all__ = ["RunPanel"]


class RunPanel(QtWidgets.QWidget):
    """Follows the mesh or solve running (one at a time), tells of a training beside it, and
    keeps a log of all."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        self.status = QtWidgets.QLabel("idle")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("stop the running job at its next check; earlier results stay")
        row.addWidget(self.status)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.beside = QtWidgets.QLabel("")  # the training running beside the solve: attach_beside
        self.beside.setStyleSheet("color: #5f6b7a;")
        self.beside.setVisible(False)
        layout.addWidget(self.beside)
        self.log = QtWidgets.QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.log, 1)
        self.job: Job | None = None
        self.cancel_button.clicked.connect(self.cancel)

    def attach(self, job: Job) -> None:
        """Follow ``job``: its progress, log lines and end."""
        self.job = job
        self.status.setText(job.name)
        self.progress.setRange(0, 0)  # busy until the first fraction arrives
        self.progress.setFormat("")
        self.cancel_button.setEnabled(True)
        job.progress.connect(self._progress)
        job.log.connect(self.append)
        job.finished.connect(lambda job=job: self._finished(job))

    def attach_beside(self, job: Job) -> None:
        """Log ``job`` and tell in one line how far it is (its own dialog shows it and cancels it)."""
        job.log.connect(self.append)

        def progress(fraction: float | None, message: str) -> None:
            share = "" if fraction is None else f" {100 * fraction:.0f}%"
            self.beside.setText(f"also running: {job.name}{share}: {message[:80]} (its dialog shows it and cancels it)")

        job.progress.connect(progress)
        job.finished.connect(lambda: self.beside.setVisible(False))
        self.beside.setText(f"also running: {job.name} (its dialog shows it and cancels it)")
        self.beside.setVisible(True)

    def append(self, line: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {line}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText(f"{self.job.name}: cancelling...")

    def _show_progress(self, maximum: int, value: int | None, text: str) -> None:
        """Set the bar with one deferred paint: QProgressBar.setValue repaints at once, which
        cost 16 ms a call under Xvfb's software OpenGL, and a run reports every step."""
        self.progress.setUpdatesEnabled(False)
        try:
            self.progress.setRange(0, maximum)
            if value is not None:
                self.progress.setValue(value)
            self.progress.setFormat(text)
        finally:
            self.progress.setUpdatesEnabled(True)  # (schedules the paint)

    def _progress(self, fraction: float | None, message: str) -> None:
        value = None if fraction is None else int(1000 * max(0.0, min(1.0, fraction)))
        self._show_progress(0 if fraction is None else 1000, value, message[:80])

    def _finished(self, job: Job) -> None:
        if job is not self.job:
            return
        self._show_progress(1000, 1000 if job.outcome == "returned" else 0, f"{job.name}: {job.outcome} after {job.wall_time or 0:.2f} s")
        self.cancel_button.setEnabled(False)
        self.status.setText("idle")
        self.job = None

    @QtCore.Slot()
    def clear(self) -> None:
        self.log.clear()
