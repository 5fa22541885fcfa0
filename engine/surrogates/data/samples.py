"""One training sample of a mesh-native surrogate, and how it is kept in HDF5.

A :class:`MeshSample` is what a solve of one case of a study gives a data set: the mesh it was
solved on (points, cells, named regions), the input channels on its points
(:func:`engine.surrogates.data.channels.input_channels`), the output fields the solver answered
(its point fields: a cell field such as a stress is derived, not learnt), the scalar parameters
that produced it, and the times of a transient run. Every sample may have its own mesh.

Layout of one sample in an HDF5 group (``sample_format_version = 1``)::

    mesh/points, mesh/cells/<type>, mesh/regions/<name>/...   as in result files
    inputs/<channel>        (n_points,) float64
    outputs/<field>         (n_points[, k]) or (n_times, n_points[, k]), with the result file's attrs
    times                   (n_times,), only for a transient sample
    attrs: sample_format_version, physics, parameters (JSON object of numbers)

:func:`write_sample` and :func:`read_sample` write and read it; the data set file that holds
many of them (crash-safe and resumable, as grid data sets are) is built on these.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.problem import Problem
from engine.result import Result

__all__ = ["SAMPLE_FORMAT_VERSION", "MeshSample", "sample_from_solution", "write_sample", "read_sample"]

SAMPLE_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class MeshSample:
    """A solved case as training data: inputs and outputs on the points of its own mesh."""

    mesh: Mesh
    physics: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, Field]
    parameters: dict[str, float] = field(default_factory=dict)
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.mesh.n_points
        for name, values in self.inputs.items():
            if np.shape(values) != (n,):
                raise InputError("an input channel does not fit the mesh", field=f"inputs.{name}", value=np.shape(values), expected=f"({n},): one value per point")
            if not np.isfinite(values).all():
                raise InputError("an input channel holds NaN or infinite values", field=f"inputs.{name}", expected="finite values")
        for name, f in self.outputs.items():
            if f.association != "point" or f.n_values != n:
                raise InputError("an output field does not fit the mesh's points", field=f"outputs.{name}", value=f"{f.association}, {f.n_values} values",
                                 expected=f"a point field of {n} values")
            if not np.isfinite(f.values).all():
                raise InputError("an output field holds NaN or infinite values", field=f"outputs.{name}", expected="finite values")
        for name, value in self.parameters.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise InputError("a parameter is not a finite number", field=f"parameters.{name}", value=value)


def sample_from_solution(problem: Problem, result: Result, parameters: Mapping[str, float] | None = None) -> MeshSample:
    """The sample of a solved ``problem``: its input channels, the result's point fields, and
    ``parameters`` (the study's values for this sample; default the case's own parameters).

    Examples
    --------
    >>> import engine
    >>> problem = engine.Problem.from_case(engine.load_case(engine.resource_path("examples/nafems_t4.toml")))
    >>> sample = sample_from_solution(problem, engine.get_solver("classical").solve(problem))
    >>> sample.physics, list(sample.outputs), sample.inputs["coef.k"].shape == (problem.mesh.n_points,)
    ('heat', ['T', 'heat_flux'], True)
    """
    from engine.surrogates.data.channels import input_channels

    outputs = {name: f for name, f in result.fields.items() if f.association == "point"}
    chosen = dict(problem.case.parameters) if parameters is None else dict(parameters)
    return MeshSample(result.mesh, problem.case.physics.kind, input_channels(problem), outputs,
                      {k: float(v) for k, v in chosen.items()}, result.times)


def write_sample(group, sample: MeshSample) -> None:
    """Write ``sample`` into the empty HDF5 group ``group`` (created with ``track_order=True``)."""
    from engine.result_io import write_field_group, write_mesh_group

    group.attrs["sample_format_version"] = SAMPLE_FORMAT_VERSION
    group.attrs["physics"] = sample.physics
    group.attrs["parameters"] = json.dumps(sample.parameters)
    write_mesh_group(group.create_group("mesh", track_order=True), sample.mesh)
    inputs = group.create_group("inputs", track_order=True)
    for name, values in sample.inputs.items():
        inputs.create_dataset(name, data=np.asarray(values, dtype=np.float64), compression="gzip")
    write_field_group(group.create_group("outputs", track_order=True), sample.outputs)
    if sample.times is not None:
        group.create_dataset("times", data=np.asarray(sample.times, dtype=float))


def read_sample(group, source: str) -> MeshSample:
    """The sample :func:`write_sample` wrote into ``group``; sizes are checked before values are
    read, and a sample of another format version is refused with the versions this one reads."""
    import h5py

    from engine.result_io import checked_array, group_member, json_attribute, read_field_group, read_mesh_group

    version = group.attrs.get("sample_format_version")
    version = version.item() if isinstance(version, np.generic) else version
    if version != SAMPLE_FORMAT_VERSION:
        raise InputError("unsupported sample format version", source=source, field=f"{group.name}@sample_format_version", value=version,
                         expected=f"{SAMPLE_FORMAT_VERSION}; a newer workbench may read it")
    mesh = read_mesh_group(group_member(group, "mesh", h5py.Group, source), source)
    times = checked_array(group["times"], source, ndim=(1,)) if "times" in group else None
    inputs = {name: checked_array(d, source, leading=(mesh.n_points,), ndim=(1,)).astype(float)
              for name, d in group_member(group, "inputs", h5py.Group, source).items()}
    outputs = read_field_group(group_member(group, "outputs", h5py.Group, source), mesh, times, source)
    parameters = json_attribute(group, "parameters", "{}", source)
    if not isinstance(parameters, dict):
        raise InputError("the sample's parameters are not a JSON object", source=source, field=f"{group.name}@parameters")
    return MeshSample(mesh, str(group.attrs.get("physics", "")), inputs, outputs, parameters, times)
