"""CasePanel: the physics, boundary conditions, probes and solver of the current Case.

The physics form follows the physics' schema (``workbench.gui.form_fields`` says which widget
each key calls for): a nested table is a sub-form, an optional one has a switch, names are
picked from the mesh's regions or the case's probes; a plug-in's keys show up the same way.
Every field is validated as it is typed (numbers and expressions through the engine's parser)
and committed through the CaseEditor, which validates the whole case again; a refused value
stays in its field, marked, for correction, the engine's message (naming the field and what it
expects) shows in the status line pinned below the form, and the case keeps its last valid value.
The Solver box says which of the library's surrogates can answer the case, and what would help
when none can. Checking that on a big mesh takes a while: the mesh job does it on its worker
(``CasePanel.prepare``) and offers the panel the outcome.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

from PySide6 import QtCore, QtGui, QtWidgets

from engine.case.schema import Case, ClassicalOptions
from engine.errors import WorkbenchError
from engine.expressions import parse_expression
from engine.mesh.mesh import Mesh
from engine.physics.registry import boundary_model, get_physics, physics_kinds
from engine.physics.units import LENGTH, UNIT_SYSTEMS, in_system, unit_label, unit_of

from workbench.gui.case_editor import CaseEditor
from workbench.gui.form_fields import FieldShape, field_shape, form_layout, names_text, parse_names, shown_value, start_probes, start_table
from workbench.gui.forms import CheckedEdit, NumberEdit, StatusLine, WheelGuard

__all__ = ["CasePanel", "CoefficientEdit", "ModelsToCheck", "PreparedCase", "coefficient_text", "parse_coefficient"]


def coefficient_text(value: Any) -> str:
    """How a coefficient is shown in a field: a number, an expression, or file:field."""
    if value is None:
        return ""
    if isinstance(value, dict) and "random_field" in value:
        return f"{value['random_field']} random field, seed {value.get('seed', 0)}" + (" (a new one per sample)" if value.get("seed_by_sample") else "")
    if isinstance(value, dict):
        return f"{value.get('file')}:{value.get('field')}"
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def parse_coefficient(text: str, parameters: dict[str, float], *, optional: bool = False) -> Any:
    """A coefficient from what was typed: a number, or an expression the engine parses.

    Raises ``WorkbenchError`` (an expression that does not parse or names unknown symbols) or
    ``ValueError`` (empty where a value is needed).
    """
    text = text.strip()
    if not text:
        if optional:
            return None
        raise ValueError("a value is needed: a number or an expression in x, y, z, t")
    try:
        number = float(text)
    except ValueError:
        parse_expression(text, parameters=parameters)
        return text
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


class CoefficientEdit(CheckedEdit):
    """A line edit for a number or an expression, checked on every keystroke."""

    def __init__(self, parameters: typing.Callable[[], dict[str, float]], *, optional: bool = False, label: str = "", parent=None) -> None:
        super().__init__(lambda text: parse_coefficient(text, parameters(), optional=optional), coefficient_text, label=label,
                         hint="a number, or an expression such as 1 + x*y, where(x > 0.5, 12, 3), sin(pi*x)", parent=parent)
        self.setPlaceholderText("free" if optional else "number or expression in x, y, z, t")

    def set_value(self, value: Any) -> None:
        super().set_value(value)
        self.setReadOnly(isinstance(value, dict))  # a field read from a file, a random field: edit the case file


@dataclass(frozen=True, eq=False)
class ModelsToCheck:
    """The library's models as the Case panel lists them, for a worker to check a case against."""

    cards: dict[str, Any]  # model name -> its card as the panel read it, or None (not read yet)
    reading: int  # which reading of the library these are (the panel reads it again on request)


@dataclass(frozen=True, eq=False)
class PreparedCase:
    """What the Case panel works out of ``case`` on ``mesh``, by ``CasePanel.prepare``."""

    case: Case
    mesh: Mesh
    problem: Any  # the case bound to the mesh (engine.problem.Problem), or None: it does not fit
    answers: dict[str, list[str]] | None  # model -> why it cannot answer (empty: it can); None without a problem
    cards: dict[str, Any]  # the cards read for it
    reading: int


def _bind(case: Case, mesh: Mesh):
    """``case`` bound to ``mesh`` (its probes located, its coefficients checked), or None when it does not fit."""
    from engine.problem import Problem

    try:
        return Problem.from_case(case, mesh=mesh)
    except WorkbenchError:
        return None


def _why_not(problem, card_of: typing.Callable[[str], Any], model: str) -> list[str]:
    """Why ``model`` (its card from ``card_of``) cannot answer ``problem``: empty when it can."""
    from engine.surrogates.solver import check_compatible

    try:
        return check_compatible(problem, card_of(model))
    except WorkbenchError as err:  # e.g. an unreadable card
        return [str(err)]


#: The switch of an optional table says what it does: a time table makes the case transient.
_SWITCH = {"time": "transient"}


def _quietly(widget: QtWidgets.QWidget, set_value: typing.Callable[[Any], Any], value: Any) -> None:
    """``set_value(value)`` without ``widget``'s signals: showing the case's value is no edit of it."""
    with QtCore.QSignalBlocker(widget):
        set_value(value)


def _offer(box: QtWidgets.QComboBox, names: list[str]) -> None:
    """Offer ``names`` in ``box`` (its choice is set apart, after)."""
    if [box.itemText(i) for i in range(box.count())] != names:
        with QtCore.QSignalBlocker(box):
            box.clear()
            box.addItems(names)


