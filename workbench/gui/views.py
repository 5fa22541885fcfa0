"""The VTK views: MeshView (a Mesh and its regions), ResultView (one Result), CompareView (two
Results and their error, side by side).

Each view embeds a pyvistaqt ``QtInteractor`` by composition and draws grids built by
``engine.visual``, so the pictures match the batch mode's. Actors carry names ("mesh", "region",
"field", "classical", "surrogate", "error", "line") that tests and the line tool look up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.comparison import Comparison
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.result import Result
from engine.visual import component_names, region_grid, scalar_values, to_grid

__all__ = ["MeshView", "ResultView", "CompareView", "ERROR_MODES"]

#: How the error view shows candidate - reference.
ERROR_MODES = {  # (VTK's text actors split titles at "|": no bars here)
    "absolute": "absolute error",
    "relative": "error relative to max reference",
    "signed": "signed error (surrogate - classical)",
}
WELCOME = (
    "Welcome to the Simulation Workbench.\n\n"
    "1. Open an example: toolbar > Open example > Darcy flow (or File > Open example),\n"
    "   or open your own case (.toml) or mesh file.\n"
    "   Or start from scratch: File > New case, then pick a built-in geometry.\n"
    "2. Check the geometry and mesh, then the case (physics, boundary conditions, solver) on the left.\n"
    "3. Run > Run both and compare: finite elements, surrogate and their error, side by side.\n"
)
_CMAP = "viridis"
_ERROR_CMAP = "inferno"


def _interactor(parent: QtWidgets.QWidget, **kwargs: Any):
    from pyvistaqt import QtInteractor  # VTK and its Qt view load with the first view

    plotter = QtInteractor(parent, **kwargs)
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
        self._camera_set = False
        self.line: tuple[np.ndarray, np.ndarray] | None = None
        self.closed = False  # after close_view a late timer or signal must not draw into a closed plotter

    def actor_names(self, renderer: int = 0) -> list[str]:
        return sorted(self.plotter.renderers[renderer].actors)

    def reset_camera(self) -> None:
        self.plotter.reset_camera()
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
            if self.line is not None:
                a, b = (np.pad(p, (0, 3 - len(p))) for p in self.line)
                self.plotter.subplot(*self._subplot_index(index))
                self.plotter.add_mesh(pv.Line(a, b), color="red", line_width=3, name="line", render=False, pickable=False)

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


class _FieldView(_VtkView):
    """A view coloured by one field and, for vectors and tensors, one component of it."""

    stateChanged = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, **plotter_kwargs: Any) -> None:
        super().__init__(parent, **plotter_kwargs)
        self.field_box = _combo(self, "field to colour by")
        self.component_box = _combo(self, "component (vectors and tensors)")

    @property
    def field_name(self) -> str:
        return self.field_box.currentText()

    @property
    def component(self) -> str:
        return self.component_box.currentText()

    def _offer_components(self, f: Field) -> None:
        _set_items(self.component_box, component_names(f))
        self.component_box.setVisible(f.n_components > 1)


class MeshView(_VtkView):
    """A mesh with its edges; one named region highlighted."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.mesh: Mesh | None = None
        self.region: str | None = None
        self.caption = QtWidgets.QLabel("")
        self.toolbar.addWidget(self.caption, 1)
        self.set_mesh(None)

    def set_mesh(self, mesh: Mesh | None, *, welcome: bool = True) -> None:
        """Show ``mesh``; with none, say how to get one (and, with ``welcome``, how to start)."""
        if self.closed:
            return
        self.mesh, self.region = mesh, None
        self.plotter.clear_actors()
        if mesh is None:
            self.caption.setText("No mesh yet: choose a geometry and press Mesh, or open a mesh file.")
            if welcome:
                self.plotter.add_text(WELCOME, position="upper_left", font_size=12, color="#1f2933", name="welcome")
            self.plotter.render()
            return
        grid = to_grid(mesh)
        style = {"show_edges": True, "color": "#d9e2ec", "edge_color": "#3b4b5c"}
        if mesh.dim == 3:
            self.plotter.add_mesh(grid.extract_surface(), name="mesh", **style)
        else:
            self.plotter.add_mesh(grid, name="mesh", **style)
        self.caption.setText(f"{mesh.n_points} points, {mesh.n_cells} cells; select a region to highlight it")
        _view_for(self.plotter, mesh)
        self.plotter.reset_camera()
        self.plotter.render()

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
    """One result: field and component, warp by displacement, time steps with play."""

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
        for widget in (QtWidgets.QLabel("Field"), self.field_box, self.component_box, self.warp_box, self.warp_scale,
                       self.play_button, self.step_slider, self.time_label):
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
        self.play_button.toggled.connect(self._play)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.field_box, self.component_box, self.warp_box, self.warp_scale, self.step_slider, self.play_button):
            widget.setEnabled(on)

    @property
    def step(self) -> int:
        return self.step_slider.value()

    def set_result(self, result: Result | None, label: str = "") -> None:
        if self.closed:
            return
        self.result, self.label = result, label
        self._timer.stop()
        self.play_button.setChecked(False)
        if result is None:
            self.plotter.clear_actors()
            _set_items(self.field_box, [])
            self._set_enabled(False)
            self.plotter.render()
            return
        self._set_enabled(True)
        names = [n for n, f in result.fields.items() if f.association in ("point", "cell")]
        first = next((n for n in ("u", "T", "von_mises", "displacement") if n in names), names[0] if names else "")
        _set_items(self.field_box, names, keep=self.field_name if self.field_name in names else first)
        has_displacement = "displacement" in result.fields and result.fields["displacement"].n_components > 1
        self.warp_box.setVisible(has_displacement)
        self.warp_scale.setVisible(has_displacement)
        if has_displacement:
            self.warp_scale.blockSignals(True)
            self.warp_scale.setValue(_auto_warp(result))
            self.warp_scale.blockSignals(False)
        n_steps = len(result.times) if result.times is not None else 1
        for widget in (self.step_slider, self.play_button, self.time_label):
            widget.setVisible(n_steps > 1)
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
        self._redraw()

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
        result = self.result
        grid = to_grid(result.mesh)
        if self.warp_box.isChecked() and self.warp_box.isVisible():
            grid.points = grid.points + self.warp_scale.value() * _displacement3(result, self.step)
        title = _title(f, self.component)
        target = grid.point_data if f.association == "point" else grid.cell_data
        target[title] = values
        self.plotter.remove_actor("field", render=False)
        for old in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(old, render=False)
        self.plotter.add_mesh(grid, scalars=title, name="field", cmap=_CMAP, show_edges=False,
                              scalar_bar_args=_bar(title), render=False)
        _labels_below(self.plotter)
        if result.times is not None:
            self.time_label.setText(f"t = {result.times[self.step]:.4g}  ({self.step + 1}/{len(result.times)})")
        self._draw_line()
        if not self._camera_set:
            _frame(self.plotter, result.mesh)
            self._camera_set = True
        self.plotter.render()
        self.stateChanged.emit()

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
                "warp_scale": self.warp_scale.value(), "step": self.step, "camera": self.camera_state() if self.result else None}

    def restore(self, state: dict[str, Any]) -> None:
        if self.result is None:
            return
        if state.get("field") in self.result.fields:
            self.field_box.setCurrentText(state["field"])
        self.component_box.setCurrentText(state.get("component", ""))
        self.warp_scale.setValue(float(state.get("warp_scale", self.warp_scale.value())))
        self.warp_box.setChecked(bool(state.get("warp", False)))
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


