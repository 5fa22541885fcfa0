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


# -- hostile or damaged project files --------------------------------------------------------
@pytest.fixture
def small_result():
    from tests.engine.test_result_io import steady

    points = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.5]])
    triangles = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    mesh = engine.Mesh(points, {"triangle": triangles, "line": np.array([[0, 1]])}, [engine.Region("bottom", 1, {"line": np.array([0])}), engine.Region("pin", 0, {}, np.array([4]))])
    return steady(mesh)


def rezip(path, replace: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED):
    """The project at ``path`` with some members replaced (or added)."""
    with zipfile.ZipFile(path) as old:
        members = {name: old.read(name) for name in old.namelist()}
    members.update(replace)
    with zipfile.ZipFile(path, "w", compression=compression) as new:
        for name, data in members.items():
            new.writestr(name, data)


def header(**changes) -> bytes:
    return json.dumps({"format": "workbench-project", "format_version": 1, "results": [], "view": {}} | changes).encode()


@pytest.mark.parametrize(
    "member, data, message",
    [
        ("project.json", header().replace(b'"view": {}', b'"view": ' + b"[" * 100_000 + b"]" * 100_000), "project.json: the document nests objects or lists too deeply"),
        ("project.json", header().replace(b'"view": {}', b'"view": {"zoom": NaN}'), "project.json: not valid JSON \\(NaN is not a JSON number"),
        ("project.json", header(view=json.loads("[" * 40 + "]" * 40)), "project.json: the document nests tables or lists too deeply"),
        ("project.json", header(case_source=["x"]), "case_source: the case's original path is not text"),
        ("project.json", header(format_version=[1]), "unsupported project format version"),
        ("case.toml", b"version = 1\nx = " + b"[" * 100_000 + b"]" * 100_000, "case.toml: the document nests tables or lists too deeply"),
        ("case.toml", b"version = 1\ntitle = '\xff'", "case.toml: the case is not UTF-8 text"),
    ],
)
def test_hostile_members_are_input_errors_naming_the_member(tmp_path, member, data, message):
    path = tmp_path / "p.wbproj"
    save_project(Project(), path)
    rezip(path, {member: data})
    with pytest.raises(InputError, match=message):
        load_project(path)


def test_a_member_beyond_the_limit_is_refused_before_it_is_read(small_result, tmp_path, monkeypatch):
    """A zip bomb: 64 MiB of zeros deflate to 64 kB; the declared size is refused unread."""
    path = tmp_path / "p.wbproj"
    save_project(Project(results={"classical": small_result}), path)
    rezip(path, {"results/classical.h5": bytes(64 << 20)})
    assert path.stat().st_size < 200_000
    monkeypatch.setenv("WORKBENCH_LIMIT_PROJECT_MEMBER_BYTES", str(1 << 20))
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert caught.value.source == f"{path}:results/classical.h5"
    assert "the member exceeds the limit (64 MiB)" in str(caught.value) and "WORKBENCH_LIMIT_PROJECT_MEMBER_BYTES" in str(caught.value)
    rezip(path, {"project.json": header(results=["classical"], view={"pad": "x" * (9 << 20)})})
    with pytest.raises(InputError, match="project.json.*exceeds the limit .*WORKBENCH_LIMIT_TEXT_FILE_BYTES"):
        load_project(path)


def test_a_lying_size_in_the_zip_index_reads_no_further(small_result, tmp_path):
    """The central directory says 100 bytes; the member holds more: read stops there, and fails its CRC."""
    path = tmp_path / "p.wbproj"
    save_project(Project(results={"classical": small_result}), path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("results/classical.h5")
    start = data.find(b"PK\x01\x02")
    while start >= 0:
        name_length = int.from_bytes(data[start + 28 : start + 30], "little")
        if data[start + 46 : start + 46 + name_length] == b"results/classical.h5":
            data[start + 24 : start + 28] = (100).to_bytes(4, "little")  # the uncompressed size
        start = data.find(b"PK\x01\x02", start + 4)
    assert info.file_size > 100
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert caught.value.source == f"{path}:results/classical.h5"
    assert "the member is damaged (Bad CRC-32" in str(caught.value)


def test_missing_truncated_and_damaged_members_are_named(small_result, tmp_path):
    path = tmp_path / "p.wbproj"
    save_project(Project(results={"classical": small_result}), path)
    good = path.read_bytes()

    rezip(path, {"project.json": header(results=["classical", "other"])})
    with pytest.raises(InputError, match="the project file is incomplete: the member is missing") as caught:
        load_project(path)
    assert caught.value.source == f"{path}:results/other.h5"

    path.write_bytes(good)
    data = bytearray(good)
    start = data.find(b"\x89HDF")  # the stored (uncompressed) result file
    data[start + 500 : start + 600] = bytes(100)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="the member is damaged \\(Bad CRC-32") as caught:
        load_project(path)
    assert caught.value.source == f"{path}:results/classical.h5"

    with zipfile.ZipFile(tmp_path / "stored.wbproj", "w") as archive:  # the member's data cut short
        archive.writestr("project.json", header())
    data = bytearray((tmp_path / "stored.wbproj").read_bytes())
    local_size = int.from_bytes(data[22:26], "little")
    data[18:22] = data[22:26] = (local_size + 1000).to_bytes(4, "little")  # local header claims more
    cut = data.find(b"PK\x01\x02")
    for offset in (20, 24):  # and so does the central directory
        data[cut + offset : cut + offset + 4] = (local_size + 1000).to_bytes(4, "little")
    (tmp_path / "stored.wbproj").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"stored\.wbproj:project\.json: not a project file \(no readable project\.json: the member is damaged \(it ends early\)\)"):
        load_project(tmp_path / "stored.wbproj")

    path.write_bytes(good[: len(good) // 2])  # a truncated file: no index left to name a member by
    with pytest.raises(InputError, match="p.wbproj: not a project file"):
        load_project(path)


def test_a_huge_field_in_a_project_is_refused_naming_the_member_and_data_set(small_result, tmp_path):
    import h5py

    h5 = tmp_path / "r.h5"
    engine.write_hdf5(small_result, h5)
    with h5py.File(h5, "a") as f:
        del f["mesh/points"]
        f["mesh"].create_dataset("points", shape=(1 << 30, 2), dtype="f8", chunks=(1 << 15, 2), compression="gzip")
    path = tmp_path / "p.wbproj"
    save_project(Project(), path)
    rezip(path, {"project.json": header(results=["classical"]), "results/classical.h5": h5.read_bytes()})
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert caught.value.source == f"{path}:results/classical.h5" and caught.value.field == "/mesh/points"
    assert "exceeds the limit (16 GiB)" in str(caught.value)


def test_a_project_that_is_not_a_regular_file_is_refused(tmp_path):
    import os

    fifo = tmp_path / "p.wbproj"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file \\(a named pipe\\)"):
        load_project(fifo)