def _table_at(physics: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The nested table of the physics data at ``path`` (``("forces",)``), or None where it is absent."""
    table: Any = physics
    for part in path:
        table = table.get(part) if isinstance(table, dict) else None
    return table


def _condition_value(model: type, name: str, start: Any, bc: dict[str, Any]) -> Any:
    """What a condition's field shows: its value, else (a key that is no free component) its start."""
    return bc.get(name) if field_shape(model, name).optional else bc.get(name, start)


def _literal_choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return None


class CasePanel(QtWidgets.QScrollArea):
    """Physics, parameters, boundary conditions by region, probes and solver of the case."""

    modelSelected = QtCore.Signal(str)
    compatibilityChanged = QtCore.Signal(list)  # why the chosen surrogate cannot answer the case (empty: it can)
    surrogateStatusChanged = QtCore.Signal()  # surrogate_status() or compare_hint() says something else now

    def __init__(self, editor: CaseEditor, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.mesh: Mesh | None = None
        #: why the chosen surrogate cannot answer the case, once the case is meshed
        self.incompatible: list[str] = []
        self._cards: dict[str, Any] = {}  # model name -> card, as read from the library
        self._reading = 0  # counts the readings of the library: what a worker checked against
        self._bound: tuple[Case, Mesh, Any] | None = None  # a case, a mesh, and the case bound to it (None: it does not fit)
        self._answered: tuple[Any, dict[str, list[str]]] | None = None  # a problem and what the models say to it
        self.setWidgetResizable(True)
        body = QtWidgets.QWidget()
        self.setWidget(body)
        self.layout_ = QtWidgets.QVBoxLayout(body)
        self.title_edit = QtWidgets.QLineEdit()
        self.title_edit.setPlaceholderText("case title")
        self.title_edit.editingFinished.connect(lambda: self._edit("title", lambda d: d.__setitem__("title", self.title_edit.text())))
        self.layout_.addWidget(self.title_edit)
        # Pinned below the scrolled form, in space kept for it: seen wherever the form is
        # scrolled to, and its coming and going moves no field.
        self.message = StatusLine(parent=self)
        self.message.setObjectName("case.message")
        self.setViewportMargins(0, 0, 0, self.message.height())

        self.physics_box = QtWidgets.QGroupBox("Physics")
        self.physics_form = QtWidgets.QFormLayout(self.physics_box)
        self.layout_.addWidget(self.physics_box)
        self.parameters_box = QtWidgets.QGroupBox("Parameters (names usable in expressions)")
        self._build_parameters()
        self.layout_.addWidget(self.parameters_box)
        self.boundary_box = QtWidgets.QGroupBox("Boundary conditions")
        self._build_boundary()
        self.layout_.addWidget(self.boundary_box)
        self.probes_box = QtWidgets.QGroupBox("Probes")
        self._build_probes()
        self.layout_.addWidget(self.probes_box)
        self.solver_box = QtWidgets.QGroupBox("Solver")
        self._build_solver()
        self.layout_.addWidget(self.solver_box)
        self.layout_.addStretch(1)
        self.wheel_guard = WheelGuard(body)
        self.editor.refused.connect(self._show_refusal)
        self.editor.session.caseChanged.connect(self.refresh)
        self.editor.session.meshChanged.connect(self._mesh_changed)
        self.refresh(self.editor.case)

    # -- helpers --
    @property
    def data(self) -> dict[str, Any]:
        return self.editor.data or {}

    def parameters(self) -> dict[str, float]:
        return dict(self.data.get("parameters", {}))

    def _unit(self, key: str) -> str:
        """The unit of a physics key (``"k"``, ``"time.step"``, ``"robin.h"``) in the case's unit system."""
        case = self.editor.case
        return unit_of(case.physics.kind, key, system=case.units) if case is not None else ""

    def _edit(self, description: str, change, source: CheckedEdit | None = None) -> bool:
        """Apply an edit; when refused, show the form's values in use again and the reason,
        except in ``source``, the field it was typed in, which keeps the text for correction."""
        error = self.editor.edit(description, change)
        if error is None:
            self.message.clear()
        else:
            if source is not None:
                source.refuse(error)
                self.message.show_message(f"Not applied: {error}; kept {source.in_use_text()}")
            QtCore.QTimer.singleShot(0, lambda: self.refresh(self.editor.case))  # not while the editor emits
        return error is None

    def _connect_checked(self, edit: CheckedEdit) -> CheckedEdit:
        edit.rejected.connect(lambda why: self.message.show_message(f"Not applied: {why}"))
        return edit

    def clear_message(self) -> None:
        """A new document: no old message, nothing typed for the old one."""
        self.message.clear()
        for edit in self.findChildren(CheckedEdit):
            edit.show_in_use()

    def _show_refusal(self, message: str) -> None:
        self.message.show_message(f"Not applied: {message}")

    def _place_message(self) -> None:
        viewport = self.viewport().geometry()
        self.message.setGeometry(viewport.left(), viewport.bottom() + 1, viewport.width(), self.message.height())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_message()

    def viewportEvent(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.Resize:  # a scroll bar came or went
            self._place_message()
        return super().viewportEvent(event)

    @staticmethod
    def _clear(layout: QtWidgets.QLayout) -> None:
        while layout.count():
            item = layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
            elif item.layout() is not None:
                CasePanel._clear(item.layout())
        if isinstance(layout, QtWidgets.QFormLayout):
            while layout.rowCount():  # a form keeps its emptied rows (each a gap) until they are removed
                layout.removeRow(0)

    def refresh(self, case: Case | None) -> None:
        self.setEnabled(case is not None)
        if case is None:
            return
        self.title_edit.setText(case.title)
        self._refresh_physics(case)
        self._refresh_parameters()
        self._refresh_boundary()
        self._refresh_probes()
        self._refresh_solver()
        self.wheel_guard.guard(self.widget())

    @staticmethod
    def prepare(case: Case, mesh: Mesh, models: ModelsToCheck) -> PreparedCase:
        """What the panel shows of ``case`` on ``mesh``: the case bound to it and which of
        ``models`` can answer it (slow for a big mesh; no Qt, so any thread may)."""
        from engine.surrogates.library import load_card

        cards = {model: card for model, card in models.cards.items() if card is not None}

        def card_of(model: str):
            if model not in cards:
                cards[model] = load_card(model)
            return cards[model]

        problem = _bind(case, mesh)
        answers = None if problem is None else {model: _why_not(problem, card_of, model) for model in models.cards}
        return PreparedCase(case, mesh, problem, answers, cards, models.reading)

    def models_to_check(self) -> ModelsToCheck:
        """The models that ``prepare`` checks a case against, as the panel lists them now."""
        return ModelsToCheck({model: self._cards.get(model) for model in self._models()}, self._reading)

    def offer(self, prepared: PreparedCase) -> None:
        """Use ``prepared`` (worked out on a worker) when its case and mesh are the panel's,
        instead of working it out here; nothing, if the library was read again since."""
        if prepared.reading != self._reading:
            return
        for model, card in prepared.cards.items():
            self._cards.setdefault(model, card)
        self._bound = (prepared.case, prepared.mesh, prepared.problem)
        if prepared.problem is not None:
            self._answered = (prepared.problem, prepared.answers)

    def _mesh_changed(self, mesh: Mesh | None) -> None:
        self.mesh = mesh
        if self.editor.case is not None:
            self._refresh_physics(self.editor.case)  # the regions to pick from, a vector's length
        self._refresh_boundary()
        self._refresh_compatibility()
        self.wheel_guard.guard(self.widget())

    # -- physics --
    def _refresh_physics(self, case: Case) -> None:
        """The physics form, a row per key of the physics' schema (nested tables as sub-forms)."""
        physics = self.data.get("physics", {})
        spec = get_physics(case.physics.kind)
        # What decides the widgets: the tables switched on, the vectors' lengths, the units (every
        # label). The same: keep the widgets (and the keyboard focus) and show the values, and the
        # regions and probes to pick from (a mesh arriving as the user types rebuilds nothing).
        shape = (case.physics.kind, case.units, form_layout(spec.model, physics))
        if shape == getattr(self, "_physics_shape", None):
            self._update_physics(physics)
            return
        self._physics_shape = shape
        self._clear(self.physics_form)
        self._physics_shows: list[typing.Callable[[dict[str, Any]], None]] = []  # each shows its key of the physics data
        kind_box = QtWidgets.QComboBox()
        kind_box.addItems(physics_kinds())
        kind_box.setCurrentText(case.physics.kind)
        kind_box.currentTextChanged.connect(self._change_kind)
        kind_box.setObjectName("physics.kind")
        self.physics_form.addRow("Kind", kind_box)
        units_box = QtWidgets.QComboBox()
        units_box.addItems(list(UNIT_SYSTEMS))
        for i, meaning in enumerate(UNIT_SYSTEMS.values()):
            units_box.setItemData(i, meaning, QtCore.Qt.ItemDataRole.ToolTipRole)
        units_box.setCurrentText(case.units)
        units_box.setToolTip("The unit system the case's numbers are in: it labels them, and converts nothing")
        units_box.currentTextChanged.connect(lambda v: self._edit(f"units: {v}", lambda d: d.__setitem__("units", v)))
        units_box.setObjectName("units")
        self.physics_form.addRow("Units", units_box)
        self._add_fields(self.physics_form, spec.model, physics, (), spec.form_order())

    def _update_physics(self, physics: dict[str, Any]) -> None:
        """Show the case's physics values in the existing widgets."""
        for show in self._physics_shows:
            show(physics)

    def _probe_names(self) -> list[str]:
        return [p["name"] for p in self.data.get("probes", [])]

    def _add_fields(self, form: QtWidgets.QFormLayout, model: type, table: dict[str, Any] | None, path: tuple[str, ...],
                    keys: typing.Iterable[str]) -> None:
        """A row of ``form`` for each of ``keys`` of ``model``, the physics table at ``path`` (``table``
        its data), called ``physics.<key>`` (``physics.forces.velocity``) and labelled with its unit."""
        for name in keys:
            key = ".".join((*path, name))  # as the physics' units name it
            shape = field_shape(model, name)
            value = shown_value(model, name, table)
            widget, show = self._physics_field(shape, path, name, value)
            widget.setObjectName(f"physics.{key}")
            tip = model.model_fields[name].description or ""
            if isinstance(widget, CheckedEdit):
                widget.set_hint(tip or widget.hint)
            else:
                widget.setToolTip(tip)
            show(value)
            self._physics_shows.append(lambda physics, m=model, n=name, p=path, s=show: s(shown_value(m, n, _table_at(physics, p))))
            form.addRow(name.replace("_", " ").capitalize() if shape.kind == "table" else unit_label(name, self._unit(key)), widget)

    def _physics_field(self, shape: FieldShape, path: tuple[str, ...], name: str, value: Any) -> tuple[QtWidgets.QWidget, typing.Callable[[Any], None]]:
        """The widget for key ``name`` of the physics table at ``path`` (``value`` its value now),
        and how it shows a value; what is typed or picked in it edits the case."""
        key = ".".join((*path, name))
        put = self._physics_setter(path, name)
        if shape.kind == "table":
            return self._table_field(shape, path, name, value, put)
        if shape.kind in ("coefficient", "number", "integer"):
            edit = self._connect_checked(CoefficientEdit(self.parameters, optional=shape.optional, label=key) if shape.kind == "coefficient"
                                         else NumberEdit(label=key, optional=shape.optional))
            whole = shape.kind == "integer"
            edit.committed.connect(lambda v: put(_whole(v) if whole and v is not None else v, edit))
            return edit, edit.set_value
        if shape.kind == "vector":
            return self._vector_edit(value, optional=shape.optional, length=shape.length, label=key.replace("_", " "), on_commit=put)
        if shape.kind == "choice":
            box = QtWidgets.QComboBox()
            box.addItems(list(shape.choices))
            box.currentTextChanged.connect(put)
            return box, lambda v: _quietly(box, box.setCurrentIndex, box.findText(str(v)))
        if shape.kind == "switch":
            check = QtWidgets.QCheckBox()
            check.toggled.connect(put)
            return check, lambda v: _quietly(check, check.setChecked, bool(v))
        if shape.kind == "probes" and shape.length:
            return self._probes_field(shape, key, put)
        if shape.kind in ("regions", "probes", "text"):
            offered = {"regions": self.boundary_regions, "probes": self._probe_names}.get(shape.kind)
            return self._names_field(shape, key, put, offered)
        view = QtWidgets.QLineEdit()  # a type no form edits
        view.setReadOnly(True)
        view.setPlaceholderText("edit in the case file")
        return view, lambda v: view.setText("" if v is None else str(v))

    def _physics_setter(self, path: tuple[str, ...], name: str) -> typing.Callable[..., bool]:
        """``put(value, source=None)``: the edit setting key ``name`` of the physics table at ``path``.
        None takes the key out; a callable gives the value as the edit is applied, so a start it
        cannot make (no region yet) is refused, with its reason, like any edit."""
        key = ".".join((*path, name))

        def put(value: Any, source: CheckedEdit | None = None) -> bool:
            def change(d: dict[str, Any]) -> None:
                table = d["physics"]
                for part in path:
                    table = table.setdefault(part, {})
                new = value() if callable(value) else value
                if new is None:
                    table.pop(name, None)
                else:
                    table[name] = new

            return self._edit(f"set {key}", change, source=source)

        return put

    def _table_field(self, shape: FieldShape, path: tuple[str, ...], name: str, value: Any, put) -> tuple[QtWidgets.QWidget, typing.Callable[[Any], None]]:
        """A nested table as a sub-form; an optional one has a switch first, and rows while on."""
        key = ".".join((*path, name))
        box = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        switch = None
        if shape.optional:
            text = _SWITCH.get(name, "on")
            switch = QtWidgets.QCheckBox(text)
            switch.setObjectName(f"physics.{key}.{text}")
            start = lambda: start_table(shape.table, where=f"physics.{key}", regions=self.boundary_regions(), probes=self._probe_names())  # noqa: E731
            switch.toggled.connect(lambda on: put(start if on else None))
            form.addRow(switch)
        if value is not None:
            self._add_fields(form, shape.table, value, (*path, name), shape.table.model_fields)
        return box, (lambda v: _quietly(switch, switch.setChecked, v is not None)) if switch is not None else (lambda v: None)

    def _names_field(self, shape: FieldShape, key: str, put, offered: typing.Callable[[], list[str]] | None) -> tuple[QtWidgets.QWidget, typing.Callable[[Any], None]]:
        """A field for names, typed (several separated by commas), with a box beside it to pick one
        of ``offered()`` (the mesh's boundary regions, the case's probes) where there is a list to offer."""
        edit = self._connect_checked(CheckedEdit(lambda text: parse_names(text, shape), names_text, label=key,
                                                 hint="a name" + (", or names separated by commas" if shape.many or shape.listed else "")))
        edit.committed.connect(lambda v: put(v, edit))
        if offered is None:
            return edit, edit.set_value
        edit.setObjectName(f"physics.{key}")
        pick = QtWidgets.QComboBox()
        pick.setObjectName(f"physics.{key}")
        pick.setToolTip("pick one")
        pick.activated.connect(lambda i: put([pick.itemText(i)] if shape.listed else pick.itemText(i)))
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(pick)

        def show(value: Any) -> None:
            edit.set_value(value)
            _offer(pick, offered())
            one = value[0] if isinstance(value, list) and len(value) == 1 else value
            _quietly(pick, pick.setCurrentIndex, pick.findText(one) if isinstance(one, str) else -1)

        return box, show

    def _probes_field(self, shape: FieldShape, key: str, put) -> tuple[QtWidgets.QWidget, typing.Callable[[Any], None]]:
        """A box per probe of a key naming ``shape.length`` of the case's probes; an optional key
        has a switch first, and its boxes are greyed out while it is off."""
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        switch = None
        if shape.optional:
            switch = QtWidgets.QCheckBox("on")
            switch.setObjectName(f"physics.{key}.on")
            switch.toggled.connect(lambda on: put((lambda: start_probes(f"physics.{key}", shape, self._probe_names())) if on else None))
            row.addWidget(switch)
        picks = []
        for i in range(shape.length):
            pick = QtWidgets.QComboBox()
            pick.setObjectName(f"physics.{key}.{i}")
            pick.activated.connect(lambda _: put([p.currentText() for p in picks]))
            row.addWidget(pick, 1)
            picks.append(pick)

        def show(value: Any) -> None:
            if switch is not None:
                _quietly(switch, switch.setChecked, value is not None)
            for i, pick in enumerate(picks):
                _offer(pick, self._probe_names())
                _quietly(pick, pick.setCurrentIndex, pick.findText(value[i]) if value and i < len(value) else -1)
                pick.setEnabled(value is not None)

        return box, show

    def _number_edit(self, value: Any, label: str, description: str, change) -> NumberEdit:
        """A field for one number; ``change(data, value)`` puts a taken value into the case."""
        edit = self._connect_checked(NumberEdit(label=label))
        edit.set_value(value)
        edit.committed.connect(lambda v: self._edit(description, lambda d: change(d, v), source=edit))
        return edit

    def _vector_edit(self, value: list[Any] | None, *, optional: bool, label: str, on_commit,
                     length: int | None = None) -> tuple[QtWidgets.QWidget, typing.Callable[[Any], None]]:
        """Fields for a vector's components (``length``, else as many as ``value`` has, else the
        mesh's dimension) and how they show a vector; ``on_commit(vector, field typed in)``."""
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        n = length or (len(value) if value else 3 if self.mesh is not None and self.mesh.gdim == 3 else 2)
        edits = [self._connect_checked(CoefficientEdit(self.parameters, optional=optional, label=f"{label} {'xyz'[i]}")) for i in range(n)]
        for i, edit in enumerate(edits):
            edit.setPlaceholderText("xyz"[i] + (" (none)" if optional else ""))
            row.addWidget(edit)

        def show(vector: list[Any] | None) -> None:
            for i, edit in enumerate(edits):
                edit.set_value(vector[i] if vector and i < len(vector) else None)

        def commit(source: CoefficientEdit) -> None:
            for edit in edits:
                try:
                    edit.value()
                except (WorkbenchError, ValueError) as err:  # another component still waits for a correction
                    self.message.show_message(f"Not applied: {edit.label}: {err}")
                    return
            parts = [e.value() for e in edits]
            on_commit(None if all(p is None for p in parts) else [0.0 if p is None else p for p in parts], source)

        for edit in edits:
            edit.committed.connect(lambda _, e=edit: commit(e))
        show(value)
        return box, show

    def _change_kind(self, kind: str) -> None:
        allowed = get_physics(kind).boundary_types

        def change(d):
            d["physics"] = get_physics(kind).start_physics()
            d["boundary"] = [bc for bc in d.get("boundary", []) if bc.get("type") in allowed]
            d.pop("output", None)  # its field list named the old physics' fields

        if not self._edit(f"physics: {kind}", change):
            self.refresh(self.editor.case)

    @staticmethod
    def _row_table(box: QtWidgets.QGroupBox, headers: list[str], height: int, changed, add_text: str, add, remove) -> QtWidgets.QTableWidget:
        """An editable table with Add and Remove buttons beneath, filling ``box``."""
        layout = QtWidgets.QVBoxLayout(box)
        table = QtWidgets.QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.horizontalHeader().setStretchLastSection(True)
        table.verticalHeader().setVisible(False)
        table.setMaximumHeight(height)
        table.itemChanged.connect(changed)
        layout.addWidget(table)
        buttons = QtWidgets.QHBoxLayout()
        for text, slot in ((add_text, add), ("Remove", remove)):
            button = QtWidgets.QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        return table

    # -- parameters --
    def _build_parameters(self) -> None:
        self.parameters_table = self._row_table(self.parameters_box, ["name", "value"], 110, self._parameter_changed,
                                                "Add parameter", self._add_parameter, self._remove_parameter)

    def _refresh_parameters(self) -> None:
        table = self.parameters_table
        table.blockSignals(True)
        params = self.parameters()
        table.setRowCount(len(params))
        for row, (name, value) in enumerate(params.items()):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(f"{value:.12g}"))
        table.blockSignals(False)

    def _table_parameters(self) -> dict[str, float]:
        out = {}
        for row in range(self.parameters_table.rowCount()):
            name_item, value_item = self.parameters_table.item(row, 0), self.parameters_table.item(row, 1)
            if name_item is None or not name_item.text().strip():
                continue
            try:
                value = float(value_item.text()) if value_item is not None else float("nan")
            except ValueError:
                raise ValueError(f"parameter {name_item.text()!r} has value {value_item.text()!r}; expected a number") from None
            out[name_item.text().strip()] = value
        return out

    def _parameter_changed(self, *_: Any) -> None:
        try:
            params = self._table_parameters()
        except ValueError as err:
            self.message.show_message(f"Not applied: {err}")
            return
        if not self._edit("set parameters", lambda d: d.__setitem__("parameters", params)):
            self._refresh_parameters()

    def _add_parameter(self) -> None:
        existing = self.parameters()
        n = 1
        while f"p{n}" in existing:
            n += 1
        self._edit("add parameter", lambda d: d.setdefault("parameters", {}).__setitem__(f"p{n}", 1.0))

    def _remove_parameter(self) -> None:
        row = self.parameters_table.currentRow()
        item = self.parameters_table.item(row, 0) if row >= 0 else None
        if item is not None:
            name = item.text()
            self._edit(f"remove parameter {name}", lambda d: d.get("parameters", {}).pop(name, None))

    # -- boundary conditions --
    def _build_boundary(self) -> None:
        layout = QtWidgets.QVBoxLayout(self.boundary_box)
        hint = QtWidgets.QLabel("Select a boundary region, then pick its condition. Regions without one keep the natural "
                                "condition (zero flux / free).")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.region_table = QtWidgets.QTableWidget(0, 2)
        self.region_table.setObjectName("boundary.regions")
        self.region_table.setHorizontalHeaderLabels(["region", "condition"])
        self.region_table.horizontalHeader().setStretchLastSection(True)
        self.region_table.verticalHeader().setVisible(False)
        self.region_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.region_table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.region_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.region_table.setMaximumHeight(170)
        self.region_table.itemSelectionChanged.connect(self._region_selected)
        layout.addWidget(self.region_table)
        self.condition_box = QtWidgets.QComboBox()
        self.condition_box.setObjectName("boundary.type")
        self.condition_box.activated.connect(self._condition_picked)
        self.condition_form = QtWidgets.QFormLayout()
        row = QtWidgets.QFormLayout()
        row.addRow("Condition", self.condition_box)
        layout.addLayout(row)
        layout.addLayout(self.condition_form)

    def boundary_regions(self) -> list[str]:
        """Boundary regions the case can put conditions on: from the mesh, else from the
        built-in geometry's boundary names, plus any the case already names."""
        names: list[str] = []
        if self.mesh is not None:
            names = [n for n, r in self.mesh.regions.items() if r.dim < self.mesh.dim or r.points is not None]
        elif self.data.get("geometry", {}).get("kind"):
            from engine.mesh.geometry import GEOMETRIES

            geo = GEOMETRIES.get(self.data["geometry"]["kind"])  # None for an unknown name
            if geo is not None:
                try:
                    names = list(geo.boundary_names(self.data["geometry"].get("parameters", {})))
                except WorkbenchError:
                    names = list(geo.boundaries)
        for bc in self.data.get("boundary", []):
            for r in [bc["region"]] if isinstance(bc["region"], str) else bc["region"]:
                if r not in names:
                    names.append(r)
        return names

    def condition_of(self, region: str) -> tuple[int, dict[str, Any]] | None:
        """The (index, table) of the condition on ``region``, or None."""
        for i, bc in enumerate(self.data.get("boundary", [])):
            regions = [bc["region"]] if isinstance(bc["region"], str) else bc["region"]
            if region in regions:
                return i, bc
        return None

    def _refresh_boundary(self) -> None:
        if self.editor.case is None:
            return
        table = self.region_table
        selected = self.selected_region()
        table.blockSignals(True)
        regions = self.boundary_regions()
        table.setRowCount(len(regions))
        for row, name in enumerate(regions):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            found = self.condition_of(name)
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(_describe(found[1], self._unit) if found else "(natural)"))
        table.blockSignals(False)
        if selected in regions:
            self.select_region(selected)
        else:
            self._region_selected()

    def selected_region(self) -> str | None:
        rows = self.region_table.selectionModel().selectedRows() if self.region_table.selectionModel() else []
        if not rows:
            return None
        item = self.region_table.item(rows[0].row(), 0)
        return item.text() if item else None

    def select_region(self, name: str) -> None:
        for row in range(self.region_table.rowCount()):
            if self.region_table.item(row, 0).text() == name:
                self.region_table.selectRow(row)
                self._region_selected()
                return

    def _region_selected(self) -> None:
        region = self.selected_region()
        found = self.condition_of(region) if region else None
        shape = (region, found[1]["type"] if found else None, repr(found[1].get("vector")) if found else None,
                 self.editor.case.units if self.editor.case else None)
        if shape == getattr(self, "_condition_shape", None) and found is not None:
            model = boundary_model(found[1]["type"])
            for name, start in model.start.items():  # same form: show the values, keep the widgets (and focus)
                edit = self.findChild(CoefficientEdit, f"boundary.{name}")
                if edit is not None:
                    edit.set_value(_condition_value(model, name, start, found[1]))
            return
        self._condition_shape = shape
        self._clear(self.condition_form)
        kind = self.editor.case.physics.kind if self.editor.case else "diffusion"
        self.condition_box.blockSignals(True)
        self.condition_box.clear()
        self.condition_box.addItems(["(natural)", *get_physics(kind).boundary_types])
        self.condition_box.setEnabled(region is not None)
        found = self.condition_of(region) if region else None
        self.condition_box.setCurrentText(found[1]["type"] if found else "(natural)")
        self.condition_box.blockSignals(False)
        if found is None or region is None:
            return
        index, bc = found
        model = boundary_model(bc["type"])
        for name, start in model.start.items():
            if name == "uz" and (self.mesh is None or self.mesh.gdim < 3) and bc.get("uz") is None:
                continue
            if name == "vector":
                widget, _ = self._vector_edit(bc.get("vector"), optional=False, label=f"{region} traction",
                                              on_commit=lambda vec, source, r=region: self._set_condition_value(r, "vector", vec, source))
            else:
                optional = field_shape(model, name).optional  # a component left out is free
                widget = self._connect_checked(CoefficientEdit(self.parameters, optional=optional, label=f"{region} {name}"))
                widget.set_value(_condition_value(model, name, start, bc))
                widget.committed.connect(lambda v, n=name, r=region, e=widget: self._set_condition_value(r, n, v, e))
            widget.setObjectName(f"boundary.{name}")
            self.condition_form.addRow(unit_label(name, self._unit(f"{bc['type']}.{name}")), widget)

    def _condition_picked(self, *_: Any) -> None:
        region = self.selected_region()
        if region is None:
            return
        kind = self.condition_box.currentText()

        def change(d):
            _detach(d, region)
            if kind != "(natural)":
                start = {k: v for k, v in boundary_model(kind).start.items() if v is not None}
                if kind == "traction" and self.mesh is not None and self.mesh.gdim == 3:
                    start["vector"] = [0.0, 0.0, 0.0]
                d.setdefault("boundary", []).append({"region": region, "type": kind, **start})

        if not self._edit(f"{region}: {kind}", change):
            self._region_selected()

    def _set_condition_value(self, region: str, name: str, value: Any, source: CheckedEdit) -> None:
        def change(d):
            bc = _detach(d, region)
            if bc is None:
                raise ValueError(f"region {region!r} has no condition")
            bc = {**bc, "region": region}
            if value is None:
                bc.pop(name, None)
            else:
                bc[name] = value
            d.setdefault("boundary", []).append(bc)

        self._edit(f"{region}: {name}", change, source=source)

    # -- probes --
    def _build_probes(self) -> None:
        self.probes_table = self._row_table(self.probes_box, ["name", "x", "y", "z"], 130, self._probes_changed,
                                            "Add probe", self._add_probe, self._remove_probe)
        self.probes_table.setObjectName("probes")

    def _refresh_probes(self) -> None:
        table = self.probes_table
        table.blockSignals(True)
        length = in_system(LENGTH, self.editor.case.units) if self.editor.case else ""
        table.setHorizontalHeaderLabels(["name", *(unit_label(axis, length) for axis in "xyz")])
        probes = self.data.get("probes", [])
        table.setRowCount(len(probes))
        for row, probe in enumerate(probes):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(probe["name"]))
            for j in range(3):
                text = f"{probe['point'][j]:.12g}" if j < len(probe["point"]) else ""
                table.setItem(row, j + 1, QtWidgets.QTableWidgetItem(text))
        table.blockSignals(False)

    def _probes_changed(self, *_: Any) -> None:
        probes = []
        try:
            for row in range(self.probes_table.rowCount()):
                cells = [self.probes_table.item(row, j) for j in range(4)]
                texts = [c.text().strip() if c is not None else "" for c in cells]
                coords = [float(t) for t in texts[1:] if t]
                probes.append({"name": texts[0], "point": coords})
        except ValueError as err:
            self.message.show_message(f"Not applied: a probe coordinate is not a number ({err})")
            return
        if not self._edit("edit probes", lambda d: d.__setitem__("probes", probes)):
            self._refresh_probes()

    def _add_probe(self) -> None:
        names = {p["name"] for p in self.data.get("probes", [])}
        n = 1
        while f"probe{n}" in names:
            n += 1
        if self.mesh is not None:
            lo, hi = self.mesh.bounding_box
            point = ((lo + hi) / 2).tolist()
        else:
            point = [0.5, 0.5]
        self._edit("add probe", lambda d: d.setdefault("probes", []).append({"name": f"probe{n}", "point": point}))

    def _remove_probe(self) -> None:
        row = self.probes_table.currentRow()
        if row >= 0:
            self._edit("remove probe", lambda d: d["probes"].pop(row))

    # -- solver --
    def _build_solver(self) -> None:
        form = QtWidgets.QFormLayout(self.solver_box)
        self.element_box = QtWidgets.QComboBox()
        self.element_box.addItems(_literal_choices(ClassicalOptions.model_fields["element"].annotation))
        self.element_box.setObjectName("solver.classical.element")
        self.element_box.setToolTip("finite element: P on triangles/tetrahedra, Q on quadrilaterals/hexahedra")
        self.element_box.currentTextChanged.connect(lambda v: self._edit("element", lambda d: _classical(d).__setitem__("element", v)))
        self.linear_box = QtWidgets.QComboBox()
        self.linear_box.addItems(_literal_choices(ClassicalOptions.model_fields["linear_solver"].annotation))
        self.linear_box.setObjectName("solver.classical.linear_solver")
        self.linear_box.currentTextChanged.connect(lambda v: self._edit("linear solver", lambda d: _classical(d).__setitem__("linear_solver", v)))
        self.tolerance_edit = self._number_edit(1e-8, "tolerance", "tolerance", lambda d, v: _classical(d).__setitem__("tolerance", v))
        self.tolerance_edit.setObjectName("solver.classical.tolerance")
        form.addRow(QtWidgets.QLabel("<b>Classical (finite elements)</b>"))
        form.addRow("Element", self.element_box)
        form.addRow("Linear solver", self.linear_box)
        form.addRow("Tolerance", self.tolerance_edit)
        form.addRow(QtWidgets.QLabel("<b>Surrogate (neural operator)</b>"))
        self.model_box = QtWidgets.QComboBox()
        self.model_box.setObjectName("solver.surrogate.model")
        self.model_box.activated.connect(self._model_picked)
        form.addRow("Model", self.model_box)
        self.models_status = QtWidgets.QLabel("")
        self.models_status.setObjectName("solver.surrogate.status")
        self.models_status.setWordWrap(True)
        form.addRow(self.models_status)
        self.compatibility = QtWidgets.QLabel("")
        self.compatibility.setWordWrap(True)
        form.addRow(self.compatibility)
        self.card_view = QtWidgets.QTextBrowser()
        self.card_view.setMaximumHeight(160)
        form.addRow(self.card_view)
        self._surrogate_state: tuple[str, str] | None = None

    def reload_models(self) -> None:
        from engine.surrogates.library import list_models

        self._cards = {}  # read again from disk
        self._reading += 1
        self._answered = None
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem("(none)")
        self.model_box.addItems(list(list_models()))
        self.model_box.blockSignals(False)
        self._refresh_solver()

    def _refresh_solver(self) -> None:
        case = self.editor.case
        if case is None:
            return
        if self.model_box.count() == 0:
            self.reload_models()
            return
        for box, value in ((self.element_box, case.solver.classical.element), (self.linear_box, case.solver.classical.linear_solver)):
            box.blockSignals(True)
            box.setCurrentText(value)
            box.blockSignals(False)
        self.tolerance_edit.set_value(case.solver.classical.tolerance)
        model = case.solver.surrogate.model if case.solver.surrogate else "(none)"
        self.model_box.blockSignals(True)
        if self.model_box.findText(model) < 0:
            self.model_box.addItem(model)
        self.model_box.setCurrentText(model)
        self.model_box.blockSignals(False)
        self._show_card(model)
        self._refresh_compatibility()

    def use_model(self, model: str) -> None:
        """Make ``model`` the case's surrogate, as picking it in the box would."""
        if self.model_box.findText(model) < 0:
            self.model_box.addItem(model)
        self.model_box.setCurrentText(model)
        self._model_picked()

    def _model_picked(self, *_: Any) -> None:
        model = self.model_box.currentText()

        def change(d):
            solver = d.setdefault("solver", {})
            if model == "(none)":
                solver.pop("surrogate", None)
                if solver.get("kind") in ("surrogate", "both"):
                    solver["kind"] = "classical"
            else:
                solver["surrogate"] = {"model": model}

        self._edit(f"surrogate: {model}", change)
        self.modelSelected.emit(model)

    def _show_card(self, model: str) -> None:
        if model == "(none)":
            self.card_view.setHtml("<i>No surrogate chosen: the line under the model box says which models can answer this case.</i>")
            return
        try:
            card = self._card(model)
        except WorkbenchError as err:
            self.card_view.setPlainText(f"cannot read this model's card: {err}")
            return
        self.card_view.setHtml(card_html(card))

    def _problem(self):
        """The case bound to the current mesh, or None (no mesh yet, or the case does not fit it);
        built once per case and mesh."""
        case = self.editor.case
        if case is None or self.mesh is None:
            return None
        cached = self._bound
        if cached is not None and cached[0] is case and cached[1] is self.mesh:
            return cached[2]
        problem = _bind(case, self.mesh)
        self._bound = (case, self.mesh, problem)
        return problem

    def _card(self, model: str):
        if model not in self._cards:
            from engine.surrogates.library import load_card

            self._cards[model] = load_card(model)
        return self._cards[model]

    def _models(self) -> list[str]:
        return [self.model_box.itemText(i) for i in range(1, self.model_box.count())]

    def _answers(self) -> dict[str, list[str]] | None:
        """Model name -> why it cannot answer the case (empty: it can), for the models in the
        box; None while there is no mesh to check against. Worked out once per case, mesh and library."""
        problem = self._problem()
        if problem is None:
            return None
        models = self._models()
        cached = self._answered
        if cached is not None and cached[0] is problem and list(cached[1]) == models:
            return cached[1]
        answers = {model: _why_not(problem, self._card, model) for model in models}
        self._answered = (problem, answers)
        return answers

    def _chosen_model(self) -> str | None:
        case = self.editor.case
        return case.solver.surrogate.model if case is not None and case.solver.surrogate is not None else None

    def surrogate_status(self) -> str:
        """Which of the library's models can answer the case; when none, why the first cannot
        and what would make one."""
        models = self._models()
        train = "Tools > Train a surrogate makes one for this case."
        if not models:
            return "The model library is empty. " + train
        answers = self._answers()
        if answers is None:
            return "Mesh the case to see which models can answer it."
        able = [m for m in models if not answers[m]]
        if not able:
            return f"No model in the library can answer this case: {models[0]} cannot ({'; '.join(answers[models[0]])}). " + train
        others = len(models) - len(able)
        return f"Can answer this case: {', '.join(able)}." + (f" {others} other{'s' if others > 1 else ''} cannot (greyed out; hover for why)." if others else "")

    def compare_hint(self) -> str:
        """What to do, as things stand, to compare the classical answer with a surrogate's."""
        answers = self._answers()
        chosen = self._chosen_model()
        if answers is not None and all(answers.values()):
            return "No surrogate in the library can answer this case: Tools > Train a surrogate makes one; then Run both to compare."
        if chosen is None:
            return "To compare, pick a surrogate in Case > Solver and Run both."
        if answers is not None and answers.get(chosen):
            return f"To compare, pick a surrogate that can answer this case in Case > Solver ({chosen} cannot) and Run both."
        return f"To compare with {chosen}, Run both."

    def _refresh_compatibility(self) -> None:
        """Say which of the library's models can answer the case and whether the chosen one can;
        make those that cannot unselectable, with the reasons as their tooltip."""
        answers = self._answers()
        items = self.model_box.model()
        for i, model in enumerate(self._models(), start=1):
            reasons = None if answers is None else answers[model]
            items.item(i).setEnabled(not reasons)
            items.item(i).setToolTip("mesh the case to check whether this model can answer it" if reasons is None
                                     else "cannot answer this case: " + "; ".join(reasons) if reasons else "can answer this case")
        chosen = self._chosen_model()
        reasons = [] if chosen is None or answers is None else answers[chosen]
        if reasons != self.incompatible:
            self.incompatible = reasons
            self.compatibilityChanged.emit(reasons)
        self.models_status.setText(self.surrogate_status())
        state = (self.models_status.text(), self.compare_hint())
        if state != self._surrogate_state:
            self._surrogate_state = state
            self.surrogateStatusChanged.emit()
        self.compatibility.setVisible(chosen is not None)
        if chosen is None:
            self.compatibility.setText("")
        elif answers is None:
            self.compatibility.setText("<i>Mesh the case to check whether this model can answer it.</i>")
        elif reasons:
            self.compatibility.setText("<span style='color:#b3261e'><b>This model cannot answer this case:</b><br>"
                                       + "<br>".join(f"&bull; {r}" for r in reasons) + "</span>")
        else:
            self.compatibility.setText("<span style='color:#1b7f3b'><b>This model can answer this case.</b></span>")


