"""Flow results in the app: the fields the physics gives (velocity first, as its magnitude with
arrows prepared on the worker), the arrows in both compare panes, and a transient run's drag
and lift coefficients over time beside the probes, marked at the time shown and exported."""

from __future__ import annotations

import csv
import io
import threading
import tomllib
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from engine.case.load import case_to_toml, parse_case
from engine.fields import Field
from engine.physics.registry import default_case
from engine.result import Provenance, Result
from engine.resources import resource_path
from engine.visual import GLYPH_COUNT

from .conftest import run_to_end, wait_job


def _open_doc(qtbot, window, doc: dict, path) -> None:
    path.write_text(case_to_toml(parse_case(doc)), encoding="utf-8")
    assert window.open_case(path)
    assert wait_job(qtbot, window) == "returned"


def _cavity(qtbot, window, tmp_path) -> Result:
    doc = default_case("navier_stokes")
    doc["mesh"] = {**doc.get("mesh", {}), "size": 0.1}
    _open_doc(qtbot, window, doc, tmp_path / "cavity.toml")
    run_to_end(qtbot, window, "classical")
    return window.session.results["classical"]


def _short_channel(qtbot, window, tmp_path) -> Result:
    """The shipped DFG example made transient (DFG 2D-2's inflow), short and coarse: a few seconds."""
    doc = tomllib.loads(resource_path("examples/dfg_2d1.toml").read_text(encoding="utf-8"))
    doc["parameters"]["U_max"] = 1.5
    doc["physics"]["forces"]["velocity"] = 1.0
    doc["physics"]["time"] = {"end": 0.05, "step": 0.005}
    doc["mesh"].update(size=0.05, refine=[{"region": "obstacle", "size": 0.015, "distance": 0.1}])
    _open_doc(qtbot, window, doc, tmp_path / "channel.toml")
    run_to_end(qtbot, window, "classical")
    return window.session.results["classical"]


def _arrows(view, pane: int = 0):
    return view.plotter.renderers[pane].actors["arrows"].GetMapper().GetInput()


def test_a_cavity_shows_velocity_magnitude_with_arrows_prepared_on_the_worker(qtbot, window, tmp_path, monkeypatch):
    import workbench.gui.views as views

    threads = []
    glyphs_of = views.vector_glyphs

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return glyphs_of(*args, **kwargs)

    monkeypatch.setattr(views, "vector_glyphs", recorded)
    result = _cavity(qtbot, window, tmp_path)
    view = window.result_view
    assert [view.field_box.itemText(i) for i in range(view.field_box.count())] == ["velocity", "pressure", "vorticity"]
    assert (view.field_name, view.component) == ("velocity", "magnitude")
    _, values = view.current_scalars()
    np.testing.assert_allclose(values, np.linalg.norm(result.fields["velocity"].values, axis=1))
    assert threads == [False]  # worked out once, on the worker: the window only draws them
    glyphs = view.glyphs()
    assert 0 < len(glyphs.point_ids) <= GLYPH_COUNT
    arrows = _arrows(view)
    assert arrows.n_cells == len(glyphs.point_ids)
    tips = arrows.points.reshape(-1, 3, 3)[:, 2] - arrows.points.reshape(-1, 3, 3)[:, :2].mean(axis=1)
    direction = result.fields["velocity"].values[glyphs.point_ids]
    moving = np.linalg.norm(direction, axis=1) > 1e-3
    cosine = np.sum(tips[moving, :2] * direction[moving], axis=1) / np.linalg.norm(tips[moving, :2], axis=1) / np.linalg.norm(direction[moving], axis=1)
    assert cosine.min() > 1 - 1e-9  # each arrow points along the flow where it stands
    assert view.warp_box.isHidden() and not view.arrows_box.isHidden()  # a velocity never warps the mesh
    # A scalar field has no arrows; the box takes them off a vector.
    view.field_box.setCurrentText("pressure")
    assert "arrows" not in view.actor_names() and view.arrows_box.isHidden()
    view.field_box.setCurrentText("velocity")
    assert "arrows" in view.actor_names()
    view.arrows_box.setChecked(False)
    assert "arrows" not in view.actor_names() and view.state()["arrows"] is False
    view.arrows_box.setChecked(True)
    # Both answers of a comparison get their own arrows (one length scale); the error pane none.
    turned = np.column_stack([-result.fields["velocity"].values[:, 1], result.fields["velocity"].values[:, 0]])
    other = Result(result.mesh, {**result.fields, "velocity": Field("velocity", turned, units=result.fields["velocity"].units)}, Provenance("surrogate"))
    window.session.set_results({"surrogate": other})
    compare = window.compare_view
    assert compare.field_name == "velocity" and not compare.arrows_box.isHidden()
    assert "arrows" not in compare.actor_names(2)
    classical, surrogate = (_arrows(compare, pane).points.reshape(-1, 3, 3) for pane in (0, 1))
    along = lambda corners: corners[:, 2] - corners[:, :2].mean(axis=1)  # noqa: E731
    np.testing.assert_allclose(along(surrogate)[:, :2], np.column_stack([-along(classical)[:, 1], along(classical)[:, 0]]), atol=1e-12)


