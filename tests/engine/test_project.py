"""Project files: a session's case, results and view settings reopen exactly; bad files are refused."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import engine
from engine.errors import InputError
from engine.project import Project, load_project, save_project


@pytest.fixture(scope="module")
def solved():
    case = engine.load_case(engine.resource_path("examples/darcy_unit_square.toml"))
    problem = engine.Problem.from_case(case)
    return case, engine.get_solver("classical").solve(problem)


def test_round_trip_keeps_case_results_and_view(solved, tmp_path):
    case, result = solved
    path = tmp_path / "p.wbproj"
    save_project(Project(case=case, results={"classical": result}, view={"tab": 2, "line": [[0, 0.5], [1, 0.5]]}), path)
    again = load_project(path)
    assert again.case == case
    assert again.case.source == case.source.resolve()  # relative paths in the case resolve as before
    assert again.view == {"tab": 2, "line": [[0, 0.5], [1, 0.5]]}
    np.testing.assert_array_equal(again.results["classical"].fields["u"].values, result.fields["u"].values)
    assert again.results["classical"].provenance.solver == result.provenance.solver
    assert again.results["classical"].probes["centre"].values["u"] == pytest.approx(result.probes["centre"].values["u"])


def test_an_empty_project_round_trips(tmp_path):
    save_project(Project(), tmp_path / "empty.wbproj")
    again = load_project(tmp_path / "empty.wbproj")
    assert again.case is None and again.results == {} and again.view == {}


def test_a_failed_save_leaves_the_earlier_file(solved, tmp_path):
    case, result = solved
    path = tmp_path / "p.wbproj"
    save_project(Project(case=case), path)
    before = path.read_bytes()
    with pytest.raises(InputError, match="plain name"):
        save_project(Project(case=case, results={"../evil": result}), path)
    with pytest.raises(InputError, match="JSON"):
        save_project(Project(case=case, view={"x": object()}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.wbproj"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip", "not a project file"),
        ({"project.json": "{}"}, "not a workbench project"),
        ({"project.json": json.dumps({"format": "workbench-project", "format_version": 99})}, "unsupported project format version"),
        ({"project.json": json.dumps({"format": "workbench-project", "format_version": 1, "results": ["classical"]})}, "incomplete"),
        ({"other.txt": "x"}, "no readable project.json"),
    ],
)
def test_bad_project_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "bad.wbproj"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in content.items():
                archive.writestr(name, text)
    with pytest.raises(InputError, match=message):
        load_project(path)


def test_wrong_suffix_and_missing_file(tmp_path):
    with pytest.raises(InputError, match=".wbproj"):
        save_project(Project(), tmp_path / "p.zip")
    with pytest.raises(InputError, match="file not found"):
        load_project(tmp_path / "missing.wbproj")


def test_a_damaged_project_is_refused_with_the_reason(solved, tmp_path):
    case, result = solved
    path = tmp_path / "p.wbproj"
    save_project(Project(case=case, results={"classical": result}), path)
    data = bytearray(path.read_bytes())
    start = data.find(b"HDF")  # inside the stored (uncompressed) result file
    data[start + 500: start + 600] = bytes(100)  # same length: the zip's index stays, the CRC fails
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged|incomplete|not a"):
        load_project(path)
