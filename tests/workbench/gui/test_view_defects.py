"""What the VTK views and the plots show, from a new-user trial: whole models in every compare
pane, the cells' own edges, one colour range over a transient run, nothing of the last case left
behind, and texts that fit and read plainly."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest


from .conftest import open_example as _open, run_to_end


def _run(qtbot, window, which: str) -> None:
    run_to_end(qtbot, window, which)
    qtbot.wait(100)  # the shown tab is laid out and painted


def _screenshot(view, path: Path) -> np.ndarray:
    """The view as an image, also saved to ``path`` (under tmp_path: to look at by hand)."""
    view.plotter.render()
    return view.plotter.screenshot(str(path), return_img=True)


def _dark_columns(image: np.ndarray, rows: slice, columns: slice) -> np.ndarray:
    """Columns (absolute) of ``image`` holding dark (text) pixels in the given block."""
    block = image[rows, columns, :3].astype(int)
    dark = (255 * 3 - block.sum(axis=2)) > 300
    return np.flatnonzero(dark.any(axis=0)) + (columns.start or 0)


def _view_xy(renderer, point) -> np.ndarray:
    """Where a world point lands in a pane, in the pane's view coordinates (-1..1 across and up)."""
    renderer.SetWorldPoint(*point, 1.0)
    renderer.WorldToView()
    return np.array(renderer.GetViewPoint()[:2])


def test_compare_panes_show_the_whole_mesh(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "both")
    view = window.compare_view
    mesh = window.session.mesh
    lo, hi = mesh.points3d.min(axis=0), mesh.points3d.max(axis=0)
    corners = list(itertools.product(*zip(lo, hi)))
    worst = np.pad(window.session.comparison.metrics["u"]["max_abs_error_at"], (0, 1))
    for size in ((1500, 920), (1200, 700)):  # the default window, then a smaller one
        window.resize(*size)
        qtbot.wait(200)
        view.plotter.render()
        for index, renderer in enumerate(view.plotter.renderers):
            xy = np.array([_view_xy(renderer, corner) for corner in corners])
            assert np.all(np.abs(xy[:, 0]) < 1), f"pane {index} at {size} crops the sides: x {xy[:, 0]}"
            assert np.all(xy[:, 1] < 1) and np.all(xy[:, 1] > -1 + 2 * 0.14), f"pane {index} at {size}: y {xy[:, 1]} (bar below 0.14)"
            assert np.ptp(xy[:, 0]) > 1.6 or np.ptp(xy[:, 1]) > 1.2, "fitted, not shrunk to a speck"
            assert np.all(np.abs(_view_xy(renderer, worst)) < 1)
    _screenshot(view, tmp_path / "compare.png")


