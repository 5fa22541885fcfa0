"""Tools > Train a surrogate for the open case: the dialog offers the case's parameters and its
geometry's sizes with ranges; generation and training run as a job with live losses; the model
lands in the user library, becomes the case's surrogate, and Run both answers and compares."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.resources import resource_path
from tests.workbench.gui.conftest import run_to_end, wait_job


def coarse_plate(tmp_path):
    text = resource_path("examples/plate_with_hole_tension.toml").read_text(encoding="utf-8")
    text = text.replace("size = 0.05", "size = 0.2").replace("size = 0.01, distance = 0.3", "size = 0.05, distance = 0.2")
    path = tmp_path / "plate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_train_a_surrogate_for_the_open_plate_and_run_both(qtbot, window, tmp_path):
    from engine.surrogates.library import list_models, load_card

    assert window.open_case(coarse_plate(tmp_path))
    assert wait_job(qtbot, window) == "returned"
    window.open_training()
    dialog = window.training_dialog
    assert dialog.source_box.currentIndex() == 0 and dialog.pages.currentIndex() == 0
    offered = [dialog.parameter_table.verticalHeaderItem(r).text() for r in range(dialog.parameter_table.rowCount())]
    assert offered == ["sigma", "geometry.parameters.width", "geometry.parameters.height", "geometry.parameters.radius"]
    assert [dialog.model_box.itemText(i) for i in range(dialog.model_box.count())] == ["transolver"]
    assert dialog.name_edit.text() == "plate-transolver"
    with pytest.raises(InputError, match="nothing to vary"):
        dialog.settings()
    dialog.set_range("geometry.parameters.radius", 0.2, 0.3)
    dialog.set_range("sigma", 80e6, 120e6)
    dialog.samples.setValue(8)
    dialog.scheduler.setCurrentText("this process")
    dialog.config_edit.setText('{"width": 16, "layers": 1, "heads": 2, "slices": 8}')
    dialog.epochs.setValue(2)
    dialog.budget.setValue(0)
    dialog.start_button.click()
    assert wait_job(qtbot, window, timeout=240) == "returned"
    assert [r["epoch"] for r in dialog.history] == [1, 2]
    assert "plate-transolver" in list_models()
    card = load_card("plate-transolver")
    assert card.adapter == "points" and set(card.parameters) == {"geometry.parameters.radius", "sigma"}
    assert "now the case's surrogate" in dialog.status.text()
    dialog.close()
    # The case answers with it.
    assert window.session.case.solver.surrogate.model == "plate-transolver"
    run_to_end(qtbot, window, "both")
    assert window.session.comparison is not None
    assert "displacement" in window.session.comparison.metrics


def test_a_range_that_is_no_range_is_refused_by_name(qtbot, window, tmp_path):
    assert window.open_case(coarse_plate(tmp_path))
    assert wait_job(qtbot, window) == "returned"
    window.open_training()
    dialog = window.training_dialog
    dialog.set_range("geometry.parameters.radius", 0.3, 0.2)
    dialog.start_button.click()
    assert window.training_job is None
    assert "geometry.parameters.radius" in dialog.status.text() and "low end" in dialog.status.text()
    dialog.close()
