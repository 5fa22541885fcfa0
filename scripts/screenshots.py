"""Make the pictures the README and docs show, from the real window (run under a display or xvfb-run).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py [OUT_DIR]

Writes compare.png (the Darcy example, classical | surrogate | error), case.png (the case
panel), result.png (Kirsch's plate, von Mises stress on the warped part) and training.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6 import QtCore

from engine.resources import resource_path
from workbench.gui.app import application
from workbench.gui.main_window import MainWindow


def wait(window: MainWindow, app) -> str:
    """Run the event loop until the window's job ends; its outcome."""
    if window.job is None:
        return "none"
    outcome = {}
    loop = QtCore.QEventLoop()

    def done(name: str, how: str) -> None:
        outcome["how"] = how
        loop.quit()

    window.jobFinished.connect(done)
    loop.exec()
    window.jobFinished.disconnect(done)
    QtCore.QTimer.singleShot(300, loop.quit)  # let the views draw what arrived
    loop.exec()
    return outcome["how"]


def settle(ms: int = 300) -> None:
    """Let layouts and views catch up before a picture."""
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    app = application()
    settings = QtCore.QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.confirm_close = False
    window.show()
    window.open_case(resource_path("examples/darcy_unit_square.toml"))
    wait(window, app)
    window.run("both")
    if wait(window, app) != "returned":
        print(f"the Darcy run failed: {window.last_error}", file=sys.stderr)
        return 1
    print("wrote", window.screenshot(out / "compare.png"))
    window.setup_tabs.setCurrentWidget(window.case_panel)
    window.case_panel.select_region("left")
    settle()
    print("wrote", window.screenshot(out / "case.png"))
    window.open_case(resource_path("examples/kirsch_plate_with_hole.toml"))
    wait(window, app)
    window.run("classical")
    wait(window, app)
    window.result_view.field_box.setCurrentText("von_mises")
    window.result_view.warp_box.setChecked(True)
    window.setup_tabs.setCurrentWidget(window.mesh_panel)
    settle()
    print("wrote", window.screenshot(out / "result.png"))
    window.open_training()
    dialog = window.training_dialog
    dialog.samples.setValue(48)
    dialog.resolution.setValue(16)
    dialog.scheduler.setCurrentText("this process")
    dialog.config_edit.setText('{"modes1": 4, "modes2": 4, "width": 8}')
    dialog.epochs.setValue(12)
    dialog.budget.setValue(0)
    dialog.name_edit.setText("screenshot-fno")
    dialog.start_button.click()
    wait(window, app)
    image = dialog.grab()
    image.save(str(out / "training.png"))
    print("wrote", out / "training.png")
    window.close()
    return 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("WORKBENCH_MODELS", tempfile.mkdtemp(prefix="workbench-models-"))
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images")))
