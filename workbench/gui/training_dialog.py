"""TrainingDialog: generate a data set with the classical solver and train a surrogate on it,
as a job of its own beside the window's meshing and solving, with live loss curves, Cancel,
and the result saved into the library.

Two sources of data: a study of the open case (its parameters and its geometry's sizes varied
over ranges the user sets, every sample on its own mesh, a mesh model trained on them; the new
model becomes the case's surrogate), or the Darcy grid recipe of the grid models."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.errors import InputError, WorkbenchError
from engine.resources import resources_dir

__all__ = ["TrainingDialog", "DEFAULT_CONFIGS", "datasets_dir", "training_threads"]

#: Small starting configs per model: they train in minutes on a laptop CPU.
DEFAULT_CONFIGS: dict[str, dict[str, Any]] = {
    "fno": {"modes1": 8, "modes2": 8, "width": 16},
    "ffno": {"modes1": 8, "modes2": 8, "width": 16},
    "mgno": {"width": 16},
    "unet": {"width": 16},
    "deeponet": {},
    "transolver": {},
}
#: Models for each source of data: a study of the case gives samples on meshes.
CASE_MODELS = ("transolver",)
GRID_MODELS = ("fno", "ffno", "mgno", "unet", "deeponet")
#: Where the data come from, as the source box lists them.
SOURCES = ("a study of the open case", "Darcy on the unit square (grid recipe)")


def default_range(value: float) -> tuple[float, float]:
    """A starting range for a parameter: its value +-20 % (-1 to 1 for a zero)."""
    if value == 0:
        return -1.0, 1.0
    low, high = 0.8 * value, 1.2 * value
    return (min(low, high), max(low, high))


def training_threads() -> int:
    """Torch threads for a training in the app: every core but one, which the GUI and a solve
    run meanwhile share (a surrogate solve meanwhile uses torch's pool, the process's, as well)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


def datasets_dir() -> Path:
    """Where the app keeps the data sets it generates: beside the user's model library."""
    from engine.surrogates.library import user_library

    return user_library().parent / "datasets"


_START_TIP = "generate the data set (reused when it exists) and train; meshing and solving in the window carry on meanwhile"


