"""The limits table: documented as it is, overridable, and a bad override is bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InputError
from engine.limits import LIMITS, limits_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "limits.md"


def test_docs_list_every_limit_as_the_code_has_it():
    text = DOC.read_text()
    table = text[text.index("| limit |") :]
    assert table.strip() == limits_markdown().strip(), "docs/limits.md is out of date: paste limits_markdown() into it"


def test_an_environment_variable_raises_a_limit(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LIMIT_PROBES", "20000")
    assert LIMITS["probes"].value() == 20000
    LIMITS["probes"].check(15000, what="probes")
    with pytest.raises(InputError, match=r"too many probes: got 30000; expected at most 20000 probes \(WORKBENCH_LIMIT_PROBES raises the limit\)"):
        LIMITS["probes"].check(30000, what="probes")


@pytest.mark.parametrize("text", ["-1", "0", "lots", "inf", "nan"])
def test_a_bad_override_is_refused_naming_the_variable(monkeypatch, text):
    monkeypatch.setenv("WORKBENCH_LIMIT_CELLS", text)
    with pytest.raises(InputError, match=r"WORKBENCH_LIMIT_CELLS: a limit must be a positive number"):
        LIMITS["cells"].value()