def test_a_transient_channel_plots_its_drag_and_lift_over_time(qtbot, window, tmp_path):
    result = _short_channel(qtbot, window, tmp_path)
    history = result.provenance.metrics["force_history"]
    plot = window.force_plot
    assert window.plot_tabs.currentWidget() is plot and plot.message.text() == ""
    assert list(plot.curves) == [("c_D", "classical"), ("c_L", "classical")]
    for key in ("c_D", "c_L"):
        (item,) = plot.plots[key].listDataItems()
        times, values = item.getData()
        assert times.tolist() == history["time"] and values.tolist() == history[key]
    # DFG 2D-2's inflow starting from rest: the drag settles to about 2.2 after the first steps (this coarse mesh).
    assert history["c_D"][-1] == pytest.approx(2.25, abs=0.1) and abs(history["c_L"][-1]) < 0.1
    # The markers follow the time the Result view shows; so do the arrows, at one length scale.
    view = window.result_view
    assert view.field_name == "velocity" and len(result.times) == 11
    assert all(m.isVisible() and m.value() == pytest.approx(0.05) for m in plot.markers.values())
    scale, last = view.glyphs().scale, _arrows(view).points.copy()
    view.step_slider.setValue(4)
    assert all(m.value() == pytest.approx(0.02) for m in plot.markers.values())
    assert view.glyphs().scale == scale and not np.allclose(_arrows(view).points, last)
    # Exported as a picture (both coefficients) and as numbers.
    png = window.export_plot("forces", tmp_path / "forces.png", width=700)
    with Image.open(png) as image:
        assert image.width == 700 and (np.abs(np.asarray(image.convert("RGB")).astype(int) - [31, 78, 121]).sum(axis=2) < 60).sum() > 100
    text = "".join(ET.parse(window.export_plot("forces", tmp_path / "forces.svg")).getroot().itertext())
    assert "c_D" in text and "c_L" in text
    plot.export_csv(tmp_path / "forces.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "forces.csv").read_text())))
    assert rows[0] == ["time", "drag_classical", "lift_classical", "c_D_classical", "c_L_classical"]
    assert [float(r[0]) for r in rows[1:]] == history["time"] and [float(r[3]) for r in rows[1:]] == history["c_D"]


def test_a_steady_run_says_what_the_force_plot_needs_and_a_broken_history_is_named(qtbot, window, tmp_path):
    result = _cavity(qtbot, window, tmp_path)
    plot = window.force_plot
    assert plot.curves == {} and "[physics.forces]" in plot.message.text()
    assert not any(m.isVisible() for m in plot.markers.values())
    broken = Result(result.mesh, result.fields, Provenance("classical", metrics={"force_history": {"time": [0.1, 0.2], "c_D": [1.0]}}))
    plot.set_results({"classical": broken})
    assert plot.curves == {} and "lacks columns" in plot.message.text() and "drag" in plot.message.text()


def test_the_force_plot_shows_the_developed_flow_not_the_impulsive_start(qtbot):
    """A start from rest gives a drag spike tens of times the shedding's swing: the plot's range
    is fitted to the flow without it, while the curve keeps every value."""
    from engine.mesh.geometry import build_mesh
    from workbench.gui.plots import ForceHistoryPlot

    t = np.arange(1, 601) * 0.005
    c_D = 3.2 + 0.03 * np.sin(4 * np.pi * 3 * t)
    c_D[:2] = [80.0, 25.0]  # the first steps of an impulsive start
    c_L = np.sin(2 * np.pi * 3 * t)
    history = {"time": t.tolist(), "drag": (c_D / 20).tolist(), "lift": (c_L / 20).tolist(), "c_D": c_D.tolist(), "c_L": c_L.tolist()}
    mesh = build_mesh("unit_square", size=0.5)
    plot = ForceHistoryPlot()
    qtbot.addWidget(plot)
    plot.set_results({"classical": Result(mesh, {}, Provenance("classical", metrics={"force_history": history}))})
    low, high = plot.plots["c_D"].viewRange()[1]
    assert 3.0 < low < 3.17 and 3.23 < high < 3.5, (low, high)
    assert plot.curves[("c_D", "classical")][1].max() == 80.0  # drawn, only outside the range shown
    assert plot.plots["c_L"].vb.autoRangeEnabled()[1] and not plot.plots["c_D"].vb.autoRangeEnabled()[1]  # c_L: nothing to clip


def test_the_dfg_2d2_example_runs_with_progress_per_step_and_cancels(qtbot, window):
    """The shipped vortex-street case opens, runs with the time reached in the progress bar, and
    Cancel stops it within a step, leaving no result and the app ready to run again."""
    from .conftest import open_example

    open_example(qtbot, window, "dfg_2d2.toml")
    assert window.session.case.physics.time.end == pytest.approx(3.3)
    job = window.run("classical")
    assert job is not None
    progress = window.run_panel.progress
    qtbot.waitUntil(lambda: " of 3.3" in progress.text(), timeout=60000)  # a time step done: "t = 0.005 of 3.3"
    assert 0 < progress.value() < progress.maximum()
    assert window.act_cancel.isEnabled()
    window.run_panel.cancel_button.click()
    assert wait_job(qtbot, window) == "cancelled"
    assert "classical" not in window.session.results
    assert "cancelled" in window.run_panel.log.toPlainText()
    assert window.act_run_classical.isEnabled()
