"""Tools over the VTK views (``workbench.gui.views``): reading the model under the cursor
(``CursorTracker`` and ``SurfacePicker``), and the panels behind two toolbar buttons, each the
widget of one engine state: ``ColourPanel`` of ``engine.visual.ColourSettings`` and ``CutPanel``
of ``engine.visual.PlaneCut``.

A panel only asks: it emits the state the user set, and the view answers with what it applied
(``show_settings`` / ``show_cut``) and why it did not (``refuse``), since only the view knows the
data (a log scale over values <= 0 is refused there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import InputError
from engine.visual import COLOUR_MAPS, RANGE_MODES, ColourSettings, PlaneCut

__all__ = ["Pick", "SurfacePicker", "CursorTracker", "ColourPanel", "CutPanel", "popup_button"]

#: Hover picks at most this often: a pick is fast, but a mouse sends hundreds of moves a second.
HOVER_INTERVAL_MS = 30
#: A press and release this close (in pixels) is a click, not a drag of the camera.
_CLICK_SLOP = 3


@dataclass(frozen=True, eq=False)
class Pick:
    """What lies under a display point: the pane (renderer index), the actor's name, the grid it
    draws, the grid's cell and the point hit on it (world coordinates)."""

    index: int
    name: str
    grid: Any  # pv.DataSet
    cell: int
    position: np.ndarray


class SurfacePicker:
    """Cell picks through a cell locator per drawn grid: a ray through a million faces costs
    microseconds instead of a tenth of a second (the locator is built once per grid, at its
    first pick)."""

    def __init__(self) -> None:
        from vtkmodules.vtkRenderingCore import vtkCellPicker

        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)
        self._locators: dict[str, Any] = {}  # grid address -> its locator

    def pick(self, plotter, x: float, y: float, names: tuple[str, ...]) -> Pick | None:
        """The actor of one of ``names`` under display point (x, y) (VTK's pixels, from the
        bottom left); what lies over it (a highlighted region, contour lines) is looked through."""
        renderer = plotter.iren.interactor.FindPokedRenderer(int(x), int(y))
        renderers = list(plotter.renderers)
        if renderer not in renderers:
            return None
        readable = {name: actor for name, actor in renderer.actors.items() if name in names and hasattr(actor, "GetMapper")}
        self._picker.InitializePickList()
        for actor in readable.values():
            self._picker.AddPickList(actor)
        self._picker.PickFromListOn()
        self._use_locators(readable.values())
        if not self._picker.Pick(float(x), float(y), 0.0, renderer):
            return None
        actor, cell = self._picker.GetActor(), self._picker.GetCellId()
        name = next((name for name, candidate in readable.items() if candidate is actor), None)
        if name is None or cell < 0:
            return None
        import pyvista as pv

        return Pick(renderers.index(renderer), name, pv.wrap(self._picker.GetDataSet()), int(cell), np.array(self._picker.GetPickPosition()))

    def _use_locators(self, actors) -> None:
        from vtkmodules.vtkCommonDataModel import vtkStaticCellLocator

        self._picker.RemoveAllLocators()
        kept: dict[str, Any] = {}
        for actor in actors:
            if not (actor.GetPickable() and actor.GetVisibility()) or actor.GetMapper() is None:
                continue
            grid = actor.GetMapper().GetInput()
            if grid is None or not grid.GetNumberOfCells():
                continue
            key = grid.GetAddressAsString("vtkDataSet")
            locator = self._locators.get(key)
            if locator is None or locator.GetMTime() < grid.GetMTime():
                locator = vtkStaticCellLocator()
                locator.SetDataSet(grid)
                locator.BuildLocator()
            kept[key] = locator
            self._picker.AddLocator(locator)
        self._locators = kept  # the grids no longer drawn let their locators go


