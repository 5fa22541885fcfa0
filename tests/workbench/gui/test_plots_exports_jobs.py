"""Issue 16: each probe's value over time for a transient run, every plot and the metrics
exported (PNG/SVG, CSV/JSON) and a view's screenshot at a chosen size, and a training running
as a job of its own while the window meshes and solves."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from PySide6 import QtWidgets

from engine.errors import InputError
from engine.resources import resource_path

from .conftest import wait_job, open_example as _open, run_to_end as _run

Button = QtWidgets.QMessageBox.StandardButton




def _save_as(monkeypatch, path) -> None:
    """Answer the next save dialogs with ``path``."""
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def _numbers(value) -> list[float]:
    """Every number in a JSON value, in order."""
    if isinstance(value, dict):
        return [n for k in sorted(value) for n in _numbers(value[k])]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [float(value)]


def _csv_blocks(text: str) -> dict[str, list[list[str]]]:
    """A metrics CSV's titled blocks: title -> [header, rows...]."""
    blocks, rows = {}, list(csv.reader(io.StringIO(text)))
    while rows:
        end = rows.index([]) if [] in rows else len(rows)
        block, rows = rows[:end], rows[end + 1:]
        blocks[block[0][0]] = block[1:]
    return blocks


def test_probes_over_time_follow_the_time_slider_and_reopen_from_csv(qtbot, window, tmp_path, monkeypatch):
    _open(qtbot, window, "nafems_t3.toml")
    _run(qtbot, window, "classical")
    result = window.session.results["classical"]
    plot = window.probe_plot
    assert plot.field_box.currentText() == "T" and plot.message.text() == ""
    assert list(plot.curves) == [("B", "classical")]
    (item,) = plot.plot.listDataItems()
    times, values = item.getData()
    assert times.tolist() == result.times.tolist()
    assert values.tolist() == result.probes["B"].values["T"].tolist()
    # NAFEMS T3's reference: T = 36.60 C at x = 0.08 m, t = 32 s (the last time).
    assert values[-1] == pytest.approx(36.60, abs=0.05)
    # The marker stands at the time the Result view shows, and follows its slider.
    assert plot.marker.isVisible() and plot.marker.value() == pytest.approx(32.0)
    window.result_view.step_slider.setValue(20)
    assert plot.marker.value() == pytest.approx(result.times[20]) == pytest.approx(10.0)
    # A vector is plotted by its magnitude or a component.
    plot.field_box.setCurrentText("heat_flux (magnitude)")
    (item,) = plot.plot.listDataItems()
    assert item.getData()[1] == pytest.approx(np.linalg.norm(result.probes["B"].values["heat_flux"], axis=1))
    plot.field_box.setCurrentText("T")
    # File > Export > Probes over time as CSV: the same numbers come back.
    _save_as(monkeypatch, tmp_path / "probes.csv")
    window.act_export_probes.trigger()
    rows = list(csv.reader((tmp_path / "probes.csv").open()))
    assert rows[0] == ["time", "B.T_classical"]
    assert [float(r[0]) for r in rows[1:]] == result.times.tolist()
    assert [float(r[1]) for r in rows[1:]] == result.probes["B"].values["T"].tolist()
    # As a picture too: the SVG holds the curve and its name.
    svg = tmp_path / "probes.svg"
    window.export_plot("probes", svg)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "B (classical)" in "".join(root.itertext())
    # A steady result says what the plot needs.
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "classical")
    assert plot.curves == {} and not plot.marker.isVisible()
    assert "transient run" in plot.message.text()
    assert plot.message.isVisible()


def test_plots_export_as_png_of_the_asked_width_and_as_svg_with_their_curves(qtbot, window, tmp_path, monkeypatch):
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "both")
    line = tmp_path / "line.png"
    window.export_plot("line", line, width=640)
    with Image.open(line) as image:
        assert image.width == 640 and image.height > 100
        pixels = np.asarray(image.convert("RGB"))
    assert (np.abs(pixels.astype(int) - [31, 78, 121]).sum(axis=2) < 60).sum() > 50  # the classical curve's blue
    svg = tmp_path / "line.svg"
    window.export_plot("line", svg)
    root = ET.parse(svg).getroot()
    text = "".join(root.itertext())
    assert "classical" in text and "surrogate" in text
    paths = [e for e in root.iter() if e.tag.endswith("path")]
    assert len(paths) >= 2  # (at least) the two curves
    # Through the menu, the histogram: the chosen plot, the suffix of the chosen filter.
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a, **k: ("Error histogram", True))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "hist"), "SVG drawing (*.svg)"))
    window.act_export_plot.trigger()
    assert ET.parse(tmp_path / "hist.svg").getroot().tag.endswith("svg")
    with pytest.raises(InputError, match="png or .svg"):
        window.export_plot("line", tmp_path / "line.jpg")


