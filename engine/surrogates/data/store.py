"""Data sets of mesh-native samples: written sample by sample so that a kill loses nothing, and
read back one sample at a time; today's grid data sets open as a special case.

Writing (:class:`MeshDatasetWriter`). Every sample is its own small HDF5 file in a folder beside
the data set (``.NAME.parts/00042.h5``), written atomically (built in memory, written under a
temporary name, renamed), so a kill at any moment leaves only whole samples; the folder's
``manifest.json`` records what the data set is (its description: the study and case that make
it), and a run that finds the folder with another description refuses to mix the two. A run
resumes by skipping the samples whose files are there. :meth:`MeshDatasetWriter.finish` gathers
them into the data set file, written atomically too, and removes the folder: until that rename
the samples stay in the folder, after it they are in the file.

File layout (``format = "workbench-mesh-dataset"``, ``format_version = 2``)::

    /samples/<00042>     one group per sample, as engine.surrogates.data.samples writes it
    attrs: format, format_version, physics, input_names, output_names, parameter_names (JSON),
           n_samples (asked for), sample_ids (those kept), failed (JSON: sample -> error),
           description (JSON), created

Every sample of a data set has the same physics, input channels and output fields (their
meshes may differ): a sample that does not is refused with the names. A grid data set of
format version 1 (``workbench-dataset``) opens with :func:`open_mesh_dataset` too, each sample
on the structured triangulation its grid was solved on, ``k`` as ``coef.k`` and ``u`` as ``u``.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_path, atomic_write_text
from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.surrogates.data.samples import MeshSample, read_sample, write_sample

__all__ = ["MESH_FORMAT", "MESH_FORMAT_VERSION", "MeshDatasetWriter", "MeshDataset", "open_mesh_dataset", "write_part"]

MESH_FORMAT = "workbench-mesh-dataset"
MESH_FORMAT_VERSION = 2
_PART = re.compile(r"^(\d{5,})\.h5$")


def _parts_folder(path: Path) -> Path:
    return path.with_name(f".{path.name}.parts")


def _signature(sample: MeshSample) -> dict[str, Any]:
    return {"physics": sample.physics, "input_names": list(sample.inputs), "output_names": list(sample.outputs),
            "parameter_names": sorted(sample.parameters)}


def _check_same(first: Mapping[str, Any], other: Mapping[str, Any], where: str) -> None:
    for key, label in (("physics", "physics"), ("input_names", "input channels"), ("output_names", "output fields"),
                       ("parameter_names", "parameters")):
        if first[key] != other[key]:
            raise InputError(f"a data set cannot mix {label}", field=where, value=other[key], expected=f"{first[key]}, as its other samples")


def write_part(parts: Path, index: int, sample: MeshSample) -> None:
    """Write sample ``index`` into a writer's folder ``parts``, whole or not at all (any process
    may: each sample has its own file, built in memory and renamed into place)."""
    import h5py

    image = io.BytesIO()
    with h5py.File(image, "w", track_order=True) as h5:
        write_sample(h5.create_group("sample", track_order=True), sample)
    with atomic_path(Path(parts) / f"{int(index):05d}.h5") as tmp:
        tmp.write_bytes(image.getbuffer())
    (Path(parts) / f"{int(index):05d}.failed.txt").unlink(missing_ok=True)


class MeshDatasetWriter:
    """Writes the samples of one data set at ``path`` (see the module docstring).

    ``description`` (JSON-able) says what makes the data set; a run that finds samples written
    for another description is refused, so two studies never mix in one file.
    """

    def __init__(self, path: str | Path, n_samples: int, description: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.n_samples = int(n_samples)
        self.description = json.loads(json.dumps(dict(description), sort_keys=True))
        self.parts = _parts_folder(self.path)
        manifest = self.parts / "manifest.json"
        if manifest.exists():
            stored = json.loads(manifest.read_text(encoding="utf-8"))
            if stored.get("description") != self.description or stored.get("n_samples") != self.n_samples:
                raise InputError("unfinished samples of another data set are in the way", source=self.parts,
                                 expected=f"the same study and case as they were made with; remove {self.parts} to start afresh")
        else:
            self.parts.mkdir(parents=True, exist_ok=True)
            atomic_write_text(manifest, json.dumps({"description": self.description, "n_samples": self.n_samples}, sort_keys=True))
        for stray in self.parts.glob(".*.part.*"):  # a sample whose writer was killed
            stray.unlink(missing_ok=True)

    def done(self) -> list[int]:
        """The samples already written (their files are whole: each was renamed into place)."""
        ids = [int(m.group(1)) for p in self.parts.iterdir() if (m := _PART.match(p.name))]
        return sorted(i for i in ids if i < self.n_samples)

    def failed(self) -> dict[int, str]:
        """Samples recorded as failed, with their errors."""
        out = {}
        for p in self.parts.glob("*.failed.txt"):
            out[int(p.name.split(".")[0])] = p.read_text(encoding="utf-8")
        return dict(sorted(out.items()))

    def add(self, index: int, sample: MeshSample) -> None:
        """Keep sample ``index`` (whole, or not at all)."""
        self._check_index(index)
        write_part(self.parts, index, sample)

    def add_failed(self, index: int, error: str) -> None:
        """Record that sample ``index`` could not be made (it is tried again on the next run)."""
        self._check_index(index)
        atomic_write_text(self.parts / f"{index:05d}.failed.txt", str(error))

    def _check_index(self, index: int) -> None:
        if not 0 <= int(index) < self.n_samples:
            raise InputError("no such sample", field="sample", value=index, expected=f"0 to {self.n_samples - 1}")

    def finish(self) -> Path:
        """Gather the written samples into the data set file (atomically) and remove the folder.

        Raises ``InputError`` when no sample was written, or when samples disagree in physics,
        channels, fields or parameters (naming the first that does)."""
        import h5py

        ids = self.done()
        if not ids:
            raise InputError("no sample was written", source=self.path, expected="at least one sample solved", hint="; ".join(
                f"sample {i}: {e}" for i, e in list(self.failed().items())[:3]) or None)
        first: dict[str, Any] | None = None
        with atomic_path(self.path) as tmp:
            with h5py.File(tmp, "w", track_order=True) as out:
                samples = out.create_group("samples", track_order=True)
                for index in ids:
                    part = self.parts / f"{index:05d}.h5"
                    with h5py.File(part, "r") as h5:
                        signature = _signature(read_sample(h5["sample"], str(part)))
                        if first is None:
                            first = signature
                        _check_same(first, signature, f"sample {index}")
                        h5.copy(h5["sample"], samples, name=f"{index:05d}")
                out.attrs["format"] = MESH_FORMAT
                out.attrs["format_version"] = MESH_FORMAT_VERSION
                out.attrs["physics"] = first["physics"]
                for key in ("input_names", "output_names", "parameter_names"):
                    out.attrs[key] = json.dumps(first[key])
                out.attrs["n_samples"] = self.n_samples
                out.attrs["sample_ids"] = np.asarray(ids, dtype=np.int64)
                out.attrs["failed"] = json.dumps({str(k): v for k, v in self.failed().items()})
                out.attrs["description"] = json.dumps(self.description, sort_keys=True)
                out.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        shutil.rmtree(self.parts, ignore_errors=True)
        return self.path


class MeshDataset:
    """The samples of a data set file, read one at a time (``dataset[i]`` is a MeshSample).

    ``sample_ids`` are the kept samples' numbers in the study; ``physics``, ``input_names``,
    ``output_names`` and ``parameter_names`` are those of every sample."""

    def __init__(self, path: Path, *, physics: str, input_names: list[str], output_names: list[str], parameter_names: list[str],
                 sample_ids: np.ndarray, failed: dict[str, str], description: dict[str, Any], reader) -> None:
        self.path = path
        self.physics, self.input_names, self.output_names, self.parameter_names = physics, input_names, output_names, parameter_names
        self.sample_ids, self.failed, self.description = sample_ids, failed, description
        self._reader = reader

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, position: int) -> MeshSample:
        if not -len(self) <= position < len(self):
            raise IndexError(f"sample position {position} out of range for {len(self)} samples")
        return self._reader(int(self.sample_ids[position]))

    def __repr__(self) -> str:
        return f"MeshDataset({self.path.name}: {len(self)} {self.physics} samples, {self.input_names} -> {self.output_names})"


def open_mesh_dataset(path: str | Path) -> MeshDataset:
    """Open a data set of mesh samples, or a grid data set (format version 1) as one.

    Raises ``InputError`` for a file that is neither, or a newer format (naming what it is)."""
    import h5py

    from engine.result_io import json_attribute

    path = Path(path)
    source = str(path)
    try:
        with h5py.File(path, "r") as h5:
            fmt, version = h5.attrs.get("format"), h5.attrs.get("format_version")
            version = version.item() if isinstance(version, np.generic) else version
            if fmt == MESH_FORMAT and version == MESH_FORMAT_VERSION:
                meta = {key: json_attribute(h5, key, "[]", source) for key in ("input_names", "output_names", "parameter_names")}
                failed = json_attribute(h5, "failed", "{}", source)
                description = json_attribute(h5, "description", "{}", source)
                ids = np.asarray(h5.attrs.get("sample_ids", []), dtype=np.int64)
                physics = str(h5.attrs.get("physics", ""))
            elif fmt == MESH_FORMAT:
                raise InputError("unsupported data set format version", source=source, value=version, expected=f"{MESH_FORMAT_VERSION}; a newer workbench may read it")
            elif fmt != "workbench-dataset":
                raise InputError("not a workbench data set", source=source, value=fmt, expected=f"{MESH_FORMAT!r} or 'workbench-dataset'")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", source=source, expected="a data set written by the workbench") from None
    if fmt == "workbench-dataset":
        return _grid_as_mesh(path)

    def read(index: int) -> MeshSample:
        with h5py.File(path, "r") as h5:
            return read_sample(h5[f"samples/{index:05d}"], source)

    return MeshDataset(path, physics=physics, sample_ids=ids, failed=failed, description=description, reader=read, **meta)


def _grid_as_mesh(path: Path) -> MeshDataset:
    """A grid data set (format version 1) as mesh samples on the triangulation it was solved on."""
    from engine.solvers.fem.p1 import structured_unit_square
    from engine.surrogates.datasets import open_dataset

    grid = open_dataset(path)
    resolution = grid.inputs.shape[-1]
    points, triangles, _ = structured_unit_square(resolution - 1)  # row by row, x fastest: the arrays' order
    mesh = Mesh(points, {"triangle": triangles})
    inputs = [f"coef.{name}" for name in grid.input_names]

    def read(index: int) -> MeshSample:
        position = int(np.flatnonzero(grid.sample_ids == index)[0])
        x, y = grid.inputs[position], grid.outputs[position]
        return MeshSample(mesh, "diffusion", {n: x[c].astype(float).ravel() for c, n in enumerate(inputs)},
                          {n: Field(n, y[c].astype(float).ravel()) for c, n in enumerate(grid.output_names)})

    return MeshDataset(path, physics="diffusion", input_names=inputs, output_names=list(grid.output_names), parameter_names=[],
                       sample_ids=np.asarray(grid.sample_ids, dtype=np.int64), failed={}, description={"recipe": grid.recipe.model_dump(mode="json")},
                       reader=read)