class CursorTracker(QtCore.QObject):
    """The mouse over a VTK view's widget, in VTK's display pixels (from the bottom left):
    ``hovered`` at most every ``HOVER_INTERVAL_MS`` (the last position wins; none while a button
    turns the camera), ``clicked`` for a left click that did not move, ``escaped`` for the Esc
    key and ``left`` when the cursor leaves the view.

    It watches the Qt events, not VTK's: while a button is down VTK sends every mouse event
    to the camera's interactor style alone.
    """

    hovered = QtCore.Signal(float, float)
    clicked = QtCore.Signal(float, float)
    escaped = QtCore.Signal()
    left = QtCore.Signal()

    def __init__(self, widget: QtWidgets.QWidget, parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self._widget = widget
        self._at: tuple[float, float] | None = None
        self._pressed: QtCore.QPointF | None = None
        self._timer = QtCore.QTimer(parent)  # a child of the view: close_view stops it
        self._timer.setSingleShot(True)
        self._timer.setInterval(HOVER_INTERVAL_MS)
        self._timer.timeout.connect(self._hover)
        widget.installEventFilter(self)

    def _display(self, position: QtCore.QPointF) -> tuple[float, float]:
        """A widget position as VTK's display pixels (as the VTK widget itself converts it)."""
        ratio = self._widget.devicePixelRatioF()
        return float(round(position.x() * ratio)), float(round((self._widget.height() - position.y() - 1) * ratio))

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        Type = QtCore.QEvent.Type
        if kind == Type.MouseMove and event.buttons() == QtCore.Qt.MouseButton.NoButton:
            self._at = self._display(event.position())
            if not self._timer.isActive():
                self._timer.start()
        elif kind == Type.MouseButtonPress and event.button() == QtCore.Qt.MouseButton.LeftButton:
            self._pressed = event.position()
        elif kind == Type.MouseButtonRelease and event.button() == QtCore.Qt.MouseButton.LeftButton:
            pressed, self._pressed = self._pressed, None
            if pressed is not None and (event.position() - pressed).manhattanLength() <= _CLICK_SLOP:
                self.clicked.emit(*self._display(event.position()))
        elif kind == Type.KeyPress and event.key() == QtCore.Qt.Key.Key_Escape:
            self.escaped.emit()
        elif kind == Type.Leave:
            self._timer.stop()
            self._at = None
            self.left.emit()
        return False  # VTK gets every event too

    def _hover(self) -> None:
        if self._at is not None:
            self.hovered.emit(*self._at)


def popup_button(text: str, panel: QtWidgets.QWidget, tip: str) -> QtWidgets.QToolButton:
    """A toolbar button that opens ``panel`` in a popup under it."""
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QtWidgets.QMenu(button)
    action = QtWidgets.QWidgetAction(menu)
    action.setDefaultWidget(panel)
    menu.addAction(action)
    button.setMenu(menu)
    return button


def _message(label: QtWidgets.QLabel, text: str, *, error: bool) -> None:
    label.setText(text)
    label.setStyleSheet("color: #b42318;" if error else "color: #3b4b5c;")
    label.setVisible(bool(text))


def _number_edit(tip: str) -> QtWidgets.QLineEdit:
    edit = QtWidgets.QLineEdit()
    edit.setToolTip(tip)
    validator = QtGui.QDoubleValidator(edit)
    validator.setLocale(QtCore.QLocale.c())  # the numbers are read back with float()
    edit.setValidator(validator)
    edit.setMaximumWidth(110)
    return edit


class ColourPanel(QtWidgets.QWidget):
    """The controls of a view's ``ColourSettings``: colour map, range (automatic or typed), log
    scale, contour lines and mesh edges. ``changed`` carries the settings asked for."""

    changed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, note: str = "") -> None:
        super().__init__(parent)
        self.settings = ColourSettings()
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(8, 8, 8, 8)
        self.cmap_box = QtWidgets.QComboBox()
        self.cmap_box.addItems(list(COLOUR_MAPS))
        self.range_box = QtWidgets.QComboBox()
        for mode, words in RANGE_MODES.items():
            self.range_box.addItem(words, mode)
        self.min_edit = _number_edit("the lowest value of the colour range")
        self.max_edit = _number_edit("the highest value of the colour range")
        limits = QtWidgets.QHBoxLayout()
        for widget in (self.min_edit, QtWidgets.QLabel("to"), self.max_edit):
            limits.addWidget(widget)
        self.log_box = QtWidgets.QCheckBox("log scale")
        self.log_box.setToolTip("colours by the logarithm: for values above 0 spread over decades")
        self.contours_box = QtWidgets.QCheckBox("contour lines")
        self.levels_box = QtWidgets.QSpinBox()
        self.levels_box.setRange(1, 50)
        self.levels_box.setToolTip("how many contour lines, evenly spaced inside the colour range")
        contours = QtWidgets.QHBoxLayout()
        contours.addWidget(self.contours_box)
        contours.addWidget(self.levels_box)
        contours.addWidget(QtWidgets.QLabel("levels"))
        self.edges_box = QtWidgets.QCheckBox("mesh edges")
        self.edges_box.setToolTip("draw the cells' edges over the colours")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setMinimumWidth(280)
        form.addRow("Colour map", self.cmap_box)
        form.addRow("Range", self.range_box)
        form.addRow("Fixed", limits)
        form.addRow("", self.log_box)
        form.addRow("", contours)
        form.addRow("", self.edges_box)
        if note:
            hint = QtWidgets.QLabel(note)
            hint.setWordWrap(True)
            hint.setStyleSheet("color: #52606d;")
            form.addRow(hint)
        form.addRow(self.message)
        _message(self.message, "", error=False)
        self.show_settings(self.settings)
        for box in (self.cmap_box, self.range_box):
            box.currentIndexChanged.connect(self._ask)
        for check in (self.log_box, self.contours_box, self.edges_box):
            check.toggled.connect(self._ask)
        self.levels_box.valueChanged.connect(self._ask)
        for edit in (self.min_edit, self.max_edit):
            edit.editingFinished.connect(self._ask)

    def show_settings(self, settings: ColourSettings) -> None:
        """Show ``settings`` (what the view applied), without asking again."""
        self.settings = settings
        widgets = (self.cmap_box, self.range_box, self.log_box, self.contours_box, self.levels_box, self.edges_box, self.min_edit, self.max_edit)
        for widget in widgets:
            widget.blockSignals(True)
        self.cmap_box.setCurrentText(settings.cmap)
        self.range_box.setCurrentIndex(self.range_box.findData(settings.range_mode))
        self.log_box.setChecked(settings.log)
        self.contours_box.setChecked(settings.contours)
        self.levels_box.setValue(settings.levels)
        self.levels_box.setEnabled(settings.contours)
        self.edges_box.setChecked(settings.edges)
        if settings.fixed is not None:
            self.min_edit.setText(f"{settings.fixed[0]:.6g}")
            self.max_edit.setText(f"{settings.fixed[1]:.6g}")
        for edit in (self.min_edit, self.max_edit):
            edit.setEnabled(settings.range_mode == "fixed")
        for widget in widgets:
            widget.blockSignals(False)

    def suggest_range(self, clim: tuple[float, float]) -> None:
        """The range shown, as the start of a fixed one (while the range is not fixed)."""
        if self.settings.range_mode != "fixed":
            self.min_edit.setText(f"{clim[0]:.6g}")
            self.max_edit.setText(f"{clim[1]:.6g}")

    def refuse(self, why: str) -> None:
        _message(self.message, why, error=True)

    def note(self, text: str) -> None:
        _message(self.message, text, error=False)

    def _ask(self, *_: Any) -> None:
        mode = self.range_box.currentData()
        fixed = None
        if mode == "fixed":
            try:
                fixed = (float(self.min_edit.text()), float(self.max_edit.text()))
            except ValueError:
                self.refuse("Type a number for both ends of the fixed range.")
                return
        try:
            settings = ColourSettings(cmap=self.cmap_box.currentText(), range_mode=mode, fixed=fixed, log=self.log_box.isChecked(),
                                      contours=self.contours_box.isChecked(), levels=self.levels_box.value(), edges=self.edges_box.isChecked())
        except InputError as exc:
            self.refuse(f"Not applied: {exc}")
            return
        _message(self.message, "", error=False)
        if settings != self.settings:  # (a range edit left without a change asks nothing)
            self.changed.emit(settings)


