"""The one worker abstraction: results, errors and cancellation arrive as signals in the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest

from engine.errors import Cancelled, InputError
from engine.solver import check_cancelled

pytest.importorskip("PySide6")

from workbench.gui.worker import Job  # noqa: E402


def test_a_job_returns_its_value_with_progress_in_the_gui_thread(qtbot):
    seen = []

    def work(progress, cancel):
        for i in range(5):
            progress(i / 4, f"step {i}")
        return threading.current_thread().name

    job = Job("count", work)
    job.progress.connect(lambda f, m: seen.append((f, m, threading.current_thread() is threading.main_thread())))
    with qtbot.waitSignal(job.returned, timeout=5000) as blocker:
        job.start()
    assert blocker.args == ["job: count"]
    assert job.outcome == "returned"
    assert seen[0][:2] == (0.0, "step 0") and seen[-1][:2] == (1.0, "step 4")
    assert all(in_gui for *_, in_gui in seen)


def test_an_error_is_caught_and_carries_its_traceback(qtbot):
    def work(progress, cancel):
        raise InputError("bad value", field="physics.k", value=-1)

    job = Job("fail", work)
    with qtbot.waitSignal(job.errored, timeout=5000) as blocker:
        job.start()
    error = blocker.args[0]
    assert isinstance(error, InputError) and "physics.k" in str(error)
    assert "InputError" in error.traceback_text
    assert job.outcome == "errored"


def test_cancel_sets_the_token_and_ends_with_cancelled(qtbot):
    started = threading.Event()

    def work(progress, cancel):
        started.set()
        while True:
            check_cancelled(cancel)
            time.sleep(0.01)

    job = Job("loop", work)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
        assert started.wait(5)
        job.cancel()
    assert job.outcome == "cancelled"
    assert not job.is_running


def test_a_job_starts_once(qtbot):
    job = Job("once", lambda p, c: 1)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
    with pytest.raises(RuntimeError):
        job.start()


def test_cancelled_is_not_an_error(qtbot):
    def work(progress, cancel):
        raise Cancelled("stopped")

    job = Job("stop", work)
    errors = []
    job.errored.connect(errors.append)
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        job.start()
    assert errors == []