class TrainingDialog(QtWidgets.QDialog):
    """Data set recipe + model + training settings -> a model folder in the user library."""

    modelSaved = QtCore.Signal(str)

    def __init__(self, window, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle("Train a surrogate")
        self.resize(780, 900)
        layout = QtWidgets.QVBoxLayout(self)
        self.source_box = QtWidgets.QComboBox()
        self.source_box.addItems(SOURCES)
        self.source_box.setToolTip("a study of the open case: vary its parameters, every sample solved on its own mesh; "
                                   "or the Darcy grid recipe of the grid models")
        top = QtWidgets.QFormLayout()
        top.addRow("Train on", self.source_box)
        layout.addLayout(top)
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self._case_page())
        recipe_page = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(recipe_page)
        form.setContentsMargins(0, 0, 0, 0)
        self.pages.addWidget(recipe_page)
        self.recipe_edit = QtWidgets.QLineEdit(str(resources_dir() / "datasets" / "darcy_dataset.toml"))
        self.recipe_edit.setToolTip("a data set recipe (TOML): how coefficients are sampled and solved")
        browse = QtWidgets.QPushButton("Browse...")
        browse.clicked.connect(self._browse_recipe)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.recipe_edit, 1)
        row.addWidget(browse)
        form.addRow("Recipe", row)
        self.resolution = QtWidgets.QSpinBox()
        self.resolution.setRange(8, 512)
        self.resolution.setValue(32)
        self.resolution.setToolTip("grid points per side, boundary included")
        form.addRow("Resolution", self.resolution)
        layout.addWidget(self.pages)
        form = QtWidgets.QFormLayout()
        self.samples = QtWidgets.QSpinBox()
        self.samples.setRange(8, 100_000)
        self.samples.setValue(200)
        self.scheduler = QtWidgets.QComboBox()
        self.scheduler.addItems(["local cluster (2 processes)", "this process"])
        self.scheduler.setEditable(True)
        self.scheduler.setToolTip("where the samples are solved: a local Dask cluster, this process, or a scheduler address tcp://host:8786")
        form.addRow("Samples", self.samples)
        form.addRow("Solve on", self.scheduler)
        self.model_box = QtWidgets.QComboBox()
        self.model_box.currentTextChanged.connect(lambda m: self.config_edit.setText(json.dumps(DEFAULT_CONFIGS.get(m, {}))))
        self.config_edit = QtWidgets.QLineEdit(json.dumps(DEFAULT_CONFIGS["fno"]))
        self.config_edit.setToolTip("the model's options as JSON; channels are set from the data")
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(30)
        self.learning_rate = QtWidgets.QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(1e-5, 1.0)
        self.learning_rate.setValue(2e-3)
        self.budget = QtWidgets.QSpinBox()
        self.budget.setRange(0, 10**6)
        self.budget.setValue(300)
        self.budget.setSuffix(" s")
        self.budget.setSpecialValueText("none")
        self.budget.setToolTip("training time budget (0: none): training stops within a batch of it, and the learning rate anneals over it")
        self.name_edit = QtWidgets.QLineEdit("my-darcy-fno")
        self.name_edit.setToolTip("the name in your model library")
        for label, widget in (("Model", self.model_box), ("Config", self.config_edit), ("Epochs", self.epochs),
                              ("Learning rate", self.learning_rate), ("Time budget", self.budget), ("Save as", self.name_edit)):
            form.addRow(label, widget)
        layout.addLayout(form)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(180)
        self.plot.setLogMode(y=True)  # losses fall by decades
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "relative L2 loss")
        self.plot.addLegend()
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen("#1f4e79", width=2), symbol="o", symbolSize=5, name="train")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen("#e4572e", width=2), symbol="t", symbolSize=6, name="validation")
        layout.addWidget(self.plot, 1)
        self.status = QtWidgets.QLabel("Generate a data set with the finite-element solver, then train on it.")
        self.status.setWordWrap(True)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        buttons = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Generate and train")
        self.start_button.setToolTip(_START_TIP)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("stop the training; nothing is saved (the window's Cancel stops its solve, not this)")
        self.cancel_button.clicked.connect(self.cancel)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, close):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.history: list[dict[str, Any]] = []
        self.saved: tuple[Path, Any] | None = None
        self.saved_for_case: Path | None | bool = False
        self.job = None
        self.source_box.currentIndexChanged.connect(self._source_changed)
        window.session.caseChanged.connect(lambda _: self.fill_parameters())
        self.fill_parameters()
        self._source_changed(0 if window.session.case is not None else 1)

    def _case_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        box = QtWidgets.QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        self.case_label = QtWidgets.QLabel("")
        self.case_label.setWordWrap(True)
        box.addWidget(self.case_label)
        self.parameter_table = QtWidgets.QTableWidget(0, 4)
        self.parameter_table.setHorizontalHeaderLabels(["vary", "low", "high", "now"])
        self.parameter_table.horizontalHeader().setStretchLastSection(True)
        self.parameter_table.setToolTip("tick the parameters to vary and set their ranges; each sample draws every ticked one at random")
        self.parameter_table.setMinimumHeight(120)
        box.addWidget(self.parameter_table)
        return page

    def _source_changed(self, index: int) -> None:
        if self.source_box.currentIndex() != index:
            self.source_box.setCurrentIndex(index)  # comes back here
            return
        self.pages.setCurrentIndex(index)
        models = CASE_MODELS if index == 0 else GRID_MODELS
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems(list(models))
        self.model_box.blockSignals(False)
        self.config_edit.setText(json.dumps(DEFAULT_CONFIGS[models[0]]))
        case = self.window_.session.case
        stem = Path(case.source).stem.replace("_", "-") if case is not None and case.source else "my-case"
        self.name_edit.setText(f"{stem}-{models[0]}" if index == 0 else "my-darcy-fno")

    def fill_parameters(self) -> None:
        """List what a study of the open case can vary, each with a starting range."""
        from engine.surrogates.data.generate import variable_parameters

        case = self.window_.session.case
        offered = variable_parameters(case) if case is not None else []
        self.case_label.setText(
            f"Vary the parameters of {Path(case.source).name if case is not None and case.source else 'the open case'}: every sample is "
            "meshed and solved by the finite elements, then a mesh model learns the answers." if case is not None
            else "Open a case to train a surrogate for it.")
        table = self.parameter_table
        # an edit of the case (a new model chosen, a value changed) keeps what the user ticked and typed
        kept = {table.verticalHeaderItem(r).text(): (table.item(r, 0).checkState(), table.item(r, 1).text(), table.item(r, 2).text())
                for r in range(table.rowCount())}
        table.setRowCount(len(offered))
        table.setVerticalHeaderLabels([name for name, _, _ in offered])
        for row, (name, value, description) in enumerate(offered):
            low, high = default_range(value)
            state, *ends = kept.get(name, (QtCore.Qt.CheckState.Unchecked, f"{low:g}", f"{high:g}"))
            tick = QtWidgets.QTableWidgetItem()
            tick.setFlags(QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsEnabled)
            tick.setCheckState(state)
            tick.setToolTip(description)
            table.setItem(row, 0, tick)
            for column, text in ((1, ends[0]), (2, ends[1])):
                table.setItem(row, column, QtWidgets.QTableWidgetItem(text))
            now = QtWidgets.QTableWidgetItem(f"{value:g}")
            now.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            table.setItem(row, 3, now)

    def set_range(self, name: str, low: float, high: float) -> None:
        """Vary ``name`` over ``[low, high]`` (as ticking its row and typing the numbers would)."""
        table = self.parameter_table
        for row in range(table.rowCount()):
            if table.verticalHeaderItem(row).text() == name:
                table.item(row, 0).setCheckState(QtCore.Qt.CheckState.Checked)
                table.item(row, 1).setText(f"{low:g}")
                table.item(row, 2).setText(f"{high:g}")
                return
        raise KeyError(name)

    def ranges(self) -> dict[str, tuple[float, float]]:
        """The ticked parameters' ranges (raises InputError for a range that is no range)."""
        out = {}
        table = self.parameter_table
        for row in range(table.rowCount()):
            if table.item(row, 0).checkState() != QtCore.Qt.CheckState.Checked:
                continue
            name = table.verticalHeaderItem(row).text()
            try:
                low, high = float(table.item(row, 1).text()), float(table.item(row, 2).text())
            except ValueError:
                raise InputError("a range end is not a number", field=name, value=[table.item(row, 1).text(), table.item(row, 2).text()],
                                 expected="two numbers, low and high") from None
            if not low < high:
                raise InputError("a range's low end is not below its high end", field=name, value=[low, high], expected="low < high")
            out[name] = (low, high)
        return out

    def _browse_recipe(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Data set recipe", self.recipe_edit.text(), "Recipes (*.toml)")
        if path:
            self.recipe_edit.setText(path)

    def settings(self) -> dict[str, Any]:
        """What the job will do, read from the form (raises InputError for bad values)."""
        from engine.surrogates.library import check_library_name

        name = check_library_name(self.name_edit.text().strip())
        try:
            config = json.loads(self.config_edit.text() or "{}")
        except json.JSONDecodeError as exc:
            raise InputError(f"the config is not JSON ({exc})", field="config", value=self.config_edit.text(), expected='e.g. {"width": 16}') from None
        text = self.scheduler.currentText().strip()
        scheduler = None if text.startswith("local cluster") else "synchronous" if text == "this process" else text
        if self.source_box.currentIndex() == 0:
            from engine.surrogates.data.generate import study_for_case

            editor = self.window_.editor
            if editor.data is None:
                raise InputError("no case is open", expected="a case to vary (File > Open), or the grid recipe")
            study = study_for_case(editor.data, editor.source, self.ranges(), self.samples.value(), name=f"{name}-data")
            data = {"study": study, "dataset": datasets_dir() / f"{name}-{study.fingerprint()[:10]}.h5"}
        else:
            from engine.surrogates.datasets import load_recipe

            recipe = load_recipe(self.recipe_edit.text()).model_dump(mode="json")
            recipe.update(n_samples=self.samples.value(), resolution=self.resolution.value(), name=f"{name}-data")
            # the recipe's digest in the name: another recipe never meets this file (generate_dataset would refuse it)
            data = {"recipe": recipe, "dataset": datasets_dir() / f"{name}-{hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]}.h5"}
        return {
            **data,
            "scheduler": scheduler,
            "model": self.model_box.currentText(),
            "config": config,
            "epochs": self.epochs.value(),
            "learning_rate": self.learning_rate.value(),
            "time_budget": float(self.budget.value()) or None,
            "name": name,
        }

    def start(self) -> None:
        try:
            plan = self.settings()
        except WorkbenchError as err:
            self.status.setText(f"Not started: {err}")
            return
        from engine.surrogates.library import user_library

        if (user_library() / plan["name"]).exists():
            answer = QtWidgets.QMessageBox.question(self, "Replace model?", f"Your library has a model {plan['name']!r} already. Replace it when training ends?")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return
        self.history = []
        self.train_curve.setData([], [])
        self.val_curve.setData([], [])

        def work(progress, cancel):
            from engine.surrogates.data.generate import generate_mesh_dataset
            from engine.surrogates.datasets import generate_dataset
            from engine.surrogates.fit import train_surrogate

            plan["dataset"].parent.mkdir(parents=True, exist_ok=True)
            on_data = lambda f, m: progress(None if f is None else 0.3 * f, f"data: {m}")  # noqa: E731
            if "study" in plan:
                if not plan["dataset"].exists():  # a finished data set of this very study is reused
                    generate_mesh_dataset(plan["study"], plan["dataset"], scheduler=plan["scheduler"], progress=on_data, cancel=cancel)
            else:
                generate_dataset(plan["recipe"], plan["dataset"], scheduler=plan["scheduler"], progress=on_data, cancel=cancel)
            return train_surrogate(
                plan["dataset"], model=plan["model"], config=plan["config"], name=plan["name"], epochs=plan["epochs"],
                learning_rate=plan["learning_rate"], time_budget=plan["time_budget"], num_threads=plan["threads"],
                progress=lambda f, m: progress(None if f is None else 0.3 + 0.7 * f, f"training: {m}"),
                on_epoch=progress.yielded, cancel=cancel,
            )

        plan["threads"] = training_threads()
        job = self.window_.start_job(f"train {plan['name']}", work, self._saved, kind="training")
        if job is None:
            self.status.setText("A training is running already (one at a time): wait for it or cancel it.")
            return
        self.job = job
        # the case the model is trained for: it becomes that case's surrogate, not another one opened meanwhile
        self.saved_for_case = self.window_.editor.source if "study" in plan else False
        job.progress.connect(self._progress)
        job.yielded.connect(self._add_epoch)
        job.finished.connect(self._finished)
        job.cancelled.connect(lambda: self.status.setText("Cancelled: nothing was saved. The data generated so far is kept and reused next time."))
        job.errored.connect(lambda exc: self.status.setText(f"Failed: {exc}"))
        self.start_button.setEnabled(False)
        self.start_button.setToolTip(f"one training at a time: {job.name} is running (Cancel stops it)")
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Generating the data set into {plan['dataset']} (kept and reused by later runs with the same settings)...")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling...")

    def _progress(self, fraction, message: str) -> None:
        self.status.setText(message)
        if fraction is not None:
            self.progress.setValue(int(1000 * fraction))

    def _add_epoch(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        epochs = [r["epoch"] for r in self.history]
        self.train_curve.setData(epochs, [r["train_loss"] for r in self.history])
        val = [(r["epoch"], r["val_loss"]) for r in self.history if r.get("val_loss") is not None]
        if val:
            self.val_curve.setData([e for e, _ in val], [v for _, v in val])

    def _saved(self, value) -> None:
        folder, card = value
        self.saved = (folder, card)
        val = card.metrics.get("validation_relative_l2")
        score = f", validation relative L2 {val:.2%}" if isinstance(val, float) else ""
        same = self.saved_for_case is not False and self.window_.editor.source == self.saved_for_case
        where = "It is now the case's surrogate: Run surrogate or Run both." if same else "Pick it in Case > Solver > Model."
        self.status.setText(f"Saved {card.name} into your library ({folder}){score}. {where}")
        self.progress.setValue(1000)
        self.modelSaved.emit(card.name)

    def _finished(self) -> None:
        self.job = None
        self.start_button.setEnabled(True)
        self.start_button.setToolTip(_START_TIP)
        self.cancel_button.setEnabled(False)

    def reject(self) -> None:
        """Close (Esc, Close, the title bar; QDialog's closeEvent comes here too), asking first
        whether to stop a training that is still running: No keeps it training."""
        if self.job is not None and not self.job.cancel_requested:
            if self.window_.confirm_close:
                answer = QtWidgets.QMessageBox.question(
                    self, "Stop the training?", "The training has not finished: closing stops it and saves no model "
                    "(the data generated so far is kept for the next run). Stop it and close?",
                    QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No, QtWidgets.QMessageBox.StandardButton.No,
                )
                if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                    return
            self.cancel()
        super().reject()