def test_metrics_export_as_csv_with_the_tables_numbers_and_as_a_batch_runs_json(qtbot, window, tmp_path, monkeypatch):
    from engine.case.load import load_case
    from engine.run import run_case

    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "both")
    panel = window.metrics_panel
    results = window.session.results
    _save_as(monkeypatch, tmp_path / "metrics.csv")
    window.act_export_metrics.trigger()
    blocks = _csv_blocks((tmp_path / "metrics.csv").read_text())
    assert list(blocks) == ["solvers", "comparison", "probes"]
    solvers = {row[0]: row for row in blocks["solvers"][1:]}
    assert sorted(solvers) == ["classical", "surrogate"]
    for label, row in solvers.items():
        assert float(row[1]) == results[label].provenance.wall_time
    assert int(solvers["classical"][2]) == results["classical"].provenance.metrics["dofs"]
    assert solvers["surrogate"][3] == results["surrogate"].provenance.model_id == panel.solvers.item(1, 2).text()
    (u_row,) = blocks["comparison"][1:]
    assert u_row[0] == "u" and f"{float(u_row[2]):.3%}" == panel.comparison.item(0, 1).text()
    assert f"{float(u_row[3]):.4g}" == panel.comparison.item(0, 2).text()
    shown = {(panel.probes.item(r, 0).text(), panel.probes.item(r, 1).text().split(" ")[0]): r for r in range(panel.probes.rowCount())}
    probe_rows = [row for row in blocks["probes"][1:] if "[" not in row[1]]  # the scalar readings
    assert probe_rows
    for probe, field, _, a, b, diff in probe_rows:
        r = shown[(probe, field)]
        assert f"{float(a):.6g}" == panel.probes.item(r, 2).text()
        assert f"{float(b):.6g}" == panel.probes.item(r, 3).text()
        assert float(diff) == pytest.approx(float(b) - float(a))
    # JSON: the document a batch run writes as metrics.json, with the same numbers.
    _save_as(monkeypatch, tmp_path / "metrics.json")
    window.act_export_metrics.trigger()
    exported = json.loads((tmp_path / "metrics.json").read_text())
    case = load_case(resource_path("examples/darcy_unit_square.toml"))
    case = case.model_copy(update={"output": case.output.model_copy(update={"pictures": False})})  # no off-screen GL beside the window's
    batch = run_case(case, solver="both", out=tmp_path / "batch").metrics
    assert exported.keys() == batch.keys() and exported["format"] == "workbench-metrics"
    assert exported["solvers"].keys() == batch["solvers"].keys()
    for label in ("classical", "surrogate"):
        assert exported["solvers"][label].keys() == batch["solvers"][label].keys()
        assert exported["solvers"][label]["wall_time"] == results[label].provenance.wall_time
        assert _numbers(exported["solvers"][label]["probes"]) == pytest.approx(_numbers(batch["solvers"][label]["probes"]), rel=1e-9)
    assert exported["comparison"]["fields"]["u"]["relative_l2"] == window.session.comparison.metrics["u"]["relative_l2"]
    assert exported["comparison"]["fields"]["u"]["relative_l2"] == pytest.approx(batch["comparison"]["fields"]["u"]["relative_l2"], rel=1e-6)
    # A folder that cannot be made: the one error dialog says so, nothing is written.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _save_as(monkeypatch, blocker / "metrics.json")
    window.act_export_metrics.trigger()
    assert window.error_dialog is not None and window.error_dialog.windowTitle() == "Cannot export the metrics"
    assert "cannot write there" in window.last_error


def test_a_view_screenshot_has_the_asked_size_and_keeps_the_mesh_whole(qtbot, window, tmp_path, monkeypatch):
    _open(qtbot, window, "darcy_unit_square.toml")
    _run(qtbot, window, "classical")
    view = window.result_view
    assert window.tabs.currentWidget() is view
    on_screen = (view.plotter.interactor.width(), view.plotter.interactor.height())
    camera = view.camera_state()
    monkeypatch.setattr("workbench.gui.main_window._ask_size", lambda parent, w, h: (1200, 500))
    _save_as(monkeypatch, tmp_path / "wide.png")
    window.act_export_view.trigger()
    with Image.open(tmp_path / "wide.png") as image:
        assert image.size == (1200, 500)
    # A tall narrow picture still holds the whole unit square: it touches neither side.
    window.screenshot_view(tmp_path / "tall.png", width=300, height=900)
    with Image.open(tmp_path / "tall.png") as image:
        assert image.size == (300, 900)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    coloured = np.nonzero((np.abs(pixels - 255).sum(axis=2) > 60)[: int(0.7 * 900)].any(axis=0))[0]  # above the colour bar
    assert coloured.size and coloured.min() > 3 and coloured.max() < 296
    # The view on screen is as it was.
    assert (view.plotter.interactor.width(), view.plotter.interactor.height()) == on_screen
    assert view.plotter.window_size == list(on_screen) or tuple(view.plotter.window_size) == on_screen
    assert view.camera_state() == camera
    for width, height in ((0, 100), (100, 10**6)):
        with pytest.raises(InputError, match="out of range"):
            window.screenshot_view(tmp_path / "bad.png", width=width, height=height)


