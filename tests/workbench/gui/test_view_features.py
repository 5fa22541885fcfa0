"""Post-processing in the VTK views (issue 16): the value under the cursor and pinned probes,
the colour-map controls, and slices, clips and orientation axes of 3D results."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest

from engine.fields import Field
from engine.mesh.geometry import build_mesh
from engine.mesh.locate import cell_nodes, interpolate_at_points
from engine.resources import resource_path
from engine.result import Provenance, Result
from engine.visual import ColourSettings, PlaneCut, edge_grid

from .conftest import wait_job


def _open_and_run(qtbot, window, which: str, example: str = "darcy_unit_square.toml") -> None:
    assert window.open_case(resource_path(f"examples/{example}"))
    assert wait_job(qtbot, window) == "returned"
    assert window.run(which) is not None
    assert wait_job(qtbot, window) == "returned"
    qtbot.wait(100)  # the shown tab is laid out and painted


def _display(view, point, pane: int = 0) -> tuple[float, float]:
    """Where a world point lands in the view, in VTK's display pixels (from the bottom left)."""
    view.plotter.render()
    renderer = view.plotter.renderers[pane]
    renderer.SetWorldPoint(*np.pad(np.asarray(point, float), (0, 3 - len(point))), 1.0)
    renderer.WorldToDisplay()
    x, y, _ = renderer.GetDisplayPoint()
    return x, y


def _qt_pos(view, display: tuple[float, float]) -> QtCore.QPoint:
    """The Qt widget position of a display point (Qt counts rows from the top)."""
    widget = view.plotter.interactor
    ratio = widget.devicePixelRatioF()
    return QtCore.QPoint(round(display[0] / ratio), round(widget.height() - 1 - display[1] / ratio))


def _pin_labels(view, pane: int = 0) -> list[str]:
    """The texts beside the pinned markers in a pane (pyvista: points -> label hierarchy -> mapper)."""
    mapper = view.plotter.renderers[pane].actors[f"probes{pane}-labels"].GetMapper()
    labels = mapper.GetInputAlgorithm().GetInputDataObject(0, 0).GetPointData().GetAbstractArray("labels")
    return [labels.GetValue(i) for i in range(labels.GetNumberOfValues())]


def _shown_number(text: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}(?: \[[^\]]*\])? =? ?(-?[0-9.eE+-]+)", text)  # (a unit may follow the name)
    assert match, f"no {label!r} in {text!r}"
    return float(match.group(1))


def _shown_point(text: str) -> np.ndarray:
    match = re.search(r"at \(([^)]*)\)", text)
    assert match, text
    return np.array([float(v) for v in match.group(1).split(",")])


# --- 1. the value under the cursor -------------------------------------------------------------

def test_hover_reads_the_field_interpolated_under_the_cursor(qtbot, window, tmp_path):
    _open_and_run(qtbot, window, "classical")
    view = window.result_view
    mesh = window.session.mesh
    u = window.session.results["classical"].fields["u"].values

    reading = view.read_at(*_display(view, (0.3, 0.4)))
    assert reading is not None
    np.testing.assert_allclose(reading.point[:2], (0.3, 0.4), atol=1e-5)
    expected = interpolate_at_points(mesh, u, [reading.point[:2]])[0]
    assert reading.value(u) == pytest.approx(expected, rel=1e-9)
    text = view.readout.text()
    assert _shown_number(text, "u") == pytest.approx(expected, rel=1e-5)
    assert f"cell {reading.cell}," in text and f"nearest node {reading.node}" in text
    assert reading.node in cell_nodes(mesh, reading.cell)[1]
    assert reading.value(mesh.points) == pytest.approx(reading.point[:2], abs=1e-9), "the cell read holds the point"

    # The real mouse: a move over the view shows the reading after the throttle's delay (QTest's
    # synthetic move lands a few pixels off in a native child window: the point is read back).
    before = view.readout.text()
    QTest.mouseMove(view.plotter.interactor, _qt_pos(view, _display(view, (0.6, 0.7))))
    qtbot.waitUntil(lambda: view.readout.text() != before, timeout=2000)
    text = view.readout.text()
    point = _shown_point(text)
    assert point == pytest.approx((0.6, 0.7), abs=0.03)
    assert _shown_number(text, "u") == pytest.approx(interpolate_at_points(mesh, u, [point])[0], abs=1e-3 * np.abs(u).max())
    window.grab().save(str(tmp_path / "hover.png"))

    # Over the background: no reading, a hint instead.
    assert view.read_at(2, 2) is None and "Hover" in view.readout.text()


