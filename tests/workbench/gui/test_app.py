"""The app as a user drives it: open an example, mesh, run, compare, cancel, fail, save, reopen."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from engine.resources import resource_path

from .conftest import wait_job, open_example as _open

DARCY = resource_path("examples/darcy_unit_square.toml")



def test_open_example_meshes_it_and_lists_regions(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    mesh = window.session.mesh
    assert mesh is not None and mesh.n_points > 1000
    regions = [window.mesh_panel.region_list.topLevelItem(i).text(0) for i in range(window.mesh_panel.region_list.topLevelItemCount())]
    assert sorted(regions) == ["bottom", "domain", "left", "right", "top"]
    assert "mesh" in window.mesh_view.actor_names()
    assert f"<b>{mesh.n_points}</b> points" in window.mesh_panel.statistics.text()
    window.mesh_panel.select_region("left")
    assert "region" in window.mesh_view.actor_names()
    assert window.mesh_view.region == "left"
    assert window.windowTitle().startswith("Darcy flow")


def test_run_both_shows_three_linked_views_and_metrics(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    assert window.run("both") is not None
    assert wait_job(qtbot, window) == "returned"
    comparison = window.session.comparison
    assert comparison is not None
    # The shipped surrogate is within a few per cent of the finite elements on this example.
    assert 0.005 < comparison.metrics["u"]["relative_l2"] < 0.06
    view = window.compare_view
    assert window.tabs.currentWidget() is view
    assert len(view.plotter.renderers) == 3
    for index, label in enumerate(("classical", "surrogate", "error")):
        assert label in view.actor_names(index)
    # One colour range for the two answers, its own for the error.
    mappers = [view.plotter.renderers[i].actors[label].mapper for i, label in enumerate(view.LABELS)]
    assert mappers[0].scalar_range == pytest.approx(mappers[1].scalar_range)
    values = view.values()
    assert mappers[0].scalar_range == pytest.approx((min(values["classical"].min(), values["surrogate"].min()),
                                                      max(values["classical"].max(), values["surrogate"].max())))
    assert mappers[2].scalar_range[1] == pytest.approx(comparison.metrics["u"]["max_abs_error"], rel=1e-6)
    # Linked cameras: the three subplots share one camera.
    cameras = {id(r.camera) for r in view.plotter.renderers}
    assert len(cameras) == 1
    # Metrics: the comparison row, and probes side by side.
    table = window.metrics_panel.comparison
    assert table.item(0, 0).text() == "u"
    assert table.item(0, 1).text() == f"{comparison.metrics['u']['relative_l2']:.3%}"
    probes = window.metrics_panel.probes
    rows = {(probes.item(r, 0).text(), probes.item(r, 1).text()): r for r in range(probes.rowCount())}
    row = rows[("centre", "u")]
    classical = window.session.results["classical"].probes["centre"].values["u"]
    assert float(probes.item(row, 2).text()) == pytest.approx(float(np.ravel(classical)[0]), rel=1e-5)
    assert probes.item(row, 3).text() != "-"
    # Plots: both answers along the default line, and the error histogram.
    assert set(window.line_plot.profiles) == {"classical", "surrogate"}
    assert np.isfinite(window.line_plot.profiles["classical"]).sum() > 100
    assert window.histogram.counts.sum() == window.session.mesh.n_points
    assert "line" in view.actor_names(0)
    # Relative error mode rescales the error view by the reference's largest value.
    view.error_box.setCurrentText("relative")
    rel = view.values()["error"]
    assert rel.max() == pytest.approx(comparison.metrics["u"]["max_abs_error"] / np.abs(values["classical"]).max(), rel=1e-6)


def test_event_loop_keeps_turning_during_a_long_solve(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    # A few thousand Crank-Nicolson steps: seconds of solving on the worker.
    assert window.editor.edit("finer steps", lambda d: d["physics"]["time"].update(step=0.05)) is None
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    job = window.run("classical")
    assert job is not None
    ended: list[float] = []
    job.finished.connect(lambda: ended.append(time.perf_counter()))
    assert wait_job(qtbot, window, timeout=300) == "returned"
    qtbot.wait(1500)  # the answer is drawn
    timer.stop()
    assert job.wall_time > 1.0, "the solve was too short to measure responsiveness"
    during = np.diff([t for t in ticks if t <= ended[0]])
    assert len(during) > job.wall_time / 0.2
    assert during.max() < 0.5, f"the event loop stalled for {during.max():.2f} s during the solve"
    # Drawing the answer: VTK's first render of a new view under Xvfb's software OpenGL took
    # 0.16 to 0.54 s here (its shaders are compiled then); a real freeze is longer.
    assert np.diff(ticks).max() < 1.0, f"the event loop stalled for {np.diff(ticks).max():.2f} s drawing the answer"


def test_cancel_a_long_run_then_run_again(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    assert window.run("classical") is not None
    assert wait_job(qtbot, window) == "returned"
    first = window.session.results["classical"]
    assert window.editor.edit("many steps", lambda d: d["physics"]["time"].update(step=0.0005)) is None
    job = window.run("classical")
    qtbot.waitUntil(lambda: window.run_panel.progress.maximum() > 0 and window.run_panel.progress.value() > 0, timeout=60000)
    assert window.act_cancel.isEnabled() and not window.act_run_classical.isEnabled()
    window.run_panel.cancel_button.click()
    assert wait_job(qtbot, window) == "cancelled"
    assert job.wall_time < 60
    assert window.session.results["classical"] is first  # the earlier result stays
    assert "cancelled" in window.run_panel.log.toPlainText()
    assert window.act_run_classical.isEnabled()
    assert window.editor.edit("coarse steps", lambda d: d["physics"]["time"].update(step=1.0)) is None
    assert window.run("classical") is not None
    assert wait_job(qtbot, window) == "returned"
    again = window.session.results["classical"]
    assert again is not first and len(again.times) == 33


def test_a_failing_run_shows_an_error_dialog_and_the_app_carries_on(qtbot, window):
    _open(qtbot, window, "heat_plate_with_hole.toml")
    # The Darcy surrogate cannot answer a heat problem on a plate with a hole.
    assert window.editor.edit("pick a surrogate", lambda d: d.setdefault("solver", {}).__setitem__("surrogate", {"model": "darcy-fno"})) is None
    assert window.run("surrogate") is not None
    assert wait_job(qtbot, window) == "errored"
    dialog = window.error_dialog
    assert isinstance(dialog, QtWidgets.QMessageBox) and dialog.isVisible()
    assert "diffusion" in dialog.text() and "heat" in dialog.text()
    dialog.accept()
    assert window.run("classical") is not None
    assert wait_job(qtbot, window) == "returned"
    assert "classical" in window.session.results


def test_a_bug_in_a_solver_is_shown_with_its_traceback(qtbot, window, monkeypatch):
    _open(qtbot, window, "darcy_unit_square.toml")
    from engine.solvers.fem import classical

    def broken(self, problem, *, progress=None, cancel=None):
        raise ZeroDivisionError("a solver bug")

    monkeypatch.setattr(classical.ClassicalSolver, "solve", broken)
    window.run("classical")
    assert wait_job(qtbot, window) == "errored"
    assert "a solver bug" in window.error_dialog.text()
    assert "ZeroDivisionError" in window.error_dialog.detailedText()


def test_project_save_and_reopen_round_trip(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.run("both")
    assert wait_job(qtbot, window) == "returned"
    window.compare_view.error_box.setCurrentText("signed")
    window.line_plot.set_line([0.1, 0.2], [0.9, 0.8])
    window.tabs.setCurrentWidget(window.compare_view)
    window.compare_view.plotter.camera.zoom(1.7)  # the user zoomed in
    window.compare_view.plotter.camera.azimuth = 20
    camera = window.compare_view.camera_state()
    path = tmp_path / "study.wbproj"
    assert window.save_project(path)
    assert not window.session.dirty

    from workbench.gui.main_window import MainWindow

    other = MainWindow(settings=window.settings)
    other.confirm_close = False
    qtbot.addWidget(other)
    other.show()
    try:
        assert other.open_project(path)
        assert other.job is None  # results came from the file: nothing to recompute
        assert sorted(other.session.results) == ["classical", "surrogate"]
        for label in ("classical", "surrogate"):
            np.testing.assert_array_equal(other.session.results[label].fields["u"].values, window.session.results[label].fields["u"].values)
        assert other.session.case == window.session.case
        assert other.session.comparison.metrics["u"]["relative_l2"] == pytest.approx(window.session.comparison.metrics["u"]["relative_l2"])
        assert other.compare_view.error_mode == "signed"
        assert other.tabs.currentWidget() is other.compare_view
        start, end = other.line_plot.line()
        assert start.tolist() == [0.1, 0.2] and end.tolist() == [0.9, 0.8]
        np.testing.assert_allclose(other.compare_view.camera_state(), camera)
        assert str(path.resolve()) in other.recent_files()
    finally:
        other.close()


def test_case_edits_are_validated_as_typed_and_undoable(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    k_edit = panel.findChild(QtWidgets.QLineEdit, "physics.k")
    k_edit.setFocus()
    k_edit.selectAll()
    qtbot.keyClicks(k_edit, "1 + exp(")
    assert k_edit.error, "an unbalanced expression is flagged while typing"
    k_edit.clear()
    qtbot.keyClicks(k_edit, "1 + x*y")
    assert not k_edit.error
    qtbot.keyClick(k_edit, QtCore.Qt.Key.Key_Return)
    assert window.session.case.physics.k == "1 + x*y"
    window.editor.undo_stack.undo()
    assert window.session.case.physics.k.startswith("where(")
    window.editor.undo_stack.redo()
    assert window.session.case.physics.k == "1 + x*y"
    # A boundary condition by region: select 'top', make it a Neumann flux.
    panel.select_region("top")
    panel.condition_box.setCurrentText("neumann")
    panel.condition_box.activated.emit(panel.condition_box.currentIndex())
    bcs = {tuple(bc.regions): bc.type for bc in window.session.case.boundary}
    assert bcs[("top",)] == "neumann"
    assert ("left", "right", "bottom") in bcs
    flux = panel.findChild(QtWidgets.QLineEdit, "boundary.flux")
    flux.setText("2.5")
    flux.setModified(True)
    flux.editingFinished.emit()
    top = next(bc for bc in window.session.case.boundary if bc.regions == ["top"])
    assert top.flux == 2.5
    # An edit the case schema refuses changes nothing and shows the engine's message.
    before = window.session.case
    error = window.editor.edit("typo", lambda d: d["physics"].__setitem__("kk", 1.0))
    assert error is not None and "physics.kk" in error
    assert "physics.kk" in panel.message.text()
    assert window.session.case is before


def test_physics_kind_and_model_compatibility_are_explained(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    assert window.session.case.solver.surrogate.model == "darcy-fno"
    assert "can answer this case" in panel.compatibility.text()
    assert "fno" in panel.card_view.toPlainText()
    # A Robin condition on one side breaks the model's u = 0 assumption: it says so.
    panel.select_region("left")
    panel.condition_box.setCurrentText("robin")
    panel.condition_box.activated.emit(panel.condition_box.currentIndex())
    panel._refresh_compatibility()
    assert "cannot answer" in panel.compatibility.text() and "u = 0" in panel.compatibility.text()
    kind = panel.findChild(QtWidgets.QComboBox, "physics.kind")
    kind.setCurrentText("heat")
    assert window.session.case.physics.kind == "heat"
    panel._refresh_compatibility()
    assert "diffusion problems, not heat" in panel.compatibility.text()


def test_builtin_geometry_parameters_and_meshing(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.mesh_panel
    panel.geometry_box.setCurrentText("plate_with_hole")
    panel.geometry_box.activated.emit(panel.geometry_box.currentIndex())
    assert window.session.case.geometry.kind == "plate_with_hole"
    radius = panel.findChild(QtWidgets.QLineEdit, "geometry.parameters.radius")
    radius.setText("0.3")
    radius.setModified(True)
    radius.editingFinished.emit()
    assert window.session.case.geometry.parameters["radius"] == 0.3
    radius = panel.findChild(QtWidgets.QLineEdit, "geometry.parameters.radius")
    radius.setText("5")  # bigger than the plate: refused, with the reason
    radius.setModified(True)
    radius.editingFinished.emit()
    assert window.session.case.geometry.parameters["radius"] == 0.3
    assert "Not applied" in panel.message.text()
    panel.mesh_button.click()
    assert wait_job(qtbot, window) == "returned"
    assert "hole" in window.session.mesh.regions
    assert "hole" in window.case_panel.boundary_regions()


def test_elasticity_result_warps_and_picks_components(qtbot, window):
    _open(qtbot, window, "kirsch_plate_with_hole.toml")
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    view = window.result_view
    assert window.tabs.currentWidget() is view
    fields = [view.field_box.itemText(i) for i in range(view.field_box.count())]
    assert {"displacement", "stress", "von_mises"} <= set(fields)
    view.field_box.setCurrentText("stress")
    components = [view.component_box.itemText(i) for i in range(view.component_box.count())]
    assert components[0] == "magnitude" and "xx" in components
    view.component_box.setCurrentText("xx")
    _, values = view.current_scalars()
    np.testing.assert_allclose(values, window.session.results["classical"].fields["stress"].values[:, 0])
    assert view.warp_box.isVisible() and view.warp_scale.value() > 0
    before = view.plotter.renderer.actors["field"].GetMapper().GetInput().GetPoints().GetBounds()
    view.warp_box.setChecked(True)
    after = view.plotter.renderer.actors["field"].GetMapper().GetInput().GetPoints().GetBounds()
    assert before != after


def test_transient_result_has_a_time_slider_that_plays(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    view = window.result_view
    result = window.session.results["classical"]
    assert view.step_slider.maximum() == len(result.times) - 1 and view.step == len(result.times) - 1
    view.step_slider.setValue(10)
    assert f"t = {result.times[10]:.4g}" in view.time_label.text()
    _, values = view.current_scalars()
    assert view.field_name == "T"
    np.testing.assert_allclose(values, result.fields["T"].values[10])
    view.play_button.setChecked(True)
    qtbot.waitUntil(lambda: view.step > 12, timeout=5000)
    view.play_button.setChecked(False)


def test_exports_vtu_png_and_line_csv(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.run("both")
    assert wait_job(qtbot, window) == "returned"
    files = window.export_vtu(tmp_path / "answer.vtu")
    import meshio

    assert meshio.read(files[0]).point_data["u"].shape[0] == window.session.mesh.n_points
    window.line_plot.export_csv(tmp_path / "line.csv")
    lines = (tmp_path / "line.csv").read_text().splitlines()
    assert lines[0] == "distance,u_classical,u_surrogate" and len(lines) == 201
    png = window.screenshot(tmp_path / "window.png")
    assert png.stat().st_size > 10_000


def test_compare_screenshot_shows_three_views(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.run("both")
    assert wait_job(qtbot, window) == "returned"
    view = window.compare_view
    view.plotter.render()
    image = view.plotter.screenshot(return_img=True)
    height, width = image.shape[:2]
    # Each third of the picture holds its own coloured field (not the white background).
    for third in range(3):
        part = image[height // 4: 3 * height // 4, third * width // 3 + 10: (third + 1) * width // 3 - 10, :3].astype(float)
        coloured = (np.abs(part - 255).sum(axis=2) > 30).mean()
        assert coloured > 0.5, f"view {third} is mostly blank"
        assert part.std() > 10
    # The whole-window screenshot is not blank either.
    window.screenshot(tmp_path / "compare.png")
    from PySide6 import QtGui

    picture = QtGui.QImage(str(tmp_path / "compare.png"))
    assert picture.width() > 1000 and not picture.isNull()


def test_unsaved_changes_prompt_on_close(qtbot, window, monkeypatch):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.editor.edit("rename", lambda d: d.__setitem__("title", "renamed"))
    assert window.is_modified() and window.windowTitle().startswith("renamed *")
    window.editor.undo_stack.undo()  # back to the file's case: nothing unsaved
    assert not window.is_modified() and "*" not in window.windowTitle()
    window.editor.undo_stack.redo()
    window.confirm_close = True
    asked = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: asked.append(a) or QtWidgets.QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert asked and window.isVisible()
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Discard)
    assert window.close()


def test_open_a_mesh_file_starts_a_case_on_it(qtbot, window):
    assert window.open_mesh(resource_path("meshes/l_bracket.inp"))
    assert wait_job(qtbot, window) == "returned"
    assert window.session.case.geometry.file is not None
    assert window.session.mesh.n_cells > 0
    assert set(window.case_panel.boundary_regions()) & set(window.session.mesh.regions)


def _tiny_training(window, name: str, *, epochs: int):
    """The training dialog set for a seconds-long run: 24 samples at 16 x 16, a small FNO."""
    window.open_training()
    dialog = window.training_dialog
    dialog.source_box.setCurrentIndex(1)  # the Darcy grid recipe
    dialog.samples.setValue(24)
    dialog.resolution.setValue(16)
    dialog.scheduler.setCurrentText("this process")
    dialog.config_edit.setText('{"modes1": 4, "modes2": 4, "width": 8}')
    dialog.epochs.setValue(epochs)
    dialog.budget.setValue(0)
    dialog.name_edit.setText(name)
    return dialog


def test_train_a_surrogate_from_the_app_with_live_losses(qtbot, window, tmp_path):
    from engine.surrogates.library import list_models, load_card

    dialog = _tiny_training(window, "tiny-fno", epochs=3)
    saved = []
    dialog.modelSaved.connect(saved.append)
    dialog.start_button.click()
    assert wait_job(qtbot, window, timeout=240) == "returned"
    assert saved == ["tiny-fno"]
    assert [r["epoch"] for r in dialog.history] == [1, 2, 3]
    assert all(r["train_loss"] > 0 for r in dialog.history)
    xs, ys = dialog.train_curve.getData()
    assert list(xs) == [1, 2, 3] and len(dialog.val_curve.getData()[0]) == 3
    assert "tiny-fno" in list_models()
    card = load_card("tiny-fno")
    assert card.grid["resolution"] == 16 and card.dataset["samples"] > 0
    # The case panel offers the new model.
    models = [window.case_panel.model_box.itemText(i) for i in range(window.case_panel.model_box.count())]
    assert "tiny-fno" in models
    dialog.close()


def test_cancel_training_saves_nothing(qtbot, window):
    from engine.surrogates.library import list_models

    dialog = _tiny_training(window, "never-saved", epochs=500)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: len(dialog.history) >= 1, timeout=120000)
    dialog.cancel_button.click()
    assert wait_job(qtbot, window) == "cancelled"
    assert "never-saved" not in list_models()
    assert "nothing was saved" in dialog.status.text()
    dialog.close()


def test_new_case_starts_on_the_unit_square_and_solves(qtbot, window):
    assert "welcome" in window.mesh_view.actor_names()
    assert not window.act_run_classical.isEnabled()
    assert window.new_case()
    assert wait_job(qtbot, window) == "returned"
    assert window.session.case.geometry.kind == "unit_square"
    assert window.act_run_classical.isEnabled() and not window.act_run_both.isEnabled()  # no surrogate picked yet
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    # -u'' = 1 in the unit square with u = 0 around: the centre value of the Poisson problem is 0.07367.
    u = window.session.results["classical"].fields["u"]
    assert float(u.values.max()) == pytest.approx(0.07367, abs=2e-3)


def test_the_line_can_be_dragged_in_the_view(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.run("both")
    assert wait_job(qtbot, window) == "returned"
    window.line_plot.drag_button.setChecked(True)
    widgets = window.compare_view.plotter.widgets.line_widgets
    assert len(widgets) == 1
    widget = widgets[0]
    assert widget.GetPoint1()[:2] == pytest.approx((0.0, 0.5)) and widget.GetPoint2()[:2] == pytest.approx((1.0, 0.5))
    widget.SetPoint1(0.2, 0.1, 0.0)  # what dragging the ends does
    widget.SetPoint2(0.8, 0.9, 0.0)
    widget.InvokeEvent("EndInteractionEvent")
    start, end = window.line_plot.line()
    assert start.tolist() == pytest.approx([0.2, 0.1]) and end.tolist() == pytest.approx([0.8, 0.9])
    assert window.line_plot.distance[-1] == pytest.approx(1.0)  # |(0.6, 0.8)|
    window.line_plot.drag_button.setChecked(False)
    assert window.compare_view.plotter.widgets.line_widgets == []


def test_models_that_cannot_answer_are_marked_with_the_reason(qtbot, window):
    _open(qtbot, window, "heat_plate_with_hole.toml")
    box = window.case_panel.model_box
    index = box.findText("darcy-fno")
    assert index > 0
    tip = box.itemData(index, QtCore.Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("cannot answer this case") and "heat" in tip


def test_training_refuses_the_name_of_a_shipped_model(qtbot, window):
    dialog = _tiny_training(window, "darcy-fno", epochs=1)
    dialog.start_button.click()
    assert window.job is None
    assert "a shipped model has this name" in dialog.status.text()
    dialog.close()


def test_refused_values_leave_the_case_its_value_in_use(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    k_in_use = window.session.case.physics.k
    k_edit = panel.findChild(QtWidgets.QLineEdit, "physics.k")
    k_edit.setText("1 + sin(x")
    k_edit.setModified(True)
    k_edit.editingFinished.emit()
    assert window.session.case.physics.k == k_in_use
    assert k_edit.text() == "1 + sin(x" and k_edit.error, "what was typed stays, marked, for correction"
    assert panel.message.text().startswith("Not applied:") and "kept" in panel.message.text()
    # Checked against the mesh as well: k must be positive where it acts.
    k_edit = panel.findChild(QtWidgets.QLineEdit, "physics.k")
    k_edit.setText("-1")
    k_edit.setModified(True)
    k_edit.editingFinished.emit()
    assert "not positive" in panel.message.text()
    assert window.session.case.physics.k == k_in_use
    qtbot.wait(50)  # the panel refreshes after a refusal
    assert panel.findChild(QtWidgets.QLineEdit, "physics.k").text() == "-1"
    # A probe outside the mesh is refused when it is typed, not when the case runs.
    error = window.editor.edit("far probe", lambda d: d["probes"].append({"name": "far", "point": [0.5, 5.0]}))
    assert error is not None and "outside the mesh" in error


def test_the_mouse_wheel_scrolls_past_unfocused_boxes(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.setup_tabs.setCurrentWidget(window.case_panel)
    box = window.case_panel.linear_box
    before = box.currentText()
    from PySide6 import QtGui

    centre = QtCore.QPointF(box.rect().center())
    wheel = QtGui.QWheelEvent(centre, box.mapToGlobal(centre), QtCore.QPoint(0, 0), QtCore.QPoint(0, -120),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(box, wheel)
    assert box.currentText() == before
    assert window.editor.undo_stack.count() == 0


def test_cancelled_meshing_discards_the_mesh(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    first = window.session.mesh
    window.editor.edit("finer", lambda d: d["mesh"].__setitem__("size", 0.004))
    assert window.session.mesh is None  # the old mesh no longer belongs to the case
    job = window.mesh_case()
    job.cancel()
    assert wait_job(qtbot, window) == "cancelled"
    assert window.session.mesh is None and first.n_points < 5000


def test_save_never_writes_over_a_shipped_example(qtbot, window, tmp_path, monkeypatch):
    _open(qtbot, window, "darcy_unit_square.toml")
    original = DARCY.read_text()
    window.editor.edit("rename", lambda d: d.__setitem__("title", "mine"))
    target = tmp_path / "mine.toml"
    asked = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or (str(target), ""))
    assert window.save_case()
    assert asked, "Save on a shipped example asks where to save"
    assert DARCY.read_text() == original
    from engine.case.load import load_case

    assert load_case(target).title == "mine"
    assert not window.is_modified()


def test_results_are_marked_stale_after_an_edit(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    assert window.metrics_panel.stale.isHidden()
    window.editor.edit("f = 2", lambda d: d["physics"].__setitem__("f", 2.0))
    assert not window.metrics_panel.stale.isHidden()
    window.editor.undo_stack.undo()
    assert window.metrics_panel.stale.isHidden()


def test_run_both_is_refused_before_the_classical_solve(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    window.editor.edit("surrogate", lambda d: d.setdefault("solver", {}).__setitem__("surrogate", {"model": "darcy-fno"}))
    window.run("both")
    assert wait_job(qtbot, window) == "errored"
    assert "classical:" not in window.run_panel.log.toPlainText()
    assert "heat" in window.last_error


def test_a_run_applies_what_is_typed_but_not_confirmed(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    f_edit = window.case_panel.findChild(QtWidgets.QLineEdit, "physics.f")
    window.setup_tabs.setCurrentWidget(window.case_panel)
    f_edit.clear()
    qtbot.keyClicks(f_edit, "5")  # typed, no Enter, no Tab
    assert f_edit.isModified()
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    assert window.session.case.physics.f == 5.0
    assert window.results_case["physics"]["f"] == 5.0


def test_a_case_with_an_unknown_geometry_is_refused_on_opening(qtbot, window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n[geometry]\nkind = "unit_squar"\n[physics]\nkind = "diffusion"\n')
    assert not window.open_case(bad)
    assert "unknown geometry" in window.last_error and "unit_square" in window.last_error
    assert window.session.case is None


def test_a_refused_geometry_parameter_shows_the_value_in_use(qtbot, window):
    _open(qtbot, window, "kirsch_plate_with_hole.toml")
    radius = window.mesh_panel.findChild(QtWidgets.QLineEdit, "geometry.parameters.radius")
    radius.setText("1.5")
    radius.setModified(True)
    radius.editingFinished.emit()
    assert "Not applied" in window.mesh_panel.message.text() and "kept 0.05" in window.mesh_panel.message.text()
    qtbot.wait(50)  # the panel refreshes after a refusal
    assert window.session.case.geometry.parameters["radius"] == 0.05
    assert radius.text() == "1.5" and radius.error, "what was typed stays, marked, for correction"
    window.open_mesh(resource_path("meshes/l_bracket.inp"))  # a new document starts with no old message
    assert window.mesh_panel.message.text() == "" and window.case_panel.message.text() == ""
    assert wait_job(qtbot, window) == "returned"


def test_a_surrogate_that_cannot_answer_cannot_be_run(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    window.editor.edit("surrogate", lambda d: d.setdefault("solver", {}).__setitem__("surrogate", {"model": "darcy-fno"}))
    assert window.case_panel.incompatible and not window.act_run_both.isEnabled()
    assert "cannot answer" in window.act_run_both.toolTip()
    assert window.act_run_classical.isEnabled()


def test_the_line_plot_follows_the_time_slider(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    last = window.line_plot.profiles["classical"].copy()
    window.result_view.step_slider.setValue(20)
    earlier = window.line_plot.profiles["classical"]
    assert np.nanmax(np.abs(earlier - last)) > 1.0


def test_a_node_set_region_highlights(qtbot, window):
    from engine.mesh.mesh import Mesh, Region

    square = Mesh(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), {"triangle": np.array([[0, 1, 2], [0, 2, 3]])},
                  [Region("corners", 0, points=np.array([0, 2]))])  # an Abaqus *NSET, say
    window.mesh_view.set_mesh(square)
    window.mesh_view.highlight("corners")
    assert "region" in window.mesh_view.actor_names()
    assert "2 nodes" in window.mesh_view.caption.text()


def test_opening_is_refused_while_a_job_runs(qtbot, window):
    _open(qtbot, window, "nafems_t3.toml")
    window.editor.edit("many steps", lambda d: d["physics"]["time"].update(step=0.001))
    window.run("classical")
    assert not window.open_case(DARCY)
    assert "busy" in window.statusBar().currentMessage()
    window.cancel_job()
    assert wait_job(qtbot, window) == "cancelled"
    assert window.session.case.title.startswith("NAFEMS T3")


def test_a_stale_project_does_not_lend_its_mesh_to_another_geometry(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    window.editor.edit("coarser", lambda d: d["mesh"].__setitem__("size", 0.1))
    assert not window.metrics_panel.stale.isHidden()
    path = tmp_path / "stale.wbproj"
    assert window.save_project(path)
    assert window.open_project(path)
    assert not window.metrics_panel.stale.isHidden()  # still answers the earlier case
    assert wait_job(qtbot, window) == "returned"  # the case is meshed as it is now, not lent the results' mesh
    mesh = window.session.mesh_for(window.session.case)
    assert mesh is not None and mesh.n_points < window.session.results["classical"].mesh.n_points


def test_quad_mesh_statistics_use_real_edges():
    from engine.mesh.geometry import build_mesh
    from workbench.gui.mesh_panel import mesh_statistics

    quads = build_mesh("unit_square", size=0.25, cell="quad", structured=True)
    stats = mesh_statistics(quads)
    assert stats["edge_max"] == pytest.approx(0.25) and stats["edge_min"] == pytest.approx(0.25)
