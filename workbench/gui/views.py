"""The VTK views: MeshView (a Mesh and its regions), ResultView (one Result), CompareView (two
Results and their error, side by side).

Each view embeds a pyvistaqt ``QtInteractor`` by composition and draws grids built by
``engine.visual``, so the pictures match the batch mode's. What is slow to build for a big mesh
(its surface and edges, the error fields, colour ranges over every step) each view can
``prepare`` on a worker thread and be ``offer``-ed before the data arrive: the GUI thread then
only hands VTK the ready objects. Actors carry names ("mesh", "edges", "region",
"field", "arrows", "classical", "surrogate", "error", "line") that tests and the line tool look up.

What a result shows follows its physics (``engine.visual``): the fields in the physics' order, its
first output first, arrows over a vector output (a velocity, a flux), and the warp by a displacement.
"""

from __future__ import annotations

import contextlib
import itertools
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.comparison import Comparison
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.physics.units import unit_label
from engine.result import Result
from engine.visual import (
    GLYPH_COUNT, ColourSettings, MeshSurface, PlaneCut, PointReading, VectorGlyphs, arrow_fields, arrow_points, component_names, contour_levels, cut_grid,
    edge_grid, log_refusal, mesh_surface, picked_point, primary_field, read_point, region_grid, scalar_range, scalar_values, shown_fields,
    vector_glyphs, volume_grid, warp_field,
)
from workbench.gui.view_tools import ColourPanel, CursorTracker, CutPanel, Pick, SurfacePicker, popup_button

__all__ = ["MeshView", "ResultView", "CompareView", "ERROR_MODES", "PreparedMesh", "PreparedResult", "PreparedComparison"]

#: How the error view shows candidate - reference: the pane's title, its first line also the
#: colour bar's. Short lines: a pane is a third of the view.
ERROR_MODES = {  # (VTK's text actors split titles at "|": no bars here)
    "absolute": "absolute error",
    "relative": "relative error\n(over max. classical)",
    "signed": "signed error\n(surrogate - classical)",
}
WELCOME = (  # lines short enough for the mesh view of the default window
    "Welcome to the Simulation Workbench.\n\n"
    "1. Open an example: toolbar > Open example > Darcy flow\n"
    "   (or File > Open example), or your own case (.toml)\n"
    "   or mesh file. Or start from scratch: File > New case,\n"
    "   then pick a built-in geometry.\n"
    "2. Check the geometry and mesh, then the case (physics,\n"
    "   boundary conditions, solver) on the left.\n"
    "3. Run > Run both and compare: finite elements,\n"
    "   surrogate and their error, side by side."
)
_ERROR_CMAP = "inferno"
_READOUT_HINT = "Hover over the model to read it; click to pin a probe (Esc clears)."
#: Where the orientation axes of a 3D view sit in each pane: bottom left, above the colour bar.
_AXES_VIEWPORT = (0.0, 0.15, 0.16, 0.33)
#: Fractions of a pane's height kept clear of the model: the colour bar below, the title above.
_BAR_SPACE, _TITLE_SPACE = 0.16, 0.09


def _interactor(parent: QtWidgets.QWidget, **kwargs: Any):
    from pyvistaqt import QtInteractor  # VTK and its Qt view load with the first view

    # Render on demand only: pyvistaqt's default re-renders every view five times a second, which
    # costs CPU while idle and, on a view being torn down, can draw into a finalised GL context.
    plotter = QtInteractor(parent, auto_update=False, **kwargs)
    plotter.set_background("white")
    return plotter


def _combo(parent: QtWidgets.QWidget, tip: str) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox(parent)
    box.setToolTip(tip)
    box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
    return box


def _set_items(box: QtWidgets.QComboBox, items: list[str], keep: str | None = None) -> None:
    keep = box.currentText() if keep is None else keep
    box.blockSignals(True)
    box.clear()
    box.addItems(items)
    if keep in items:
        box.setCurrentText(keep)
    box.blockSignals(False)


def _pick(items: list[str], keep: str) -> str:
    """What a combo box shows once ``items`` replace its list: ``keep`` if listed, else the first."""
    return keep if keep in items else (items[0] if items else "")


@dataclass(frozen=True, eq=False)
class PreparedMesh:
    """What MeshView draws of a mesh: its surface and its own edges (see ``MeshView.prepare``)."""

    mesh: Mesh
    surface: MeshSurface
    edges: Any  # pv.PolyData


@dataclass(frozen=True, eq=False)
class PreparedResult:
    """What ResultView first draws of a result (see ``ResultView.prepare``)."""

    result: Result
    field: str
    component: str
    clim: tuple[float, float] | None  # the field's range over every step
    surface: MeshSurface
    glyphs: dict[str, VectorGlyphs]  # the arrows of each vector output, by field


@dataclass(frozen=True, eq=False)
class PreparedComparison:
    """What CompareView first draws of a comparison (see ``CompareView.prepare``)."""

    comparison: Comparison
    field: str
    component: str
    error_mode: str
    values: dict[str, np.ndarray]  # as ``CompareView.values``
    surface: MeshSurface
    glyphs: VectorGlyphs | None  # the arrows of both answers' ``field``, if it is a vector output


def _view_for(plotter, mesh: Mesh) -> None:
    if mesh.gdim == 2:
        plotter.view_xy()
    else:
        plotter.view_isometric()