def test_a_solve_runs_while_a_training_trains_and_both_finish(qtbot, window, monkeypatch):
    import torch

    from engine.surrogates.library import list_models
    from workbench.gui.training_dialog import training_threads

    from engine.surrogates import training as training_module

    # torch's thread count is per OS thread (OpenMP), so read it where the training runs.
    threads_in_training = []
    train_epochs = training_module.Trainer._train

    def recording(self, *args, **kwargs):
        threads_in_training.append(torch.get_num_threads())
        return train_epochs(self, *args, **kwargs)

    monkeypatch.setattr(training_module.Trainer, "_train", recording)
    threads_before = torch.get_num_threads()
    window.open_training()
    dialog = window.training_dialog
    dialog.source_box.setCurrentIndex(1)  # the Darcy grid recipe
    dialog.samples.setValue(24)
    dialog.resolution.setValue(16)
    dialog.scheduler.setCurrentText("this process")
    dialog.config_edit.setText('{"modes1": 4, "modes2": 4, "width": 8}')
    dialog.epochs.setValue(100000)
    dialog.budget.setValue(12)  # it trains for 12 s, then saves
    dialog.name_edit.setText("beside-a-solve")
    dialog.start_button.click()
    training = window.training_job
    assert training is not None and window.job is None
    # One training at a time: the dialog's Start says why, as does a second start.
    assert not dialog.start_button.isEnabled() and "one training at a time" in dialog.start_button.toolTip()
    assert window.start_job("train another", lambda progress, cancel: None, lambda value: None, kind="training") is None
    assert "one training at a time" in window.statusBar().currentMessage()
    assert "one training at a time" in window.act_train.toolTip()
    # Meanwhile: open, mesh and solve the Darcy example.
    assert window.act_mesh.isEnabled() or window.session.case is None
    assert window.open_case(resource_path("examples/darcy_unit_square.toml"))
    assert window.job is not None and window.job is not training
    assert not window.act_mesh.isEnabled() and "busy with" in window.act_mesh.toolTip()
    assert window.act_cancel.isEnabled()
    assert wait_job(qtbot, window) == "returned"
    assert window.act_run_classical.isEnabled()
    solve = window.run("classical")
    assert solve is not None
    assert window.run_panel.status.text() == solve.name
    assert window.run_panel.beside.isVisible() and training.name in window.run_panel.beside.text()
    assert wait_job(qtbot, window) == "returned"
    assert window.session.results["classical"].fields["u"].values.max() > 0
    assert training.outcome is None, "the training outlasts the solve"
    # The window's Cancel stops solves only; with none running it leaves the training be.
    assert not window.act_cancel.isEnabled()
    window.cancel_job()
    assert not training.cancel_requested
    # Closing asks about the training too ("No": it trains on).
    window.confirm_close = True
    asked = {}

    def question(parent, title, text, *args, **kwargs):
        asked[title] = text
        return Button.Discard if title == "Unsaved changes" else Button.No

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", question)
    assert not window.close()
    assert list(asked) == ["Unsaved changes", "Stop the running job?"] and training.name in asked["Stop the running job?"]
    assert training.outcome is None and not training.cancel_requested
    window.confirm_close = False
    # The training had torch's threads but one: the solve had a core of its own.
    qtbot.waitUntil(lambda: len(dialog.history) >= 1, timeout=120000)
    assert threads_in_training == [training_threads()] == [max(1, len(__import__("os").sched_getaffinity(0)) - 1)]
    assert dialog.progress.value() > 0
    assert wait_job(qtbot, window, timeout=240) == "returned"
    assert window.training_job is None and not window.run_panel.beside.isVisible()
    assert "beside-a-solve" in list_models() and dialog.saved is not None
    assert torch.get_num_threads() == threads_before
    assert "classical" in window.session.results
    dialog.close()
