"""Data sets of mesh samples: each sample kept whole as it is made, a run resumed where it
stopped, samples of other meshes in one file, mixing refused, a grid data set of format 1 read
as mesh samples (a frozen v1 file: tests/engine/surrogates/data/grid_dataset_v1.h5)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.case import parse_case
from engine.errors import InputError
from engine.surrogates.data.samples import sample_from_solution
from engine.surrogates.data.store import MeshDatasetWriter, open_mesh_dataset

V1_FILE = Path(__file__).parent / "data" / "grid_dataset_v1.h5"


def heat_sample(size: float, k: float):
    doc = tomllib.loads(engine.resource_path("examples/nafems_t4.toml").read_text(encoding="utf-8"))
    doc["mesh"]["size"] = size
    doc["physics"]["k"] = k
    problem = engine.Problem.from_case(parse_case(doc))
    return sample_from_solution(problem, engine.get_solver("classical").solve(problem), {"k": k})


def test_samples_on_their_own_meshes_are_kept_resumed_and_read_back(tmp_path):
    path = tmp_path / "heat.h5"
    description = {"study": "k sweep"}
    writer = MeshDatasetWriter(path, 3, description)
    first = heat_sample(0.2, 50.0)
    writer.add(0, first)
    writer.add_failed(1, "the mesh could not be made")
    (writer.parts / ".00002.abcd.part.h5").write_bytes(b"half a sample")  # a writer killed mid-write
    # a new run of the same data set: sample 0 is done, 1 and 2 are to do; the half-written one is gone
    again = MeshDatasetWriter(path, 3, description)
    assert again.done() == [0] and again.failed() == {1: "the mesh could not be made"}
    assert not list(again.parts.glob(".*.part.*"))
    third = heat_sample(0.1, 20.0)  # a finer mesh
    again.add(2, third)
    assert not path.exists()  # nothing is in the file until it is finished
    assert again.finish() == path and not again.parts.exists()
    data = open_mesh_dataset(path)
    assert len(data) == 2 and data.sample_ids.tolist() == [0, 2] and data.failed == {"1": "the mesh could not be made"}
    assert data.physics == "heat" and data.output_names == list(first.outputs) and data.parameter_names == ["k"]
    assert data.description == description
    read = data[1]
    assert read.mesh.n_points == third.mesh.n_points != first.mesh.n_points
    np.testing.assert_array_equal(read.outputs["T"].values, third.outputs["T"].values)
    assert read.parameters == {"k": 20.0}


def test_another_study_does_not_mix_into_unfinished_samples(tmp_path):
    path = tmp_path / "d.h5"
    MeshDatasetWriter(path, 2, {"study": "a"}).add(0, heat_sample(0.2, 50.0))
    with pytest.raises(InputError, match="unfinished samples of another data set are in the way"):
        MeshDatasetWriter(path, 2, {"study": "b"})


def test_samples_of_different_fields_are_refused(tmp_path):
    writer = MeshDatasetWriter(tmp_path / "d.h5", 2, {})
    writer.add(0, heat_sample(0.2, 50.0))
    problem = engine.Problem.from_case(engine.load_case(engine.resource_path("examples/kirsch_plate_with_hole.toml")))
    writer.add(1, sample_from_solution(problem, engine.get_solver("classical").solve(problem), {"k": 1.0}))
    with pytest.raises(InputError, match=r"sample 1: a data set cannot mix physics"):
        writer.finish()
    assert not (tmp_path / "d.h5").exists() and writer.parts.exists()  # nothing half-made, nothing lost


def test_a_grid_data_set_of_format_1_opens_as_mesh_samples():
    from engine.surrogates.datasets import open_dataset

    grid = open_dataset(V1_FILE)
    data = open_mesh_dataset(V1_FILE)
    assert len(data) == 3 and data.input_names == ["coef.k"] and data.output_names == ["u"]
    sample = data[2]
    assert sample.mesh.n_points == 81 and sample.mesh.n_cells == 128
    x, y = sample.mesh.points[:, 0], sample.mesh.points[:, 1]
    i, j = np.rint(x * 8).astype(int), np.rint(y * 8).astype(int)
    np.testing.assert_array_equal(sample.inputs["coef.k"], grid.inputs[2, 0, j, i])  # the value at (x_i, y_j)
    np.testing.assert_array_equal(sample.outputs["u"].values, grid.outputs[2, 0, j, i])
    assert np.abs(sample.outputs["u"].values[(i == 0) | (i == 8) | (j == 0) | (j == 8)]).max() == 0.0  # u = 0 on the boundary


def test_what_is_not_a_data_set_is_refused(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        open_mesh_dataset(tmp_path / "x.h5")
    import h5py

    with h5py.File(tmp_path / "r.h5", "w") as h5:
        h5.attrs["format"] = "workbench-result"
    with pytest.raises(InputError, match="not a workbench data set: got 'workbench-result'"):
        open_mesh_dataset(tmp_path / "r.h5")