class _VtkView(QtWidgets.QWidget):
    """A toolbar row above a VTK render widget."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, **plotter_kwargs: Any) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.toolbar = QtWidgets.QHBoxLayout()
        self.toolbar.setContentsMargins(4, 2, 4, 0)
        layout.addLayout(self.toolbar)
        self.plotter = _interactor(self, **plotter_kwargs)
        layout.addWidget(self.plotter.interactor, 1)
        layout.addLayout(self._readout_row())
        # Every render goes through here, pyvista's own (reset_camera, view_xy) too, so that
        # ``render_once`` can hold them: one render of a million cells takes a good part of a second.
        self._render_now = self.plotter.render
        self.plotter.render = self._render
        self._holds = 0
        self._render_missed = False
        self._camera_set = False
        self._framed: tuple[Mesh, list[list[float]]] | None = None  # the mesh fitted to, and the camera it got
        self.line: tuple[np.ndarray, np.ndarray] | None = None
        self.closed = False  # after close_view a late timer or signal must not draw into a closed plotter
        self.probes: list[PointReading] = []  # pinned by clicks, on the mesh ``_probes_on``
        self._probes_on: Mesh | None = None
        self._picker = SurfacePicker()
        cursor = CursorTracker(self.plotter.interactor, self)
        cursor.hovered.connect(self.read_at)
        cursor.clicked.connect(self.pin_at)
        cursor.escaped.connect(self.clear_probes)
        cursor.left.connect(lambda: self.readout.setText(self._hint()))

    def _readout_row(self) -> QtWidgets.QHBoxLayout:
        """The line under the model that reads it under the cursor, and the button that clears the pins."""
        self.readout = QtWidgets.QLabel("")
        self.readout.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long reading is cut at the view's edge instead of widening the window.
        self.readout.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.clear_probes_button = QtWidgets.QToolButton()
        self.clear_probes_button.setText("Clear probes")
        self.clear_probes_button.setToolTip("remove the probes pinned by clicks (Esc in the view)")
        self.clear_probes_button.clicked.connect(self.clear_probes)
        self.clear_probes_button.setVisible(False)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(6, 0, 4, 2)
        row.addWidget(self.readout, 1)
        row.addWidget(self.clear_probes_button)
        return row

    def actor_names(self, renderer: int = 0) -> list[str]:
        return sorted(self.plotter.renderers[renderer].actors)

    def _render(self) -> None:
        if self._holds:
            self._render_missed = True
        else:
            self._render_now()

    @contextlib.contextmanager
    def render_once(self) -> Iterator[None]:
        """Draw what the block changes once, after it: at the next paint, and only if the view is
        shown (a hidden one is drawn when it is shown)."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds and self._render_missed:
                self._render_missed = False
                if not self.closed:
                    self.plotter.interactor.update()  # joins the paint a tab switch asks for

    def reset_camera(self) -> None:
        if self._framed is not None:
            self._frame(self._framed[0])
        else:
            self.plotter.reset_camera()
        self.plotter.render()

    def _frame(self, mesh: Mesh) -> None:
        """Fit the camera to ``mesh``; it is fitted again when the view is resized, until the user moves it."""
        self.plotter.subplot(*self._subplot_index(0))
        _fit_camera(self.plotter, mesh)
        self._framed = (mesh, self.camera_state())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._framed is not None and not self.closed and self.camera_state() == self._framed[1]:
            self._frame(self._framed[0])
            self.plotter.render()

    def camera_state(self) -> list[list[float]]:
        position, focal, up = self.plotter.camera_position
        return [list(map(float, position)), list(map(float, focal)), list(map(float, up))]

    def set_camera_state(self, state: list[list[float]] | None) -> None:
        if state:
            self.plotter.camera_position = [tuple(v) for v in state]
            self._camera_set = True
            self.plotter.render()

    def show_line(self, start: np.ndarray | None, end: np.ndarray | None) -> None:
        """Draw (or with None, remove) the segment a line plot samples along, in every subplot."""
        if self.closed:
            return
        self.line = None if start is None or end is None else (np.asarray(start, float), np.asarray(end, float))
        self._draw_line()
        self.plotter.render()

    def _draw_line(self) -> None:
        import pyvista as pv

        for index, renderer in enumerate(self.plotter.renderers):
            renderer.remove_actor("line", render=False)
            if self.line is not None and self._has_data():
                a, b = (np.pad(p, (0, 3 - len(p))) for p in self.line)
                self.plotter.subplot(*self._subplot_index(index))
                self.plotter.add_mesh(pv.Line(a, b), color="red", line_width=3, name="line", render=False, pickable=False)

    def _has_data(self) -> bool:
        """Whether the view shows data a line can lie on (not a message, not nothing)."""
        return False

    # Reading the model under the cursor. Each view says which actors it reads (``READABLE``), on
    # which mesh (``_probe_mesh``), and how it words a reading (``_describe``, ``_pin_label``).
    READABLE: tuple[str, ...] = ()

    def read_at(self, x: float, y: float) -> PointReading | None:
        """What lies under display point (x, y) (VTK's pixels, from the bottom left), also shown
        in the readout line under the view. None over the background."""
        reading = self._read(x, y)
        self.readout.setText(self._describe(reading) if reading is not None else self._hint())
        return reading

    def pin_at(self, x: float, y: float) -> PointReading | None:
        """Pin a marker with its value at display point (x, y); it stays, its value following
        the data shown, until cleared or until the view shows another mesh."""
        reading = self.read_at(x, y)
        if reading is not None:
            self.probes.append(reading)
            self._probes_on = self._probe_mesh()
            self._draw_probes()
            self.plotter.render()
        return reading

    def clear_probes(self) -> None:
        if self.closed:
            return
        self.probes = []
        self._draw_probes()
        self.plotter.render()

    def _read(self, x: float, y: float) -> PointReading | None:
        mesh = self._probe_mesh()
        if mesh is None or self.closed:
            return None
        pick = self._picker.pick(self.plotter, x, y, self.READABLE)
        if pick is None:
            return None
        cell, point = picked_point(pick.grid, pick.cell, pick.position, cell_ids=self._cell_ids(pick))
        return read_point(mesh, cell, point)

    def _probe_mesh(self) -> Mesh | None:
        """The mesh the view shows, to read; None while it shows none."""
        return None

    def _cell_ids(self, pick: Pick) -> np.ndarray | None:
        """The domain cell behind each cell of the picked grid, where the grid carries none."""
        return None

    def _hint(self) -> str:
        return _READOUT_HINT if self._probe_mesh() is not None else ""

    def _describe(self, reading: PointReading) -> str:
        return f"at {_coordinates(reading.point, self._probe_mesh())}   cell {reading.cell}, nearest node {reading.node}"

    def _pin_label(self, reading: PointReading, index: int) -> str:
        """The text beside a pinned marker in pane ``index``."""
        return _coordinates(reading.point, self._probe_mesh())

    def _probe_position(self, reading: PointReading) -> np.ndarray:
        """Where a pinned marker is drawn (a warped view moves it with the mesh)."""
        return reading.point

    def _draw_probes(self) -> None:
        """The pinned markers, in every pane; those of another mesh are dropped."""
        for index, renderer in enumerate(self.plotter.renderers):
            for part in ("points", "labels"):
                renderer.remove_actor(f"probes{index}-{part}", render=False)
        mesh = self._probe_mesh()
        if mesh is None or mesh is not self._probes_on:
            self.probes = []
        self.clear_probes_button.setVisible(bool(self.probes))
        if not self.readout.text():
            self.readout.setText(self._hint())
        if not self.probes:
            return
        points = np.array([self._probe_position(reading) for reading in self.probes])
        for index in range(len(self.plotter.renderers)):
            self.plotter.subplot(*self._subplot_index(index))
            # (a name per pane: pyvista's add_point_labels removes its name from every pane)
            self.plotter.add_point_labels(points, [self._pin_label(reading, index) for reading in self.probes], name=f"probes{index}",
                                          point_color="#d62728", point_size=12, render_points_as_spheres=True, font_size=12,
                                          shape_opacity=0.8, always_visible=True, pickable=False, reset_camera=False, render=False)

    def _show_axes(self, on: bool) -> None:
        """The small X, Y, Z axes in a corner of every pane, for a 3D model (a 2D one lies in the screen's plane)."""
        for renderer in self.plotter.renderers:
            if not on:
                renderer.hide_axes()
            elif renderer.axes_widget is None:
                renderer.add_axes(interactive=False, viewport=_AXES_VIEWPORT)
            else:
                renderer.show_axes()

    def start_line_tool(self, start, end, moved) -> None:
        """A draggable segment (in the first view) that calls ``moved(start, end)`` when released."""
        self.stop_line_tool()
        self.plotter.subplot(*self._subplot_index(0))
        ready = {"on": False}  # pyvista calls back once while placing the widget: not a move

        def callback(a, b):
            if ready["on"]:
                moved(np.asarray(a), np.asarray(b))

        widget = self.plotter.add_line_widget(callback, use_vertices=True, color="red")
        a, b = (np.pad(np.asarray(p, float), (0, 3 - len(p))) for p in (start, end))
        widget.SetPoint1(*a)
        widget.SetPoint2(*b)
        widget.Modified()
        ready["on"] = True
        self.plotter.render()

    def stop_line_tool(self) -> None:
        self.plotter.clear_line_widgets()
        self.plotter.render()

    def _subplot_index(self, index: int) -> tuple[int, ...]:
        return (0, index) if len(self.plotter.renderers) > 1 else (0, 0)

    def close_view(self) -> None:
        self.closed = True
        for timer in self.findChildren(QtCore.QTimer):
            timer.stop()
        self.plotter.close()
        # pyvistaqt keeps Python wrappers of its GL context's surface. A QSurface is no QObject:
        # when Qt deletes it the wrapper goes stale, and the binding then hands that wrapper out
        # for whatever object is next made at its address (seen in CI: a dock's toggle action
        # came back as a QSurface). Drop them while the surface still exists.
        forget = getattr(self.plotter, "_forget_context", None)
        if forget is not None:
            forget()


