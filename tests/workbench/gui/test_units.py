"""Units in the app: the case's forms, the boundary and probe tables, the mesh statistics, the
metrics tables, colour bars and plot axes label every value with its unit, in the unit system
the case states (SI by default)."""

from __future__ import annotations

import pytest
import tomli_w
from PySide6 import QtWidgets

from .conftest import wait_job

_HEAT = {
    "version": 1,
    "title": "heat in kelvin",
    "geometry": {"kind": "unit_square"},
    "mesh": {"size": 0.2},
    "physics": {"kind": "heat", "k": 45.0, "f": 100.0},
    "boundary": [
        {"region": "left", "type": "dirichlet", "value": 373.15},
        {"region": "right", "type": "robin", "h": 10.0, "u_inf": 293.15},
    ],
    "probes": [{"name": "centre", "point": [0.5, 0.5]}],
}
_ELASTICITY = {
    "version": 1,
    "title": "a pulled plate",
    "geometry": {"kind": "unit_square"},
    "mesh": {"size": 0.25},
    "physics": {"kind": "elasticity", "E": 210e9, "nu": 0.3},
    "boundary": [
        {"region": "left", "type": "displacement", "ux": 0.0, "uy": 0.0},
        {"region": "right", "type": "traction", "vector": [1e6, 0.0]},
    ],
    "probes": [{"name": "middle", "point": [0.5, 0.5]}],
}


def _open(qtbot, window, tmp_path, case: dict) -> None:
    path = tmp_path / "case.toml"
    path.write_text(tomli_w.dumps(case))
    assert window.open_case(path)
    assert wait_job(qtbot, window) == "returned"  # opening meshes the case


def _run(qtbot, window) -> None:
    assert window.run("classical") is not None
    assert wait_job(qtbot, window) == "returned"
    qtbot.wait(100)


def _label(form_owner: QtWidgets.QWidget, name: str) -> str:
    """The text of the form row label of the widget called ``name`` (a form rebuilt leaves its
    old widgets until the event loop deletes them: the one in a form now)."""
    forms = form_owner.findChildren(QtWidgets.QFormLayout)
    labels = [form.labelForField(w) for w in form_owner.findChildren(QtWidgets.QWidget, name) for form in forms]
    return next(label.text() for label in labels if label is not None)


def _probe_fields(window) -> dict[tuple[str, str], str]:
    table = window.metrics_panel.probes
    return {(table.item(r, 0).text(), table.item(r, 1).text()): table.item(r, 2).text() for r in range(table.rowCount())}


def test_a_heat_case_labels_its_values_in_kelvin_then_in_celsius(qtbot, window, tmp_path):
    _open(qtbot, window, tmp_path, _HEAT)
    panel = window.case_panel
    assert window.editor.case.units == "SI"
    assert _label(panel, "physics.k") == "k [W/(m K)]"
    assert _label(panel, "physics.f") == "f [W/m^3]"
    assert _label(panel, "physics.initial") == "initial [K]"
    panel.select_region("right")
    assert _label(panel, "boundary.h") == "h [W/(m^2 K)]"
    assert _label(panel, "boundary.u_inf") == "u_inf [K]"
    conditions = {panel.region_table.item(r, 0).text(): panel.region_table.item(r, 1).text() for r in range(panel.region_table.rowCount())}
    assert conditions["right"] == "robin: h [W/(m^2 K)] = 10, u_inf [K] = 293.15"
    assert [panel.probes_table.horizontalHeaderItem(c).text() for c in range(4)] == ["name", "x [m]", "y [m]", "z [m]"]
    assert "[0, 1], [0, 1] m" in window.mesh_panel.statistics.text()

    _run(qtbot, window)
    result = window.session.results["classical"]
    assert result.fields["T"].units == "K" and result.fields["heat_flux"].units == "W/m^2"
    probes = _probe_fields(window)
    assert float(probes[("centre", "T [K]")]) == pytest.approx(float(result.probes["centre"].values["T"][0]), rel=1e-5)
    assert ("centre", "heat_flux [W/m^2]") in probes
    window.result_view.field_box.setCurrentText("T")
    assert "T [K]" in window.result_view.plotter.scalar_bars
    assert window.line_plot.plot.getAxis("left").labelText.startswith("T") and "[K]" in window.line_plot.plot.getAxis("left").labelText

    # Stated in Celsius: temperatures are labelled in degrees C; a difference (W/(m K)) is the same.
    window.case_panel.findChild(QtWidgets.QComboBox, "units").setCurrentText("SI-degC")
    assert window.editor.case.units == "SI-degC"
    assert _label(panel, "physics.initial") == "initial [°C]"
    assert _label(panel, "physics.k") == "k [W/(m K)]"
    assert _label(panel, "boundary.u_inf") == "u_inf [°C]"
    _run(qtbot, window)
    assert ("centre", "T [°C]") in _probe_fields(window)


def test_elasticity_shows_pascal_for_von_mises_and_megapascal_in_millimetres(qtbot, window, tmp_path):
    _open(qtbot, window, tmp_path, _ELASTICITY)
    panel = window.case_panel
    assert _label(panel, "physics.E") == "E [Pa]"
    assert _label(panel, "physics.nu") == "nu"  # dimensionless: no unit to show
    assert _label(panel, "physics.thickness") == "thickness [m]"
    _run(qtbot, window)
    probes = _probe_fields(window)
    result = window.session.results["classical"]
    assert float(probes[("middle", "von_mises [Pa]")]) == pytest.approx(float(result.probes["middle"].values["von_mises"][0]), rel=1e-5)
    assert ("middle", "displacement [m]") in probes and ("middle", "stress [Pa]") in probes
    window.result_view.field_box.setCurrentText("von_mises")
    assert "von_mises [Pa]" in window.result_view.plotter.scalar_bars

    # The same numbers stated in mm, tonne, s: stresses in MPa, lengths in mm; nothing converted.
    window.case_panel.findChild(QtWidgets.QComboBox, "units").setCurrentText("SI-mm")
    assert _label(panel, "physics.E") == "E [MPa]"
    assert _label(panel, "physics.thickness") == "thickness [mm]"
    assert " mm" in window.mesh_panel.statistics.text()
    assert window.mesh_panel.options_form.labelForField(window.mesh_panel.size_edit).text() == "Element size [mm]"
    _run(qtbot, window)
    assert ("middle", "von_mises [MPa]") in _probe_fields(window)
    assert window.session.results["classical"].fields["von_mises"].units == "MPa"
