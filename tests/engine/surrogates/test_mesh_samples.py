"""Mesh-native training samples: built from a solve (inputs from the case, outputs from the
result), written to HDF5 and read back exactly, steady and transient; bad ones refused."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import engine
from engine.errors import InputError
from engine.fields import Field
from engine.surrogates.data.samples import MeshSample, read_sample, sample_from_solution, write_sample


def _solved(example: str):
    problem = engine.Problem.from_case(engine.load_case(engine.resource_path(f"examples/{example}")))
    return problem, engine.get_solver("classical").solve(problem)


def _round_trip(sample: MeshSample, tmp_path) -> MeshSample:
    path = tmp_path / "samples.h5"
    with h5py.File(path, "w") as h5:
        write_sample(h5.create_group("samples/00000", track_order=True), sample)
    with h5py.File(path, "r") as h5:
        return read_sample(h5["samples/00000"], str(path))


@pytest.mark.parametrize("example", ["kirsch_plate_with_hole.toml", "nafems_t3.toml"])
def test_a_solved_case_is_a_sample_that_reopens_exactly(example, tmp_path):
    problem, result = _solved(example)
    sample = sample_from_solution(problem, result, {"load": 2.5})
    again = _round_trip(sample, tmp_path)
    assert again.physics == problem.case.physics.kind and again.parameters == {"load": 2.5}
    np.testing.assert_array_equal(again.mesh.points, problem.mesh.points)
    assert list(again.mesh.regions) == list(problem.mesh.regions)
    assert list(again.inputs) == list(sample.inputs) and "sdf" in again.inputs
    for name, values in sample.inputs.items():
        np.testing.assert_array_equal(again.inputs[name], values)
    assert list(again.outputs) == [n for n, f in result.fields.items() if f.association == "point"]
    for name, f in sample.outputs.items():
        np.testing.assert_array_equal(again.outputs[name].values, f.values)
    if result.times is None:
        assert again.times is None
    else:
        np.testing.assert_array_equal(again.times, result.times)
        assert again.outputs["T"].is_time_series


def test_bad_samples_are_refused_with_the_channel():
    problem, result = _solved("nafems_t4.toml")
    sample = sample_from_solution(problem, result)
    n = problem.mesh.n_points
    with pytest.raises(InputError, match=r"inputs\.sdf: an input channel does not fit the mesh"):
        MeshSample(sample.mesh, "heat", {**sample.inputs, "sdf": np.zeros(n - 1)}, sample.outputs)
    with pytest.raises(InputError, match=r"outputs\.T: an output field holds NaN"):
        MeshSample(sample.mesh, "heat", sample.inputs, {"T": Field("T", np.full(n, np.nan))})
    with pytest.raises(InputError, match=r"parameters\.r: a parameter is not a finite number"):
        MeshSample(sample.mesh, "heat", sample.inputs, sample.outputs, {"r": float("inf")})


def test_a_sample_of_a_newer_format_is_refused(tmp_path):
    problem, result = _solved("nafems_t4.toml")
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("s", track_order=True)
        write_sample(group, sample_from_solution(problem, result))
        group.attrs["sample_format_version"] = 9
    with h5py.File(path, "r") as h5, pytest.raises(InputError, match="unsupported sample format version: got 9"):
        read_sample(h5["s"], str(path))
