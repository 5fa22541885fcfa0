"""Defects of the case and mesh panels found in a new-user trial: cells and element out of step,
input dropped without a word, a banner that moves the form, a surrogate path that leads nowhere,
and a mouse wheel that scrolls inner tables sideways."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


from .conftest import wait_job, open_example as _open



def _pick(box: QtWidgets.QComboBox, text: str) -> None:
    """Choose ``text`` in ``box`` as a click does (``activated`` is what the panels listen to)."""
    index = box.findText(text)
    assert index >= 0, f"{text!r} is not offered"
    box.setCurrentIndex(index)
    box.activated.emit(index)


def _type(qtbot, edit: QtWidgets.QLineEdit, text: str) -> None:
    """Type ``text`` over what ``edit`` holds and press Enter, as a user does."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, QtCore.Qt.Key.Key_Return)


def _top(widget: QtWidgets.QWidget) -> int:
    return widget.mapTo(widget.window(), QtCore.QPoint(0, 0)).y()


def _wheel(widget: QtWidgets.QWidget, dx: int, dy: int) -> None:
    """A wheel turned by (dx, dy) eighths of a degree over ``widget``."""
    centre = QtCore.QPointF(widget.rect().center())
    event = QtGui.QWheelEvent(centre, widget.mapToGlobal(centre), QtCore.QPoint(0, 0), QtCore.QPoint(dx, dy),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                              QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(widget, event)


# -- 1. cells and element move together --------------------------------------------------------
def test_switching_cells_moves_the_element_along_as_one_undoable_edit(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    window.editor.edit("coarser", lambda d: d["mesh"].__setitem__("size", 0.1))  # a small mesh to remesh
    _pick(window.case_panel.element_box, "P2")
    assert window.session.case.solver.classical.element == "P2"
    steps = window.editor.undo_stack.count()
    _pick(window.mesh_panel.cell_box, "quad")
    case = window.session.case
    assert case.mesh.cell == "quad" and case.solver.classical.element == "Q2"
    assert window.case_panel.element_box.currentText() == "Q2"
    note = window.mesh_panel.message.text()
    assert "P2" in note and "Q2" in note, "the panel says that the element moved"
    assert window.editor.undo_stack.count() == steps + 1, "one edit"
    window.mesh_case()
    assert wait_job(qtbot, window) == "returned"
    assert set(window.session.mesh.domain_cells) == {"quad"}
    # The next boundary-condition edit is checked against the quad mesh, and taken.
    panel = window.case_panel
    panel.select_region("top")
    _pick(panel.condition_box, "neumann")
    assert {tuple(bc.regions): bc.type for bc in window.session.case.boundary}[("top",)] == "neumann"
    assert not panel.message.text().startswith("Not applied")
    window.editor.undo_stack.undo()  # the condition
    window.editor.undo_stack.undo()  # cells and element, together
    case = window.session.case
    assert case.mesh.cell is None and case.solver.classical.element == "P2"
    assert window.mesh_panel.cell_box.currentText() == "triangle" and panel.element_box.currentText() == "P2"


# -- 2. nothing typed is dropped; the banner moves nothing -------------------------------------
def test_a_negative_element_size_is_refused_with_the_reason_and_stays_typed(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    size = window.mesh_panel.size_edit
    _type(qtbot, size, "-0.1")
    assert size.text() == "-0.1", "the minus sign is kept"
    assert window.session.case.mesh.size == 0.025, "the case keeps its value"
    message = window.mesh_panel.message.text()
    assert "mesh.size" in message and "greater than 0" in message and "kept 0.025" in message
    assert size.error, "the field is marked"
    window.mesh_panel.refresh(window.session.case)  # any later refresh leaves the text for correction
    assert size.text() == "-0.1"
    _type(qtbot, size, "0.05")  # corrected
    assert window.session.case.mesh.size == 0.05 and not size.error and size.text() == "0.05"
    _type(qtbot, size, "abc")  # no validator eats the letters either: the reason is given
    assert size.text() == "abc" and "element size" in window.mesh_panel.message.text()
    assert "not a number" in window.mesh_panel.message.text()


def test_a_refused_expression_stays_in_its_field_for_correction(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    window.setup_tabs.setCurrentWidget(panel)
    k_in_use = window.session.case.physics.k
    k_edit = panel.findChild(QtWidgets.QLineEdit, "physics.k")
    _type(qtbot, k_edit, "1 + sin(x")
    assert k_edit.text() == "1 + sin(x" and k_edit.error
    assert window.session.case.physics.k == k_in_use
    message = panel.message.text()
    assert message.startswith("Not applied: k:") and "expected" in message
    # Refused by the mesh check (k must be positive where it acts): kept too, after the refresh.
    _type(qtbot, k_edit, "-1")
    qtbot.wait(50)  # the panel refreshes after a refusal
    assert panel.findChild(QtWidgets.QLineEdit, "physics.k").text() == "-1" and k_edit.error
    assert "not positive" in panel.message.text() and window.session.case.physics.k == k_in_use
    _type(qtbot, k_edit, "2")
    assert window.session.case.physics.k == 2.0 and not k_edit.error
    window.editor.undo_stack.undo()  # a change of the case shows its value again
    assert k_edit.text() == k_in_use


def test_no_run_or_mesh_starts_while_a_field_holds_a_refused_text(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    window.setup_tabs.setCurrentWidget(panel)
    k_edit = panel.findChild(QtWidgets.QLineEdit, "physics.k")
    _type(qtbot, k_edit, "1e")  # the field keeps "1e", the case its k: a run would use another value
    assert k_edit.error
    assert window.run("classical") is None and window.mesh_case() is None
    assert "correct the field marked red" in window.statusBar().currentMessage() and "k" in window.statusBar().currentMessage()
    _type(qtbot, k_edit, "2")
    assert window.run("classical") is not None
    assert wait_job(qtbot, window) == "returned"


def test_a_message_appearing_moves_no_field(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    window.setup_tabs.setCurrentWidget(panel)
    k_edit = panel.findChild(QtWidgets.QLineEdit, "physics.k")
    qtbot.wait(50)
    before = _top(k_edit), _top(panel.boundary_box)
    _type(qtbot, k_edit, "1 + sin(x")
    qtbot.wait(50)  # let the layout settle
    assert panel.message.text() and panel.message.isVisible()
    assert (_top(k_edit), _top(panel.boundary_box)) == before
    # The message line stays in view wherever the form is scrolled to.
    panel.verticalScrollBar().setValue(panel.verticalScrollBar().maximum())
    qtbot.wait(20)
    assert panel.message.isVisible() and panel.rect().contains(panel.message.geometry())
    assert not panel.viewport().geometry().intersects(panel.message.geometry())
    window.setup_tabs.setCurrentIndex(0)
    mesh_panel = window.mesh_panel
    qtbot.wait(50)
    before = _top(mesh_panel.region_list)
    _type(qtbot, mesh_panel.size_edit, "-1")
    qtbot.wait(50)
    assert mesh_panel.message.text() and _top(mesh_panel.region_list) == before


# -- 3. the surrogate path ---------------------------------------------------------------------
def test_the_panel_says_which_models_can_answer(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    status = panel.models_status.text()
    assert "Can answer this case: darcy-fno" in status
    box = panel.model_box
    assert box.model().item(box.findText("darcy-fno")).isEnabled()


def test_a_case_no_model_answers_says_why_and_what_helps_even_after_a_training(qtbot, window, monkeypatch):
    from engine.surrogates.library import import_model, list_models

    _open(qtbot, window, "heat_plate_with_hole.toml")
    panel = window.case_panel
    box = panel.model_box
    assert not box.model().item(box.findText("darcy-fno")).isEnabled(), "not selectable"
    assert "Tools > Train a surrogate" in window.act_run_surrogate.toolTip()
    status = panel.models_status.text()
    assert "No model in the library can answer this case" in status
    assert "darcy-fno" in status and "diffusion problems, not heat" in status, "why the first one cannot"
    assert "Tools > Train a surrogate" in status, "what would help"
    # A model trained (here: copied into the user library) and the library read again, as the
    # training dialog's modelSaved does: still none of them can be picked for this case.
    import_model(list_models()["darcy-fno"], name="my-fno")
    window.open_training()
    window.training_dialog.modelSaved.emit("my-fno")
    window.training_dialog.close()
    names = [box.itemText(i) for i in range(box.count())]
    assert "my-fno" in names
    for name in ("darcy-fno", "my-fno"):
        item = box.model().item(box.findText(name))
        assert not item.isEnabled() and item.toolTip().startswith("cannot answer this case")
    assert "No model in the library can answer this case" in panel.models_status.text()


def test_the_compare_hint_follows_the_state(qtbot, window):
    assert window.new_case()  # unit square, no surrogate picked
    assert wait_job(qtbot, window) == "returned"
    window.editor.edit("coarse", lambda d: d.setdefault("mesh", {}).__setitem__("size", 0.1))
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    panel, headline = window.case_panel, window.metrics_panel.headline
    assert "pick a surrogate" in headline.text()
    _pick(panel.model_box, "darcy-fno")
    assert window.session.case.solver.surrogate.model == "darcy-fno"
    assert "pick a surrogate" not in headline.text() and "Run both" in headline.text() and "darcy-fno" in headline.text()
    kind = panel.findChild(QtWidgets.QComboBox, "physics.kind")
    kind.setCurrentText("heat")  # no model in the library answers heat problems
    assert window.session.case.physics.kind == "heat"
    assert "pick a surrogate" not in headline.text() and "Tools > Train a surrogate" in headline.text()
    assert "No model in the library can answer this case" in panel.models_status.text()


# -- 4. the wheel over tables ------------------------------------------------------------------
def test_the_mouse_wheel_over_an_unfocused_table_scrolls_the_panel(qtbot, window):
    _open(qtbot, window, "darcy_unit_square.toml")
    panel = window.case_panel
    window.setup_tabs.setCurrentWidget(panel)
    qtbot.wait(50)
    panel_scroll = panel.verticalScrollBar()
    assert panel_scroll.maximum() > 0, "the form is taller than the panel"
    for table in (panel.region_table, panel.probes_table, panel.parameters_table):
        table.setColumnWidth(0, 1000)  # wide enough to scroll sideways
        qtbot.waitUntil(lambda: table.horizontalScrollBar().maximum() > 0, timeout=2000)
        for dx, dy in ((-120, 0), (-90, -40), (0, -120)):  # a tilted wheel, a touchpad's slanted stroke, a wheel
            table.horizontalScrollBar().setValue(0)
            panel_scroll.setValue(0)
            _wheel(table.viewport(), dx, dy)
            assert table.horizontalScrollBar().value() == 0, f"{table.objectName() or 'parameters'} scrolled sideways by {(dx, dy)}"
            assert panel_scroll.value() > 0 if dy else panel_scroll.value() == 0, "the up-and-down part scrolls the panel"
    # Once clicked (focused), a table takes the wheel itself.
    table = panel.region_table
    window.activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus, timeout=2000)
    panel_scroll.setValue(0)
    _wheel(table.viewport(), -120, 0)
    assert table.horizontalScrollBar().value() > 0 and panel_scroll.value() == 0
