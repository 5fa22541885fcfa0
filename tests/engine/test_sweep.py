"""Parameter studies: the study format, sampling, the results table, resume after a kill."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import engine
from engine.errors import Cancelled, InputError
from engine.study import load_study, parse_study
from engine.sweep import read_results, run_sweep

BASE = {"version": 1, "name": "s", "case": "darcy_unit_square.toml"}


def study_file(tmp_path: Path, resources: Path, text: str) -> Path:
    """A study beside a copy of the Darcy example case."""
    (tmp_path / "darcy_unit_square.toml").write_text((resources / "examples" / "darcy_unit_square.toml").read_text())
    path = tmp_path / "study.toml"
    path.write_text('version = 1\nname = "s"\ncase = "darcy_unit_square.toml"\n' + text)
    return path


def test_the_example_study_lists_its_grid(resources):
    study = load_study(resources / "examples" / "darcy_study.toml")
    samples = study.samples()
    assert len(samples) == 6 and samples[-1] == {"k_in": 24.0, "physics.f": 2.0}
    doc = study.case_for(samples[-1])
    assert doc["parameters"]["k_in"] == 24.0 and doc["physics"]["f"] == 2.0 and doc["mesh"]["size"] == 0.1
    engine.parse_case(doc, source=study.case_path)  # every sample is a valid case


def test_random_sampling_is_seeded(tmp_path, resources):
    path = study_file(tmp_path, resources, '[sampling]\nmethod = "random"\nn_samples = 5\nseed = 3\n[parameters]\nk_in = {min = 1.0, max = 10.0, log = true}\nk_out = [1.0, 2.0]\n')
    a, b = load_study(path).samples(), load_study(path).samples()
    assert a == b and len(a) == 5
    assert all(1.0 <= s["k_in"] <= 10.0 and s["k_out"] in (1.0, 2.0) for s in a)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("[parameters]\nk_inn = [1.0]\n", "parameters.k_inn", "Did you mean 'k_in'?"),
        ("[parameters]\n\"physics.g\" = [1.0]\n", "parameters.physics.g", "no such entry"),
        ("[parameters]\n\"physics.k\" = [1.0]\n", "parameters.physics.k", "only numbers can be varied"),
        ("[parameters]\nk_in = \"big\"\n", "parameters.k_in", "not a list or a range"),
        ("[parameters]\nk_in = {min = 1.0, max = 2.0}\n", "parameters.k_in.n", "number of points"),
        ("[sampling]\nmethod = \"sobol\"\n[parameters]\nk_in = [1.0]\n", "sampling.method", "got 'sobol'"),
        ("[sampling]\nmethod = \"random\"\n[parameters]\nk_in = [1.0]\n", "sampling.n_samples", "number of samples"),
        ("[outputs]\nfields = [\"u.median\"]\n[parameters]\nk_in = [1.0]\n", "outputs.fields[0]", "<field>.<statistic>"),
        ("[outptus]\n", "outptus", "Did you mean 'outputs'?"),
        ("", "parameters", "no parameters to vary"),
    ],
)
def test_bad_studies_name_the_file_field_and_value(tmp_path, resources, text, field, fragment):
    path = study_file(tmp_path, resources, text)
    with pytest.raises(InputError) as info:
        load_study(path)
    assert info.value.field == field and str(path) in str(info.value) and fragment in str(info.value)


def test_versions_and_missing_case(tmp_path):
    with pytest.raises(InputError, match="unsupported study format version"):
        parse_study({**BASE, "version": 2})
    with pytest.raises(InputError, match="base case file is not found"):
        parse_study({**BASE, "parameters": {"k_in": [1.0]}}, source=tmp_path / "study.toml")


def test_a_sweep_writes_one_row_per_sample_in_csv_and_hdf5(resources, tmp_path):
    outcome = run_sweep(resources / "examples" / "darcy_study.toml", out=tmp_path, scheduler="synchronous")
    assert (outcome.n_samples, outcome.n_done, outcome.n_failed, outcome.n_run) == (6, 6, 0, 6)
    with open(tmp_path / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["sample"]) for r in rows] == list(range(6))
    assert {"k_in", "physics.f", "status", "wall_time", "centre.u", "quarter.u", "u.max", "u.mean"} <= set(rows[0])
    # u is linear in f: four times the source, four times the pressure
    assert float(rows[1]["centre.u"]) == pytest.approx(4 * float(rows[0]["centre.u"]), rel=1e-9)
    # a stiffer inclusion lowers the pressure
    assert float(rows[4]["u.max"]) < float(rows[0]["u.max"])
    table = read_results(tmp_path)
    assert table["status"].tolist() == ["done"] * 6
    np.testing.assert_allclose(table["centre.u"], [float(r["centre.u"]) for r in rows])
    with h5py.File(tmp_path / "results.h5") as h5:
        assert h5.attrs["format"] == "workbench-study-results" and h5.attrs["n_samples"] == 6


def test_bad_sample_values_fail_their_row_only(tmp_path, resources):
    path = study_file(tmp_path, resources, '[set]\n"mesh.size" = 0.2\n[parameters]\n"mesh.size" = [0.2, -1.0]\n[outputs]\nfields = ["u.l2"]\n')
    outcome = run_sweep(path, out=tmp_path / "out", scheduler="synchronous")
    assert [r["status"] for r in outcome.rows] == ["done", "failed"]
    assert "mesh.size" in outcome.rows[1]["error"] and outcome.rows[0]["u.l2"] > 0


def test_another_study_in_the_folder_is_refused(resources, tmp_path):
    run_sweep(resources / "examples" / "darcy_study.toml", out=tmp_path, scheduler="synchronous")
    (tmp_path / "other").mkdir()
    path = study_file(tmp_path / "other", resources, "[parameters]\nk_in = [1.0]\n")
    with pytest.raises(InputError, match="holds a run of another study"):
        run_sweep(path, out=tmp_path, scheduler="synchronous")
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="not empty and holds no study"):
        run_sweep(path, out=tmp_path / "stuff", scheduler="synchronous")


def test_cancel_keeps_the_finished_samples(resources, tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(fraction, message):
        seen.append(fraction)
        if fraction and fraction >= 2 / 6:
            cancel.set()

    with pytest.raises(Cancelled, match="2 of 6 samples are saved"):
        run_sweep(resources / "examples" / "darcy_study.toml", out=tmp_path, scheduler="synchronous", progress=progress, cancel=cancel)
    assert len(read_results(tmp_path)["sample"]) == 2
    assert not list(tmp_path.glob(".*part*"))
    again = run_sweep(resources / "examples" / "darcy_study.toml", out=tmp_path, scheduler="synchronous")
    assert again.n_run == 4 and [r["sample"] for r in again.rows] == list(range(6))


KILLED_RUN = """
import sys
from engine.sweep import run_sweep
run_sweep(sys.argv[1], out=sys.argv[2], scheduler="synchronous")
"""


def test_resume_after_sigkill_neither_recomputes_nor_duplicates(tmp_path, resources):
    values = ", ".join(f"{v:.1f}" for v in np.linspace(3.0, 30.0, 24))
    path = study_file(tmp_path, resources, f'[set]\n"mesh.size" = 0.1\n"output.pictures" = false\n[parameters]\nk_in = [{values}]\n')
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(path), str(out)])
    journal = out / "rows.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 3):
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = {json.loads(line)["sample"]: json.loads(line) for line in journal.read_text().splitlines() if line.strip()}
    assert 3 <= len(before) < 24, "the kill came too late to test a resume"
    with open(journal, "a") as fh:  # what a kill in the middle of a write leaves
        fh.write('{"sample": 23, "k_in": 30.0, "sta')
    outcome = run_sweep(path, out=out, scheduler="synchronous")
    assert outcome.n_run == 24 - len(before) and outcome.n_done == 24
    assert [r["sample"] for r in outcome.rows] == list(range(24))
    for index, row in before.items():  # the samples of the killed run were kept, not solved again
        assert outcome.rows[index]["wall_time"] == row["wall_time"]
    lines = journal.read_text().splitlines()
    assert len(lines) == 24 and len({json.loads(line)["sample"] for line in lines}) == 24


def test_on_a_local_dask_cluster(resources, tmp_path):
    outcome = run_sweep(resources / "examples" / "darcy_study.toml", out=tmp_path, workers=1)
    assert outcome.n_done == 6 and outcome.backend["scheduler"] == "distributed.LocalCluster"
    serial = run_sweep(resources / "examples" / "darcy_study.toml", out=tmp_path / "serial", scheduler="synchronous")
    assert [r["centre.u"] for r in outcome.rows] == [r["centre.u"] for r in serial.rows]


def test_keep_samples_and_compare_both(tmp_path, resources):
    path = study_file(tmp_path, resources, 'solver = "both"\n[set]\n"mesh.size" = 0.1\n"output.pictures" = false\n[parameters]\nk_in = [12.0]\n[outputs]\nsamples = true\n')
    outcome = run_sweep(path, out=tmp_path / "out", scheduler="synchronous")
    row = outcome.rows[0]
    assert row["status"] == "done", row.get("error")
    assert 0 < row["error.u.relative_l2"] < 0.1 and "classical.centre.u" in row and "surrogate.centre.u" in row
    assert (tmp_path / "out" / "samples" / "00000" / "metrics.json").exists()


def test_the_results_table_on_a_full_disk_is_an_os_error_not_a_crash(tmp_path):
    """HDF5 writing straight to a full disk could segfault when its handle was freed; the table is
    built in memory and written in one plain write (a real tmpfs, filled; run in a subprocess so
    a crash fails this test instead of killing the suite)."""
    import subprocess
    import sys

    from tests.engine.test_run import _mount_tmpfs

    disk = tmp_path / "disk"
    why = _mount_tmpfs(disk, "64k")
    if why:
        pytest.skip(why)
    try:
        code = (
            "import errno, sys, types\n"
            "from pathlib import Path\n"
            "from engine.sweep import _write_tables\n"
            "out = Path(sys.argv[1])\n"
            "try:\n"
            "    (out / 'filler').write_bytes(b'x' * (1 << 20))\n"
            "except OSError:\n"
            "    pass\n"
            "study = types.SimpleNamespace(document={'a': 1}, name='s', samples=lambda: [0, 1])\n"
            "rows = {i: {'sample': i, 'status': 'ok', 'error': None, 'x': float(i)} for i in range(2)}\n"
            "try:\n"
            "    _write_tables(out, study, rows, ['x'])\n"
            "except OSError as exc:\n"
            "    sys.exit(3 if exc.errno == errno.ENOSPC else 4)\n"
        )
        done = subprocess.run([sys.executable, "-c", code, str(disk)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
        assert not (disk / "results.h5").exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=20)