class _FieldView(_VtkView):
    """A view coloured by one field and, for vectors and tensors, one component of it."""

    stateChanged = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, **plotter_kwargs: Any) -> None:
        super().__init__(parent, **plotter_kwargs)
        self.field_box = _combo(self, "field to colour by")
        self.component_box = _combo(self, "component (vectors and tensors)")
        self.arrows_box = QtWidgets.QCheckBox("arrows")
        self.arrows_box.setToolTip(f"arrows of the vector field over its colours (at most {GLYPH_COUNT}, spread evenly, "
                                   "one length scale for every step)")
        self.arrows_box.setChecked(True)
        self.arrows_box.setVisible(False)
        self.arrows_box.toggled.connect(lambda _: self._redraw())
        self._surface: MeshSurface | None = None
        self._offered: Any = None  # a Prepared* for the data the view is about to get
        self.colours = ColourSettings()  # kept for every result the view shows in the session
        self._refused: str | None = None
        self._edges: tuple[Mesh, Any] | None = None  # a mesh and its edges (pv.PolyData), made when first asked for
        self._drawn: Any = None  # what the last draw coloured by, for the cursor to read without working it out again

    def offer(self, prepared: PreparedResult | PreparedComparison | None) -> None:
        """Use ``prepared`` (built on a worker) when its data come, instead of building it here."""
        self._offered = prepared
        if prepared is not None:
            self._surface = prepared.surface

    def _surface_of(self, mesh: Mesh) -> MeshSurface:
        if self._surface is None or self._surface.mesh is not mesh:
            self._surface = mesh_surface(mesh)  # nothing prepared (e.g. a project's results): build it here
        return self._surface

    @property
    def field_name(self) -> str:
        return self.field_box.currentText()

    @property
    def component(self) -> str:
        return self.component_box.currentText()

    def _offer_components(self, f: Field) -> None:
        _set_items(self.component_box, component_names(f))
        self.component_box.setVisible(f.n_components > 1)

    def _draw_arrows(self, glyphs: VectorGlyphs | None, f: Field, *, step: int = -1, offset: np.ndarray | None = None) -> None:
        """The arrows of ``f`` in the current pane, when it has ``glyphs`` and the box asks for them."""
        self.plotter.renderer.remove_actor("arrows", render=False)
        if glyphs is not None and self.arrows_box.isChecked():
            self.plotter.add_mesh(glyphs.arrows(f, step=step, offset=offset), name="arrows", color="black", scalars=None,
                                  show_scalar_bar=False, pickable=False, reset_camera=False, render=False)

    def _add_tool(self, widget: QtWidgets.QWidget) -> None:
        """A widget at the end of the toolbar, before its closing stretch."""
        self.toolbar.insertWidget(self.toolbar.count() - 1, widget)

    def _add_colour_tools(self, note: str = "") -> None:
        self.colour_panel = ColourPanel(note=note)
        self.colour_panel.changed.connect(self.set_colours)
        self.colour_button = popup_button("Colours", self.colour_panel, "colour map, range, log scale, contour lines and mesh edges")
        self._add_tool(self.colour_button)

    def set_colours(self, settings: ColourSettings) -> str | None:
        """Colour by ``settings`` from now on, for every result the view shows; why the log
        scale was refused, if it was (it is then off)."""
        self.colours = settings
        self.colour_panel.show_settings(settings)
        self.colour_panel.note("")
        self._refused = None
        self._redraw()
        return self._refused

    def _log_allowed(self, clim: tuple[float, float], what: str) -> bool:
        """Whether the log scale asked for can show ``clim``; if not it is turned off, and the
        panel and the readout line say why."""
        if not self.colours.log:
            return False
        why = log_refusal(clim, what)
        if why is None:
            return True
        self._refused = why
        self.colours = replace(self.colours, log=False)
        self.colour_panel.show_settings(self.colours)
        self.colour_panel.refuse(why)
        self.readout.setText(why)
        return False

    def _add_coloured(self, grid, title: str, name: str, clim: tuple[float, float], *, cmap: str, log: bool, **kwargs: Any):
        return self.plotter.add_mesh(grid, scalars=title, name=name, cmap=cmap, clim=clim, log_scale=log, show_edges=False,
                                     scalar_bar_args=_bar(title), render=False, **kwargs)

    def _draw_overlays(self, faces, grid, title: str, clim: tuple[float, float], log: bool, *, edges: Any = None) -> None:
        """Contour lines of ``title`` on ``grid`` and the mesh's edges (``edges``, or the grid's
        own) in the current pane, as the colour settings ask."""
        import pyvista as pv

        renderer = self.plotter.renderer
        for name in ("contours", "edges"):
            renderer.remove_actor(name, render=False)
        if not (self.colours.contours or self.colours.edges):
            return
        faces.mapper.resolve = "polygon_offset"  # lines on the faces stay whole (as MeshView's edges)
        faces.mapper.SetRelativeCoincidentTopologyPolygonOffsetParameters(1, 4)
        surface = grid if isinstance(grid, pv.PolyData) else grid.extract_surface(algorithm="dataset_surface")
        if self.colours.contours:
            if title not in surface.point_data:  # a cell field: contours need values at the points
                surface = surface.cell_data_to_point_data()
            lines = surface.contour(isosurfaces=list(contour_levels(clim, self.colours.levels, log=log)), scalars=title)
            if lines.n_points:
                self.plotter.add_mesh(lines, name="contours", color="black", line_width=1.5, scalars=None, show_scalar_bar=False,
                                      pickable=False, render=False)
        if self.colours.edges:
            self.plotter.add_mesh(surface.extract_all_edges() if edges is None else edges, name="edges", color="#3b4b5c",
                                  line_width=1, opacity=0.45, scalars=None, show_scalar_bar=False, pickable=False, render=False)

    def _mesh_edges(self, mesh: Mesh, offset: np.ndarray | None):
        """The cells' own edges of ``mesh``, moved by ``offset`` (a warp) when given."""
        import pyvista as pv

        if self._edges is None or self._edges[0] is not mesh:
            self._edges = (mesh, edge_grid(mesh))
        edges = self._edges[1]
        if offset is None:
            return edges
        moved = edges.copy(deep=False)
        moved.SetPoints(pv.vtk_points(mesh.points3d + offset))  # new points: the cached edges keep theirs
        return moved