def test_hover_is_throttled_and_cheap(qtbot, window):
    from workbench.gui.view_tools import HOVER_INTERVAL_MS, CursorTracker

    _open_and_run(qtbot, window, "classical")
    view = window.result_view
    tracker = view.findChild(CursorTracker)
    hovers = []
    tracker.hovered.connect(lambda x, y: hovers.append((x, y)))
    start = time.perf_counter()
    for i in range(40):  # a burst of moves, faster than the throttle's interval
        QTest.mouseMove(view.plotter.interactor, QtCore.QPoint(200 + i, 200))
    burst = time.perf_counter() - start
    qtbot.wait(3 * HOVER_INTERVAL_MS)
    assert 1 <= len(hovers) <= 2 + int(burst * 1000 / HOVER_INTERVAL_MS), f"{len(hovers)} picks for 40 moves in {burst:.3f} s"
    assert hovers[-1][0] == pytest.approx(239, abs=2), "the last position is read"
    display = _display(view, (0.5, 0.5))
    view.read_at(*display)  # (builds the pick locator)
    start = time.perf_counter()
    for _ in range(20):
        assert view.read_at(*display) is not None
    assert (time.perf_counter() - start) / 20 < 0.02, "a hover pick must not stall the event loop"


def test_a_click_pins_a_probe_and_escape_clears_it(qtbot, window, tmp_path):
    _open_and_run(qtbot, window, "classical")
    view = window.result_view
    u = window.session.results["classical"].fields["u"].values
    assert "probes0-labels" not in view.actor_names() and view.clear_probes_button.isHidden()
    QTest.mouseClick(view.plotter.interactor, QtCore.Qt.MouseButton.LeftButton, pos=_qt_pos(view, _display(view, (0.5, 0.5))))
    assert len(view.probes) == 1 and "probes0-labels" in view.actor_names() and view.clear_probes_button.isVisible()
    probe = view.probes[0]
    assert probe.point[:2] == pytest.approx((0.5, 0.5), abs=0.01)
    assert _pin_labels(view) == [f"{probe.value(u):.4g}"]
    # A drag turns the camera and pins nothing.
    widget = view.plotter.interactor
    QTest.mousePress(widget, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(100, 100))
    QTest.mouseMove(widget, QtCore.QPoint(160, 130))
    QTest.mouseRelease(widget, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(160, 130))
    assert len(view.probes) == 1
    view.reset_camera()
    view.pin_at(*_display(view, (0.25, 0.25)))
    assert len(view.probes) == 2
    # Pins stay over a redraw (another colour map), then Esc clears them.
    view.set_colours(ColourSettings(cmap="plasma"))
    assert "probes0-labels" in view.actor_names()
    view.plotter.render()
    view.plotter.screenshot(str(tmp_path / "pinned.png"))
    widget.setFocus()
    QTest.keyClick(widget, QtCore.Qt.Key.Key_Escape)
    assert view.probes == [] and "probes0-labels" not in view.actor_names() and view.clear_probes_button.isHidden()
    view.pin_at(*_display(view, (0.5, 0.5)))
    view.clear_probes_button.click()
    assert view.probes == []


def test_compare_readout_gives_both_answers_and_their_error(qtbot, window, tmp_path):
    _open_and_run(qtbot, window, "both")
    view = window.compare_view
    mesh = window.session.mesh
    reference, candidate = window.session.comparison.reference, window.session.comparison.candidate
    for pane in range(3):
        reading = view.read_at(*_display(view, (0.3, 0.4), pane))
        assert reading is not None, f"nothing read in pane {pane}"
        assert reading.point[:2] == pytest.approx((0.3, 0.4), abs=1e-4)
        classical, surrogate = (interpolate_at_points(mesh, r.fields["u"].values, [reading.point[:2]])[0] for r in (reference, candidate))
        text = view.readout.text()
        assert _shown_number(text, "classical") == pytest.approx(classical, rel=1e-5)
        assert _shown_number(text, "surrogate") == pytest.approx(surrogate, rel=1e-5)
        # (the error field is |surrogate - classical| at the nodes, interpolated)
        error = interpolate_at_points(mesh, np.abs(candidate.fields["u"].values - reference.fields["u"].values), [reading.point[:2]])[0]
        assert _shown_number(text, "absolute error") == pytest.approx(error, rel=1e-5)
    view.pin_at(*_display(view, (0.3, 0.4), 1))
    values = view.values()
    for pane, label in enumerate(view.LABELS):
        assert _pin_labels(view, pane) == [f"{view.probes[0].value(values[label]):.4g}"]
    view.error_box.setCurrentText("signed")  # the pins follow what is shown
    assert _pin_labels(view, 2) == [f"{view.probes[0].value(view.values()['error']):.4g}"]
    view.plotter.render()
    view.plotter.screenshot(str(tmp_path / "compare_probe.png"))


