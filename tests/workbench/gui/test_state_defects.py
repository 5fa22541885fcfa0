"""What the window keeps between runs and documents, as a new user met it: results marked out of
date although nothing they depend on changed, a running job stopped on closing without asking,
and the last document's answers surviving into the next one."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


from .conftest import wait_job, open_example as _open, run_to_end as _run

Button = QtWidgets.QMessageBox.StandardButton




def _pick_model(window, model: str) -> None:
    """What choosing ``model`` in Case > Solver > Model does."""
    box = window.case_panel.model_box
    index = box.findText(model)
    assert index >= 0, f"{model} is not offered"
    box.setCurrentIndex(index)
    box.activated.emit(index)


def _answer_questions(monkeypatch, answers: dict[str, Button], default: Button) -> list[str]:
    """Answer QMessageBox.question by its title; the titles asked, in order."""
    asked: list[str] = []

    def question(parent, title, *args, **kwargs):
        asked.append(title)
        return answers.get(title, default)

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", question)
    return asked


def test_a_reopened_project_is_not_marked_out_of_date(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "both")
    path = tmp_path / "darcy.wbproj"
    assert window.save_project(path)
    assert window.open_project(path)
    assert window.job is None and sorted(window.session.results) == ["classical", "surrogate"]
    stale = window.metrics_panel.stale
    assert stale.isHidden(), stale.text()
    # An actual edit still says so, and undoing it takes it back.
    assert window.editor.edit("f = 2", lambda d: d["physics"].__setitem__("f", 2.0)) is None
    assert not stale.isHidden() and "classical and surrogate" in stale.text()
    window.editor.undo_stack.undo()
    assert stale.isHidden()
    # Both still answer the reopened case: solving one again keeps the other and the comparison.
    surrogate = window.session.results["surrogate"]
    _run(qtbot, window, "classical")
    assert window.session.results["surrogate"] is surrogate
    assert window.session.comparison is not None and window.metrics_panel.comparison.rowCount() == 1


def test_picking_a_surrogate_leaves_the_classical_result_current(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    _pick_model(window, "(none)")
    _run(qtbot, window, "classical")
    classical = window.session.results["classical"]
    stale = window.metrics_panel.stale
    _pick_model(window, "darcy-fno")
    assert window.session.case.solver.surrogate.model == "darcy-fno"
    assert stale.isHidden(), stale.text()  # the finite elements never see the model
    # The surrogate's answer joins the classical one, which needs no solving again.
    _run(qtbot, window, "surrogate")
    assert window.session.results["classical"] is classical
    assert window.session.comparison is not None and window.metrics_panel.comparison.rowCount() == 1
    # Without its model the surrogate's answer is out of date, the classical one is not.
    _pick_model(window, "(none)")
    assert not stale.isHidden()
    assert "surrogate result answers" in stale.text() and "classical" not in stale.text()


def test_closing_the_window_during_a_solve_asks_first(qtbot, window, monkeypatch):
    _open(qtbot, window, "nafems_t3.toml")
    assert window.editor.edit("many steps", lambda d: d["physics"]["time"].update(step=0.0005)) is None
    job = window.run("classical")
    progress = window.run_panel.progress
    qtbot.waitUntil(lambda: progress.value() > 0, timeout=60000)
    window.confirm_close = True
    asked = _answer_questions(monkeypatch, {"Unsaved changes": Button.Discard}, Button.No)
    assert not window.close()
    assert "Unsaved changes" in asked and len(asked) == 2  # and about the solve
    assert window.isVisible() and window.job is job
    reached = progress.value()
    qtbot.waitUntil(lambda: progress.value() > reached, timeout=60000)  # "No": it solves on
    asked = _answer_questions(monkeypatch, {"Unsaved changes": Button.Discard}, Button.Yes)
    assert window.close()
    assert len(asked) == 2
    assert wait_job(qtbot, window) == "cancelled"


def test_closing_the_training_dialog_asks_before_it_stops_the_training(qtbot, window, monkeypatch):
    from engine.surrogates.library import list_models

    window.open_training()
    dialog = window.training_dialog
    dialog.source_box.setCurrentIndex(1)  # the Darcy grid recipe
    dialog.samples.setValue(24)
    dialog.resolution.setValue(16)
    dialog.scheduler.setCurrentText("this process")
    dialog.config_edit.setText('{"modes1": 4, "modes2": 4, "width": 8}')
    dialog.epochs.setValue(500)
    dialog.budget.setValue(0)
    dialog.name_edit.setText("kept-training")
    dialog.start_button.click()
    job = window.training_job
    assert job is not None
    window.confirm_close = True
    asked = _answer_questions(monkeypatch, {}, Button.No)
    assert not dialog.close()
    qtbot.keyClick(dialog, QtCore.Qt.Key.Key_Escape)
    assert len(asked) == 2 and dialog.isVisible() and window.training_job is job
    qtbot.waitUntil(lambda: len(dialog.history) >= 1, timeout=120000)  # "No": it trains on
    asked = _answer_questions(monkeypatch, {}, Button.Yes)
    assert dialog.close()
    assert len(asked) == 1 and not dialog.isVisible()
    assert wait_job(qtbot, window) == "cancelled"
    assert "kept-training" not in list_models()


def _assert_nothing_left(window) -> None:
    session, metrics, line = window.session, window.metrics_panel, window.line_plot
    assert session.results == {} and session.comparison is None and session.comparison_error is None
    assert window.results_case is None
    assert [metrics.solvers.rowCount(), metrics.comparison.rowCount(), metrics.probes.rowCount()] == [0, 0, 0]
    assert metrics.stale.isHidden() and metrics.headline.text() == "No results yet."
    assert window.result_choice.count() == 0
    assert line.line() is None and line.profiles == {} and line.distance is None
    assert not line.drag_button.isChecked()
    for view in (window.result_view, window.compare_view):
        assert view.plotter.widgets.line_widgets == []
    assert window.histogram.counts is None


def test_a_new_document_keeps_nothing_of_the_last_ones_answers(qtbot, window):
    # What a widget told of the new case finds in the session: never the last case's answers.
    told: list[tuple] = []
    window.session.caseChanged.connect(lambda _: told.append((dict(window.session.results), window.session.comparison)))

    def answers_with_the_line_tool_on(which: str) -> None:
        _run(qtbot, window, which)
        window.line_plot.set_line([0.1, 0.2], [0.9, 0.8])
        window.tabs.setCurrentWidget(window.compare_view if which == "both" else window.result_view)
        window.line_plot.drag_button.setChecked(True)
        assert window.tabs.currentWidget().plotter.widgets.line_widgets
        assert window.editor.edit("f = 2", lambda d: d["physics"].__setitem__("f", 2.0)) is None
        assert not window.metrics_panel.stale.isHidden()
        told.clear()

    _open(qtbot, window, "darcy_unit_square.toml")
    answers_with_the_line_tool_on("both")
    window.act_new_case.trigger()  # File > New case
    assert told and all(results == {} and comparison is None for results, comparison in told)
    _assert_nothing_left(window)
    assert wait_job(qtbot, window) == "returned"
    _assert_nothing_left(window)
    answers_with_the_line_tool_on("classical")
    _open(qtbot, window, "heat_plate_with_hole.toml")  # another example
    assert told and all(results == {} and comparison is None for results, comparison in told)
    _assert_nothing_left(window)
