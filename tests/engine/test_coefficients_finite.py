"""A coefficient that turns infinite during a run is the user's input to fix (exit 2), named, not
a singular matrix (exit 1)."""

from __future__ import annotations

import tomllib

import pytest

from engine.case.load import parse_case
from engine.errors import ExpressionError
from engine.resources import resource_path
from engine.run import solve_case


def test_a_source_that_blows_up_in_time_is_refused_naming_it():
    doc = tomllib.loads(resource_path("examples/heat_plate_with_hole.toml").read_text())
    doc["physics"]["f"] = "1/(100 - t)"
    doc["physics"]["time"].update(end=200.0)
    doc.setdefault("mesh", {})["size"] = 0.05
    with pytest.raises(ExpressionError, match=r"physics\.f: the expression is not finite everywhere: it is inf at .*t = 100"):
        solve_case(parse_case(doc, source="h.toml"), solver="classical")