def test_mesh_view_reads_cell_and_node(qtbot, window):
    assert window.open_case(resource_path("examples/darcy_unit_square.toml"))
    assert wait_job(qtbot, window) == "returned"
    view = window.mesh_view
    mesh = window.session.mesh
    reading = view.read_at(*_display(view, (0.7, 0.2)))
    assert reading is not None and reading.point[:2] == pytest.approx((0.7, 0.2), abs=1e-4)
    assert reading.value(mesh.points) == pytest.approx(reading.point[:2], abs=1e-9), "the cell read holds the point"
    nodes = cell_nodes(mesh, reading.cell)[1]
    assert reading.node == nodes[np.argmin(np.linalg.norm(mesh.points[nodes] - reading.point[:2], axis=1))]
    assert f"cell {reading.cell}, nearest node {reading.node}" in view.readout.text()
    view.highlight("left")  # a region drawn over the mesh is looked through
    assert view.read_at(*_display(view, (0.7, 0.2))).cell == reading.cell


def test_warped_result_reads_the_undeformed_point(qtbot, window):
    _open_and_run(qtbot, window, "classical", "kirsch_plate_with_hole.toml")
    view = window.result_view
    result = window.session.results["classical"]
    mesh = result.mesh
    view.field_box.setCurrentText("von_mises")
    view.warp_scale.setValue(view.warp_scale.value() * 3)
    view.warp_box.setChecked(True)
    view.reset_camera()
    lo, hi = mesh.bounding_box
    node = int(np.argmin(np.linalg.norm(mesh.points - (lo + 0.7 * (hi - lo)), axis=1)))
    displacement = result.fields["displacement"].values[node]
    moved = mesh.points[node] + view.warp_scale.value() * displacement
    reading = view.read_at(*_display(view, moved))
    assert reading is not None
    assert reading.point[:2] == pytest.approx(mesh.points[node], abs=1e-4 * np.max(hi - lo))
    von_mises = result.fields["von_mises"]
    shown = _shown_number(view.readout.text(), "von_mises")
    expected = von_mises.values[reading.cell] if von_mises.association == "cell" else von_mises.values[node]
    assert shown == pytest.approx(expected, rel=1e-3)


# --- 2. colour-map controls --------------------------------------------------------------------

def _mapper(view, name: str = "field", pane: int = 0):
    return view.plotter.renderers[pane].actors[name].mapper


def _contour_values(view, title: str, pane: int = 0) -> np.ndarray:
    lines = view.plotter.renderers[pane].actors["contours"].mapper.dataset
    return np.unique(np.round(lines.point_data[title], 12))