class MeshView(_VtkView):
    """A mesh with its edges; one named region highlighted."""

    READABLE = ("mesh",)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.mesh: Mesh | None = None
        self.region: str | None = None
        self.caption = QtWidgets.QLabel("")
        self.toolbar.addWidget(self.caption, 1)
        self.shown: PreparedMesh | None = None
        self._offered: PreparedMesh | None = None
        self.set_mesh(None)

    @staticmethod
    def prepare(mesh: Mesh, surface: MeshSurface | None = None) -> PreparedMesh:
        """What ``set_mesh`` draws of ``mesh`` (slow for a big mesh; no Qt, so any thread may)."""
        return PreparedMesh(mesh, surface or mesh_surface(mesh), edge_grid(mesh))

    def offer(self, prepared: PreparedMesh | None) -> None:
        """Draw ``prepared`` when its mesh comes, instead of building it here."""
        self._offered = prepared

    def set_mesh(self, mesh: Mesh | None, *, welcome: bool = True) -> None:
        """Show ``mesh``; with none, say how to get one (and, with ``welcome``, how to start)."""
        if self.closed:
            return
        self.mesh, self.region = mesh, None
        self.shown = None
        self.plotter.clear_actors()
        if mesh is None:
            self.caption.setText("No mesh yet: choose a geometry and press Mesh, or open a mesh file.")
            if welcome:
                _add_text(self.plotter, WELCOME, name="welcome", size=15, color="#1f2933")
            self._show_axes(False)
            self._draw_probes()
            self.plotter.render()
            return
        if self._offered is not None and self._offered.mesh is mesh:
            self.shown, self._offered = self._offered, None
        else:
            self.shown = MeshView.prepare(mesh)
        # The cells' own edges, drawn apart: VTK would draw those of the triangles it cuts a
        # quadratic cell into.
        faces = self.plotter.add_mesh(self.shown.surface.grid, name="mesh", color="#d9e2ec", render=False)
        edges = self.plotter.add_mesh(self.shown.edges, name="edges", color="#3b4b5c", line_width=1, pickable=False, render=False)
        # The faces pushed back a little in depth, so that the edges lying on them stay whole.
        edges.mapper.resolve = "polygon_offset"  # (a VTK-wide switch)
        faces.mapper.SetRelativeCoincidentTopologyPolygonOffsetParameters(1, 4)
        self.caption.setText(f"{mesh.n_points} points, {mesh.n_cells} cells; select a region to highlight it")
        _view_for(self.plotter, mesh)
        self.plotter.reset_camera()
        self._show_axes(mesh.dim == 3)
        self._draw_probes()
        self.plotter.render()

    def _probe_mesh(self) -> Mesh | None:
        return self.mesh if self.shown is not None else None

    def _cell_ids(self, pick: Pick) -> np.ndarray | None:
        return self.shown.surface.cell_ids  # the surface is drawn as it is, without cell ids of its own

    def highlight(self, name: str | None) -> None:
        if self.closed:
            return
        self.plotter.remove_actor("region", render=False)
        self.region = name
        if self.mesh is not None and name is not None:
            region = self.mesh.region(name)
            grid = region_grid(self.mesh, name)
            if region.points is not None or region.dim == 0:
                self.plotter.add_mesh(grid, name="region", color="#e4572e", point_size=12, render_points_as_spheres=True)
            elif region.dim < self.mesh.dim:
                self.plotter.add_mesh(grid, name="region", color="#e4572e", line_width=5, opacity=1.0)
            else:
                self.plotter.add_mesh(grid, name="region", color="#e4572e", opacity=0.45)
            size = region.n_cells if region.points is None else len(region.points)
            self.caption.setText(f"region {name!r}: {region.kind}, {size} {'cells' if region.points is None else 'nodes'}")
        self.plotter.render()