def _frame(plotter, mesh: Mesh) -> None:
    """Look at the whole mesh, with room below it for the colour bar."""
    _view_for(plotter, mesh)
    plotter.reset_camera()
    plotter.camera.zoom(0.85)


def _title(f: Field, component: str) -> str:
    if f.n_components == 1:
        return f.name
    return f"{f.name} ({component or 'magnitude'})"


def _displacement3(result: Result, step: int) -> np.ndarray:
    d = result.fields["displacement"]
    values = d.at_step(step).values if d.is_time_series else d.values
    return np.column_stack([values, np.zeros((len(values), 3 - values.shape[1]))]) if values.shape[1] < 3 else values


def _auto_warp(result: Result) -> float:
    """A scale that makes the largest displacement a tenth of the part's size."""
    d = np.linalg.norm(_displacement3(result, -1), axis=1).max()
    lo, hi = result.mesh.bounding_box
    size = float(np.max(hi - lo))
    return float(f"{0.1 * size / d:.3g}") if d > 0 else 1.0


class CompareView(_FieldView):
    """Reference | candidate | error in three linked views with one colour range for the first two."""

    LABELS = ("classical", "surrogate", "error")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, shape=(1, 3), border=True)
        self.plotter.link_views()
        self.reference: Result | None = None
        self.candidate: Result | None = None
        self.comparison: Comparison | None = None
        self.error_box = _combo(self, "how the error is shown")
        self.error_box.addItems(list(ERROR_MODES))
        self.range_label = QtWidgets.QLabel("")
        for widget in (QtWidgets.QLabel("Field"), self.field_box, self.component_box, QtWidgets.QLabel("Error"), self.error_box, self.range_label):
            self.toolbar.addWidget(widget)
        self.toolbar.addStretch(1)
        self.field_box.currentTextChanged.connect(self._field_changed)
        self.component_box.currentTextChanged.connect(self._redraw)
        self.error_box.currentTextChanged.connect(self._redraw)
        self._show_message("Run both (Run > Run both and compare) to see classical | surrogate | error here.")

    @property
    def error_mode(self) -> str:
        return self.error_box.currentText()

    def _show_message(self, text: str) -> None:
        if self.closed:
            return
        for i in range(3):
            self.plotter.subplot(0, i)
            self.plotter.clear_actors()
        self.plotter.subplot(0, 1)
        self.plotter.add_text(text, position="upper_left", font_size=10, color="#3b4b5c", name="message")
        self.plotter.render()

    def set_comparison(self, reference: Result | None, candidate: Result | None, comparison: Comparison | None, why_not: str | None = None) -> None:
        self.reference, self.candidate, self.comparison = reference, candidate, comparison
        if comparison is None:
            self._show_message(why_not or "Run both (Run > Run both and compare) to see classical | surrogate | error here.")
            _set_items(self.field_box, [])
            return
        names = list(comparison.metrics)
        _set_items(self.field_box, names, keep=self.field_name if self.field_name in names else names[0])
        self._camera_set = False
        self._field_changed(self.field_name)

    def _field_changed(self, name: str) -> None:
        if self.reference is None or name not in self.reference.fields:
            return
        self._offer_components(self.reference.fields[name])
        self._redraw()

    def values(self) -> dict[str, np.ndarray] | None:
        """The scalars drawn in each view, by label."""
        if self.comparison is None or self.field_name not in self.comparison.metrics:
            return None
        ref_f, cand_f = self.reference.fields[self.field_name], self.candidate.fields[self.field_name]
        ref, cand = scalar_values(ref_f, self.component), scalar_values(cand_f, self.component)
        if self.component in ("", "magnitude") and ref_f.n_components > 1:
            diff_vec = cand_f.values - ref_f.values
            signed = np.linalg.norm(diff_vec, axis=1)
        else:
            signed = cand - ref
        scale = float(np.max(np.abs(ref))) or 1.0
        error = {"absolute": np.abs(signed), "relative": np.abs(signed) / scale, "signed": signed}[self.error_mode]
        return {"classical": ref, "surrogate": cand, "error": error}

    def _redraw(self, *_: Any) -> None:
        values = self.values()
        if values is None or self.closed:
            return
        mesh = self.reference.mesh
        lo = float(min(values["classical"].min(), values["surrogate"].min()))
        hi = float(max(values["classical"].max(), values["surrogate"].max()))
        name = _title(self.reference.fields[self.field_name], self.component)
        self.range_label.setText(f"shared range [{lo:.4g}, {hi:.4g}]")
        for renderer in self.plotter.renderers:
            renderer.clear_actors()
        for title in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(title, render=False)
        error_title = f"{ERROR_MODES[self.error_mode]}"
        for index, label in enumerate(self.LABELS):
            self.plotter.subplot(0, index)
            grid = to_grid(mesh)
            title = f"{name} {label}" if label != "error" else f"{name} {error_title}"
            grid.point_data[title] = values[label]
            kwargs: dict[str, Any] = {"cmap": _CMAP, "clim": (lo, hi)} if label != "error" else {"cmap": _ERROR_CMAP}
            if label == "error" and self.error_mode == "signed":
                bound = float(np.max(np.abs(values["error"]))) or 1.0
                kwargs = {"cmap": "coolwarm", "clim": (-bound, bound)}
            self.plotter.add_mesh(grid, scalars=title, name=label, render=False,
                                  scalar_bar_args=_bar(title), **kwargs)
            self.plotter.add_text(label if label != "error" else error_title, position="upper_edge", font_size=9, color="black", name=f"{label}_title")
        _labels_below(self.plotter)
        self._draw_line()
        if not self._camera_set:
            self.plotter.subplot(0, 0)
            _frame(self.plotter, mesh)
            self._camera_set = True
        self.plotter.render()
        self.stateChanged.emit()

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