def _triple(text: str) -> tuple[float, float, float] | None:
    parts = text.replace(",", " ").split()
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    return values if len(values) == 3 else None


class CutPanel(QtWidgets.QWidget):
    """The controls of a view's ``PlaneCut``: off, slice or clip; the plane by axis (X, Y, Z), by
    a slider across the model, or typed as origin and normal; which side a clip keeps.
    ``changed`` carries the cut asked for."""

    changed = QtCore.Signal(object)
    STEPS = 1000  # slider positions across the model

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cut = PlaneCut()
        self._box = (np.zeros(3), np.ones(3))
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(8, 8, 8, 8)
        self.mode_box = QtWidgets.QComboBox()
        self.mode_box.addItems(["off", "slice", "clip"])
        self.mode_box.setToolTip("slice: the field on the plane; clip: the model cut open at the plane")
        axes = QtWidgets.QHBoxLayout()
        self.axis_buttons = {}
        for axis, normal in (("X", (1.0, 0.0, 0.0)), ("Y", (0.0, 1.0, 0.0)), ("Z", (0.0, 0.0, 1.0))):
            button = QtWidgets.QPushButton(axis)
            button.setToolTip(f"a plane across the {axis} axis, through the middle of the model")
            button.setMaximumWidth(40)
            button.clicked.connect(lambda _=False, n=normal: self._ask_cut(replace(self.cut, normal=n).at(0.5, *self._box)))
            axes.addWidget(button)
            self.axis_buttons[axis] = button
        axes.addStretch(1)
        self.position_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.position_slider.setRange(0, self.STEPS)
        self.position_slider.setToolTip("where the plane lies across the model, along its normal")
        self.origin_edit = QtWidgets.QLineEdit()
        self.origin_edit.setToolTip("a point of the plane: x, y, z")
        self.normal_edit = QtWidgets.QLineEdit()
        self.normal_edit.setToolTip("the plane's normal: x, y, z (need not be of unit length)")
        self.flip_box = QtWidgets.QCheckBox("keep the side the normal points to")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setMinimumWidth(260)
        form.addRow("Show", self.mode_box)
        form.addRow("Plane", axes)
        form.addRow("Position", self.position_slider)
        form.addRow("Origin", self.origin_edit)
        form.addRow("Normal", self.normal_edit)
        form.addRow("", self.flip_box)
        form.addRow(self.message)
        _message(self.message, "", error=False)
        self.show_cut(self.cut)
        self.mode_box.currentTextChanged.connect(lambda mode: self._ask_cut(replace(self.cut, mode=mode)))
        self.position_slider.valueChanged.connect(lambda value: self._ask_cut(self.cut.at(value / self.STEPS, *self._box)))
        self.flip_box.toggled.connect(lambda on: self._ask_cut(replace(self.cut, flip=on)))
        self.origin_edit.editingFinished.connect(self._typed)
        self.normal_edit.editingFinished.connect(self._typed)

    def set_box(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """The model's bounding box, which the slider and the axis buttons move the plane across."""
        self._box = (np.asarray(lo, float), np.asarray(hi, float))
        self.show_cut(self.cut)

    def show_cut(self, cut: PlaneCut) -> None:
        """Show ``cut`` (what the view applied), without asking again."""
        self.cut = cut
        widgets = (self.mode_box, self.position_slider, self.origin_edit, self.normal_edit, self.flip_box)
        for widget in widgets:
            widget.blockSignals(True)
        self.mode_box.setCurrentText(cut.mode)
        self.position_slider.setValue(round(cut.fraction(*self._box) * self.STEPS))
        self.origin_edit.setText(", ".join(f"{v:.4g}" for v in cut.origin))
        self.normal_edit.setText(", ".join(f"{v:.4g}" for v in cut.normal))
        self.flip_box.setChecked(cut.flip)
        self.flip_box.setEnabled(cut.mode == "clip")
        for widget in widgets:
            widget.blockSignals(False)

    def refuse(self, why: str) -> None:
        _message(self.message, why, error=True)

    def note(self, text: str) -> None:
        _message(self.message, text, error=False)

    def _typed(self) -> None:
        if not (self.origin_edit.isModified() or self.normal_edit.isModified()):
            return  # focus left without an edit: the rounded numbers shown must not move the plane
        self.origin_edit.setModified(False)
        self.normal_edit.setModified(False)
        origin, normal = _triple(self.origin_edit.text()), _triple(self.normal_edit.text())
        if origin is None or normal is None:
            self.refuse("Type the origin and the normal as three numbers each: x, y, z.")
            return
        try:
            cut = replace(self.cut, origin=origin, normal=normal)
        except InputError as exc:
            self.refuse(f"Not applied: {exc}")
            return
        self._ask_cut(cut)

    def _ask_cut(self, cut: PlaneCut) -> None:
        _message(self.message, "", error=False)
        self.changed.emit(cut)
