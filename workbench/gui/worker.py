"""One worker abstraction for every background job: meshing, solving, generating, training.

A job is a plain function ``fn(progress, cancel) -> value`` written against the engine's
conventions (a ``progress(fraction, message)`` callback and a ``threading.Event``). ``Job`` runs
it on a Python thread and turns both into Qt signals, emitted in the GUI thread:

    started -> progress(fraction, message)* / log(line)* -> returned(value) | errored(exc) | cancelled -> finished

The GUI thread only draws; the job never touches a widget. Exceptions never escape the thread:
a ``Cancelled`` becomes ``cancelled``, anything else ``errored`` with the exception.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from engine.errors import Cancelled

__all__ = ["Job", "JobFunction"]

JobFunction = Callable[[Callable[[float | None, str], None], threading.Event], Any]


class Job(QtCore.QObject):
    """A background job with progress, log lines, a result, an error, and Cancel.

    Parameters
    ----------
    name
        What the job is, for the log and the status bar ("classical solve").
    fn
        ``fn(progress, cancel) -> value``; runs on a worker thread.
    """

    started = QtCore.Signal()
    progress = QtCore.Signal(object, str)  # fraction in [0, 1] or None, message
    log = QtCore.Signal(str)
    returned = QtCore.Signal(object)
    errored = QtCore.Signal(object)  # the exception; its ``traceback_text`` attribute holds the trace
    cancelled = QtCore.Signal()
    finished = QtCore.Signal()

    def __init__(self, name: str, fn: JobFunction, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._fn = fn
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_emit = 0.0
        self.wall_time: float | None = None
        #: "returned", "errored" or "cancelled" once the job has ended; None before.
        self.outcome: str | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Job:
        if self._thread is not None:
            raise RuntimeError(f"job {self.name!r} was started already")
        self._thread = threading.Thread(target=self._run, name=f"job: {self.name}", daemon=True)
        self.started.emit()
        self.log.emit(f"{self.name}: started")
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; it does so at its next check and then emits ``cancelled``."""
        if self.is_running and not self._cancel.is_set():
            self._cancel.set()
            self.log.emit(f"{self.name}: cancel requested")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (for shutdown); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _report(self, fraction: float | None, message: str) -> None:
        # Solvers may report thousands of times a second; the GUI needs ~20 updates a second.
        now = time.perf_counter()
        if fraction is not None and 0.0 < fraction < 1.0 and now - self._last_emit < 0.05:
            return
        self._last_emit = now
        self.progress.emit(fraction, message)
        self.log.emit(f"{self.name}: {message}")

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            value = self._fn(self._report, self._cancel)
        except Cancelled:
            self.wall_time = time.perf_counter() - started
            self.outcome = "cancelled"
            self.log.emit(f"{self.name}: cancelled after {self.wall_time:.1f} s")
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user, not kill the app
            self.wall_time = time.perf_counter() - started
            exc.traceback_text = traceback.format_exc()  # type: ignore[attr-defined]
            self.outcome = "errored"
            self.log.emit(f"{self.name}: failed: {exc}")
            self.errored.emit(exc)
        else:
            self.wall_time = time.perf_counter() - started
            self.outcome = "returned"
            self.log.emit(f"{self.name}: done in {self.wall_time:.2f} s")
            self.returned.emit(value)
        finally:
            self.finished.emit()
