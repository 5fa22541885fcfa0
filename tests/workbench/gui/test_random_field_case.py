"""A case whose permeability is a random field opens in the app: the field is named, read-only
(the case file edits it), and the case solves."""

from __future__ import annotations

import tomllib

from PySide6 import QtWidgets

from engine.case.load import case_to_toml, parse_case
from engine.resources import resource_path

from .conftest import run_to_end, wait_job


def test_a_random_permeability_is_shown_and_solves(qtbot, window, tmp_path):
    doc = tomllib.loads(resource_path("examples/darcy_unit_square.toml").read_text(encoding="utf-8"))
    doc["physics"]["k"] = {"random_field": "grf", "seed": 4, "transform": "threshold", "seed_by_sample": True}
    doc["mesh"]["size"] = 0.1
    path = tmp_path / "random.toml"
    path.write_text(case_to_toml(parse_case(doc)), encoding="utf-8")
    assert window.open_case(path)
    assert wait_job(qtbot, window) == "returned"
    edit = window.case_panel.findChild(QtWidgets.QLineEdit, "physics.k")
    assert edit.text() == "grf random field, seed 4 (a new one per sample)" and edit.isReadOnly()
    run_to_end(qtbot, window, "classical")
    assert window.session.results["classical"].fields["u"].values.max() > 0
