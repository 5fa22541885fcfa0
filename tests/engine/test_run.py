"""Runs into an output folder: staged and swapped in whole, one run per folder, a full disk reported.

The solve is replaced by a small in-memory result (no meshing), so these tests time only the
writing of a run's files.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import subprocess

import numpy as np
import pytest

import engine
import engine.run
from engine.errors import RunError
from engine.fields import Field
from engine.mesh import Mesh, Region
from engine.result import Provenance, Result


def square_result(n: int = 2, *, times: np.ndarray | None = None, seed: int = 0) -> Result:
    """A Result on an n x n grid of points (two triangles per square), with one point field."""
    x, y = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    points = np.column_stack([x.ravel(), y.ravel()])
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, 1:].ravel(), index[1:, :-1].ravel()
    triangles = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
    mesh = Mesh(points, {"triangle": triangles, "line": np.column_stack([index[0, :-1], index[0, 1:]])}, [Region("bottom", 1, {"line": np.arange(n - 1)})])
    values = np.random.default_rng(seed).random(n * n)
    if times is not None:
        values = np.outer(times, values)
    return Result(mesh, {"u": Field("u", values, times=times)}, Provenance("fake"))


@pytest.fixture
def case():
    """The Darcy example without pictures (they need an off-screen GL, and are not the point here)."""
    case = engine.load_case(engine.resource_path("examples/darcy_unit_square.toml"))
    return case.model_copy(update={"output": case.output.model_copy(update={"pictures": False})})


@pytest.fixture
def fake_solve(monkeypatch):
    """``solve_case`` answering ``results[solver]`` without meshing or solving."""
    results: dict[str, Result] = {}

    def solve_case(case, *, solver=None, progress=None, cancel=None, mesh=None):
        return {solver: results[solver]}, None

    monkeypatch.setattr(engine.run, "solve_case", solve_case)
    return results


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_replaces_the_first_and_keeps_files_that_are_not_a_runs(case, fake_solve, tmp_path):
    out = tmp_path / "out"
    fake_solve["alpha"] = square_result(times=np.array([0.0, 0.5, 1.0]))
    fake_solve["beta"] = square_result(3)
    first = engine.run_case(case, out=out, solver="alpha")
    assert sorted(p.name for p in first.files) == ["alpha.pvd", "metrics.json", "result.h5"]
    assert (out / "alpha" / "alpha_0002.vtu").is_file()
    (out / "notes.txt").write_text("mine")
    (tmp_path / "outside.txt").write_text("not the run's")

    second = engine.run_case(case, out=out, solver="beta")

    # nothing of the first run is left mixed in: no old series, no old steps folder
    assert sorted(p.name for p in out.iterdir()) == [".workbench-run.json", "beta.vtu", "metrics.json", "notes.txt", "result.h5"]
    assert [p.parent for p in second.files] == [out] * 3 and all(p.is_file() for p in second.files)
    assert (out / "notes.txt").read_text() == "mine"
    assert list(json.loads((out / "metrics.json").read_text())["solvers"]) == ["beta"]
    assert engine.read_hdf5(out / "result.h5").mesh.n_points == 9
    manifest = json.loads((out / ".workbench-run.json").read_text())
    assert manifest["format_version"] == 1 and manifest["files"] == ["beta.vtu", "metrics.json", "result.h5"]

    # a doctored manifest cannot make a run delete anything outside its folder
    manifest["files"] += ["../outside.txt", "/etc/hostname", ".."]
    (out / ".workbench-run.json").write_text(json.dumps(manifest))
    engine.run_case(case, out=out, solver="beta")
    assert (tmp_path / "outside.txt").read_text() == "not the run's"
    assert (out / "notes.txt").is_file()


def test_a_full_disk_is_a_run_error_naming_the_folder_and_leaves_the_previous_run(case, fake_solve, tmp_path, monkeypatch):
    import engine.result_io

    out = tmp_path / "out"
    fake_solve["alpha"] = square_result()
    engine.run_case(case, out=out, solver="alpha")
    before = snapshot(out)

    def full(result, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(engine.result_io, "write_hdf5", full)
    fake_solve["alpha"] = square_result(3)
    with pytest.raises(RunError) as caught:
        engine.run_case(case, out=out, solver="alpha")
    assert str(caught.value) == f"{out}/: no space left on the device while writing result.h5; free space there or choose another output folder (--out)"
    assert snapshot(out) == before  # the new alpha.vtu, written before the failure, was not swapped in
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # and no staging folder is left


def test_an_interrupted_run_leaves_the_previous_files_and_no_staging(case, fake_solve, tmp_path, monkeypatch):
    import engine.atomic

    out = tmp_path / "out"
    fake_solve["alpha"] = square_result()
    engine.run_case(case, out=out, solver="alpha")
    before = snapshot(out)
    real = engine.run.atomic_write_text

    def interrupted(path, text):  # Ctrl-C while metrics.json, the last file, is written
        real(path, text[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.run, "atomic_write_text", interrupted)
    fake_solve["alpha"] = square_result(3)
    with pytest.raises(KeyboardInterrupt):
        engine.run_case(case, out=out, solver="alpha")
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".workbench-staging")]

    # a failed first run into a new folder leaves no folder behind
    with pytest.raises(KeyboardInterrupt):
        engine.run_case(case, out=tmp_path / "new", solver="alpha")
    assert not (tmp_path / "new").exists()


def test_a_staging_folder_left_by_a_killed_run_is_removed_by_the_next(case, fake_solve, tmp_path):
    out = tmp_path / "out"
    fake_solve["alpha"] = square_result()
    engine.run_case(case, out=out, solver="alpha")
    dead = subprocess.Popen(["true"])  # a process id that no longer runs
    dead.wait()
    left = out / f".workbench-staging-{dead.pid}-abc"
    (left / "alpha").mkdir(parents=True)
    (left / "result.h5").write_bytes(b"half")
    alive = out / f".workbench-staging-{os.getppid()}-xyz"  # a run still going: kept
    alive.mkdir()
    engine.run_case(case, out=out, solver="alpha")
    assert not left.exists() and alive.is_dir()


def _mount_tmpfs(where, size: str) -> str | None:
    """Mount a tiny tmpfs at ``where``; returns why it cannot be done, or None once mounted."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "mounting a tmpfs needs root (this run is not root)"
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount could not run ({exc})"
    if done.returncode != 0:
        return f"mount -t tmpfs is not permitted here ({done.stderr.strip() or done.returncode})"
    return None


@pytest.mark.parametrize("formats, failing", [(["vtu", "hdf5"], "alpha.vtu"), (["hdf5"], "result.h5")])
def test_a_real_full_disk(case, fake_solve, tmp_path, formats, failing):
    """On a real, tiny file system: HDF5 meeting a full disk once crashed the process when freed."""
    disk = tmp_path / "disk"
    why = _mount_tmpfs(disk, "256k")
    if why:
        pytest.skip(why)
    try:
        out = disk / "out"
        case = case.model_copy(update={"output": case.output.model_copy(update={"formats": formats})})
        fake_solve["alpha"] = square_result()
        engine.run_case(case, out=out, solver="alpha")
        before = snapshot(out)
        fake_solve["alpha"] = square_result(120, seed=1)  # some 400 kB of files: more than the disk holds
        with pytest.raises(RunError) as caught:
            engine.run_case(case, out=out, solver="alpha")
        assert str(caught.value) == f"{out}/: no space left on the device while writing {failing}; free space there or choose another output folder (--out)"
        del caught
        gc.collect()  # what used to segfault: freeing HDF5's broken file handle
        assert snapshot(out) == before
        assert sorted(p.name for p in out.iterdir()) == sorted(before)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=20)
