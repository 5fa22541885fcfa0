"""The case panel's physics form follows the physics' schema: a Navier-Stokes case (DFG 2D-1)
opens with a row for each key of its [physics] table, nested tables (forces, newton, time) and
the probes of its pressure difference included; each edit is undoable, a refused one stays typed
with its reason; the flow boundary conditions (velocity, no-slip, outflow) are edited by region.
A heat case shows its time stepping as it always did."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from .conftest import open_example
from .test_case_panel_defects import _pick, _type
from .test_units import _label


def _find(panel: QtWidgets.QWidget, cls: type, name: str):
    """The widget called ``name`` in the form now (a rebuilt form's old widgets are deleted first)."""
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    return panel.findChild(cls, name)


def _erase(qtbot, edit: QtWidgets.QLineEdit) -> None:
    """Delete what ``edit`` holds and press Enter, as a user does (typing nothing over it deletes nothing)."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, QtCore.Qt.Key.Key_Backspace)
    qtbot.keyClick(edit, QtCore.Qt.Key.Key_Return)


def _components(panel, name: str) -> list[QtWidgets.QLineEdit]:
    return _find(panel, QtWidgets.QWidget, name).findChildren(QtWidgets.QLineEdit)


@pytest.fixture
def dfg(qtbot, window):
    open_example(qtbot, window, "dfg_2d1.toml")  # an exception in a slot fails the test (pytest-qt)
    window.setup_tabs.setCurrentWidget(window.case_panel)
    return window


def test_the_dfg_case_shows_every_key_of_its_physics(dfg):
    panel = dfg.case_panel
    assert panel.message.text() == ""
    shown = {name: _find(panel, QtWidgets.QLineEdit, f"physics.{name}").text() for name in
             ("rho", "mu", "forces.region", "forces.velocity", "forces.length", "newton.tolerance", "newton.max_iterations", "newton.picard_steps")}
    assert shown == {"rho": "1", "mu": "0.001", "forces.region": "obstacle", "forces.velocity": "0.2", "forces.length": "0.1",
                     "newton.tolerance": "1e-09", "newton.max_iterations": "25", "newton.picard_steps": "3"}
    labels = {name: _label(panel, f"physics.{name}") for name in ("rho", "mu", "forces.velocity", "forces.length", "newton.tolerance", "pressure_difference")}
    assert labels == {"rho": "rho [kg/m^3]", "mu": "mu [Pa s]", "forces.velocity": "velocity [m/s]", "forces.length": "length [m]",
                      "newton.tolerance": "tolerance", "pressure_difference": "pressure_difference"}
    assert _label(panel, "physics.forces") == "Forces" and _label(panel, "physics.newton") == "Newton"
    region = _find(panel, QtWidgets.QComboBox, "physics.forces.region")
    mesh = dfg.session.mesh
    assert {region.itemText(i) for i in range(region.count())} == {n for n, r in mesh.regions.items() if r.dim < mesh.dim}  # boundaries to pick
    for i, probe in enumerate(["front", "back"]):
        box = _find(panel, QtWidgets.QComboBox, f"physics.pressure_difference.{i}")
        assert box.currentText() == probe and [box.itemText(j) for j in range(box.count())] == ["front", "back"]
    assert _find(panel, QtWidgets.QCheckBox, "physics.pressure_difference.on").isChecked()
    assert _find(panel, QtWidgets.QCheckBox, "physics.forces.on").isChecked()
    assert not _find(panel, QtWidgets.QCheckBox, "physics.time.transient").isChecked()
    assert _find(panel, QtWidgets.QLineEdit, "physics.time.end") is None, "steady: no time rows"
    # body force and initial velocity: optional vectors of two coefficients, none set
    for name in ("body_force", "initial"):
        assert [e.text() for e in _components(panel, f"physics.{name}")] == ["", ""]
    assert _label(panel, "physics.initial") == "initial [m/s]"


def test_flow_values_edit_the_case_and_undo_restores_them(qtbot, dfg):
    panel, undo = dfg.case_panel, dfg.editor.undo_stack
    velocity = _find(panel, QtWidgets.QLineEdit, "physics.forces.velocity")
    _type(qtbot, velocity, "0.3")
    assert dfg.session.case.physics.forces.velocity == 0.3 and dfg.editor.data["physics"]["forces"]["velocity"] == 0.3
    mu = _find(panel, QtWidgets.QLineEdit, "physics.mu")
    _type(qtbot, mu, "0.002")
    assert dfg.session.case.physics.mu == 0.002
    undo.undo()
    assert dfg.session.case.physics.mu == 0.001 and _find(panel, QtWidgets.QLineEdit, "physics.mu").text() == "0.001"
    undo.undo()
    assert dfg.session.case.physics.forces.velocity == 0.2
    assert _find(panel, QtWidgets.QLineEdit, "physics.forces.velocity").text() == "0.2"
    undo.redo()
    assert dfg.session.case.physics.forces.velocity == 0.3 and _find(panel, QtWidgets.QLineEdit, "physics.forces.velocity").text() == "0.3"

    # Refused: the text stays typed and marked with the reason; the case keeps its value.
    velocity = _find(panel, QtWidgets.QLineEdit, "physics.forces.velocity")
    _type(qtbot, velocity, "-1")
    qtbot.wait(20)  # the panel refreshes after a refusal
    assert velocity.text() == "-1" and velocity.error and "greater than 0" in velocity.error
    # (a key spelt like a boundary type, "velocity", is named in full)
    assert "physics.forces.velocity" in panel.message.text() and "kept 0.3" in panel.message.text()
    assert dfg.session.case.physics.forces.velocity == 0.3
    _type(qtbot, velocity, "0.25")
    assert dfg.session.case.physics.forces.velocity == 0.25 and not velocity.error
    steps = _find(panel, QtWidgets.QLineEdit, "physics.newton.max_iterations")
    _type(qtbot, steps, "2.5")  # a count: a fraction is refused by the case, with its reason
    assert steps.text() == "2.5" and steps.error and dfg.session.case.physics.newton.max_iterations == 25
    _type(qtbot, steps, "40")
    assert dfg.session.case.physics.newton.max_iterations == 40 and dfg.editor.data["physics"]["newton"] == {"max_iterations": 40}


def test_the_force_region_is_typed_or_picked_and_checked_against_the_mesh(qtbot, dfg):
    panel = dfg.case_panel
    region = _find(panel, QtWidgets.QLineEdit, "physics.forces.region")
    _type(qtbot, region, "nowhere")
    qtbot.wait(20)
    assert region.text() == "nowhere" and "not in the mesh" in region.error
    assert "not in the mesh" in panel.message.text() and dfg.session.case.physics.forces.region == "obstacle"
    _type(qtbot, region, "obstacle, walls")  # several regions, as the case file lists them
    assert dfg.session.case.physics.forces.regions == ["obstacle", "walls"] and not region.error
    _pick(_find(panel, QtWidgets.QComboBox, "physics.forces.region"), "walls")
    assert dfg.session.case.physics.forces.region == "walls"
    assert _find(panel, QtWidgets.QLineEdit, "physics.forces.region").text() == "walls"
    dfg.editor.undo_stack.undo()
    assert _find(panel, QtWidgets.QLineEdit, "physics.forces.region").text() == "obstacle, walls"


def test_optional_tables_switch_on_with_their_defaults_and_off(qtbot, dfg):
    panel, undo = dfg.case_panel, dfg.editor.undo_stack
    _find(panel, QtWidgets.QCheckBox, "physics.time.transient").setChecked(True)  # transient
    assert dfg.editor.data["physics"]["time"] == {"end": 1.0, "step": 0.1}  # defaults stay defaults, unwritten
    assert (dfg.session.case.physics.time.step, dfg.session.case.physics.time.save_every) == (0.1, 1)
    assert {n: _find(panel, QtWidgets.QLineEdit, f"physics.time.{n}").text() for n in ("end", "step", "save_every")} == {
        "end": "1", "step": "0.1", "save_every": "1"}
    assert _label(panel, "physics.time.step") == "step [s]" and _label(panel, "physics.time.save_every") == "save_every"
    _type(qtbot, _find(panel, QtWidgets.QLineEdit, "physics.time.step"), "2")  # longer than end: refused, kept
    assert "longer than end" in panel.message.text() and dfg.session.case.physics.time.step == 0.1
    _type(qtbot, _find(panel, QtWidgets.QLineEdit, "physics.time.step"), "0.05")
    assert dfg.session.case.physics.time.step == 0.05
    undo.undo()
    undo.undo()
    assert dfg.session.case.physics.time is None and not _find(panel, QtWidgets.QCheckBox, "physics.time.transient").isChecked()
    assert _find(panel, QtWidgets.QLineEdit, "physics.time.end") is None

    # Forces off, then on again: a region of the mesh and the reference values' defaults.
    _find(panel, QtWidgets.QCheckBox, "physics.forces.on").setChecked(False)
    assert dfg.session.case.physics.forces is None and _find(panel, QtWidgets.QLineEdit, "physics.forces.velocity") is None
    _find(panel, QtWidgets.QCheckBox, "physics.forces.on").setChecked(True)
    forces = dfg.session.case.physics.forces
    assert forces.region in dfg.session.mesh.regions and (forces.velocity, forces.length) == (1.0, 1.0)
    undo.undo()
    undo.undo()
    assert dfg.session.case.physics.forces.velocity == 0.2

    # The pressure difference: two probes picked from the case's, or none.
    _pick(_find(panel, QtWidgets.QComboBox, "physics.pressure_difference.0"), "back")
    assert dfg.session.case.physics.pressure_difference == ["back", "back"]
    _find(panel, QtWidgets.QCheckBox, "physics.pressure_difference.on").setChecked(False)
    assert dfg.session.case.physics.pressure_difference is None and "pressure_difference" not in dfg.editor.data["physics"]
    assert not _find(panel, QtWidgets.QComboBox, "physics.pressure_difference.0").isEnabled()
    _find(panel, QtWidgets.QCheckBox, "physics.pressure_difference.on").setChecked(True)
    assert dfg.session.case.physics.pressure_difference == ["front", "back"]


def test_the_pressure_difference_needs_two_probes(qtbot, dfg):
    panel = dfg.case_panel
    _find(panel, QtWidgets.QCheckBox, "physics.pressure_difference.on").setChecked(False)
    assert dfg.editor.edit("one probe", lambda d: d["probes"].pop()) is None
    switch = _find(panel, QtWidgets.QCheckBox, "physics.pressure_difference.on")
    switch.setChecked(True)
    qtbot.wait(20)
    assert "2 probes" in panel.message.text() and "has 1" in panel.message.text()
    assert dfg.session.case.physics.pressure_difference is None
    assert not _find(panel, QtWidgets.QCheckBox, "physics.pressure_difference.on").isChecked()


def test_flow_boundary_conditions_by_region(qtbot, dfg):
    panel = dfg.case_panel

    def inlet():
        return next(bc for bc in dfg.session.case.boundary if bc.regions == ["inlet"])

    panel.select_region("inlet")
    assert panel.condition_box.currentText() == "velocity"
    assert [panel.condition_box.itemText(i) for i in range(panel.condition_box.count())] == ["(natural)", "velocity", "no_slip", "outflow"]
    ux, uy = _find(panel, QtWidgets.QLineEdit, "boundary.ux"), _find(panel, QtWidgets.QLineEdit, "boundary.uy")
    assert ux.text() == "4 * U_max * y * (0.41 - y) / 0.41^2" and uy.text() == "0"
    assert _label(panel, "boundary.ux") == "ux [m/s]" and _label(panel, "boundary.uy") == "uy [m/s]"
    _erase(qtbot, uy)  # a component left out is free
    assert inlet().uy is None and "uy" not in next(bc for bc in dfg.editor.data["boundary"] if bc["region"] == "inlet")
    assert not uy.error and uy.placeholderText() == "free"
    _erase(qtbot, ux)  # both free: refused with the reason, kept typed
    qtbot.wait(20)
    assert "at least one of ux, uy" in panel.message.text() and inlet().ux is not None
    assert _find(panel, QtWidgets.QLineEdit, "boundary.ux").text() == ""
    _type(qtbot, _find(panel, QtWidgets.QLineEdit, "boundary.ux"), "1.5*U_max")
    assert inlet().ux == "1.5*U_max"
    dfg.editor.undo_stack.undo()
    dfg.editor.undo_stack.undo()
    assert inlet().uy == 0.0 and _find(panel, QtWidgets.QLineEdit, "boundary.uy").text() == "0"

    panel.select_region("outlet")
    assert panel.condition_box.currentText() == "outflow"
    pressure = _find(panel, QtWidgets.QLineEdit, "boundary.pressure")
    assert pressure.text() == "0" and _label(panel, "boundary.pressure") == "pressure [Pa]"
    _type(qtbot, pressure, "5")
    assert next(bc for bc in dfg.session.case.boundary if bc.regions == ["outlet"]).pressure == 5.0

    panel.select_region("walls")
    assert panel.condition_box.currentText() == "no_slip" and panel.condition_form.rowCount() == 0  # no values
    _pick(panel.condition_box, "velocity")  # a moving wall starts as the physics says
    walls = next(bc for bc in dfg.session.case.boundary if bc.regions == ["walls"])
    assert (walls.type, walls.ux, walls.uy) == ("velocity", 1.0, 0.0)
    assert next(bc for bc in dfg.session.case.boundary if bc.regions == ["obstacle"]).type == "no_slip"


def test_the_heat_time_stepping_shows_as_before(qtbot, window):
    open_example(qtbot, window, "nafems_t3.toml")
    panel = window.case_panel
    assert _find(panel, QtWidgets.QCheckBox, "physics.time.transient").isChecked()
    assert _label(panel, "physics.time") == "Time"
    edits = {n: (_find(panel, QtWidgets.QLineEdit, f"physics.time.{n}").text(), _label(panel, f"physics.time.{n}"))
             for n in ("end", "step", "tolerance", "save_every")}
    assert edits == {"end": ("32", "end [s]"), "step": ("0.5", "step [s]"), "tolerance": ("0.001", "tolerance"), "save_every": ("1", "save_every")}
    scheme = _find(panel, QtWidgets.QComboBox, "physics.time.scheme")
    assert scheme.currentText() == "crank_nicolson" and [scheme.itemText(i) for i in range(scheme.count())] == ["backward_euler", "crank_nicolson"]
    adaptive = _find(panel, QtWidgets.QCheckBox, "physics.time.adaptive")
    assert not adaptive.isChecked() and _label(panel, "physics.time.adaptive") == "adaptive"
    assert _find(panel, QtWidgets.QLineEdit, "physics.initial").text() == "0" and _label(panel, "physics.initial") == "initial [°C]"
    adaptive.setChecked(True)
    assert window.session.case.physics.time.adaptive is True
    scheme.setCurrentText("backward_euler")
    assert window.session.case.physics.time.scheme == "backward_euler"
    _type(qtbot, _find(panel, QtWidgets.QLineEdit, "physics.time.save_every"), "4")
    assert window.session.case.physics.time.save_every == 4
    _find(panel, QtWidgets.QCheckBox, "physics.time.transient").setChecked(False)
    assert window.session.case.physics.time is None and _find(panel, QtWidgets.QLineEdit, "physics.time.end") is None
    _find(panel, QtWidgets.QCheckBox, "physics.time.transient").setChecked(True)  # on again: ten steps to t = 1
    time = window.session.case.physics.time
    assert (time.end, time.step, time.scheme, time.adaptive) == (1.0, 0.1, "backward_euler", False)
    for _ in range(5):
        window.editor.undo_stack.undo()
    time = window.session.case.physics.time
    assert (time.end, time.step, time.scheme, time.adaptive, time.save_every) == (32.0, 0.5, "crank_nicolson", False, 1)
    assert _find(panel, QtWidgets.QComboBox, "physics.time.scheme").currentText() == "crank_nicolson"


def test_the_transient_dfg_case_shows_its_time_stepping(qtbot, window):
    open_example(qtbot, window, "dfg_2d2.toml")
    panel = window.case_panel
    assert panel.message.text() == ""
    assert _find(panel, QtWidgets.QCheckBox, "physics.time.transient").isChecked()
    time = window.session.case.physics.time  # as the example file has it
    assert {n: _find(panel, QtWidgets.QLineEdit, f"physics.time.{n}").text() for n in ("end", "step", "save_every")} == {
        "end": f"{time.end:g}", "step": f"{time.step:g}", "save_every": str(time.save_every)}
    assert _find(panel, QtWidgets.QLineEdit, "physics.time.tolerance") is None, "a flow's time table has no tolerance"
    assert _find(panel, QtWidgets.QLineEdit, "physics.forces.velocity").text() == f"{window.session.case.physics.forces.velocity:g}"
    _type(qtbot, _find(panel, QtWidgets.QLineEdit, "physics.time.save_every"), "5")
    assert window.session.case.physics.time.save_every == 5