def test_colour_controls_of_the_result_view(qtbot, window, tmp_path):
    import matplotlib

    _open_and_run(qtbot, window, "classical")
    view = window.result_view
    panel = view.colour_panel
    u = window.session.results["classical"].fields["u"].values
    assert _mapper(view).scalar_range == pytest.approx((u.min(), u.max()))
    assert not _mapper(view).lookup_table.log_scale
    assert "contours" not in view.actor_names() and "edges" not in view.actor_names()

    panel.cmap_box.setCurrentText("plasma")
    table = _mapper(view).lookup_table
    assert table.GetTableValue(table.GetNumberOfTableValues() - 1)[:3] == pytest.approx(matplotlib.colormaps["plasma"](1.0)[:3], abs=0.01)

    # u = 0 on the boundary: a log scale is refused, with the reason, and nothing changes.
    panel.log_box.setChecked(True)
    assert not view.colours.log and not panel.log_box.isChecked()
    assert "Log scale refused" in panel.message.text() and "above 0" in panel.message.text()
    assert not _mapper(view).lookup_table.log_scale

    # A fixed range: it starts as the range shown, is checked as typed, then used; above 0 it
    # takes a log scale.
    top = float(u.max())
    panel.range_box.setCurrentIndex(panel.range_box.findData("fixed"))
    assert view.colours.range_mode == "fixed" and view.colours.fixed == pytest.approx((0.0, top), rel=1e-5)
    panel.min_edit.setText("2")
    panel.max_edit.setText("1")
    panel.max_edit.editingFinished.emit()
    assert "Not applied" in panel.message.text() and "min < max" in panel.message.text()
    assert view.colours.fixed == pytest.approx((0.0, top), rel=1e-5)
    panel.min_edit.setText(f"{top / 1000:.6g}")
    panel.max_edit.setText(f"{top:.6g}")
    panel.max_edit.editingFinished.emit()
    assert view.colours.range_mode == "fixed"
    assert _mapper(view).scalar_range == pytest.approx((top / 1000, top), rel=1e-5)
    panel.log_box.setChecked(True)
    assert view.colours.log and _mapper(view).lookup_table.log_scale and panel.message.text() == ""

    # Contour lines: n levels inside the range, evenly in the logarithm on a log scale.
    panel.levels_box.setValue(3)
    panel.contours_box.setChecked(True)
    levels = _contour_values(view, "u")
    assert levels == pytest.approx(np.geomspace(top / 1000, top, 5)[1:-1], rel=1e-4)
    panel.log_box.setChecked(False)
    assert _contour_values(view, "u") == pytest.approx(np.linspace(top / 1000, top, 5)[1:-1], rel=1e-4)

    # Mesh edges: the cells' own, on and off.
    panel.edges_box.setChecked(True)
    edges = view.plotter.renderer.actors["edges"]
    assert edges.GetVisibility() and edges.mapper.dataset.n_lines == edge_grid(window.session.mesh).n_lines
    panel.log_box.setChecked(True)
    view.plotter.render()
    view.plotter.screenshot(str(tmp_path / "colours.png"))

    # The settings hold for the next result of the session.
    assert window.run("classical") is not None
    assert wait_job(qtbot, window) == "returned"
    assert view.result is window.session.results["classical"]
    assert _mapper(view).lookup_table.log_scale and _mapper(view).scalar_range == pytest.approx((top / 1000, top), rel=1e-5)
    assert "contours" in view.actor_names() and "edges" in view.actor_names()
    panel.edges_box.setChecked(False)
    panel.contours_box.setChecked(False)
    assert "edges" not in view.actor_names() and "contours" not in view.actor_names()


def test_range_modes_over_a_transient_run(qtbot, window):
    _open_and_run(qtbot, window, "classical", "nafems_t3.toml")
    view = window.result_view
    temperature = window.session.results["classical"].fields["T"].values
    view.step_slider.setValue(5)
    assert _mapper(view).scalar_range == pytest.approx((temperature.min(), temperature.max()))
    view.set_colours(ColourSettings(range_mode="shown"))
    assert view.rescale_box.isChecked(), "the toolbar's shortcut shows the mode"
    assert _mapper(view).scalar_range == pytest.approx((temperature[5].min(), temperature[5].max()))
    view.rescale_box.setChecked(False)
    assert view.colours.range_mode == "all steps"
    assert _mapper(view).scalar_range == pytest.approx((temperature.min(), temperature.max()))


def test_colour_controls_apply_to_every_compare_pane(qtbot, window, tmp_path):
    _open_and_run(qtbot, window, "both")
    view = window.compare_view
    values = view.values()
    answers = (min(values["classical"].min(), values["surrogate"].min()), max(values["classical"].max(), values["surrogate"].max()))
    top = float(answers[1])
    view.set_colours(ColourSettings(cmap="turbo", range_mode="fixed", fixed=(top / 100, top), log=True, contours=True, levels=4, edges=True))
    for pane in (0, 1):  # the answers: one map, one range, log
        mapper = _mapper(view, view.LABELS[pane], pane)
        assert mapper.scalar_range == pytest.approx((top / 100, top)) and mapper.lookup_table.log_scale
        assert _mapper(view, "classical", 0).lookup_table.GetTableValue(0) == mapper.lookup_table.GetTableValue(0)
    error = values["error"]
    mapper = _mapper(view, "error", 2)  # the error: its own range, from its smallest value above 0 on a log scale
    assert mapper.scalar_range == pytest.approx((error[error > 0].min(), error.max())) and mapper.lookup_table.log_scale
    for pane in range(3):
        names = view.actor_names(pane)
        assert "contours" in names and "edges" in names
    assert len(_contour_values(view, f"u {view.LABELS[0]}", 0)) == 4
    # A signed error has both signs: it stays linear, centred on 0, and the panel says so.
    view.error_box.setCurrentText("signed")
    mapper = _mapper(view, "error", 2)
    assert not mapper.lookup_table.log_scale and mapper.scalar_range[0] == pytest.approx(-mapper.scalar_range[1])
    assert "stays linear" in view.colour_panel.message.text() and _mapper(view, "classical", 0).lookup_table.log_scale
    view.error_box.setCurrentText("absolute")
    assert view.colour_panel.message.text() == "" and _mapper(view, "error", 2).lookup_table.log_scale
    view.plotter.render()
    view.plotter.screenshot(str(tmp_path / "compare_colours.png"))
    # The answers' zeros refuse a log scale over an automatic range; the error pane goes linear with them.
    why = view.set_colours(ColourSettings(log=True))
    assert why and "Log scale refused" in why and not view.colours.log
    assert not any(_mapper(view, label, pane).lookup_table.log_scale for pane, label in enumerate(view.LABELS))


