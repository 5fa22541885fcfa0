"""MainWindow: menus, toolbar, dockable panels and the three views, wired to one Session.

Everything slow (meshing, solving, training) runs as a ``Job`` on a worker thread, one at a
time; its failure is shown in a dialog and the window carries on. A job also prepares what the
window shows of its answer (grids, error fields, profiles, counts: seconds for a big mesh), so
that the GUI thread only hands the widgets ready objects.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from engine.case.load import load_case, save_case
from engine.case.schema import Case
from engine.comparison import Comparison
from engine.errors import InputError, WorkbenchError
from engine.mesh.mesh import Mesh
from engine.result import Result

from workbench.gui.case_editor import CaseEditor, case_data, check_geometry
from workbench.gui.case_panel import CasePanel
from workbench.gui.forms import CheckedEdit
from workbench.gui.mesh_panel import MeshPanel, mesh_statistics
from workbench.gui.metrics_panel import MetricsPanel
from workbench.gui.plots import ErrorHistogram, ForceHistoryPlot, LinePlotPanel, PreparedHistogram, PreparedProfile, ProbeTimePlot, export_plot
from workbench.gui.run_panel import RunPanel
from workbench.gui.session import Session, answer_key, compare_answers, mesh_key
from workbench.gui.views import CompareView, MeshView, PreparedComparison, PreparedMesh, PreparedResult, ResultView
from workbench.gui.worker import Job

__all__ = ["MainWindow", "MESH_FILTER", "new_case_for_mesh"]

MESH_FILTER = "Meshes (*.msh *.vtu *.vtk *.xdmf *.inp *.med *.stl *.obj);;All files (*)"
CASE_FILTER = "Cases (*.toml);;All files (*)"
PROJECT_FILTER = "Projects (*.wbproj);;All files (*)"
_MAX_RECENT = 8
_SHOT_PIXELS = (16, 8192)  # a view screenshot's sides: 8192 is within every GPU's framebuffer limit


def _busy_text(job: Job, kind: str) -> str:
    """Why another job of ``kind`` cannot start while ``job`` runs."""
    if kind == "training":
        return f"{job.name} is running (one training at a time): follow or cancel it in its dialog"
    return f"busy with {job.name}: wait for it or cancel it (Esc) first"


def _tell(action: QtGui.QAction, text: str) -> None:
    """Say ``text`` in ``action``'s tooltip and, as it is hovered, in the status bar."""
    action.setToolTip(text)
    action.setStatusTip(text)


@contextlib.contextmanager
def _camera_for_aspect(plotter, aspect: float):
    """Keep across a picture of width / height ``aspect`` what the view shows across on screen:
    a narrower picture widens the cameras' field (a wider one shows more at the sides)."""
    import math

    on_screen = plotter.interactor.width() / max(plotter.interactor.height(), 1)
    cameras = list({id(r.GetActiveCamera()): r.GetActiveCamera() for r in plotter.renderers}.values())  # linked views share one
    saved = [(camera, camera.GetViewAngle(), camera.GetParallelScale()) for camera in cameras]
    if aspect < on_screen:
        widen = on_screen / aspect
        for camera, angle, scale in saved:
            camera.SetParallelScale(scale * widen)
            camera.SetViewAngle(min(170.0, math.degrees(2 * math.atan(math.tan(math.radians(angle) / 2) * widen))))
    try:
        yield
    finally:
        for camera, angle, scale in saved:
            camera.SetViewAngle(angle)
            camera.SetParallelScale(scale)


def _ask_size(parent: QtWidgets.QWidget, width: int, height: int) -> tuple[int, int] | None:
    """Ask for a picture's width and height in pixels (starting at ``width`` x ``height``); None if cancelled."""
    dialog = QtWidgets.QDialog(parent)
    dialog.setWindowTitle("View screenshot size")
    form = QtWidgets.QFormLayout(dialog)
    boxes = []
    for label, value in (("Width", width), ("Height", height)):
        box = QtWidgets.QSpinBox()
        box.setRange(*_SHOT_PIXELS)
        box.setValue(max(_SHOT_PIXELS[0], min(_SHOT_PIXELS[1], value)))
        box.setSuffix(" px")
        form.addRow(label, box)
        boxes.append(box)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    return boxes[0].value(), boxes[1].value()


def new_case() -> Case:
    """A starting case: the engine's default (steady diffusion with k = 1, f = 1 on the unit square, u = 0 around it)."""
    from engine.case.load import parse_case
    from engine.physics.registry import default_case

    return parse_case(default_case())


def new_case_for_mesh(path: Path) -> Case:
    """A starting case on a mesh file: the default case's physics, no conditions yet (the file's
    region names are known once it is read)."""
    from engine.case.load import parse_case
    from engine.physics.registry import default_case

    data = {"version": 1, "title": path.stem, "geometry": {"file": str(path.resolve())}, "physics": default_case()["physics"]}
    return parse_case(data, source=None)


@dataclass(eq=False)
class _Prepared:
    """What the window first shows of a run's answer, worked out on the worker: each part None
    when there is nothing to show, or nothing new (the mesh view's mesh)."""

    comparison: Comparison | None
    mesh: PreparedMesh | None = None
    result: PreparedResult | None = None
    compared: PreparedComparison | None = None
    profile: PreparedProfile | None = None
    histogram: PreparedHistogram | None = None


def _prepare_answer(results: dict[str, Result], comparison: Comparison | None, label: str, view: dict[str, Any], *,
                    shown_mesh: PreparedMesh | None, meshed: bool) -> _Prepared:
    """Everything slow the widgets need to show ``results`` (all the session will hold) with the
    result ``label`` in front, as the views are set now (``view``). Runs on the worker: no Qt.

    ``shown_mesh``: what the mesh view shows (its surface serves the result views too when it is
    their mesh). ``meshed``: the run meshed the case, so the mesh view gets its mesh too.
    """
    from engine.visual import mesh_surface

    if comparison is None or comparison.reference is not results.get("classical") or comparison.candidate is not results.get("surrogate"):
        comparison, _ = compare_answers(results)
    surfaces = {} if shown_mesh is None else {id(shown_mesh.mesh): shown_mesh.surface}

    def surface(mesh: Mesh):
        if id(mesh) not in surfaces:
            surfaces[id(mesh)] = mesh_surface(mesh)
        return surfaces[id(mesh)]

    first = results[label]
    prepared = _Prepared(comparison)
    if meshed:
        prepared.mesh = MeshView.prepare(first.mesh, surface(first.mesh))
    prepared.result = ResultView.prepare(first, field=view["result_field"], component=view["result_component"], surface=surface(first.mesh))
    if comparison is None:
        step = len(first.times) - 1 if first.times is not None else 0  # where the time slider starts
        prepared.profile = LinePlotPanel.prepare({label: first}, prepared.result.field, prepared.result.component, step=step, line_text=view["line"])
        return prepared
    prepared.compared = CompareView.prepare(comparison.reference, comparison.candidate, comparison, field=view["compare_field"],
                                            component=view["compare_component"], error_mode=view["error_mode"], surface=surface(comparison.reference.mesh))
    if prepared.compared is not None:
        prepared.histogram = ErrorHistogram.prepare(prepared.compared.values["error"])
        prepared.profile = LinePlotPanel.prepare({"classical": comparison.reference, "surrogate": comparison.candidate}, prepared.compared.field,
                                                 prepared.compared.component, line_text=view["line"])
    return prepared


