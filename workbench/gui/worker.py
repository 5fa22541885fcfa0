"""One worker abstraction for every background job: meshing, solving, generating, training.

A job is a plain function ``fn(progress, cancel) -> value`` written against the engine's
conventions (a ``progress(fraction, message)`` callback and a ``threading.Event``). ``Job`` runs
it on a Python thread and turns what it reports into Qt signals in the GUI thread:

    started -> progress(fraction, message)* / log(line)* / yielded(value)* -> returned(value) | errored(exc) | cancelled -> finished

The worker thread never touches a Qt object: it puts events on a queue that a timer in the GUI
thread drains, so no signal crosses threads (PySide6 has had reference-counting bugs in exactly
that path). ``progress.yielded(value)`` sends intermediate values (an epoch's losses).
Exceptions never escape the thread: a ``Cancelled`` becomes ``cancelled``, anything else
``errored`` with the exception and its traceback.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from engine.errors import Cancelled

__all__ = ["Job", "JobFunction", "Reporter"]

JobFunction = Callable[["Reporter", threading.Event], Any]
_POLL_MS = 25


class Reporter:
    """The ``progress`` a job function gets: call it as ``progress(fraction, message)``; send
    intermediate values with ``progress.yielded(value)``. Safe to call from any thread."""

    def __init__(self, events: queue.SimpleQueue) -> None:
        self._events = events
        self._last = 0.0

    def __call__(self, fraction: float | None, message: str) -> None:
        # Solvers may report thousands of times a second; the GUI needs ~20 updates a second.
        now = time.perf_counter()
        if fraction is not None and 0.0 < fraction < 1.0 and now - self._last < 0.05:
            return
        self._last = now
        self._events.put(("progress", (math.nan if fraction is None else float(fraction), str(message))))

    def yielded(self, value: Any) -> None:
        self._events.put(("yielded", value))


class Job(QtCore.QObject):
    """A background job with progress, log lines, a result, an error, and Cancel.

    Parameters
    ----------
    name
        What the job is, for the log and the status bar ("classical run").
    fn
        ``fn(progress, cancel) -> value``; runs on a worker thread.
    """

    started = QtCore.Signal()
    progress = QtCore.Signal(object, str)  # fraction in [0, 1] or None when unknown, message
    log = QtCore.Signal(str)
    yielded = QtCore.Signal(object)
    returned = QtCore.Signal(object)
    errored = QtCore.Signal(object)  # the exception; its ``traceback_text`` attribute holds the trace
    cancelled = QtCore.Signal()
    finished = QtCore.Signal()

    def __init__(self, name: str, fn: JobFunction, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._fn = fn
        self._cancel = threading.Event()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(_POLL_MS)
        self._timer.timeout.connect(self._drain)
        self.wall_time: float | None = None
        #: "returned", "errored" or "cancelled" once the job has ended; None before.
        self.outcome: str | None = None

    @property
    def is_running(self) -> bool:
        return self.outcome is None and self._thread is not None

    def start(self) -> Job:
        if self._thread is not None:
            raise RuntimeError(f"job {self.name!r} was started already")
        self._thread = threading.Thread(target=self._run, name=f"job: {self.name}", daemon=True)
        self.started.emit()
        self.log.emit(f"{self.name}: started")
        self._timer.start()
        self._thread.start()
        return self

    @property
    def cancel_requested(self) -> bool:
        """Cancel was asked for (the job may still be winding down)."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop; it does so at its next check and then emits ``cancelled``."""
        if self.is_running and not self._cancel.is_set():
            self._cancel.set()
            self.log.emit(f"{self.name}: cancel requested")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (for shutdown); True if it did. Signals come later."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            value = self._fn(Reporter(self._events), self._cancel)
        except Cancelled:
            self._events.put(("cancelled", time.perf_counter() - started))
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user, not kill the app
            self._events.put(("errored", (exc, traceback.format_exc(), time.perf_counter() - started)))
        else:
            self._events.put(("returned", (value, time.perf_counter() - started)))

    def _drain(self) -> None:
        """Turn the queued events into signals (GUI thread)."""
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "progress":
                fraction, message = payload
                self.progress.emit(None if math.isnan(fraction) else fraction, message)
                self.log.emit(f"{self.name}: {message}")
            elif kind == "yielded":
                self.yielded.emit(payload)
            else:
                self._end(kind, payload)
                return

    def _end(self, kind: str, payload: Any) -> None:
        self._timer.stop()
        self._fn = None  # its closure may hold a case and a mesh: free them with the job done
        if kind == "cancelled":
            self.wall_time, self.outcome = payload, "cancelled"
            self.log.emit(f"{self.name}: cancelled after {self.wall_time:.1f} s")
            self.cancelled.emit()
        elif kind == "errored":
            exc, trace, self.wall_time = payload
            try:
                exc.traceback_text = trace
            except (AttributeError, TypeError):  # an exception type without a __dict__
                pass
            self.outcome = "errored"
            self.log.emit(f"{self.name}: failed: {exc}")
            self.errored.emit(exc)
        else:
            value, self.wall_time = payload
            self.outcome = "returned"
            self.log.emit(f"{self.name}: done in {self.wall_time:.2f} s")
            self.returned.emit(value)
        self.finished.emit()