# --- 3. 3D: slice, clip, orientation axes ------------------------------------------------------

@pytest.fixture(scope="module")
def box_result() -> Result:
    """A small 3D result: f = x + 2y + 3z on tetrahedra of the unit box (linear, so exact everywhere)."""
    mesh = build_mesh("box", size=0.2)
    f = mesh.points @ np.array([1.0, 2.0, 3.0])
    return Result(mesh, {"f": Field("f", f)}, Provenance("test"))


def test_3d_result_slices_clips_and_shows_axes(qtbot, window, box_result, tmp_path):
    view = window.result_view
    view.set_result(box_result, "box")
    window.tabs.setCurrentWidget(view)
    qtbot.wait(50)
    assert view.plotter.renderer.axes_enabled, "3D: the orientation axes are on"
    assert view.cut_button.isVisible()
    mesh = box_result.mesh
    f = box_result.fields["f"].values

    # Slice: a preset axis, then the slider across the model.
    panel = view.cut_panel
    panel.mode_box.setCurrentText("slice")
    panel.axis_buttons["Y"].click()
    assert view.cut.normal == (0.0, 1.0, 0.0) and view.cut.origin[1] == pytest.approx(0.5)
    panel.position_slider.setValue(250)
    assert view.cut.origin[1] == pytest.approx(0.25)
    sliced = view.plotter.renderer.actors["slice"].mapper.dataset
    assert sliced.n_cells > 0
    np.testing.assert_allclose(sliced.points[:, 1], 0.25, atol=1e-6)
    np.testing.assert_allclose(sliced.point_data["f"], sliced.points @ [1.0, 2.0, 3.0], atol=1e-5)
    reading = view.read_at(*_display(view, (0.5, 0.25, 0.5)))  # the slice is read, not the faint surface
    assert reading is not None and reading.point[1] == pytest.approx(0.25, abs=1e-5)
    assert _shown_number(view.readout.text(), "f") == pytest.approx(reading.point @ [1.0, 2.0, 3.0], rel=1e-5)
    view.plotter.render()
    view.plotter.screenshot(str(tmp_path / "slice.png"))

    # Clip: the cells in front of the plane go; with flip, those behind it.
    view.set_cut(PlaneCut("clip", origin=(0.4, 0.5, 0.5), normal=(1.0, 0.0, 0.0)))
    assert "slice" not in view.actor_names() and not view.plotter.renderer.actors["field"].GetVisibility()
    clipped = view.plotter.renderer.actors["clip"].mapper.dataset
    assert clipped.points[:, 0].max() <= 0.4 + 1e-9
    kept = set(np.unique(clipped.cell_data["cell_ids"]).tolist())
    x = mesh.points[mesh.domain_cells["tetra"]][:, :, 0]
    assert kept == set(np.flatnonzero(x.min(axis=1) < 0.4 - 1e-9).tolist()), "the cells wholly in front are removed, the others kept"
    np.testing.assert_allclose(clipped.point_data["f"], clipped.points @ [1.0, 2.0, 3.0], atol=1e-5)
    view.plotter.render()
    view.plotter.screenshot(str(tmp_path / "clip.png"))
    panel.flip_box.setChecked(True)
    clipped = view.plotter.renderer.actors["clip"].mapper.dataset
    assert clipped.points[:, 0].min() >= 0.4 - 1e-9
    # A plane typed past the model: said, and the whole model shown.
    panel.origin_edit.setText("5, 0, 0")
    panel.origin_edit.setModified(True)
    panel.origin_edit.editingFinished.emit()
    assert "misses" in panel.message.text() and view.plotter.renderer.actors["field"].GetVisibility()
    panel.normal_edit.setText("0, 0, 0")
    panel.normal_edit.setModified(True)
    panel.normal_edit.editingFinished.emit()
    assert "Not applied" in panel.message.text() and view.cut.normal == (1.0, 0.0, 0.0)
    view.set_cut(PlaneCut())
    assert {"slice", "clip"}.isdisjoint(view.actor_names())

    # A 2D result: no axes, no cut button.
    _open_and_run(qtbot, window, "classical")
    assert not view.plotter.renderer.axes_enabled and not view.cut_button.isVisible()