class MainWindow(QtWidgets.QMainWindow):
    """The workbench's window."""

    jobFinished = QtCore.Signal(str, str)  # job name, outcome: "returned" | "errored" | "cancelled"

    def __init__(self, settings: QtCore.QSettings | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or QtCore.QSettings("simulation-workbench", "workbench")
        self.session = Session(self)
        self.editor = CaseEditor(self.session, self)
        self.job: Job | None = None  # the mesh or solve running: the Run panel follows it, Cancel stops it
        self.training_job: Job | None = None  # the training running, beside it: its dialog follows and cancels it
        self.results_case: dict[str, Any] | None = None  # the case data the current results answer
        self._document = 0  # counts opened documents: a job's answer for an earlier one is dropped
        self._result_to_show: str | None = None  # the label the next results change brings to the front
        #: ask before closing drops unsaved work or stops a running job (tests turn it off)
        self.confirm_close = True
        self.last_error: str | None = None
        self.error_dialog: QtWidgets.QMessageBox | None = None
        self.setWindowTitle("Simulation Workbench")
        self.resize(1500, 920)
        self._build_views()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self.setMinimumSize(1000, 640)
        self._initial_layout = self.saveState()
        self.statusBar().showMessage("Open an example (File > Open example) or a case, or pick a geometry and press Mesh.")
        self.session.caseChanged.connect(self._case_changed)
        self.session.meshChanged.connect(self._mesh_changed)
        self.session.resultsChanged.connect(self._results_changed)
        self.session.dirtyChanged.connect(self._update_title)
        self.editor.undo_stack.cleanChanged.connect(self._update_title)
        self.editor.refused.connect(lambda why: self.statusBar().showMessage(f"Not applied: {why}", 15000))
        self.case_panel.compatibilityChanged.connect(lambda _: self._update_actions())
        self.case_panel.surrogateStatusChanged.connect(self._update_actions)
        self.case_panel.surrogateStatusChanged.connect(lambda: self.metrics_panel.set_compare_hint(self.case_panel.compare_hint()))
        self._update_actions()

    # -- construction --
    def _build_views(self) -> None:
        self.tabs = QtWidgets.QTabWidget()
        self.mesh_view = MeshView()
        self.result_view = ResultView()
        self.result_choice = QtWidgets.QComboBox()
        self.result_choice.setToolTip("which answer to show")
        self.result_view.toolbar.insertWidget(0, self.result_choice)
        self.result_choice.currentTextChanged.connect(self._show_result)
        self.compare_view = CompareView()
        self.tabs.addTab(self.mesh_view, "Mesh")
        self.tabs.addTab(self.result_view, "Result")
        self.tabs.addTab(self.compare_view, "Compare")
        self.setCentralWidget(self.tabs)
        self.compare_view.stateChanged.connect(self._compare_view_changed)
        self.result_view.stateChanged.connect(self._result_view_changed)

    def _dock(self, title: str, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock.{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.mesh_panel = MeshPanel(self.editor)
        self.case_panel = CasePanel(self.editor)
        setup = QtWidgets.QTabWidget()
        mesh_scroll = QtWidgets.QScrollArea()
        mesh_scroll.setWidgetResizable(True)
        mesh_scroll.setWidget(self.mesh_panel)
        setup.addTab(mesh_scroll, "Geometry && mesh")
        setup.addTab(self.case_panel, "Case")
        self.setup_tabs = setup
        setup.setMinimumWidth(380)
        self.setup_dock = self._dock("Setup", setup, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.metrics_panel = MetricsPanel()
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.metrics_panel)
        self.metrics_dock = self._dock("Metrics", scroll, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        plots = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.line_plot = LinePlotPanel()
        self.histogram = ErrorHistogram()
        self.probe_plot = ProbeTimePlot()
        # one beneath the line plot at a time: a comparison's histogram or a transient run's probes
        self.plot_tabs = QtWidgets.QTabWidget()
        self.plot_tabs.addTab(self.histogram, "Error histogram")
        self.plot_tabs.addTab(self.probe_plot, "Probes over time")
        self.force_plot = ForceHistoryPlot()
        self.plot_tabs.addTab(self.force_plot, "Forces over time")
        plots.addWidget(self.line_plot)
        plots.addWidget(self.plot_tabs)
        self.plots_dock = self._dock("Plots", plots, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.run_panel = RunPanel()
        self.run_dock = self._dock("Run", self.run_panel, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.run_dock], [170], QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([self.setup_dock, self.metrics_dock], [420, 400], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.metrics_dock, self.plots_dock], [430, 400], QtCore.Qt.Orientation.Vertical)
        self.mesh_panel.meshRequested.connect(self.mesh_case)
        self.mesh_panel.openMeshRequested.connect(self.open_mesh_dialog)
        self.mesh_panel.regionSelected.connect(self.mesh_view.highlight)
        self.mesh_panel.regionSelected.connect(lambda _: self.tabs.setCurrentWidget(self.mesh_view))
        self.case_panel.region_table.itemSelectionChanged.connect(self._boundary_region_selected)
        self.line_plot.lineChanged.connect(self._line_changed)
        self.line_plot.drag_button.toggled.connect(self._line_tool)
        self.tabs.currentChanged.connect(lambda _: self._line_tool(self.line_plot.drag_button.isChecked()))

    def _action(self, text: str, slot: Callable, shortcut: str | QtGui.QKeySequence | None = None, tip: str = "") -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip or text)
        action.triggered.connect(lambda *_: slot())
        return action

    def _build_actions(self) -> None:
        keys = QtGui.QKeySequence.StandardKey
        self.act_new_case = self._action("New case", self.new_case, keys.New, "start a case on a built-in geometry")
        self.act_open_case = self._action("Open case...", self.open_case_dialog, keys.Open, "open a case file (.toml)")
        self.act_open_mesh = self._action("Open mesh...", self.open_mesh_dialog, "Ctrl+M", "open a mesh file and start a case on it")
        self.act_save_case = self._action("Save case", self.save_case, keys.Save, "save the case (.toml)")
        self.act_save_case_as = self._action("Save case as...", self.save_case_as, keys.SaveAs)
        self.act_open_project = self._action("Open project...", self.open_project_dialog, "Ctrl+Shift+O", "reopen a saved session: case, results and views")
        self.act_save_project = self._action("Save project...", self.save_project_dialog, "Ctrl+Shift+P", "save case, results and view settings in one file")
        self.act_export_vtu = self._action("Result as VTU...", self.export_vtu_dialog, tip="the shown result, for ParaView")
        self.act_export_png = self._action("Screenshot as PNG...", self.export_png_dialog, tip="a picture of the window")
        self.act_export_csv = self._action("Line plot as CSV...", self.export_csv_dialog, tip="the samples of the line plot")
        self.act_export_probes = self._action("Probes over time as CSV...", self.export_probes_dialog, tip="each probe's value at every saved time")
        self.act_export_plot = self._action("Plot as PNG/SVG...", self.export_plot_dialog, tip="the line plot, the error histogram or the probes over time, as a picture")
        self.act_export_metrics = self._action("Metrics as CSV/JSON...", self.export_metrics_dialog,
                                               tip="the solvers, comparison and probes tables (JSON: as the metrics.json of a batch run)")
        self.act_export_view = self._action("View screenshot...", self.export_view_dialog, tip="the shown mesh, result or compare view at a size you choose")
        self.act_quit = self._action("Quit", self.close, keys.Quit)
        self.act_undo = self.editor.undo_stack.createUndoAction(self, "Undo")
        self.act_undo.setShortcut(QtGui.QKeySequence(keys.Undo))
        self.act_redo = self.editor.undo_stack.createRedoAction(self, "Redo")
        self.act_redo.setShortcut(QtGui.QKeySequence(keys.Redo))
        self.act_mesh = self._action("Mesh", self.mesh_case, "Ctrl+Shift+M", "mesh the case's geometry")
        self.act_run_classical = self._action("Run classical", lambda: self.run("classical"), "F5", "solve with finite elements")
        self.act_run_surrogate = self._action("Run surrogate", lambda: self.run("surrogate"), "F6", "answer with the chosen neural-operator surrogate")
        self.act_run_both = self._action("Run both and compare", lambda: self.run("both"), "F7", "solve with both and compare side by side")
        self.act_cancel = self._action("Cancel", self.cancel_job, "Esc", "stop the running job")
        self.act_train = self._action("Train a surrogate...", self.open_training, tip="generate data with the classical solver and train a neural operator")
        self.act_reset_camera = self._action("Reset camera", self._reset_camera, "R")
        self.act_reset_layout = self._action("Reset layout", self.reset_layout, tip="put the panels back where they started")
        self.act_about = self._action("About", self._about)
        self.act_help = self._action("User guide", self.open_help, keys.HelpContents, "the case format, the command line, limits and keyboard shortcuts")
        # what these say when nothing stands in their way (_update_actions says what does)
        self._tips = {action: action.toolTip() for action in (self.act_mesh, self.act_run_classical, self.act_run_surrogate, self.act_run_both, self.act_train)}

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction(self.act_new_case)
        file.addAction(self.act_open_case)
        self.examples_menu = file.addMenu("Open example")
        self._fill_examples()
        file.addAction(self.act_open_mesh)
        self.recent_menu = file.addMenu("Recent files")
        self._fill_recent()
        file.addSeparator()
        file.addAction(self.act_save_case)
        file.addAction(self.act_save_case_as)
        file.addSeparator()
        file.addAction(self.act_open_project)
        file.addAction(self.act_save_project)
        file.addSeparator()
        export = file.addMenu("Export")
        export.addActions([self.act_export_vtu, self.act_export_png, self.act_export_view, self.act_export_csv, self.act_export_probes,
                           self.act_export_plot, self.act_export_metrics])
        file.addSeparator()
        file.addAction(self.act_quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        run = bar.addMenu("&Run")
        run.addActions([self.act_mesh, self.act_run_classical, self.act_run_surrogate, self.act_run_both, self.act_cancel])
        tools = bar.addMenu("&Tools")
        tools.addAction(self.act_train)
        view = bar.addMenu("&View")
        for dock in (self.setup_dock, self.metrics_dock, self.plots_dock, self.run_dock):
            view.addAction(dock.toggleViewAction())
        view.addAction(self.act_reset_camera)
        view.addAction(self.act_reset_layout)
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.act_help, self.act_about])
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar.main")
        toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        examples = QtWidgets.QToolButton()
        examples.setText("Open example")
        examples.setToolTip("the shipped example cases")
        examples.setMenu(self.examples_menu)
        examples.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        examples.setObjectName("toolbar.examples")
        toolbar.addWidget(examples)
        toolbar.addActions([self.act_open_case, self.act_open_mesh, self.act_save_case])
        toolbar.addSeparator()
        toolbar.addActions([self.act_mesh, self.act_run_classical, self.act_run_surrogate, self.act_run_both, self.act_cancel])
        toolbar.addSeparator()
        toolbar.addActions([self.act_undo, self.act_redo])

    def _fill_examples(self) -> None:
        from engine.resources import resources_dir

        self.examples_menu.clear()
        for path in sorted((resources_dir() / "examples").glob("*.toml")):
            try:
                title = load_case(path).title or path.stem
            except WorkbenchError:
                continue
            action = self.examples_menu.addAction(f"{title}  ({path.name})")
            action.setData(str(path))
            action.triggered.connect(lambda *_, p=path: self.open_case(p))

    # -- recent files --
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)]

    def _remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self.recent_files() if p != str(path.resolve())]
        self.settings.setValue("recent", recent[:_MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for p in recent:
            action = self.recent_menu.addAction(p)
            action.triggered.connect(lambda *_, p=p: self.open_path(Path(p)))

    # -- opening and saving --
    def open_path(self, path: Path) -> bool:
        """Open a case (.toml), a project (.wbproj) or a mesh file, by suffix."""
        if path.suffix == ".toml":
            return self.open_case(path)
        if path.suffix == ".wbproj":
            return self.open_project(path)
        return self.open_mesh(path)

    def is_modified(self) -> bool:
        """Unsaved case edits or results."""
        return self.session.dirty or not self.editor.undo_stack.isClean()

    def _may_discard(self, *, closing: bool = False) -> bool:
        """Ask before the current case's unsaved edits are dropped (and, unless the window is
        closing, refuse while a job runs: its answer belongs to the current document)."""
        if self.job is not None and not closing:
            self.statusBar().showMessage(f"busy with {self.job.name}: wait for it or cancel it before opening another document")
            return False
        if not self.is_modified() or not self.confirm_close:
            return True
        answer = QtWidgets.QMessageBox.question(
            self, "Unsaved changes", "The current case or results have unsaved changes. Save them as a project first?",
            QtWidgets.QMessageBox.StandardButton.Save | QtWidgets.QMessageBox.StandardButton.Discard | QtWidgets.QMessageBox.StandardButton.Cancel,
        )
        if answer == QtWidgets.QMessageBox.StandardButton.Save:
            return self.save_project_dialog()
        return answer == QtWidgets.QMessageBox.StandardButton.Discard

    def open_case(self, path: str | Path, *, mesh: bool = True) -> bool:
        if not self._may_discard():
            return False
        try:
            case = load_case(path)
            check_geometry(case)
        except WorkbenchError as err:
            self.show_error(f"Cannot open {path}", err)
            return False
        self._start_document(case)
        self._remember(Path(path))
        self.statusBar().showMessage(f"opened {path}")
        if mesh:
            self.mesh_case()
        return True

    def _start_document(self, case: Case | None, results: dict[str, Result] | None = None, results_case: dict[str, Any] | None = None) -> None:
        self._document += 1
        self.session.project_path = None
        self.session.set_mesh(None)
        # The last document's answers, and the line and line tool placed on them, go before the
        # new case is announced: no widget ever pairs the new case with them.
        self.results_case = None
        self.session.clear_results()
        self.line_plot.drag_button.setChecked(False)
        self.line_plot.start_edit.clear()
        self.line_plot.end_edit.clear()
        self.line_plot.set_results({}, "")
        self.histogram.set_values(None)
        self.editor.load(case)
        if case is not None and results:
            self.results_case = results_case or case_data(case)
            self.session.set_results(results, replace=True)
        self.case_panel.clear_message()
        self.mesh_panel.clear_message()
        self.session.set_dirty(False)
        self.tabs.setCurrentWidget(self.mesh_view)

    def new_case(self) -> bool:
        if not self._may_discard():
            return False
        self._start_document(new_case())
        self.setup_tabs.setCurrentIndex(0)
        self.mesh_case()
        return True

    def open_mesh(self, path: str | Path) -> bool:
        if not self._may_discard():
            return False
        path = Path(path)
        try:
            case = new_case_for_mesh(path)
        except WorkbenchError as err:
            self.show_error(f"Cannot open {path}", err)
            return False
        self._start_document(case)
        self._remember(path)
        self.mesh_case()
        self.setup_tabs.setCurrentIndex(0)
        return True

    def save_case(self) -> bool:
        self.commit_pending_edit()
        if self.session.case is None:
            return False
        from engine.resources import resources_dir

        source = self.editor.source
        shipped = source is not None and Path(source).resolve().is_relative_to(resources_dir().resolve())
        if source is None or Path(source).suffix != ".toml" or shipped:
            return self.save_case_as()  # never write over a shipped example
        return self._write_case(Path(source))

    def save_case_as(self) -> bool:
        if self.session.case is None:
            return False
        start = Path.cwd() / (Path(self.editor.source).name if self.editor.source else "case.toml")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save case (comments of the original file are not kept)", str(start), CASE_FILTER)
        return bool(path) and self._write_case(Path(path))

    def _write_case(self, path: Path) -> bool:
        case = self.session.case
        try:
            # Paths inside the case are relative to its file: keep them pointing at the same files.
            if case.geometry.file is not None:
                absolute = str(case.resolve(case.geometry.file).resolve())
                self.editor.edit("mesh file path", lambda d: d["geometry"].__setitem__("file", absolute))
                case = self.session.case
            save_case(case, path)
        except (WorkbenchError, OSError) as err:  # OSError: disk full, permissions
            self.show_error(f"Cannot save {path}", err)
            return False
        self.editor.source = path
        self.session.set_case(case.with_source(path))
        self.editor.undo_stack.setClean()
        self._remember(path)
        self.statusBar().showMessage(f"saved {path}")
        return True

    def project_view_state(self) -> dict[str, Any]:
        line = self.line_plot.line()
        return {
            "tab": self.tabs.currentIndex(),
            "result_label": self.result_choice.currentText(),
            "result_view": self.result_view.state(),
            "compare_view": self.compare_view.state(),
            "line": [line[0].tolist(), line[1].tolist()] if line else None,
            "selected_region": self.mesh_view.region,
            "results_case": self.results_case,
        }

    def save_project(self, path: str | Path) -> bool:
        from engine.project import Project, save_project

        self.commit_pending_edit()
        path = Path(path)
        try:
            save_project(Project(case=self.session.case, results=self.session.results, view=self.project_view_state()), path)
        except (WorkbenchError, OSError) as err:  # OSError: disk full, permissions
            self.show_error(f"Cannot save the project {path}", err)
            return False
        self.session.project_path = path
        self.editor.undo_stack.setClean()
        self.session.set_dirty(False)
        self._update_title()
        self._remember(path)
        self.statusBar().showMessage(f"saved project {path}")
        return True

    def save_project_dialog(self) -> bool:
        start = str(self.session.project_path or Path.cwd() / "session.wbproj")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save project", start, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(".wbproj"):
            path += ".wbproj"
        return self.save_project(path)

    def open_project(self, path: str | Path) -> bool:
        from engine.project import load_project

        if not self._may_discard():
            return False
        path = Path(path)
        try:
            project = load_project(path)
        except WorkbenchError as err:
            self.show_error(f"Cannot open the project {path}", err)
            return False
        answered = project.view.get("results_case") if isinstance(project.view.get("results_case"), dict) else None
        self._start_document(project.case, project.results, answered)
        any_result = next(iter(project.results.values()), None)
        if any_result is not None and project.case is not None and self._results_mesh_fits(project.case):
            self.session.set_mesh(any_result.mesh, project.case)
        self._case_changed(self.session.case)
        self.session.project_path = path
        try:
            self._restore_view(project.view)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self.statusBar().showMessage(f"the project's view settings could not be used ({exc}); defaults shown")
        self.session.set_dirty(False)
        self._remember(path)
        self.statusBar().showMessage(f"opened project {path}")
        if project.case is not None and self.session.mesh is None:
            self.mesh_case()  # no results, or results of an earlier geometry: mesh the case as it is
        return True

    def _results_mesh_fits(self, case: Case) -> bool:
        """Whether the results' mesh is ``case``'s mesh (not one of an earlier geometry)."""
        from engine.case.load import parse_case

        if self.results_case is None:
            return True
        try:
            answered = parse_case(self.results_case, source=case.source)
        except WorkbenchError:
            return False
        return mesh_key(answered) == mesh_key(case)

    def _restore_view(self, view: dict[str, Any]) -> None:
        line = view.get("line")
        if line:
            self.line_plot.set_line(*line)
        if view.get("result_label") and self.result_choice.findText(view["result_label"]) >= 0:
            self.result_choice.setCurrentText(view["result_label"])
        self.result_view.restore(view.get("result_view", {}))
        self.compare_view.restore(view.get("compare_view", {}))
        if view.get("selected_region") and self.session.mesh is not None and view["selected_region"] in self.session.mesh.regions:
            self.mesh_panel.select_region(view["selected_region"])
        if isinstance(view.get("tab"), int):
            self.tabs.setCurrentIndex(view["tab"])

    def open_case_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open case", "", CASE_FILTER)
        if path:
            self.open_case(path)

    def open_mesh_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open mesh", "", MESH_FILTER)
        if path:
            self.open_mesh(path)

    def open_project_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    # -- export --
    def current_result(self) -> Result | None:
        return self.session.results.get(self.result_choice.currentText())

    def export_vtu(self, path: str | Path) -> list[Path]:
        from engine.result_io import write_vtu

        result = self.current_result()
        if result is None:
            raise InputError("no result to export", expected="run a solver first")
        return write_vtu(result, path)

    def export_vtu_dialog(self) -> None:
        if self.current_result() is None:
            self.statusBar().showMessage("no result to export yet: run a solver first")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export result", f"{self.result_choice.currentText()}.vtu", "VTK unstructured grid (*.vtu)")
        if path:
            try:
                files = self.export_vtu(path)
                self.statusBar().showMessage(f"wrote {files[0]}")
            except (WorkbenchError, OSError) as err:  # OSError: disk full, permissions
                self.show_error("Cannot export", err)

    def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the whole window (the VTK views rendered first)."""
        from engine.atomic import atomic_path

        for view in (self.mesh_view, self.result_view, self.compare_view):
            if view.isVisible():
                view.plotter.render()
        QtWidgets.QApplication.processEvents()
        image = self.grab()
        path = Path(path)
        with atomic_path(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise InputError("cannot write the screenshot", source=path, expected="a folder you can write to, with room to spare")
        return path

    def export_png_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save screenshot", "workbench.png", "PNG image (*.png)")
        if path:
            try:
                self.statusBar().showMessage(f"wrote {self.screenshot(path)}")
            except (WorkbenchError, OSError) as err:  # OSError: disk full, permissions
                self.show_error("Cannot save the screenshot", err)

    def export_csv_dialog(self) -> None:
        if self.line_plot.distance is None:
            self.statusBar().showMessage("no line plot yet: run a solver, then place a line in the Plots panel")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export line plot", "line.csv", "CSV (*.csv)")
        if path:
            try:
                self.line_plot.export_csv(path)
                self.statusBar().showMessage(f"wrote {path}")
            except (WorkbenchError, OSError) as err:  # OSError: disk full, permissions
                self.show_error("Cannot export", err)

    def export_probes_dialog(self) -> None:
        if not self.probe_plot.curves:
            self.statusBar().showMessage("no probes over time yet: run a transient case with probes")
            return
        path = self._save_path("Export probes over time", "probes.csv", {"CSV (*.csv)": ".csv"})
        if path:
            self._write_export("the probes", lambda: self.probe_plot.export_csv(path), path)

    def _plots(self) -> dict[str, tuple[str, QtWidgets.QWidget]]:
        return {"line": ("Line plot", self.line_plot), "histogram": ("Error histogram", self.histogram), "probes": ("Probes over time", self.probe_plot),
                "forces": ("Forces over time", self.force_plot)}

    def export_plot(self, which: str, path: str | Path, *, width: int | None = None) -> Path:
        """Write the plot ``which`` ("line", "histogram", "probes" or "forces") as PNG or SVG, by the suffix of ``path``."""
        if which not in self._plots():
            raise InputError("unknown plot", field="plot", value=which, expected=f"one of {', '.join(self._plots())}")
        return export_plot(self._plots()[which][1].plot, path, width=width)

    def export_plot_dialog(self) -> None:
        plots = self._plots()
        shown = "forces" if self.force_plot.curves else "probes" if self.probe_plot.curves else "histogram" if self.histogram.counts is not None else "line"
        titles = [title for title, _ in plots.values()]
        title, ok = QtWidgets.QInputDialog.getItem(self, "Export a plot", "Plot", titles, list(plots).index(shown), False)
        if not ok:
            return
        which = list(plots)[titles.index(title)]
        path = self._save_path("Export plot", f"{which}.png", {"PNG image (*.png)": ".png", "SVG drawing (*.svg)": ".svg"})
        if path:
            self._write_export("the plot", lambda: self.export_plot(which, path), path)

    def _answered_case(self) -> Case | None:
        """The case the current results answer (the case as it is, when that record is missing or too old to read)."""
        from engine.case.load import parse_case

        case = self.session.case
        if case is not None and self.results_case is not None:
            with contextlib.suppress(WorkbenchError):
                return parse_case(self.results_case, source=case.source)
        return case

    def export_metrics(self, path: str | Path) -> Path:
        """Write the metrics tables: CSV (the three tables, in full precision) or JSON (the
        document a batch run writes as metrics.json), by the suffix of ``path``."""
        import json

        from engine.atomic import atomic_write_text
        from engine.run import metrics_of

        path = Path(path)
        case = self._answered_case()
        if not self.session.results or case is None:
            raise InputError("no metrics to export", expected="run a solver first")
        if path.suffix.lower() == ".csv":
            self.metrics_panel.export_csv(path)
        elif path.suffix.lower() == ".json":
            metrics = metrics_of(case, self.session.results, comparison=self.session.comparison)
            atomic_write_text(path, json.dumps(metrics, indent=2) + "\n")
        else:
            raise InputError("cannot tell the file's format", source=path, expected="a file name ending in .csv or .json")
        return path

    def export_metrics_dialog(self) -> None:
        if not self.session.results:
            self.statusBar().showMessage("no metrics to export yet: run a solver first")
            return
        path = self._save_path("Export metrics", "metrics.json", {"JSON, as a batch run's metrics.json (*.json)": ".json", "CSV (*.csv)": ".csv"})
        if path:
            self._write_export("the metrics", lambda: self.export_metrics(path), path)

    def screenshot_view(self, path: str | Path, *, width: int, height: int) -> Path:
        """Save a PNG of the shown VTK view (mesh, result or compare) rendered at ``width`` x
        ``height`` pixels, whatever its size on screen; what it shows across stays in the picture."""
        from engine.atomic import atomic_path

        view = self.tabs.currentWidget()
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or not _SHOT_PIXELS[0] <= value <= _SHOT_PIXELS[1]:
                raise InputError(f"the screenshot's {name} is out of range", field=name, value=value,
                                 expected=f"a whole number of pixels from {_SHOT_PIXELS[0]} to {_SHOT_PIXELS[1]}")
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise InputError("a view screenshot is a PNG", source=path, expected="a file name ending in .png")
        if view.closed:
            raise InputError("the view is closed", expected="an open window")
        with atomic_path(path) as tmp, _camera_for_aspect(view.plotter, width / height):
            view.plotter.screenshot(str(tmp), window_size=(width, height))
        view.plotter.render()
        return path

    def export_view_dialog(self) -> None:
        view = self.tabs.currentWidget()
        size = _ask_size(self, view.plotter.interactor.width(), view.plotter.interactor.height())
        if size is None:
            return
        name = self.tabs.tabText(self.tabs.currentIndex()).lower()
        path = self._save_path("Save view screenshot", f"{name}-{size[0]}x{size[1]}.png", {"PNG image (*.png)": ".png"})
        if path:
            self._write_export("the view", lambda: self.screenshot_view(path, width=size[0], height=size[1]), path)

    def _save_path(self, title: str, start: str, filters: dict[str, str]) -> str:
        """Ask where to save; the suffix of the chosen filter added when the name has none of them."""
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, title, start, ";;".join(filters))
        if path and Path(path).suffix.lower() not in filters.values():
            path += filters.get(chosen, next(iter(filters.values())))
        return path

    def _write_export(self, what: str, write: Callable[[], Any], path: str) -> bool:
        try:
            write()
        except (WorkbenchError, OSError) as err:  # OSError: disk full, permissions
            self.show_error(f"Cannot export {what}", err)
            return False
        self.statusBar().showMessage(f"wrote {path}")
        return True

    # -- jobs --
    def start_job(self, name: str, fn: Callable[[Callable, threading.Event], Any], on_returned: Callable[[Any], None], *,
                  kind: str = "solve") -> Job | None:
        """Run ``fn`` on a worker, as one of two jobs that may run side by side.

        ``kind="solve"``: meshing or solving, one at a time; the Run panel follows it, Cancel
        stops it, and its answer belongs to the document open when it started. ``"training"``:
        the training dialog's, one at a time; it outlives documents. None: that kind of job is
        running already (the status bar says so).
        """
        if kind not in ("solve", "training"):
            raise ValueError(f"unknown kind of job {kind!r}")
        running = self.job if kind == "solve" else self.training_job
        if running is not None:
            self.statusBar().showMessage(_busy_text(running, kind))
            return None
        job = Job(name, fn, self)
        if kind == "solve":
            self.job = job
            self.run_panel.attach(job)
            document = self._document
        else:
            self.training_job = job
            self.run_panel.attach_beside(job)
            document = None
        job.returned.connect(lambda value, name=name: self._deliver(name, on_returned, value, document))
        job.errored.connect(lambda exc, name=name: self.show_error(f"{name} failed", exc))
        job.cancelled.connect(lambda name=name: self.statusBar().showMessage(f"{name} cancelled; earlier results are kept"))
        job.finished.connect(lambda job=job: self._job_done(job))
        self._update_actions()
        job.start()
        self.statusBar().showMessage(f"{name}..." if kind == "solve" else f"{name}: follow it in its dialog; Mesh and Run work meanwhile")
        return job

    def _deliver(self, name: str, on_returned: Callable[[Any], None], value: Any, document: int | None) -> None:
        """Hand a job's answer over; a solve's answer only to the document it was started for
        (``document`` None: the answer belongs to no document)."""
        if document is not None and document != self._document:
            self.run_panel.append(f"{name}: its result belongs to a document closed since; dropped")
            return
        try:
            with contextlib.ExitStack() as held:
                for view in (self.mesh_view, self.result_view, self.compare_view):
                    held.enter_context(view.render_once())  # many changes, one render each
                on_returned(value)
        except Exception as exc:  # showing a result must not take the window down either
            import traceback

            exc.traceback_text = traceback.format_exc()  # type: ignore[attr-defined]
            self.show_error(f"{name}: the result could not be shown", exc)

    def _job_done(self, job: Job) -> None:
        if self.job is job:
            self.job = None
        if self.training_job is job:
            self.training_job = None
        self._update_actions()
        if self.statusBar().currentMessage() == f"{job.name}...":
            self.statusBar().showMessage(f"{job.name}: {job.outcome} after {job.wall_time or 0:.1f} s")
        self.jobFinished.emit(job.name, job.outcome or "errored")

    def cancel_job(self) -> None:
        """Cancel the mesh or solve running (a training is cancelled in its dialog)."""
        if self.job is not None:
            self.run_panel.cancel()

    def _update_actions(self) -> None:
        busy = self.job is not None
        has_case = self.session.case is not None
        busy_tip = _busy_text(self.job, "solve") if busy else ""
        for action in (self.act_mesh, self.act_run_classical):
            action.setEnabled(has_case and not busy)
            _tell(action, busy_tip or self._tips[action])
        _tell(self.act_train, _busy_text(self.training_job, "training") if self.training_job is not None else self._tips[self.act_train])
        for action in (self.act_save_case, self.act_save_case_as):
            action.setEnabled(has_case)
        self.act_cancel.setEnabled(busy)
        self.mesh_panel.set_busy(busy)
        has_surrogate = has_case and self.session.case.solver.surrogate is not None
        reasons = self.case_panel.incompatible if has_surrogate else []
        can = has_case and not busy and has_surrogate and not reasons
        self.act_run_surrogate.setEnabled(can)
        self.act_run_both.setEnabled(can)
        if has_case and not has_surrogate:
            tip = "pick a surrogate model in Case > Solver first. " + self.case_panel.surrogate_status()
        elif reasons:
            tip = "the chosen surrogate cannot answer this case: " + "; ".join(reasons)
        else:
            tip = ""
        for action in (self.act_run_surrogate, self.act_run_both):
            _tell(action, busy_tip or tip or self._tips[action])

    def commit_pending_edit(self) -> list[str]:
        """Apply what is typed in a field but not yet confirmed; what stays refused, as
        "label: reason" (a refused text stays in its field for correction, so a run or a mesh
        must not start then: it would use another value than the form shows)."""
        for edit in self.setup_tabs.findChildren(QtWidgets.QLineEdit):
            if edit.isModified() and edit.isVisible() and not edit.isReadOnly():
                if edit.hasAcceptableInput():
                    edit.editingFinished.emit()
                else:  # half-typed in a box with a validator: show the value in use again
                    edit.setModified(False)
                    self.case_panel.refresh(self.session.case)
                    self.mesh_panel.refresh(self.session.case)
        return [f"{edit.label or 'a field'}: {edit.error}" for edit in self.setup_tabs.findChildren(CheckedEdit)
                if edit.error and edit.isVisible()]

    def _refuse_for_refused_fields(self, doing: str) -> bool:
        """Say (in the status bar) why ``doing`` does not start while a field holds a refused text."""
        refused = self.commit_pending_edit()
        if refused:
            self.statusBar().showMessage(f"Not {doing}: correct the field marked red first ({refused[0]})", 15000)
        return bool(refused)

    def mesh_case(self) -> Job | None:
        if self._refuse_for_refused_fields("meshed"):
            return None
        case = self.session.case
        if case is None:
            return None
        from engine.problem import build_case_mesh

        models = self.case_panel.models_to_check()

        def work(progress, cancel):
            from engine.solver import check_cancelled

            if case.geometry.file is not None:
                progress(None, f"reading {Path(case.geometry.file).name}")
            else:
                progress(None, f"meshing {case.geometry.kind} with gmsh")
            mesh = build_case_mesh(case, cancel=cancel)  # Cancel stops gmsh's process at once
            check_cancelled(cancel, "meshing")
            progress(None, "preparing the mesh view")
            shown = MeshView.prepare(mesh)
            progress(None, "checking the case against the mesh")
            return mesh, shown, CasePanel.prepare(case, mesh, models), mesh_statistics(mesh)

        def done(value) -> None:
            mesh, shown, checked, statistics = value
            self.mesh_view.offer(shown)
            if self.session.case is not None and mesh_key(self.session.case) == mesh_key(case):
                self.case_panel.offer(checked)
                self.mesh_panel.offer(mesh, statistics)
                self.session.set_mesh(mesh, case)
            self.tabs.setCurrentWidget(self.mesh_view)
            self.statusBar().showMessage(f"meshed: {mesh.n_points} points, {mesh.n_cells} cells")

        return self.start_job("mesh", work, done)

    def run(self, which: str) -> Job | None:
        """Run ``"classical"``, ``"surrogate"`` or ``"both"`` (then compare) on the current case."""
        if self._refuse_for_refused_fields("run"):
            return None
        case = self.session.case
        if case is None:
            self.statusBar().showMessage("open or set up a case first")
            return None
        names = ["classical", "surrogate"] if which == "both" else [which]
        mesh = self.session.mesh_for(case)  # meshed already: do not mesh again
        # What the answer joins and how the views are set, as they are now: the worker prepares
        # for that (should either change meanwhile, the widgets build what no longer fits).
        kept, view = self._kept_results(case), self._view_state()
        shown_mesh = self.mesh_view.shown

        def work(progress, cancel):
            from engine.run import solve_case

            results, comparison = solve_case(case, solver=which, mesh=mesh, progress=progress, cancel=cancel)
            progress(None, "preparing the views")
            return results, _prepare_answer({**kept, **results}, comparison, names[0], view, shown_mesh=shown_mesh, meshed=mesh is None)

        def done(value) -> None:
            results, prepared = value
            self._offer(prepared)
            current = self.session.case
            if current is not None and self.session.mesh_for(current) is None and mesh_key(current) == mesh_key(case):
                self.session.set_mesh(next(iter(results.values())).mesh, case)
            kept = self._kept_results(case)
            self.results_case = case_data(case)
            self._result_to_show = names[0]
            self.session.set_results({**kept, **results}, replace=True, comparison=prepared.comparison)
            self._case_changed(self.session.case)  # stale if the case was edited during the run
            self.tabs.setCurrentWidget(self.compare_view if which == "both" else self.result_view)
            self.statusBar().showMessage(self.metrics_panel.headline.text().replace("<b>", "").replace("</b>", ""))

        return self.start_job(f"{which} run" if which != "both" else "run both and compare", work, done)

    def show_error(self, title: str, error: BaseException | str) -> None:
        """Say what went wrong in a dialog (non-blocking) and in the log; the app carries on."""
        text = str(error)
        self.last_error = text
        if not self.running_jobs() or not hasattr(error, "traceback_text"):  # a job's failure is in the log already
            self.run_panel.append(f"error: {title}: {text}")
        self.statusBar().showMessage(f"{title}: {text}")
        dialog = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, title, text, QtWidgets.QMessageBox.StandardButton.Ok, self)
        if not isinstance(error, WorkbenchError) and hasattr(error, "traceback_text"):
            dialog.setInformativeText("This looks like a bug of the workbench; the details hold the traceback.")
            dialog.setDetailedText(error.traceback_text)
        dialog.setObjectName("error_dialog")
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_dialog = dialog
        dialog.open()

    # -- session -> widgets --
    def _case_changed(self, case: Case | None) -> None:
        self._update_actions()
        self._update_title()
        self.metrics_panel.set_stale(self._stale_results(case))

    def _kept_results(self, case: Case) -> dict[str, Result]:
        """The current results that an answer to ``case`` joins: those it would not change."""
        stale = self._stale_results(case)
        return {label: result for label, result in self.session.results.items() if label not in stale}

    def _view_state(self) -> dict[str, Any]:
        """What the views show now, for a worker to prepare the same of the next answer."""
        return {"result_field": self.result_view.field_name, "result_component": self.result_view.component,
                "compare_field": self.compare_view.field_name, "compare_component": self.compare_view.component,
                "error_mode": self.compare_view.error_mode, "line": (self.line_plot.start_edit.text(), self.line_plot.end_edit.text())}

    def _offer(self, prepared: _Prepared) -> None:
        """Hand the widgets what the worker built for the answer about to be shown."""
        if prepared.mesh is not None:
            self.mesh_view.offer(prepared.mesh)
        self.result_view.offer(prepared.result)
        self.compare_view.offer(prepared.compared)
        self.line_plot.offer(prepared.profile)
        self.histogram.offer(prepared.histogram)

    def _stale_results(self, case: Case | None) -> list[str]:
        """The results that ``case`` would answer otherwise, each by what its solver depends on
        (a surrogate's model does not change the classical answer)."""
        from engine.case.load import parse_case

        if case is None or self.results_case is None:
            return []
        try:
            answered = parse_case(self.results_case, source=case.source)
        except WorkbenchError:  # a project's record of an older case format: assume it changed
            return list(self.session.results)
        return [label for label in self.session.results if answer_key(answered, label) != answer_key(case, label)]

    def _mesh_changed(self, mesh: Mesh | None) -> None:
        self.mesh_view.set_mesh(mesh, welcome=self.session.case is None)

    def _results_changed(self) -> None:
        results = self.session.results
        keep, self._result_to_show = self._result_to_show or self.result_choice.currentText(), None
        self.result_choice.blockSignals(True)
        self.result_choice.clear()
        self.result_choice.addItems(list(results))
        if keep in results:
            self.result_choice.setCurrentText(keep)
        self.result_choice.blockSignals(False)
        self._show_result(self.result_choice.currentText())
        comparison = self.session.comparison
        self.compare_view.set_comparison(results.get("classical"), results.get("surrogate"), comparison, self.session.comparison_error)
        self.metrics_panel.show_results(results, comparison, self.session.comparison_error)
        self.probe_plot.set_results(results)
        self.probe_plot.set_time(self.result_view.time)
        self.force_plot.set_results(results)
        self.force_plot.set_time(self.result_view.time)
        if self.force_plot.curves:
            self.plot_tabs.setCurrentWidget(self.force_plot)
        elif self.probe_plot.curves:
            self.plot_tabs.setCurrentWidget(self.probe_plot)
        elif comparison is not None:
            self.plot_tabs.setCurrentWidget(self.histogram)
        self._compare_view_changed()

    def _show_result(self, label: str) -> None:
        self.result_view.set_result(self.session.results.get(label), label)
        if self.session.comparison is None:
            self._result_view_changed()

    def _result_view_changed(self) -> None:
        self.metrics_panel.show_time(self.result_view.time)  # the probes at the time shown
        self.probe_plot.set_time(self.result_view.time)
        self.force_plot.set_time(self.result_view.time)
        if self.session.comparison is None and self.result_view.result is not None:
            self.line_plot.set_results({self.result_view.label: self.result_view.result}, self.result_view.field_name,
                                       self.result_view.component, step=self.result_view.step)
            self.histogram.set_values(None)

    def _compare_view_changed(self) -> None:
        values = self.compare_view.values()
        if values is None:
            if not self.session.results:
                self.line_plot.set_results({}, "")
                self.histogram.set_values(None)
            return
        self.line_plot.set_results({k: self.session.results[k] for k in ("classical", "surrogate")},
                                   self.compare_view.field_name, self.compare_view.component)
        self.histogram.set_values(values["error"], f"{self.compare_view.field_name} {self.compare_view.error_mode} error")

    def _line_changed(self, start, end) -> None:
        for view in (self.result_view, self.compare_view):
            view.show_line(start, end)

    def _line_tool(self, on: bool) -> None:
        """Offer the draggable line in the shown result or compare view."""
        for view in (self.result_view, self.compare_view):
            view.stop_line_tool()
        view = self.tabs.currentWidget()
        line = self.line_plot.line()
        if not on or view not in (self.result_view, self.compare_view) or line is None:
            return
        gdim = len(line[0])
        view.start_line_tool(*line, lambda a, b: self.line_plot.set_line(a[:gdim], b[:gdim]))

    def _boundary_region_selected(self) -> None:
        name = self.case_panel.selected_region()
        if name is not None and self.session.mesh is not None and name in self.session.mesh.regions:
            self.mesh_view.highlight(name)

    def reset_layout(self) -> None:
        self.restoreState(self._initial_layout)
        for dock in (self.setup_dock, self.metrics_dock, self.plots_dock, self.run_dock):
            dock.show()
            dock.setFloating(False)

    def _reset_camera(self) -> None:
        view = self.tabs.currentWidget()
        if hasattr(view, "reset_camera"):
            view.reset_camera()

    def _update_title(self, *_: Any) -> None:
        case = self.session.case
        name = (case.title or (case.source.name if case.source else "untitled")) if case else "no case"
        star = " *" if self.is_modified() else ""
        self.setWindowTitle(f"{name}{star} - Simulation Workbench")

    def _about(self) -> None:
        from engine._version import __version__

        QtWidgets.QMessageBox.about(self, "Simulation Workbench", f"Simulation Workbench {__version__}\n"
                                    "Finite elements and neural-operator surrogates, side by side.")

    def open_help(self, topic: str | None = None) -> None:
        from workbench.gui.help import HelpWindow

        if getattr(self, "help_window", None) is None:
            self.help_window = HelpWindow(self.findChildren(QtGui.QAction), self)
        if topic is not None:
            self.help_window.show_topic(topic)
        self.help_window.show()
        self.help_window.raise_()

    def open_training(self) -> None:
        from workbench.gui.training_dialog import TrainingDialog

        if getattr(self, "training_dialog", None) is None:
            self.training_dialog = TrainingDialog(self)
            self.training_dialog.modelSaved.connect(self._model_trained)
        self.training_dialog.show()
        self.training_dialog.raise_()

    def _model_trained(self, name: str) -> None:
        """A training saved ``name``: list it, and make it the case's surrogate when it was trained for this case."""
        self.case_panel.reload_models()
        trained_for = self.training_dialog.saved_for_case
        if trained_for is not False and self.session.case is not None and self.editor.source == trained_for:
            self.case_panel.use_model(name)

    # -- closing --
    def running_jobs(self) -> list[Job]:
        """The solve and the training running now."""
        return [job for job in (self.job, self.training_job) if job is not None]

    def _may_stop_job(self) -> bool:
        """Ask once before closing stops the running jobs (those being cancelled already are not asked about)."""
        running = [job for job in self.running_jobs() if not job.cancel_requested]
        if not running or not self.confirm_close:
            return True
        names = " and ".join(f"'{job.name}'" for job in running)
        answer = QtWidgets.QMessageBox.question(
            self, "Stop the running job?", f"The job{'s' if len(running) > 1 else ''} {names} {'have' if len(running) > 1 else 'has'} "
            f"not finished. Stop {'them' if len(running) > 1 else 'it'} and quit?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No, QtWidgets.QMessageBox.StandardButton.No,
        )
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._may_discard(closing=True) or not self._may_stop_job():
            event.ignore()
            return
        for job in self.running_jobs():
            job.cancel()
        for job in self.running_jobs():
            job.wait(10.0)
        for view in (self.mesh_view, self.result_view, self.compare_view):
            view.close_view()
        dialog = getattr(self, "training_dialog", None)
        if dialog is not None:
            dialog.close()
        event.accept()

