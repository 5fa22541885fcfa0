"""Fixtures for the app's tests: a real MainWindow on the (virtual) display, with its own
settings file, closed and its VTK views released after each test."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items):
    gui = [item for item in items if "tests/workbench/gui" in str(item.fspath)]
    for item in gui:
        item.add_marker(pytest.mark.gui)
    if len(gui) < len(items):
        # VTK's Qt views and off-screen rendering (the batch pictures) in one process crash now
        # and then; `make test` runs the app's tests in a pytest process of their own.
        skip = pytest.mark.skip(reason="the app's tests run in a process of their own: pytest tests/workbench/gui (make test does)")
        for item in gui:
            if "test_gui_command" not in str(item.fspath) and "test_worker" not in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from PySide6 import QtCore

    if not os.environ.get("DISPLAY"):  # pytest-xvfb sets it when Xvfb is installed
        pytest.skip("no display: install Xvfb (scripts/ensure-xvfb.sh) to run the app's tests")

    from workbench.gui.main_window import MainWindow

    monkeypatch.setenv("WORKBENCH_MODELS", str(tmp_path / "user-models"))
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.confirm_close = False
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    for job in win.running_jobs():
        job.cancel()
        job.wait(30)
    win.close()


def wait_job(qtbot, window, timeout: float = 120.0) -> str:
    """Wait for the window's running job (its mesh or solve, else its training) to end; its outcome."""
    job = window.job or window.training_job
    if job is None:
        return "none"
    qtbot.waitUntil(lambda: job not in window.running_jobs(), timeout=int(timeout * 1000))
    return job.outcome


def open_example(qtbot, window, name: str) -> None:
    """Open a shipped example case; opening meshes it."""
    from engine.resources import resource_path

    assert window.open_case(resource_path(f"examples/{name}"))
    assert wait_job(qtbot, window) == "returned"


def run_to_end(qtbot, window, which: str) -> None:
    """Run ``which`` ("classical", "surrogate", "both") and wait for its answer."""
    assert window.run(which) is not None
    assert wait_job(qtbot, window) == "returned"
