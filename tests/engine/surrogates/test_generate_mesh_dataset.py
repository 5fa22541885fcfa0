"""Data generation from a study of any case: a plate whose hole radius varies gives samples on
meshes of their own; a sample whose geometry cannot be built is recorded as failed and the others
go on; a cancelled run resumes where it stopped; the command line does the same."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import engine
from engine.errors import Cancelled
from engine.study import parse_study
from engine.surrogates.data.generate import generate_mesh_dataset
from engine.surrogates.data.store import open_mesh_dataset

RADII = [0.1, 0.2, 0.3, 5.0]  # the last does not fit in the plate


def plate_study(tmp_path, radii=RADII):
    case = engine.resource_path("examples/kirsch_plate_with_hole.toml").read_text(encoding="utf-8")
    (tmp_path / "plate.toml").write_text(case, encoding="utf-8")
    document = {"version": 1, "name": "plate-radius", "case": "plate.toml", "solver": "classical",
                "set": {"mesh.size": 0.25, "mesh.refine": [], "output.pictures": False, "probes": []},
                "sampling": {"method": "grid"}, "parameters": {"geometry.parameters.radius": radii}}
    return parse_study(document, source=tmp_path / "study.toml")


def test_a_varied_hole_gives_samples_on_their_own_meshes_and_a_failure_is_recorded(tmp_path):
    data = open_mesh_dataset(generate_mesh_dataset(plate_study(tmp_path), tmp_path / "plate.h5", scheduler="synchronous"))
    assert data.sample_ids.tolist() == [0, 1, 2] and list(data.failed) == ["3"] and "radius" in data.failed["3"]
    samples = [data[i] for i in range(3)]
    assert len({s.mesh.points.tobytes() for s in samples}) == 3  # three meshes
    for sample, radius in zip(samples, RADII):
        assert sample.parameters == {"geometry.parameters.radius": radius}
        r = np.hypot(*sample.mesh.points[:, :2].T)
        assert r.min() == pytest.approx(radius, rel=1e-6)
        hole = sample.mesh.region_points("hole")
        np.testing.assert_allclose(sample.inputs["distance.hole"][hole], 0.0, atol=1e-12)
        assert set(sample.outputs) >= {"displacement"} and sample.outputs["displacement"].n_components == 2
    assert (tmp_path / "plate.results.csv").read_text(encoding="utf-8").count("\n") == 5  # the sweep's table beside it


def test_a_cancelled_generation_resumes_where_it_stopped(tmp_path):
    study = plate_study(tmp_path, RADII[:3])
    out = tmp_path / "plate.h5"
    cancel = threading.Event()

    def stop_after_the_first(fraction, message):
        if message.startswith("1/3 samples"):
            cancel.set()

    with pytest.raises(Cancelled):
        generate_mesh_dataset(study, out, scheduler="synchronous", progress=stop_after_the_first, cancel=cancel)
    assert not out.exists()
    seen = []
    data = open_mesh_dataset(generate_mesh_dataset(study, out, scheduler="synchronous", progress=lambda f, m: seen.append(m)))
    assert len(data) == 3 and any("1 of 3 samples already done" in m for m in seen)


def test_the_command_line_generates_from_a_study(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text('version = 1\nname = "darcy"\ncase = "' + str(engine.resource_path("examples/darcy_unit_square.toml")) + '"\n'
                     '[set]\n"mesh.size" = 0.25\n"output.pictures" = false\n[parameters]\nk_in = [6.0, 12.0]\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "workbench", "dataset", "generate", str(study), "--out", str(tmp_path / "d.h5"),
                           "--scheduler", "synchronous", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = open_mesh_dataset(tmp_path / "d.h5")
    assert len(data) == 2 and data.output_names[0] == "u" and data[1].parameters == {"k_in": 12.0}
