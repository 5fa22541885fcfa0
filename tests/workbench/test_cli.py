"""The installed ``workbench`` command: help, version, mesh and case commands, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine._version import __version__
from engine.mesh import read_mesh

WORKBENCH = Path(sys.executable).with_name("workbench")


def workbench(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(WORKBENCH), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def assert_clean_failure(done: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in done.stderr


def test_help_and_version():
    done = workbench("--help")
    assert done.returncode == 0 and "mesh" in done.stdout and "examples:" in done.stdout
    done = workbench("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"workbench {__version__}"
    for command in (["mesh", "info"], ["mesh", "convert"], ["mesh", "generate"], ["case", "check"], ["geometry", "list"]):
        done = workbench(*command, "--help")
        assert done.returncode == 0 and "usage: workbench" in done.stdout


def test_mesh_info_lists_named_regions(gmsh_files):
    done = workbench("mesh", "info", gmsh_files["square_v4.1_bin"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "points:      " in out and "triangle" in out
    for name in ("domain", "bottom", "bottom_right", "top", "PhysicalLine7", "corner"):
        assert f"  {name} " in out
    assert "bottom_right   1D  16 line cells" in out or "16 line cells" in out


def test_mesh_info_json(gmsh_files):
    done = workbench("mesh", "info", gmsh_files["tetra"], "--json")
    info = json.loads(done.stdout)
    assert info["dimension"] == 3 and info["cells"]["tetra"] > 0
    assert {r["name"] for r in info["regions"]} == {"solid", "xmin", "xmax"}
    assert info["bounding_box"] == {"min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 1.0]}


def test_mesh_convert_keeps_regions(gmsh_files, tmp_path):
    out = tmp_path / "square.inp"
    done = workbench("mesh", "convert", gmsh_files["square_v2.2_ascii"], out)
    assert done.returncode == 0, done.stderr
    assert set(read_mesh(out).regions) == set(read_mesh(gmsh_files["square_v2.2_ascii"]).regions)
    done = workbench("mesh", "convert", out, tmp_path / "square.stl")
    assert done.returncode == 0 and "keeps no region names" in done.stderr


def test_mesh_generate_and_geometry_list(tmp_path):
    done = workbench("geometry", "list", "--json")
    geometries = json.loads(done.stdout)
    assert "plate_with_hole" in geometries and "hole" in geometries["plate_with_hole"]["boundaries"]
    out = tmp_path / "plate.msh"
    done = workbench("mesh", "generate", "plate_with_hole", "--param", "radius=0.2", "--size", "0.1", "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    assert "hole" in read_mesh(out).regions


def test_case_check(resources, tmp_path):
    done = workbench("case", "check", resources / "examples" / "darcy_unit_square.toml", "--mesh-out", tmp_path / "m.vtu")
    assert done.returncode == 0, done.stderr
    assert "the case is valid" in done.stdout and "dirichlet" in done.stdout
    assert read_mesh(tmp_path / "m.vtu").regions
    done = workbench("case", "check", resources / "examples" / "nafems_le1.toml", "--json")
    assert json.loads(done.stdout)["valid"] is True


def test_case_schema_is_json():
    done = workbench("case", "schema")
    assert json.loads(done.stdout)["title"].startswith("Workbench case")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["mesh", "info", "missing.msh"], ["missing.msh: file not found"]),
        (["mesh", "info", "weird.xyz"], ["unknown mesh file type"]),
        (["mesh", "convert", "missing.vtu", "out.msh"], ["file not found"]),
        (["mesh", "generate", "teapot", "--out", "x.msh"], ["unknown geometry", "teapot"]),
        (["mesh", "generate", "disk", "--param", "radius", "--out", "x.msh"], ["--param", "NAME=NUMBER"]),
        (["case", "check", "missing.toml"], ["missing.toml: file not found"]),
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path, args, fragments):
    (tmp_path / "weird.xyz").write_text("x")
    assert_clean_failure(workbench(*args, cwd=tmp_path), 2, *fragments)


def test_corrupt_mesh_and_bad_case(tmp_path):
    (tmp_path / "broken.msh").write_text("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\n1 2")
    assert_clean_failure(workbench("mesh", "info", "broken.msh", cwd=tmp_path), 2, "broken.msh")
    (tmp_path / "case.toml").write_text(
        'version = 1\n[geometry]\nkind = "unit_square"\n[physics]\nkind = "diffusion"\n'
        '[[boundary]]\nregion = "lft"\ntype = "dirichlet"\nvalue = 0\n'
    )
    assert_clean_failure(workbench("case", "check", "case.toml", cwd=tmp_path), 2, "case.toml: boundary[0].region: unknown region name: got 'lft'")
    done = workbench("case", "check", "case.toml", "--json", cwd=tmp_path)
    assert done.returncode == 2 and json.loads(done.stderr)["field"] == "boundary[0].region"


def test_usage_errors_exit_2():
    done = workbench("mesh")
    assert done.returncode == 2 and "usage:" in done.stderr


def test_run_writes_vtu_hdf5_and_metrics(resources, tmp_path):
    out = tmp_path / "darcy"
    done = workbench("run", resources / "examples" / "darcy_unit_square.toml", "--out", out)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"classical.vtu", "result.h5", "metrics.json", "classical_u.png", "classical_flux.png", ".workbench-run.json"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["format"] == "workbench-metrics" and metrics["format_version"] == 1
    classical = metrics["solvers"]["classical"]
    assert classical["dofs"] > 1000 and classical["residual"] < 1e-7 and classical["wall_time"] > 0
    assert set(classical["probes"]) == {"centre", "quarter"}
    assert 0.0 < classical["probes"]["centre"]["u"] < 0.1
    assert "probe centre" in done.stdout


def test_run_time_series_writes_a_pvd(resources, tmp_path):
    done = workbench("run", resources / "examples" / "nafems_t3.toml", "--out", tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["solvers"]["classical"]["times"][-1] == 32.0
    assert (tmp_path / "classical.pvd").exists() and len(list((tmp_path / "classical").glob("*.vtu"))) == 65


def test_run_bad_input(tmp_path):
    assert_clean_failure(workbench("run", "missing.toml", "--out", "o", cwd=tmp_path), 2, "missing.toml: file not found")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "case.toml").write_text(
        'version = 1\n[geometry]\nkind = "unit_square"\n[physics]\nkind = "diffusion"\n'
        '[[boundary]]\nregion = "left"\ntype = "dirichlet"\nvalue = 0\n'
    )
    assert_clean_failure(workbench("run", "case.toml", "--out", "afile", cwd=tmp_path), 2, "the output path is a file")
    assert_clean_failure(workbench("run", "case.toml", "--out", "o", "--solver", "magic", cwd=tmp_path), 2, "unknown solver: got 'magic'")


def test_run_both_compares_the_two_answers(resources, tmp_path):
    done = workbench("run", resources / "examples" / "darcy_unit_square.toml", "--out", tmp_path, "--solver", "both")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"classical.vtu", "surrogate.vtu", "error.vtu", "result.h5", "surrogate.h5", "metrics.json"}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    u = metrics["comparison"]["fields"]["u"]
    assert 0 < u["relative_l2"] < 0.06 and len(u["max_abs_error_at"]) == 2
    assert metrics["solvers"]["surrogate"]["model_id"] == "darcy-fno"
    assert "compare u: relative L2" in done.stdout


def test_models_list_and_show():
    done = workbench("models", "list")
    assert done.returncode == 0 and "darcy-fno: fno for diffusion" in done.stdout
    card = json.loads(workbench("models", "show", "darcy-fno", "--json").stdout)
    assert card["inputs"] == ["k"] and card["grid"]["resolution"] == 64


# -- every error path: a message, its exit code, JSON under --json (in this process) -----------
def in_process(capsys, *args) -> tuple[int, str]:
    """``workbench ARGS`` run by ``main`` here (so a test can break the engine): exit code, stderr."""
    from workbench.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


def test_a_full_disk_during_run_is_exit_1_naming_the_folder_in_text_and_json(resources, tmp_path, monkeypatch, capsys):
    import errno
    import os

    import engine.result_io
    import engine.run
    from tests.engine.test_run import square_result

    monkeypatch.setattr(engine.run, "solve_case", lambda case, solver=None, **kw: ({"classical": square_result()}, None))

    def full(result, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(engine.result_io, "write_hdf5", full)
    case = resources / "examples" / "darcy_unit_square.toml"
    out = tmp_path / "out"
    message = f"{out}/: no space left on the device while writing result.h5; free space there or choose another output folder (--out)"
    code, err = in_process(capsys, "run", case, "--out", out, "--quiet")
    assert (code, err.strip()) == (1, f"workbench: error: {message}")
    code, err = in_process(capsys, "run", case, "--out", out, "--json")
    assert code == 1 and json.loads(err) == {"error": "RunError", "message": message, "kind": "run", "exit_code": 1}
    assert not out.exists()  # the failed run made the folder, and took it away again


@pytest.mark.parametrize(
    ("raised", "code", "text", "kind"),
    [
        (FileNotFoundError(2, "No such file or directory", "part.inp"), 2, "workbench: error: part.inp: file not found", "input"),
        (PermissionError(13, "Permission denied", "locked.msh"), 2, "workbench: error: locked.msh: permission denied: the file cannot be read", "input"),
        (OSError(30, "Read-only file system", "/ro/out.msh"), 1, "workbench: error: /ro/: the file system is read-only while writing out.msh", "run"),
        (MemoryError(), 1, "workbench: error: not enough memory for this job; try a coarser mesh", "memory"),
        (ZeroDivisionError("division by zero"), 1, "workbench: internal error: ZeroDivisionError: division by zero", "internal"),
    ],
)
def test_errors_that_escape_the_engine_are_reported_with_their_kind(monkeypatch, capsys, raised, code, text, kind):
    import workbench.cli

    def handler(args):
        raise raised

    monkeypatch.setitem(workbench.cli._HANDLERS, ("mesh", "info"), handler)
    got, err = in_process(capsys, "mesh", "info", "x.msh")
    assert got == code and err.startswith(text) and "Traceback" not in err
    got, err = in_process(capsys, "mesh", "info", "x.msh", "--json")
    document = json.loads(err)
    assert got == code and document["kind"] == kind and document["exit_code"] == code
    assert document["error"] == type(raised).__name__ if kind == "internal" else document["error"] in ("InputError", "RunError")


def test_usage_errors_and_interrupts_are_json_under_json(monkeypatch, capsys):
    import workbench.cli

    code, err = in_process(capsys, "mesh", "info", "--json")  # the file is missing
    document = json.loads(err)
    assert code == 2 and document["kind"] == "usage" and "the following arguments are required: file" in document["message"]

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(workbench.cli._HANDLERS, ("mesh", "info"), interrupted)
    code, err = in_process(capsys, "mesh", "info", "x.msh", "--json")
    assert code == 130 and json.loads(err)["kind"] == "interrupted"
    code, err = in_process(capsys, "mesh", "info", "x.msh")
    assert code == 130 and err.startswith("workbench: interrupted")
