"""The worked batch example in resources/examples/ runs and gives its known numbers."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture
def example(resources):
    spec = importlib.util.spec_from_file_location("batch_study", resources / "examples" / "batch_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_batch_study_example(example, tmp_path):
    assert example.solve(tmp_path) == pytest.approx(0.01159, rel=2e-3)
    assert 0.0 < example.compare(tmp_path) < 0.06
    table = example.sweep(tmp_path, scheduler="synchronous")
    assert table["status"].tolist() == ["done"] * 6
    assert table["centre.u"][1] == pytest.approx(4 * table["centre.u"][0], rel=1e-9)
    assert (tmp_path / "compare" / "error_u.png").exists()