class ResultView(_FieldView):
    """One result: field and component, warp by displacement, time steps with play; of a 3D
    result, a slice or a clip."""

    READABLE = ("field", "slice", "clip")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: Result | None = None
        self.label = ""
        self.warp_box = QtWidgets.QCheckBox("warp")
        self.warp_box.setToolTip("deform the mesh by the displacement, scaled")
        self.warp_scale = QtWidgets.QDoubleSpinBox()
        self.warp_scale.setDecimals(3)
        self.warp_scale.setRange(0.0, 1e9)
        self.warp_scale.setToolTip("warp scale factor")
        self.step_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.step_slider.setToolTip("time step")
        self.play_button = QtWidgets.QPushButton("Play")
        self.play_button.setCheckable(True)
        self.time_label = QtWidgets.QLabel("")
        self.rescale_box = QtWidgets.QCheckBox("rescale each step")
        self.rescale_box.setToolTip("colour each time step by its own range (off: one range over the whole run)")
        self._ranges: dict[tuple[str, str], tuple[float, float]] = {}  # (field, component) -> range over all steps
        self._warp: str | None = None  # the field the mesh is deformed by (see engine.visual.warp_field)
        self._glyphs: dict[str, VectorGlyphs] | None = None  # the result's arrows by field; None until first needed
        for widget in (QtWidgets.QLabel("Field"), self.field_box, self.component_box, self.arrows_box, self.warp_box, self.warp_scale,
                       self.play_button, self.step_slider, self.time_label, self.rescale_box):
            self.toolbar.addWidget(widget)
        self.toolbar.addStretch(1)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._advance)
        self.field_box.currentTextChanged.connect(self._field_changed)
        self.component_box.currentTextChanged.connect(self._redraw)
        self.warp_box.toggled.connect(self._redraw)
        self.warp_scale.valueChanged.connect(self._redraw)
        self.step_slider.valueChanged.connect(self._redraw)
        self.rescale_box.toggled.connect(lambda on: self.set_colours(replace(self.colours, range_mode="shown" if on else "all steps")))
        self.play_button.toggled.connect(self._play)
        self._add_colour_tools()
        self.cut = PlaneCut()
        self._volume: tuple[tuple, Any] | None = None  # what the last cut cut, and of what
        self.cut_panel = CutPanel()
        self.cut_panel.changed.connect(self.set_cut)
        self.cut_button = popup_button("Slice / clip", self.cut_panel, "of a 3D result: a slice along a plane, or the model clipped at it")
        self._add_tool(self.cut_button)
        self.cut_button.setVisible(False)
        self._set_enabled(False)
        self._show_steps(1)

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.field_box, self.component_box, self.arrows_box, self.warp_box, self.warp_scale, self.step_slider, self.play_button):
            widget.setEnabled(on)

    def _show_steps(self, n_steps: int) -> None:
        for widget in (self.step_slider, self.play_button, self.time_label, self.rescale_box):
            widget.setVisible(n_steps > 1)

    def _has_data(self) -> bool:
        return self.result is not None

    @property
    def step(self) -> int:
        return self.step_slider.value()

    @property
    def time(self) -> float | None:
        """The time of the step shown; None for a steady result (or none)."""
        if self.result is None or self.result.times is None:
            return None
        return float(self.result.times[self.step])

    @staticmethod
    def prepare(result: Result, *, field: str = "", component: str = "", surface: MeshSurface | None = None) -> PreparedResult:
        """What ``set_result(result)`` draws first while the view shows ``field`` and ``component``
        (slow for a big mesh or a long time series; no Qt, so any thread may)."""
        field = _result_field(result, field)
        f = result.fields.get(field)
        component = _pick(component_names(f), component) if f is not None else ""
        clim = scalar_range(f, component) if f is not None else None
        surface = surface or mesh_surface(result.mesh)
        return PreparedResult(result, field, component, clim, surface, _result_glyphs(result, surface))

    def set_result(self, result: Result | None, label: str = "") -> None:
        if self.closed:
            return
        self.result, self.label = result, label
        self._ranges, self._framed, self._glyphs = {}, None, None
        offered = self._offered
        if offered is not None and offered.result is result:
            self._offered = None
            self._glyphs = offered.glyphs
            if offered.clim is not None:
                self._ranges[(offered.field, offered.component)] = offered.clim
        self._timer.stop()
        self.play_button.setChecked(False)
        self._drawn = None  # until the new result is drawn
        is_3d = result is not None and result.mesh.dim == 3
        self._show_axes(is_3d)
        self.cut_button.setVisible(is_3d)
        self._volume = None
        if result is None:
            self.plotter.clear_actors()
            _set_items(self.field_box, [])
            self.arrows_box.setVisible(False)
            self._set_enabled(False)
            self._show_steps(1)
            self.time_label.setText("")
            self._draw_probes()
            self.plotter.render()
            return
        if is_3d:
            self.cut_panel.set_box(result.mesh.points3d.min(axis=0), result.mesh.points3d.max(axis=0))
        self._set_enabled(True)
        _set_items(self.field_box, shown_fields(result), keep=_result_field(result, self.field_name))
        self._warp = warp_field(result)
        self.warp_box.setVisible(self._warp is not None)
        self.warp_scale.setVisible(self._warp is not None)
        if self._warp is not None:
            self.warp_box.setToolTip(f"deform the mesh by the {self._warp}, scaled")
            self.warp_scale.blockSignals(True)
            self.warp_scale.setValue(_auto_warp(result, self._warp))
            self.warp_scale.blockSignals(False)
        n_steps = len(result.times) if result.times is not None else 1
        self._show_steps(n_steps)
        self.step_slider.blockSignals(True)
        self.step_slider.setRange(0, n_steps - 1)
        self.step_slider.setValue(n_steps - 1)
        self.step_slider.blockSignals(False)
        self._camera_set = False
        self._field_changed(self.field_name)

    def _field_changed(self, name: str) -> None:
        if self.result is None or name not in self.result.fields:
            return
        self._offer_components(self.result.fields[name])
        self.arrows_box.setVisible(name in arrow_fields(self.result))
        self._redraw()

    def glyphs(self) -> VectorGlyphs | None:
        """The arrows of the field shown; None when it is no vector output (or has none drawn)."""
        if self.result is None or self.arrows_box.isHidden() or self.cut.mode != "off":
            return None
        if self._glyphs is None:  # nothing prepared (e.g. a project's results): work them out here
            self._glyphs = _result_glyphs(self.result, self._surface_of(self.result.mesh))
        return self._glyphs.get(self.field_name)

    def current_scalars(self) -> tuple[Field, np.ndarray] | None:
        if self.result is None or self.field_name not in self.result.fields:
            return None
        f = self.result.fields[self.field_name]
        return f, scalar_values(f, self.component, step=self.step)

    def _redraw(self, *_: Any) -> None:
        current = self.current_scalars()
        if current is None or self.closed:
            return
        f, values = current
        self._drawn = current
        result = self.result
        warp = self._warp_offset()
        title = _title(f, self.component)
        grid = self._surface_of(result.mesh).coloured(title, values, f.association, offset=warp)
        self.plotter.remove_actor("field", render=False)
        for old in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(old, render=False)
        key = (f.name, self.component)
        if key not in self._ranges:
            self._ranges[key] = scalar_range(f, self.component)
        # One range for the whole run unless asked otherwise.
        clim = self.colours.clim(shown=(float(np.nanmin(values)), float(np.nanmax(values))), whole_run=self._ranges[key])
        log = self._log_allowed(clim, title)
        faces = self._add_coloured(grid, title, "field", clim, cmap=self.colours.cmap, log=log)
        self._draw_arrows(self.glyphs(), f, step=self.step, offset=warp)
        cut = self._draw_cut(faces, title, values, f.association, warp, clim, log)
        if cut is None:
            self._draw_overlays(faces, grid, title, clim, log, edges=self._mesh_edges(result.mesh, warp) if self.colours.edges else None)
        else:
            self._draw_overlays(cut[0], cut[1], title, clim, log)
        self.colour_panel.suggest_range(clim)
        _labels_below(self.plotter)
        if result.times is not None:
            self.time_label.setText(f"t = {result.times[self.step]:.4g}  ({self.step + 1}/{len(result.times)})")
        self._draw_line()
        self._draw_probes()
        if not self._camera_set:
            self._frame(result.mesh)
            self._camera_set = True
        self.plotter.render()
        self.stateChanged.emit()

    def set_colours(self, settings: ColourSettings) -> str | None:
        self.rescale_box.blockSignals(True)
        self.rescale_box.setChecked(settings.range_mode == "shown")  # the toolbar's shortcut to one of the range modes
        self.rescale_box.blockSignals(False)
        return super().set_colours(settings)

    def set_cut(self, cut: PlaneCut) -> None:
        """Slice or clip a 3D result at ``cut``'s plane (kept for every result the view shows)."""
        self.cut = cut
        self.cut_panel.show_cut(cut)
        self._redraw()

    def _draw_cut(self, faces, title: str, values: np.ndarray, association: str, warp: np.ndarray | None,
                  clim: tuple[float, float], log: bool) -> tuple[Any, Any] | None:
        """The slice (over the surface, made faint) or the clip (instead of it) that ``cut``
        asks for: its actor and grid; None without a cut."""
        for name in ("slice", "clip"):
            self.plotter.remove_actor(name, render=False)
        mesh = self.result.mesh
        if mesh.dim != 3 or self.cut.mode == "off":
            return None
        key = (id(self.result), title, self.step, None if warp is None else self.warp_scale.value())
        if self._volume is None or self._volume[0] != key:  # a slider drag cuts the same volume again and again
            self._volume = (key, volume_grid(mesh, title, values, association, offset=warp))
        shown = cut_grid(self._volume[1], self.cut)
        if not shown.n_cells:
            self.cut_panel.note("The plane misses the model: move it with the slider, X / Y / Z or the origin.")
            return None
        self.cut_panel.note("")
        faces.SetPickable(False)
        if self.cut.mode == "slice":  # the surface a faint grey shell: coloured, it would tint the slice seen through it
            faces.mapper.ScalarVisibilityOff()
            faces.GetProperty().SetColor(0.8, 0.83, 0.86)
            faces.GetProperty().SetOpacity(0.15)
        else:
            faces.SetVisibility(False)
        # A flat slice has no shape for light to show: unlit, its colours read as the colour bar's.
        actor = self._add_coloured(shown, title, self.cut.mode, clim, cmap=self.colours.cmap, log=log, show_scalar_bar=False,
                                   lighting=self.cut.mode != "slice")
        return actor, shown

    def _probe_mesh(self) -> Mesh | None:
        return self.result.mesh if self._drawn is not None and self.result is not None else None

    def _describe(self, reading: PointReading) -> str:
        f, values = self._drawn
        return f"{_title(f, self.component)} = {_number(reading.value(values, f.association))}   {super()._describe(reading)}"

    def _pin_label(self, reading: PointReading, index: int) -> str:
        f, values = self._drawn
        return _number(reading.value(values, f.association), digits=4)

    def _warp_offset(self) -> np.ndarray | None:
        """How far each mesh point is moved as drawn: the scaled displacement, when the warp is on."""
        if self._warp is None or not (self.warp_box.isChecked() and self.warp_box.isVisible()):
            return None
        return self.warp_scale.value() * _vectors3(self.result.fields[self._warp], self.step)

    def _probe_position(self, reading: PointReading) -> np.ndarray:
        warp = self._warp_offset()
        return reading.point if warp is None else reading.point + reading.value(warp)

    def _play(self, on: bool) -> None:
        self.play_button.setText("Pause" if on else "Play")
        if on:
            if self.step_slider.value() == self.step_slider.maximum():
                self.step_slider.setValue(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        if self.step_slider.value() >= self.step_slider.maximum():
            self.play_button.setChecked(False)
            return
        self.step_slider.setValue(self.step_slider.value() + 1)

    def state(self) -> dict[str, Any]:
        return {"field": self.field_name, "component": self.component, "warp": self.warp_box.isChecked(),
                "warp_scale": self.warp_scale.value(), "arrows": self.arrows_box.isChecked(), "step": self.step,
                "camera": self.camera_state() if self.result else None}

    def restore(self, state: dict[str, Any]) -> None:
        if self.result is None:
            return
        if state.get("field") in self.result.fields:
            self.field_box.setCurrentText(state["field"])
        self.component_box.setCurrentText(state.get("component", ""))
        self.warp_scale.setValue(float(state.get("warp_scale", self.warp_scale.value())))
        self.warp_box.setChecked(bool(state.get("warp", False)))
        self.arrows_box.setChecked(bool(state.get("arrows", True)))
        self.step_slider.setValue(int(state.get("step", self.step_slider.value())))
        self.set_camera_state(state.get("camera"))
        self._redraw()


def _bar(title: str, *, vertical: bool = False) -> dict[str, Any]:
    """Scalar bar settings that stay legible in a third of the window."""
    bar: dict[str, Any] = {"title": title, "n_labels": 3, "fmt": "%.3g", "label_font_size": 11, "title_font_size": 12, "color": "black"}
    if vertical:
        bar |= {"vertical": True, "position_x": 0.88, "position_y": 0.15, "height": 0.7, "width": 0.06}
    else:  # VTK centres the title among the labels: only the two ends, so none sits under it
        bar |= {"width": 0.7, "position_x": 0.15, "position_y": 0.02, "height": 0.12, "n_labels": 2}
    return bar


def _labels_below(plotter) -> None:
    """Horizontal colour bars: numbers under the bar, so they never run into the title above it."""
    for bar in plotter.scalar_bars.values():
        if bar.GetOrientation() == 0:
            bar.SetTextPositionToPrecedeScalarBar()


def _fit_camera(plotter, mesh: Mesh, *, margin: float = 0.04) -> None:
    """Look at the whole mesh: every corner of its bounding box inside each pane, whatever the
    pane's shape, clear of the colour bar below and the title above.

    VTK's reset_camera fits the height only, which crops a tall narrow pane at its sides.
    """
    _view_for(plotter, mesh)
    plotter.reset_camera()  # the direction; the distance is set here
    camera = plotter.camera
    position, focal = np.array(camera.position), np.array(camera.focal_point)
    forward = (focal - position) / np.linalg.norm(focal - position)
    up = np.array(camera.up) - np.dot(camera.up, forward) * forward
    up /= np.linalg.norm(up)
    right = np.cross(forward, up)
    points = mesh.points3d
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    corners = np.array(list(itertools.product(*zip(lo, hi)))) - centre
    across, upward, towards = corners @ right, corners @ up, -(corners @ forward)
    # In normalised view coordinates (-1..1) the model keeps to [-half_w, half_w] across and to
    # the band between colour bar and title upwards, centred at band_mid.
    half_w = 1 - 2 * margin
    half_h = 1 - _BAR_SPACE - _TITLE_SPACE - 2 * margin
    band_mid = _BAR_SPACE - _TITLE_SPACE
    aspect = max(min(_pane_aspects(plotter)), 0.05)  # (a pane not laid out yet is fitted again when it is)
    tan = np.tan(np.radians(camera.view_angle) / 2)
    distance = float(np.max(towards + np.maximum(np.abs(across) / (half_w * aspect * tan), np.abs(upward) / (half_h * tan))))
    look_at = centre - up * band_mid * tan * distance
    camera.focal_point = tuple(look_at)
    camera.position = tuple(look_at - forward * distance)
    for renderer in plotter.renderers:
        renderer.ResetCameraClippingRange()


def _pane_aspects(plotter):
    """Width over height of each pane, from the Qt widget (VTK learns its size at the next paint)."""
    width, height = plotter.interactor.width(), plotter.interactor.height()
    for renderer in plotter.renderers:
        x0, y0, x1, y1 = renderer.GetViewport()
        yield (x1 - x0) * width / max((y1 - y0) * height, 1.0)


def _add_text(plotter, text: str, *, name: str, size: int = 14, centred: bool = False, color: str = "black") -> None:
    """Text of a fixed pixel size at the top of the active pane, centred (a title) or from the left.

    pyvista's corner texts grow with the pane's area, so in a tall narrow pane they overflow it.
    """
    actor = plotter.add_text(text, position=(0.5 if centred else 0.03, 0.985), viewport=True, color=color, name=name, render=False)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetVerticalJustificationToTop()
    if centred:
        prop.SetJustificationToCentered()


def _number(value: float, *, digits: int = 6) -> str:
    return f"{float(value):.{digits}g}"


def _coordinates(point: np.ndarray, mesh: Mesh | None) -> str:
    """A point as the mesh's coordinates: (x, y) in 2D, (x, y, z) in 3D."""
    n = mesh.gdim if mesh is not None else 3
    return "(" + ", ".join(f"{v:.4g}" for v in point[:n]) + ")"


def _result_field(result: Result, keep: str) -> str:
    """The field ResultView shows of ``result``: ``keep`` if it has it, else its physics' first output."""
    return keep if keep in shown_fields(result) else primary_field(result)


def _result_glyphs(result: Result, surface: MeshSurface) -> dict[str, VectorGlyphs]:
    """The arrows of each vector output of ``result``, at one set of points (of a 3D mesh, on the surface drawn)."""
    names = arrow_fields(result)
    if not names:
        return {}
    ids = arrow_points(result.mesh, candidates=surface.point_ids if result.mesh.dim == 3 else None)
    return {name: vector_glyphs(result.mesh, result.fields[name], point_ids=ids) for name in names}


def _compare_glyphs(reference: Result, candidate: Result, field: str, surface: MeshSurface) -> VectorGlyphs | None:
    """The arrows of both answers' ``field`` (one length scale), if it is a vector output of both."""
    if field not in arrow_fields(reference) or field not in arrow_fields(candidate):
        return None
    ids = arrow_points(reference.mesh, candidates=surface.point_ids if reference.mesh.dim == 3 else None)
    return vector_glyphs(reference.mesh, reference.fields[field], candidate.fields[field], point_ids=ids)


def _compare_values(reference: Result, candidate: Result, field: str, component: str, error_mode: str) -> dict[str, np.ndarray]:
    """The scalars CompareView draws in each pane, by label."""
    ref_f, cand_f = reference.fields[field], candidate.fields[field]
    ref, cand = scalar_values(ref_f, component), scalar_values(cand_f, component)
    if component in ("", "magnitude") and ref_f.n_components > 1:
        diff_vec = cand_f.values - ref_f.values
        signed = np.linalg.norm(diff_vec, axis=1)
    else:
        signed = cand - ref
    scale = float(np.max(np.abs(ref))) or 1.0
    error = {"absolute": np.abs(signed), "relative": np.abs(signed) / scale, "signed": signed}[error_mode]
    return {"classical": ref, "surrogate": cand, "error": error}


def _title(f: Field, component: str, *, unit: bool = True) -> str:
    """A field's colour bar title, with the unit it carries (``unit``: a relative error has none)."""
    name = f.name if f.n_components == 1 else f"{f.name} ({component or 'magnitude'})"
    return unit_label(name, f.units) if unit else name


def _vectors3(f: Field, step: int) -> np.ndarray:
    """A vector field's values at ``step`` as 3-vectors (a 2D one padded with zeros)."""
    values = f.at_step(step).values if f.is_time_series else f.values
    return np.column_stack([values, np.zeros((len(values), 3 - values.shape[1]))]) if values.shape[1] < 3 else values


def _auto_warp(result: Result, warp: str) -> float:
    """A scale that makes the largest displacement (the field ``warp``) a tenth of the part's size."""
    d = np.linalg.norm(_vectors3(result.fields[warp], -1), axis=1).max()
    lo, hi = result.mesh.bounding_box
    size = float(np.max(hi - lo))
    return float(f"{0.1 * size / d:.3g}") if d > 0 else 1.0


_SIGNED_STAYS_LINEAR = "The signed error stays linear: it has values of both signs."
_NO_COMPARISON = "Run both (Run > Run both and compare) to see classical, surrogate and their error here."


class CompareView(_FieldView):
    """Reference | candidate | error in three linked views with one colour range for the first two."""

    LABELS = ("classical", "surrogate", "error")
    READABLE = LABELS

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, shape=(1, 3), border=True)
        self.plotter.link_views()
        self.reference: Result | None = None
        self.candidate: Result | None = None
        self.comparison: Comparison | None = None
        self.error_box = _combo(self, "how the error is shown")
        for mode, title in ERROR_MODES.items():
            self.error_box.addItem(mode)
            self.error_box.setItemData(self.error_box.count() - 1, title.replace("\n", " "), QtCore.Qt.ItemDataRole.ToolTipRole)
        self.range_label = QtWidgets.QLabel("")
        for widget in (QtWidgets.QLabel("Field"), self.field_box, self.component_box, self.arrows_box, QtWidgets.QLabel("Error"), self.error_box,
                       self.range_label):
            self.toolbar.addWidget(widget)
        self.toolbar.addStretch(1)
        self.readout.setMinimumHeight(2 * self.readout.fontMetrics().lineSpacing())  # its two lines never resize the panes
        self._add_colour_tools("The two answers share the colour map and the range; the error keeps its own, and follows the "
                               "log scale (from its smallest value above 0), the contour lines and the edges.")
        self._whole_runs: dict[tuple[str, str], tuple[float, float]] = {}  # (field, component) -> both answers' range over every step
        self._glyphs: dict[str, VectorGlyphs | None] = {}  # both answers' arrows, by field
        self.field_box.currentTextChanged.connect(self._field_changed)
        self.component_box.currentTextChanged.connect(self._redraw)
        self.error_box.currentTextChanged.connect(self._redraw)
        self._show_message(_NO_COMPARISON)

    @property
    def error_mode(self) -> str:
        return self.error_box.currentText()

    def _has_data(self) -> bool:
        return self.comparison is not None

    def _show_message(self, text: str) -> None:
        if self.closed:
            return
        for i in range(3):
            self.plotter.subplot(0, i)
            self.plotter.clear_actors()
        self.plotter.subplot(0, 1)
        # Wrapped to the width of a pane of the default window (a third of the view).
        _add_text(self.plotter, textwrap.fill(text, 28), name="message", size=13, color="#3b4b5c")
        self.plotter.render()

    @staticmethod
    def prepare(reference: Result, candidate: Result, comparison: Comparison, *, field: str = "", component: str = "",
                error_mode: str = "absolute", surface: MeshSurface | None = None) -> PreparedComparison | None:
        """What ``set_comparison`` draws first while the view shows ``field``, ``component`` and
        ``error_mode`` (slow for a big mesh; no Qt, so any thread may). None: nothing to draw."""
        field = _pick(list(comparison.metrics), field)
        if not field:
            return None
        component = _pick(component_names(reference.fields[field]), component)
        values = _compare_values(reference, candidate, field, component, error_mode)
        surface = surface or mesh_surface(reference.mesh)
        return PreparedComparison(comparison, field, component, error_mode, values, surface, _compare_glyphs(reference, candidate, field, surface))

    def set_comparison(self, reference: Result | None, candidate: Result | None, comparison: Comparison | None, why_not: str | None = None) -> None:
        if self.closed:  # an answer that arrives after the window closed draws nothing
            return
        self.reference, self.candidate, self.comparison = reference, candidate, comparison
        self._whole_runs, self._drawn, self._glyphs = {}, None, {}  # (drawn again below)
        offered = self._offered
        if comparison is not None and offered is not None and offered.comparison is comparison:
            self._glyphs[offered.field] = offered.glyphs
        self._show_axes(comparison is not None and reference.mesh.dim == 3)
        if comparison is None:  # nothing of the last comparison stays: its range, line and camera
            self._show_message(why_not or _NO_COMPARISON)
            _set_items(self.field_box, [])
            _set_items(self.component_box, [])
            self.component_box.setVisible(False)
            self.arrows_box.setVisible(False)
            self.range_label.setText("")
            self._framed = None
            return
        names = list(comparison.metrics)
        _set_items(self.field_box, names, keep=self.field_name if self.field_name in names else names[0])
        self._camera_set = False
        self._field_changed(self.field_name)

    def _field_changed(self, name: str) -> None:
        if self.reference is None or name not in self.reference.fields:
            return
        self._offer_components(self.reference.fields[name])
        self.arrows_box.setVisible(name in arrow_fields(self.reference))
        self._redraw()

    def glyphs(self) -> VectorGlyphs | None:
        """The arrows of both answers' field shown; None when it is no vector output."""
        if self.comparison is None or self.arrows_box.isHidden():
            return None
        if self.field_name not in self._glyphs:  # nothing prepared for this field: work them out here
            self._glyphs[self.field_name] = _compare_glyphs(self.reference, self.candidate, self.field_name, self._surface_of(self.reference.mesh))
        return self._glyphs[self.field_name]

    def values(self) -> dict[str, np.ndarray] | None:
        """The scalars drawn in each view, by label."""
        if self.comparison is None or self.field_name not in self.comparison.metrics:
            return None
        offered = self._offered
        if offered is not None and offered.comparison is self.comparison and \
                (offered.field, offered.component, offered.error_mode) == (self.field_name, self.component, self.error_mode):
            return offered.values
        return _compare_values(self.reference, self.candidate, self.field_name, self.component, self.error_mode)

    def _redraw(self, *_: Any) -> None:
        values = self.values()
        if values is None or self.closed:
            return
        self._drawn = values
        mesh = self.reference.mesh
        shown = (float(min(np.nanmin(values["classical"]), np.nanmin(values["surrogate"]))),
                 float(max(np.nanmax(values["classical"]), np.nanmax(values["surrogate"]))))
        lo, hi = self.colours.clim(shown=shown, whole_run=self._whole_run(shown))
        name = _title(self.reference.fields[self.field_name], self.component)
        log = self._log_allowed((lo, hi), f"{name} (classical and surrogate)")
        error_name = _title(self.reference.fields[self.field_name], self.component, unit=self.error_mode != "relative")
        self.range_label.setText(f"shared range [{lo:.4g}, {hi:.4g}]")
        for renderer in self.plotter.renderers:
            renderer.clear_actors()
        for title in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(title, render=False)
        error_title = ERROR_MODES[self.error_mode]
        surface = self._surface_of(mesh)
        glyphs = self.glyphs()
        for index, label in enumerate(self.LABELS):
            self.plotter.subplot(0, index)
            title = f"{name} {label}" if label != "error" else f"{error_name} {error_title.splitlines()[0]}"
            grid = surface.coloured(title, values[label])
            clim, cmap, pane_log = ((lo, hi), self.colours.cmap, log) if label != "error" else self._error_colours(values["error"])
            faces = self._add_coloured(grid, title, label, clim, cmap=cmap, log=pane_log)
            answer = {"classical": self.reference, "surrogate": self.candidate}.get(label)
            self._draw_arrows(glyphs if answer is not None else None, answer.fields[self.field_name] if answer is not None else None)
            self._draw_overlays(faces, grid, title, clim, pane_log, edges=self._mesh_edges(mesh, None) if self.colours.edges else None)
            _add_text(self.plotter, label if label != "error" else error_title, name=f"{label}_title", centred=True)
        _labels_below(self.plotter)
        self.colour_panel.suggest_range((lo, hi))
        self._draw_line()
        self._draw_probes()
        if not self._camera_set:
            self._frame(mesh)
            self._camera_set = True
        self.plotter.render()
        self.stateChanged.emit()

    def _whole_run(self, shown: tuple[float, float]) -> tuple[float, float]:
        """Both answers' range over every time step (that of the step shown for steady ones)."""
        fields = (self.reference.fields[self.field_name], self.candidate.fields[self.field_name])
        if not any(f.is_time_series for f in fields):
            return shown
        key = (self.field_name, self.component)
        if key not in self._whole_runs:
            ranges = [scalar_range(f, self.component) for f in fields]
            self._whole_runs[key] = (min(r[0] for r in ranges), max(r[1] for r in ranges))
        return self._whole_runs[key]

    def _error_colours(self, error: np.ndarray) -> tuple[tuple[float, float], str, bool]:
        """The error pane's own range, colour map and log flag: a signed error is centred on 0
        (and stays linear); a log scale starts at the smallest error above 0."""
        linear_signed = self.error_mode == "signed" and self.colours.log
        if linear_signed or self.colour_panel.message.text() == _SIGNED_STAYS_LINEAR:
            self.colour_panel.note(_SIGNED_STAYS_LINEAR if linear_signed else "")
        if self.error_mode == "signed":
            bound = float(np.nanmax(np.abs(error))) or 1.0
            return (-bound, bound), "coolwarm", False
        hi = float(np.nanmax(error))
        positive = error[error > 0]
        if self.colours.log and len(positive):
            return (float(positive.min()), hi), _ERROR_CMAP, True
        return (float(np.nanmin(error)), hi), _ERROR_CMAP, False

    def _probe_mesh(self) -> Mesh | None:
        return self.reference.mesh if self._drawn is not None and self.comparison is not None else None

    def _describe(self, reading: PointReading) -> str:
        values = self._drawn
        f = self.reference.fields[self.field_name]
        error = ERROR_MODES[self.error_mode].splitlines()[0]
        read = {label: _number(reading.value(values[label], f.association)) for label in self.LABELS}
        return (f"{_title(f, self.component)}: classical {read['classical']}, surrogate {read['surrogate']}, {error} {read['error']}\n"
                f"{super()._describe(reading)}")  # (two lines: a pane is a third of the view)

    def _pin_label(self, reading: PointReading, index: int) -> str:
        values = self._drawn
        return _number(reading.value(values[self.LABELS[index]], self.reference.fields[self.field_name].association), digits=4)

    def state(self) -> dict[str, Any]:
        return {"field": self.field_name, "component": self.component, "error": self.error_mode,
                "camera": self.camera_state() if self.comparison else None}

    def restore(self, state: dict[str, Any]) -> None:
        if self.comparison is None:
            return
        if state.get("field") in self.comparison.metrics:
            self.field_box.setCurrentText(state["field"])
        self.component_box.setCurrentText(state.get("component", ""))
        if state.get("error") in ERROR_MODES:
            self.error_box.setCurrentText(state["error"])
        self.set_camera_state(state.get("camera"))
        self._redraw()
