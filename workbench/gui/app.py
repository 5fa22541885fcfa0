"""Start the desktop app: ``workbench gui [CASE|PROJECT] [--run ...] [--screenshot FILE] [--exit]``.

The headless helpers (run, screenshot, exit) drive the real window, so docs and tests show
exactly what a user sees.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["launch", "application"]


def application():
    """The QApplication (created on first call)."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("Simulation Workbench")
        app.setOrganizationName("simulation-workbench")
        app.setApplicationDisplayName("Simulation Workbench")
        _set_icon(app)
    return app


def _set_icon(app) -> None:
    from PySide6 import QtGui

    from engine.resources import resources_dir

    for name in ("icons/workbench.svg", "icons/workbench.png"):
        path = resources_dir() / name
        if path.is_file():
            app.setWindowIcon(QtGui.QIcon(str(path)))
            return


_NO_SCREEN = ("On a machine without a screen use batch mode (`workbench run CASE --out DIR`), "
              "or start the app under a virtual display: xvfb-run -a workbench gui")


def _check_display() -> str | None:
    """Why no window can open here (no display, or one that does not answer), or None.

    Qt aborts the whole process when its display is missing; say so in words first.
    """
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "minimal"):
        return None
    display = os.environ.get("DISPLAY")
    if not display and not os.environ.get("WAYLAND_DISPLAY"):
        return f"no display: the desktop app needs one (DISPLAY is not set). {_NO_SCREEN}"
    if display and not os.environ.get("WAYLAND_DISPLAY"):
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("X11")
        if name:
            x11 = ctypes.CDLL(name)
            x11.XOpenDisplay.restype = ctypes.c_void_p
            x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
            handle = x11.XOpenDisplay(display.encode())
            if not handle:
                return f"cannot connect to the display {display!r} (is the X server running?). {_NO_SCREEN}"
            x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
            x11.XCloseDisplay(handle)
    return None


def launch(target: Path | None = None, *, run: str | None = None, screenshot: Path | None = None, exit_when_done: bool = False) -> int:
    """Open the window, optionally on ``target``; run, screenshot and exit when asked.

    Returns the exit code: 0, or 1 when a requested run failed, 2 when ``target`` could not be
    opened or there is no display.
    """
    from engine.errors import InputError

    if target is not None and not Path(target).exists():
        raise InputError("file not found", source=target, expected="a case (.toml), a project (.wbproj) or a mesh file")
    why = _check_display()
    if why is not None:
        raise InputError(why)
    if run is not None and target is None:
        raise InputError("--run needs a case or project to run", field="--run", value=run, expected="workbench gui CASE.toml --run both")

    from PySide6 import QtCore

    from workbench.gui.main_window import MainWindow

    app = application()
    window = MainWindow()
    window.show()
    status = {"code": 0}

    def finish() -> None:
        if screenshot is not None:
            # Let the views finish drawing after the last result arrived.
            for _ in range(5):
                app.processEvents()
            written = window.screenshot(screenshot)
            print(f"wrote {written}")
        if exit_when_done:
            window.confirm_close = False
            window.close()
            app.exit(status["code"])

    steps: list[str] = []
    if target is not None:
        if not window.open_path(Path(target)):
            status["code"] = 2
            print(f"workbench: error: {window.last_error}", file=sys.stderr)
        elif run is not None:
            steps.append(run)

    def next_step(name: str = "", outcome: str = "returned") -> None:
        if outcome != "returned":
            status["code"] = 1
            if window.last_error:
                print(f"workbench: {name} {outcome}: {window.last_error}", file=sys.stderr)
        if window.job is not None:
            return  # the job that just started (mesh) ends first
        if steps and status["code"] == 0:
            if window.run(steps.pop(0)) is not None:
                return
            status["code"] = 1
        window.jobFinished.disconnect(next_step)
        QtCore.QTimer.singleShot(300, finish)

    window.jobFinished.connect(next_step)
    if window.job is None:
        QtCore.QTimer.singleShot(0, next_step)
    if exit_when_done and screenshot is None and not steps and window.job is None:
        return status["code"]
    code = app.exec()
    return code if exit_when_done else 0
