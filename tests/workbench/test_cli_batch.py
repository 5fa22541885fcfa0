"""Batch mode from the command line: run with pictures and metrics, sweep, dataset, train,
models import/export; --help, --json, --quiet; exit codes; Ctrl-C then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from tests.workbench.test_cli import WORKBENCH, assert_clean_failure, workbench

TINY_RECIPE = 'version = 1\nname = "tiny"\nresolution = 17\nn_samples = {n}\nseed = 0\n'


def test_every_command_has_help_with_examples():
    commands = [
        ["run"], ["sweep"], ["dataset", "generate"], ["train"], ["models", "list"], ["models", "show"],
        ["models", "import"], ["models", "export"], ["mesh", "info"], ["mesh", "convert"], ["mesh", "generate"],
        ["geometry", "list"], ["case", "check"], ["case", "schema"],
    ]
    for command in commands:
        done = workbench(*command, "--help")
        assert done.returncode == 0 and "usage: workbench" in done.stdout, command
        assert "example" in done.stdout, command
    top = workbench("--help").stdout
    for word in ("sweep", "dataset", "train", "--solver both", "Exit codes"):
        assert word in top


def test_metrics_json_follows_its_schema(resources, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((resources.parent / "docs" / "metrics.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    done = workbench("run", resources / "examples" / "darcy_unit_square.toml", "--out", tmp_path / "both", "--solver", "both", "--quiet")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    metrics = json.loads((tmp_path / "both" / "metrics.json").read_text())
    jsonschema.validate(metrics, schema)
    assert set(metrics["pictures"]) == {"classical_u.png", "classical_flux.png", "surrogate_u.png", "error_u.png"}
    assert all((tmp_path / "both" / name).stat().st_size > 5000 for name in metrics["pictures"])
    for example in ("nafems_le1.toml", "nafems_t3.toml"):  # units "none" and "SI-degC"
        done = workbench("run", resources / "examples" / example, "--out", tmp_path / example, "--json")
        assert done.returncode == 0, done.stderr
        jsonschema.validate(json.loads(done.stdout), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**metrics, "solvers": {"classical": {**metrics["solvers"]["classical"], "wall_time": "fast"}}}, schema)


def test_sweep_the_example_study(resources, tmp_path):
    done = workbench("sweep", resources / "examples" / "darcy_study.toml", "--out", tmp_path, "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["n_samples"], summary["n_done"], summary["n_failed"]) == (6, 6, 0)
    assert summary["backend"]["scheduler"] == "distributed.LocalCluster"
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(lines) == 7 and lines[0].startswith("sample,k_in,physics.f,status,wall_time")
    done = workbench("sweep", resources / "examples" / "darcy_study.toml", "--out", tmp_path, "--scheduler", "synchronous")
    assert done.returncode == 0 and "6 of 6 samples done, 0 failed (0 solved now" in done.stdout
    assert "[" in done.stderr  # plain progress lines when stderr is no terminal


def test_sweep_bad_input(tmp_path, resources):
    assert_clean_failure(workbench("sweep", "missing.toml", "--out", "o", cwd=tmp_path), 2, "missing.toml: file not found")
    (tmp_path / "darcy_unit_square.toml").write_text((resources / "examples" / "darcy_unit_square.toml").read_text())
    (tmp_path / "s.toml").write_text('version = 1\nname = "s"\ncase = "darcy_unit_square.toml"\n[parameters]\nk_inn = [1.0]\n')
    assert_clean_failure(workbench("sweep", "s.toml", "--out", "o", cwd=tmp_path), 2, "s.toml: parameters.k_inn: not a parameter of the case: got 'k_inn'")
    (tmp_path / "s.toml").write_text('version = 1\nname = "s"\ncase = "darcy_unit_square.toml"\n[parameters]\nk_in = [1.0]\n')
    assert_clean_failure(workbench("sweep", "s.toml", "--out", "o", "--scheduler", "nowhere", cwd=tmp_path), 2, "scheduler: invalid scheduler: got 'nowhere'")
    assert_clean_failure(workbench("sweep", "s.toml", "--out", "o", "--workers", "0", cwd=tmp_path), 2, "workers")
    done = workbench("sweep", "s.toml", "--out", "s.toml", "--json", cwd=tmp_path)  # (an unreachable scheduler takes its 20 s timeout)
    assert done.returncode == 2 and json.loads(done.stderr)["problem"] == "the output path is a file"


def interrupt_after(args: list, marker: str, *, cwd: Path) -> subprocess.CompletedProcess:
    """Start ``workbench ARGS``, send SIGINT (Ctrl-C) once stderr shows ``marker``, and wait."""
    child = subprocess.Popen([str(WORKBENCH), *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.monotonic() + 90
    for line in child.stderr:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return subprocess.CompletedProcess(child.args, child.returncode, out, "".join(seen) + err)


def no_partial_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".part" in p.name]


def test_ctrl_c_stops_a_sweep_cleanly_and_it_resumes(tmp_path, resources):
    values = ", ".join(f"{v:.1f}" for v in range(3, 43))
    (tmp_path / "darcy_unit_square.toml").write_text((resources / "examples" / "darcy_unit_square.toml").read_text())
    (tmp_path / "s.toml").write_text(
        'version = 1\nname = "s"\ncase = "darcy_unit_square.toml"\n[set]\n"mesh.size" = 0.05\n"output.pictures" = false\n'
        f"[parameters]\nk_in = [{values}]\n"
    )
    done = interrupt_after(["sweep", "s.toml", "--out", "out", "--workers", "1"], "3/40 samples", cwd=tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "interrupted" in done.stderr
    assert no_partial_files(tmp_path / "out")
    first = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert 4 <= len(first) < 41
    done = workbench("sweep", "s.toml", "--out", "out", "--scheduler", "synchronous", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_run"] == 41 - len(first) and summary["n_done"] == 40
    assert [row["sample"] for row in summary["rows"]] == list(range(40))
    lines = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(lines) == 41 and lines[: len(first)][1:] == first[1:]  # earlier rows kept as they were


def test_dataset_generate_interrupt_and_resume(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE.format(n=600).replace("resolution = 17", "resolution = 65"))
    done = interrupt_after(["dataset", "generate", "tiny.toml", "--out", "d.h5", "--workers", "1", "--chunk-size", "8"], "samples (", cwd=tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and no_partial_files(tmp_path)
    with h5py.File(tmp_path / "d.h5") as h5:
        finished = int(h5["done"][...].sum())
        assert 0 < finished < 600 and not h5.attrs["complete"]
    done = workbench("dataset", "generate", "tiny.toml", "--out", "d.h5", "--scheduler", "synchronous", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["complete"] and summary["n_solved"] == 600 - finished and summary["n_samples"] == 600


def test_dataset_generate_bad_input(tmp_path):
    assert_clean_failure(workbench("dataset", "generate", "missing.toml", "--out", "d.h5", cwd=tmp_path), 2, "missing.toml: file not found")
    (tmp_path / "r.toml").write_text(TINY_RECIPE.format(n=4).replace("resolution = 17", "resolution = 2"))
    assert_clean_failure(workbench("dataset", "generate", "r.toml", "--out", "d.h5", cwd=tmp_path), 2, "r.toml: resolution: invalid value: got 2")
    (tmp_path / "r.toml").write_text(TINY_RECIPE.format(n=4))
    assert_clean_failure(workbench("dataset", "generate", "r.toml", "--out", "d.h5", "--chunk-size", "0", cwd=tmp_path), 2, "chunk_size")
    (tmp_path / "d.h5").write_text("not hdf5")
    assert_clean_failure(workbench("dataset", "generate", "r.toml", "--out", "d.h5", "--scheduler", "synchronous", cwd=tmp_path), 2, "d.h5")


def test_train_into_the_library_then_export_and_import(tmp_path):
    env = {**os.environ, "WORKBENCH_MODELS": str(tmp_path / "library")}

    def wb(*args):
        return subprocess.run([str(WORKBENCH), *map(str, args)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    (tmp_path / "r.toml").write_text(TINY_RECIPE.format(n=12))
    assert wb("dataset", "generate", "r.toml", "--out", "d.h5", "--scheduler", "synchronous", "--quiet").returncode == 0
    done = wb("train", "d.h5", "--model", "fno", "--config", '{"modes1": 4, "modes2": 4, "width": 8}', "--name", "tiny-fno", "--epochs", "2", "--json")
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["name"] == "tiny-fno" and card["grid"]["resolution"] == 17 and card["training"]["epochs_run"] == 2
    assert "validation_relative_l2" in card["metrics"]
    assert "tiny-fno: fno for diffusion on a 17x17 grid" in wb("models", "list").stdout
    done = wb("models", "export", "tiny-fno", tmp_path / "shared")
    assert done.returncode == 0 and (tmp_path / "shared" / "card.json").exists()
    done = wb("models", "import", tmp_path / "shared", "--name", "tiny-copy", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["name"] == "tiny-copy"
    assert json.loads(wb("models", "show", "tiny-copy", "--json").stdout)["model"] == "fno"
    assert_clean_failure(wb("models", "import", tmp_path / "shared", "--name", "tiny-copy"), 2, "a model of that name is there already")
    assert wb("models", "import", tmp_path / "shared", "--name", "tiny-copy", "--force").returncode == 0
    # bad input
    assert_clean_failure(wb("models", "import", tmp_path / "nowhere"), 2, "nowhere: not a model folder")
    assert_clean_failure(wb("models", "export", "no-such-model", tmp_path / "x"), 2, "no such surrogate model: got 'no-such-model'")
    assert_clean_failure(wb("train", "missing.h5", "--name", "m"), 2, "missing.h5: file not found")
    assert_clean_failure(wb("train", "d.h5", "--model", "transformer", "--name", "m"), 2, "unknown model: got 'transformer'")
    assert_clean_failure(wb("train", "d.h5", "--config", "{bad", "--name", "m"), 2, "config: the config is not valid JSON")
    assert_clean_failure(wb("train", "d.h5", "--config", '{"widht": 8}', "--name", "m"), 2, "widht")
    assert wb("train", "d.h5").returncode == 2  # --out or --name is required (argparse usage error)
    (tmp_path / "weights_swapped").mkdir()
    for name in ("card.json", "weights.safetensors"):
        (tmp_path / "weights_swapped" / name).write_bytes((tmp_path / "shared" / name).read_bytes())
    (tmp_path / "weights_swapped" / "weights.safetensors").write_bytes(b"junk")
    assert_clean_failure(wb("models", "import", tmp_path / "weights_swapped"), 2, "checksum")


def test_run_bad_input_in_json_and_quiet_modes(tmp_path):
    done = workbench("run", "missing.toml", "--out", "o", "--json", cwd=tmp_path)
    assert done.returncode == 2 and json.loads(done.stderr)["source"] == "missing.toml"
    done = workbench("run", "missing.toml", "--out", "o", "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "workbench: error: missing.toml: file not found; expected a case file (.toml)"


def test_a_surrogate_for_the_plate_with_a_hole_from_study_to_comparison(tmp_path):
    """The issue's path from a clean clone: generate from a study of the case, train the mesh
    model, answer a radius it has not seen with both solvers."""
    import engine

    env = {**os.environ, "WORKBENCH_MODELS": str(tmp_path / "library")}

    def wb(*args):
        return subprocess.run([str(WORKBENCH), *map(str, args)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    case = engine.resource_path("examples/plate_with_hole_tension.toml").read_text(encoding="utf-8")
    coarse = case.replace("size = 0.05", "size = 0.2").replace("size = 0.01, distance = 0.3", "size = 0.05, distance = 0.2")
    coarse = coarse.replace('model = "plate-with-hole-transolver"', 'model = "my-plate"')
    (tmp_path / "plate.toml").write_text(coarse, encoding="utf-8")
    study = engine.resource_path("examples/plate_with_hole_study.toml").read_text(encoding="utf-8")
    (tmp_path / "study.toml").write_text(study.replace("plate_with_hole_tension.toml", "plate.toml").replace("n_samples = 64", "n_samples = 8"))
    done = wb("dataset", "generate", "study.toml", "--out", "plate.h5", "--scheduler", "synchronous", "--quiet")
    assert done.returncode == 0, done.stderr
    done = wb("train", "plate.h5", "--model", "transolver", "--config", '{"width": 16, "layers": 1, "heads": 2, "slices": 8}',
              "--name", "my-plate", "--epochs", "2", "--batch-size", "4")
    assert done.returncode == 0, done.stderr
    assert "trained transolver for 2 epochs" in done.stdout
    listed = wb("models", "list").stdout
    assert "my-plate: transolver for elasticity on the points of the case's mesh (plate_with_hole)" in listed
    (tmp_path / "new.toml").write_text(coarse.replace("radius = 0.25", "radius = 0.27"), encoding="utf-8")
    done = wb("run", "new.toml", "--out", "run", "--solver", "both", "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert set(metrics["comparison"]["fields"]) >= {"displacement", "stress", "von_mises"}, metrics.keys()
    text = wb("run", "new.toml", "--out", "run2", "--solver", "both").stdout
    assert "compare displacement: relative L2" in text