def card_html(card) -> str:
    """A model card as a short HTML summary."""
    metrics = card.metrics
    test = metrics.get("test_relative_l2")
    rows = [
        ("model", f"{card.name}: {card.model} ({metrics.get('parameters', '?')} parameters)"),
        ("answers", f"{card.physics.get('kind')}: {card.physics.get('equation', '')}"),
        ("assumes", f"boundary {card.physics.get('boundary', '-')}, " + ", ".join(f"{k} = {v}" for k, v in card.physics.get("constants", {}).items())),
        ("inputs / outputs", f"{', '.join(card.inputs)} -> {', '.join(card.outputs)}"),
        ("answers on", card.answers_on() + (f" spanning {card.grid['domain']}" if card.grid and card.grid.get("domain") else "")),
        ("trained on", ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in (card.parameters or card.training_ranges).items())
         + f"; {card.dataset.get('samples', '?')} samples"),
        ("test error", f"relative L2 {test:.2%}" if isinstance(test, float) else
         f"validation relative L2 {metrics['validation_relative_l2']:.2%} (no separate test set)" if isinstance(metrics.get("validation_relative_l2"), float)
         else "not recorded"),
        ("created", card.created),
    ]
    return "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _classical(d: dict[str, Any]) -> dict[str, Any]:
    return d.setdefault("solver", {}).setdefault("classical", {})


