"""Make the pictures the README and docs show, from the real window (run under a display or xvfb-run).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py [OUT_DIR]

Writes compare.png (the Darcy example, classical | surrogate | error), probing.png (a pinned
probe and the readout under the cursor), colour-map-controls.png (the colour popup over a log
scale with contour lines), case.png (the case panel), result.png (Kirsch's plate, von Mises stress on the warped part), probe-vs-time.png
(NAFEMS T3, the probe's temperature over time, marked at the time shown), units.png (the heat
plate in degrees Celsius: units in the forms, tables, colour bar and plots), training.png and
vortex-street.png (DFG 2D-2: the vortex street played to its last step, with the drag and lift
coefficients over time; its run takes about four minutes).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6 import QtCore

from engine.resources import resource_path
from engine.visual import ColourSettings
from workbench.gui.app import application
from workbench.gui.main_window import MainWindow


def wait(window: MainWindow, app) -> str:
    """Run the event loop until the window's job (a mesh, a solve or a training) ends; its outcome."""
    if window.job is None and window.training_job is None:
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


def _display(view, point, pane: int) -> tuple[float, float]:
    """Where a world point lands in a view's pane, in VTK's display pixels."""
    renderer = view.plotter.renderers[pane]
    renderer.SetWorldPoint(*point, 1.0)
    renderer.WorldToDisplay()
    return renderer.GetDisplayPoint()[:2]


def probing_and_colours(window: MainWindow, out: Path) -> None:
    """probing.png: a probe pinned in the compare view and the readout of a point; then
    colour-map-controls.png: the colour popup over a log scale with contour lines."""
    from PySide6 import QtWidgets

    from engine.visual import ColourSettings

    view = window.compare_view
    view.plotter.render()
    view.pin_at(*_display(view, (0.5, 0.5, 0.0), 1))
    view.read_at(*_display(view, (0.3, 0.7, 0.0), 0))
    settle()
    view.grab().save(str(out / "probing.png"))
    print("wrote", out / "probing.png")
    view.clear_probes()
    top = float(window.session.results["classical"].fields["u"].values.max())
    view.set_colours(ColourSettings(range_mode="fixed", fixed=(top / 100, top), log=True, contours=True, levels=6))
    menu = view.colour_button.menu()  # a popup is a window of its own: the picture is taken off the screen
    menu.popup(view.colour_button.mapToGlobal(QtCore.QPoint(view.colour_button.width() - menu.sizeHint().width(), view.colour_button.height())))
    settle(500)
    screen = QtWidgets.QApplication.primaryScreen().grabWindow(0)
    screen.copy(QtCore.QRect(view.mapToGlobal(QtCore.QPoint(0, 0)), view.size())).save(str(out / "colour-map-controls.png"))
    print("wrote", out / "colour-map-controls.png")
    menu.hide()
    view.set_colours(ColourSettings())


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
    probing_and_colours(window, out)
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
    window.open_case(resource_path("examples/nafems_t3.toml"))
    wait(window, app)
    window.run("classical")
    wait(window, app)
    window.result_view.step_slider.setValue(40)  # t = 20 s: the marker stands there
    window.resizeDocks([window.metrics_dock, window.plots_dock], [280, 600], QtCore.Qt.Orientation.Vertical)
    settle()
    print("wrote", window.screenshot(out / "probe-vs-time.png"))
    window.reset_layout()
    window.open_case(resource_path("examples/heat_plate_with_hole.toml"))  # units = "SI-degC"
    wait(window, app)
    window.run("classical")
    wait(window, app)
    settle()
    print("wrote", window.screenshot(out / "units.png"))
    training_for_the_case(window, app, out)
    vortex_street(window, app, out)
    window.close()
    return 0


def training_for_the_case(window: MainWindow, app, out: Path) -> None:
    """training.png: Tools > Train a surrogate for the open plate with a hole (radius and tension
    varied, a small Transolver for a few epochs); plate-surrogate.png: the example answered by the
    shipped plate model beside the finite elements."""
    window.open_case(resource_path("examples/plate_with_hole_tension.toml"))
    wait(window, app)
    window.open_training()
    dialog = window.training_dialog
    dialog.set_range("geometry.parameters.radius", 0.15, 0.35)
    dialog.set_range("sigma", 80e6, 120e6)
    dialog.samples.setValue(32)
    dialog.scheduler.setCurrentText("this process")
    dialog.config_edit.setText('{"width": 32, "layers": 2}')
    dialog.epochs.setValue(15)
    dialog.budget.setValue(0)
    dialog.start_button.click()
    wait(window, app)
    dialog.grab().save(str(out / "training.png"))
    print("wrote", out / "training.png")
    dialog.close()
    window.open_case(resource_path("examples/plate_with_hole_tension.toml"))  # the shipped model again
    wait(window, app)
    window.run("both")
    wait(window, app)
    window.compare_view.field_box.setCurrentText("von_mises")
    settle()
    print("wrote", window.screenshot(out / "plate-surrogate.png"))


def vortex_street(window: MainWindow, app, out: Path) -> None:
    """vortex-street.png: the DFG 2D-2 example run, played (the Play button) to its last frame."""
    window.open_case(resource_path("examples/dfg_2d2.toml"))
    wait(window, app)
    window.run("classical")
    if wait(window, app) != "returned":
        raise RuntimeError(f"the DFG 2D-2 run failed: {window.last_error}")
    view = window.result_view
    view.field_box.setCurrentText("vorticity")  # the street's vortices, of both signs
    # a range that shows the wake (the whole run's reaches +-500 1/s at the cylinder's surface)
    view.set_colours(ColourSettings(cmap="coolwarm", range_mode="fixed", fixed=(-40.0, 40.0)))
    view.step_slider.setValue(view.step_slider.maximum() - 12)
    view.play_button.setChecked(True)  # plays to the end and stops there
    while view.play_button.isChecked():
        settle(100)
    window.plot_tabs.setCurrentWidget(window.force_plot)
    window.resizeDocks([window.metrics_dock, window.plots_dock], [280, 600], QtCore.Qt.Orientation.Vertical)
    settle()
    print("wrote", window.screenshot(out / "vortex-street.png"))


if __name__ == "__main__":
    import os

    os.environ.setdefault("WORKBENCH_MODELS", tempfile.mkdtemp(prefix="workbench-models-"))
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images")))