#: Each edge of a cell as (end, end, mid-edge node), by corner count; quadratic node order of VTK.
_TRIANGLE_EDGES = [(0, 1, 3), (1, 2, 4), (2, 0, 5)]
_QUAD_EDGES = [(0, 1, 4), (1, 2, 5), (2, 3, 6), (3, 0, 7)]
_TETRA_FACES = [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
_TETRA_MIDS = {(0, 1): 4, (1, 2): 5, (0, 2): 6, (0, 3): 7, (1, 3): 8, (2, 3): 9}


def _segment(a, b) -> tuple:
    return tuple(sorted((tuple(np.round(a, 9)), tuple(np.round(b, 9)))))


def _own_segments(mesh) -> list[tuple]:
    """The mesh's edges, each once (of its cells in 2D, of its boundary faces in 3D), as segments:
    one per linear edge, two (end, mid-edge node, end) per quadratic one."""
    (ctype, conn), = mesh.domain_cells.items()
    quadratic = ctype in ("triangle6", "quad9", "tetra10")
    if mesh.dim == 3:
        faces = np.sort(np.concatenate([conn[:, list(f)] for f in _TETRA_FACES]), axis=1)
        faces, count = np.unique(faces, axis=0, return_counts=True)
        on_boundary = {tuple(f) for f in faces[count == 1]}
        edges = {}
        for cell in conn:
            for face in _TETRA_FACES:
                if tuple(sorted(cell[list(face)])) in on_boundary:
                    for a, b in ((face[0], face[1]), (face[1], face[2]), (face[0], face[2])):
                        mid = cell[_TETRA_MIDS[(a, b)]] if quadratic else None
                        edges[tuple(sorted((cell[a], cell[b])))] = (cell[a], cell[b], mid)
        triples = list(edges.values())
    else:
        table = _TRIANGLE_EDGES if ctype.startswith("triangle") else _QUAD_EDGES
        edges = {}
        for cell in conn:
            for a, b, m in table:
                edges[tuple(sorted((cell[a], cell[b])))] = (cell[a], cell[b], cell[m] if quadratic else None)
        triples = list(edges.values())
    x = mesh.points3d
    if not quadratic:
        return sorted(_segment(x[a], x[b]) for a, b, _ in triples)
    return sorted([_segment(x[a], x[m]) for a, _, m in triples] + [_segment(x[m], x[b]) for _, b, m in triples])


def _drawn_segments(view) -> list[tuple]:
    """The line segments the view draws: its lines, and the edges of polygons drawn with edges shown."""
    import pyvista as pv
    from vtkmodules.vtkRenderingCore import vtkActor

    view.plotter.render()
    segments = []
    for actor in view.plotter.renderer.actors.values():
        if not isinstance(actor, vtkActor) or not actor.GetVisibility():
            continue
        mapper = actor.GetMapper()
        drawn = pv.wrap(mapper.GetPolyDataMapper().GetInput() if hasattr(mapper, "GetPolyDataMapper") else mapper.GetInput())
        pieces = [drawn]
        if actor.GetProperty().GetEdgeVisibility() and drawn.n_faces_strict:
            pieces.append(pv.PolyData(drawn.points, faces=drawn.faces).extract_all_edges())
        for piece in pieces:
            lines, i = piece.lines, 0
            while i < len(lines):
                ids = lines[i + 1: i + 1 + lines[i]]
                segments += [_segment(piece.points[a], piece.points[b]) for a, b in zip(ids[:-1], ids[1:])]
                i += lines[i] + 1
    return sorted(segments)


@pytest.mark.parametrize("kind, cell", [("unit_square", "quad"), ("plate_with_hole", "triangle"), ("box", "tetra")])
def test_quadratic_meshes_draw_their_own_edges(qtbot, window, tmp_path, kind, cell):
    from engine.mesh.geometry import build_mesh

    size = {"unit_square": 0.1, "plate_with_hole": 0.1, "box": 0.4}[kind]
    mesh = build_mesh(kind, size=size, order=2, cell=cell, structured=cell == "quad")
    assert next(iter(mesh.domain_cells)) in ("quad9", "triangle6", "tetra10")
    window.mesh_view.set_mesh(mesh)
    drawn, own = _drawn_segments(window.mesh_view), _own_segments(mesh)
    assert len(drawn) == len(own), f"{len(drawn)} segments drawn for the mesh's {len(own)}"
    assert drawn == own  # and the same ones
    _screenshot(window.mesh_view, tmp_path / f"mesh_{next(iter(mesh.domain_cells))}.png")
    linear = build_mesh(kind, size=size, cell=cell, structured=cell == "quad")
    window.mesh_view.set_mesh(linear)
    assert _drawn_segments(window.mesh_view) == _own_segments(linear)


def _probe_row(panel, probe: str, field: str) -> int:
    table = panel.probes
    # the field column reads "T [°C]": the field's name, then its unit
    rows = {(table.item(r, 0).text(), table.item(r, 1).text().split(" [")[0]): r for r in range(table.rowCount())}
    return rows[(probe, field)]


def test_play_keeps_one_colour_range_and_probes_follow_the_time(qtbot, window, tmp_path):
    _open(qtbot, window, "nafems_t3.toml")
    _run(qtbot, window, "classical")
    view, panel = window.result_view, window.metrics_panel
    result = window.session.results["classical"]
    temperature = result.fields["T"].values
    whole_run = (temperature.min(), temperature.max())

    def colour_range():
        return view.plotter.renderer.actors["field"].mapper.scalar_range

    assert colour_range() == pytest.approx(whole_run)
    ranges = []
    view.stateChanged.connect(lambda: ranges.append(colour_range()))
    view.play_button.setChecked(True)
    qtbot.waitUntil(lambda: view.step > 5, timeout=10000)
    view.play_button.setChecked(False)
    assert len(ranges) >= 4 and all(r == pytest.approx(whole_run) for r in ranges)
    # The probe table shows the values at the time shown, not at the last time.
    view.step_slider.setValue(10)
    reading = result.probes["B"].values["T"]
    shown = float(panel.probes.item(_probe_row(panel, "B", "T"), 2).text())
    assert shown == pytest.approx(float(np.ravel(reading[10])[0]), rel=1e-5)
    assert abs(shown - float(np.ravel(reading[-1])[0])) > 1.0
    assert f"t = {result.times[10]:.4g}" in panel.probes_title.text()
    # Asked for, each step gets its own range.
    view.rescale_box.setChecked(True)
    assert colour_range() == pytest.approx((temperature[10].min(), temperature[10].max()))
    window.grab().save(str(tmp_path / "window.png"))


def test_a_new_case_starts_with_clean_views_and_plots(qtbot, window, tmp_path):
    import pyqtgraph as pg

    fresh = pg.PlotWidget().viewRange()
    _open(qtbot, window, "nafems_t3.toml")
    _run(qtbot, window, "classical")
    _open(qtbot, window, "darcy_unit_square.toml")
    result_view = window.result_view
    assert result_view.time_label.isHidden() and result_view.step_slider.isHidden() and result_view.time_label.text() == ""
    _run(qtbot, window, "both")
    view = window.compare_view
    assert view.range_label.text() and "line" in view.actor_names(0)
    assert window.histogram.plot.viewRange() != fresh
    # Another case: nothing of Darcy's comparison stays, in the views or the plots.
    _open(qtbot, window, "nafems_t3.toml")
    assert view.range_label.text() == ""
    for plot in (window.line_plot.plot, window.histogram.plot):
        assert plot.viewRange() == fresh
    _run(qtbot, window, "classical")
    result_view.step_slider.setValue(10)  # moves the line plot, which redraws the line in the views
    assert "line" in result_view.actor_names()
    for index in range(3):
        assert "line" not in view.actor_names(index), "the line is drawn over an empty compare pane"
    assert "message" in view.actor_names(1) and view.range_label.text() == ""
    _screenshot(view, tmp_path / "compare_empty.png")
    assert window.histogram.plot.viewRange() == fresh


def test_titles_fit_their_panes(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "both")
    view = window.compare_view
    for mode in ("absolute", "relative", "signed"):
        view.error_box.setCurrentText(mode)
        image = _screenshot(view, tmp_path / f"compare_{mode}.png")
        height, width = image.shape[:2]
        band = slice(0, int(0.09 * height))  # the titles' strip, above the models
        for pane in range(3):
            x0, x1 = pane * width // 3, (pane + 1) * width // 3
            text = _dark_columns(image, band, slice(x0 + 3, x1 - 3))  # (past the pane borders)
            assert len(text), f"no title in pane {pane}"
            assert text.min() > x0 + 6 and text.max() < x1 - 6, f"{mode}: the title of pane {pane} runs to its edge"


def test_welcome_fits_the_view_of_the_default_window(qtbot, window, tmp_path):
    view = window.mesh_view
    assert "welcome" in view.actor_names()
    image = _screenshot(view, tmp_path / "welcome.png")
    height, width = image.shape[:2]
    text = _dark_columns(image, slice(0, height), slice(3, width - 3))
    assert len(text) and text.max() < width - 8, "the welcome runs past the right edge"


def test_numbers_read_plainly(qtbot, window, tmp_path):
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "both")
    qtbot.wait(300)  # the plots lay out their axes
    solvers = window.metrics_panel.solvers
    rows = {solvers.item(r, 0).text(): r for r in range(solvers.rowCount())}
    for label in ("classical", "surrogate"):
        text = solvers.item(rows[label], 1).text()
        assert re.fullmatch(r"\d+(\.\d+)? s", text), text
        digits = text.removesuffix(" s").replace(".", "").lstrip("0")
        assert len(digits) <= 3, f"{text}: three significant digits"
        assert float(text.removesuffix(" s")) == pytest.approx(window.session.results[label].provenance.wall_time, rel=5e-3)
    assert window.session.results["classical"].provenance.metrics["linear_solver"] == ["direct"]
    assert solvers.item(rows["classical"], 3).text() == "direct"
    for axis in (window.line_plot.plot.getAxis("left"), window.line_plot.plot.getAxis("bottom"),
                 window.histogram.plot.getAxis("bottom"), window.histogram.plot.getAxis("left")):
        assert "(x" not in axis.labelString(), axis.labelString()
    window.grab().save(str(tmp_path / "window.png"))