def _detach(d: dict[str, Any], region: str) -> dict[str, Any] | None:
    """Take ``region`` out of the condition that holds it (dropping a condition left with no
    region); return that condition's table, or None."""
    for i, bc in enumerate(d.get("boundary", [])):
        regions = [bc["region"]] if isinstance(bc["region"], str) else list(bc["region"])
        if region in regions:
            rest = [r for r in regions if r != region]
            if rest:
                d["boundary"][i] = {**bc, "region": rest if len(rest) > 1 else rest[0]}
            else:
                d["boundary"].pop(i)
            return dict(bc)
    return None


def _describe(bc: dict[str, Any], unit: typing.Callable[[str], str]) -> str:
    """A condition in a line, its keys with their units: ``unit("robin.h")`` gives one."""
    def text(v: Any) -> str:
        return "(" + ", ".join(coefficient_text(x) for x in v) + ")" if isinstance(v, list) else coefficient_text(v)

    kind = bc["type"]
    values = ", ".join(f"{unit_label(k, unit(f'{kind}.{k}'))} = {text(v)}" for k, v in bc.items() if k not in ("region", "type"))
    return f"{bc['type']}: {values}" if values else bc["type"]


def _whole(value: float) -> float | int:
    """A count typed as 2 or 2.0 as the integer 2; anything else as typed, for the case to refuse."""
    return int(value) if float(value).is_integer() else value
