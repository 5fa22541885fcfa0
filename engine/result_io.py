"""Result files: VTU (+ PVD for time series) for ParaView, HDF5 for arrays and provenance.

Every file is written atomically; a time series is written into a fresh folder that replaces
the old one only once complete, so a failed or cancelled write leaves the previous files intact.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from engine._version import __version__
from engine.atomic import atomic_path, atomic_write_text, process_umask
from engine.errors import InputError
from engine.fields import Field
from engine.inputs import check_input_file, parse_json
from engine.limits import LIMITS
from engine.mesh.mesh import CELL_TYPES, Mesh, Region
from engine.result import ProbeReading, Provenance, Result

__all__ = [
    "write_vtu", "write_hdf5", "read_hdf5", "write_mesh_group", "read_mesh_group", "write_field_group", "read_field_group",
    "checked_array", "group_member", "json_attribute", "RESULT_FORMAT_VERSION",
]

RESULT_FORMAT_VERSION = 1
_FORMAT_NAME = "workbench-result"


# -- VTU / PVD ------------------------------------------------------------------------------
def write_vtu(result: Result, path: str | Path) -> list[Path]:
    """Write ``result`` for ParaView: one ``.vtu``, or a ``.pvd`` collection for a time series.

    Vectors of two components are padded to three, which ParaView needs to warp and glyph.

    Returns
    -------
    list of Path
        The files written; for a series, the ``.pvd`` first, then the step files.
    """
    path = Path(path).with_suffix(".vtu")
    if result.times is None:
        _write_vtu_step(result, None, path)
        return [path]

    pvd = path.with_suffix(".pvd")
    steps_dir = path.parent / path.stem
    staging = Path(tempfile.mkdtemp(prefix=f".{path.stem}.part-", dir=path.parent))
    try:
        names = []
        for i in range(len(result.times)):
            name = f"{path.stem}_{i:04d}.vtu"
            _write_vtu_step(result, i, staging / name)
            names.append(name)
        retired = None
        if steps_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.stem}.old-", dir=path.parent))
            steps_dir.rename(retired / "steps")
        staging.chmod(0o777 & ~process_umask())  # mkdtemp made it private
        staging.rename(steps_dir)
        entries = "\n".join(
            f'    <DataSet timestep="{t!r}" group="" part="0" file={quoteattr(f"{steps_dir.name}/{n}")}/>'
            for t, n in zip(result.times.tolist(), names)
        )
        atomic_write_text(
            pvd,
            '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">\n'
            f"  <Collection>\n{entries}\n  </Collection>\n</VTKFile>\n",
        )
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [pvd] + [steps_dir / n for n in names]


def _write_vtu_step(result: Result, step: int | None, path: Path) -> None:
    import meshio

    mesh = result.mesh
    domain = mesh.domain_cells
    point_data, cell_data = {}, {}
    for name, f in result.fields.items():
        values = f.values if step is None or f.times is None else f.values[step]
        if values.ndim == 2 and values.shape[1] == 2:
            values = np.column_stack([values, np.zeros(len(values))])
        if f.association == "point":
            point_data[name] = values
        else:
            splits = np.cumsum([len(c) for c in domain.values()])[:-1]
            cell_data[name] = np.split(values, splits)
    raw = meshio.Mesh(mesh.points3d, list(domain.items()), point_data=point_data, cell_data=cell_data)
    with atomic_path(path) as tmp:
        meshio.write(tmp, raw, file_format="vtu", binary=True)
        _label_units(tmp, {name: f.units for name, f in result.fields.items() if f.units})


_ARRAY_NAME = re.compile(rb'<DataArray [^>]*Name="([^"]*)"')


def _stored_unit(unit) -> str:
    """A field's unit as a result file holds it; files written before units were recorded called
    a temperature "temperature", which is no unit: "" lets the reader ask the physics instead."""
    unit = str(unit)
    return "" if unit == "temperature" else unit


def _label_units(path: Path, units: dict[str, str]) -> None:
    """Give each field's array in the VTU meshio wrote its unit, as VTK's ``UNITS_LABEL``
    information key (VTK and ParaView read it back; meshio can write no such key, and reads
    past it). meshio writes every tag on a line of its own."""
    if not units:
        return
    wanted = {name.encode("utf-8"): escape(unit).encode("utf-8") for name, unit in units.items()}
    out, in_data, pending = [], False, None
    for line in path.read_bytes().splitlines(keepends=True):
        tag = line.strip()
        if tag in (b"<PointData>", b"<CellData>", b"</PointData>", b"</CellData>"):
            in_data = not tag.startswith(b"</")
        elif in_data and tag.startswith(b"<DataArray "):
            name = _ARRAY_NAME.match(tag)
            pending = wanted.get(name.group(1)) if name else None
        elif pending is not None and tag == b"</DataArray>":
            out.append(b'<InformationKey name="UNITS_LABEL" location="vtkDataArray">' + pending + b"</InformationKey>\n")
            pending = None
        out.append(line)
    path.write_bytes(b"".join(out))


# -- HDF5 -----------------------------------------------------------------------------------
def write_hdf5(result: Result, path: str | Path) -> Path:
    """Write ``result`` to HDF5: mesh, fields, time axis, probes and provenance.

    Layout (format version 1)::

        /            attrs format="workbench-result", format_version, workbench_version
        /mesh/points, /mesh/cells/<type>, /mesh/regions/<name>/<type | points>
        /fields/<name>      attrs association, components (JSON), units, time_series
        /times              only for a time series
        /probes/<name>/<field>   attrs point
        /provenance         attrs json (the Provenance as JSON)

    The file is built in memory and then written in one piece: HDF5 that meets a full disk
    while it writes leaves its file handle broken, and freeing that handle crashed the process
    (a segfault instead of the message); a plain write fails with an ``OSError`` instead.
    """
    import h5py

    path = Path(path)
    image = io.BytesIO()
    with h5py.File(image, "w", track_order=True) as h5:
        h5.attrs["format"] = _FORMAT_NAME
        h5.attrs["format_version"] = RESULT_FORMAT_VERSION
        h5.attrs["workbench_version"] = __version__
        write_mesh_group(h5.create_group("mesh", track_order=True), result.mesh)
        write_field_group(h5.create_group("fields", track_order=True), result.fields)
        if result.times is not None:
            h5.create_dataset("times", data=result.times)
        probes = h5.create_group("probes", track_order=True)
        for name, reading in result.probes.items():
            p = probes.create_group(name)
            p.attrs["point"] = np.asarray(reading.point, dtype=float)
            for field_name, values in reading.values.items():
                p.create_dataset(field_name, data=np.asarray(values))
        prov = h5.create_group("provenance")
        prov.attrs["json"] = json.dumps(result.provenance.to_dict(), default=_jsonable)
    with atomic_path(path) as tmp:
        tmp.write_bytes(image.getbuffer())
    return path


def write_mesh_group(g, mesh: Mesh) -> None:
    """Write ``mesh`` into the (empty, ``track_order``) HDF5 group ``g``: points, cells by type,
    regions (read back in the order written). :func:`read_mesh_group` reads it."""
    g.create_dataset("points", data=mesh.points, compression="gzip")
    cells = g.create_group("cells", track_order=True)
    for ctype, conn in mesh.cells.items():
        cells.create_dataset(ctype, data=conn, compression="gzip")
    regions = g.create_group("regions", track_order=True)
    for name, region in mesh.regions.items():
        r = regions.create_group(name)
        r.attrs["dim"] = region.dim
        for ctype, idx in region.cells.items():
            r.create_dataset(ctype, data=idx)
        if region.points is not None:
            r.create_dataset("points", data=region.points)


def write_field_group(g, fields: Mapping[str, Field]) -> None:
    """Write ``fields`` into the (``track_order``) HDF5 group ``g``, one data set each with its
    association, components, units and whether it is a time series."""
    for name, f in fields.items():
        d = g.create_dataset(name, data=f.values, compression="gzip")
        d.attrs["association"] = f.association
        d.attrs["components"] = json.dumps(list(f.components) if f.components else None)
        d.attrs["units"] = f.units
        d.attrs["time_series"] = f.is_time_series


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_hdf5(path: str | Path, *, source: str | None = None) -> Result:
    """Reopen a result written by ``write_hdf5``.

    The file may come from someone else, so nothing is trusted before it is read: every data
    set's declared size is checked against the ``array_bytes`` limit (a few kilobytes of
    compressed HDF5 can declare a 16 GiB field) and its shape against the mesh before it is
    read, and a damaged file is an ``InputError``, never an h5py or numpy exception.

    Parameters
    ----------
    path
        The HDF5 file.
    source
        The name used in messages and as the mesh's source, when ``path`` is a scratch copy
        (a project names its member: ``"study.wbproj:results/classical.h5"``).

    Raises
    ------
    InputError
        The file is missing, not a workbench result, of an unknown version, damaged, or declares
        arrays beyond the limit or that do not fit its mesh; the message names the file and the
        data set.
    """
    import h5py

    what = "a result file (.h5)"
    path = check_input_file(path, what=what) if source is None else Path(path)
    source = source or str(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", source=source, expected="a result file written by the workbench") from None
    with h5:
        try:
            name = h5.attrs.get("format")
            version = h5.attrs.get("format_version", -1)
        except (OSError, KeyError, RuntimeError, ValueError) as exc:  # h5py on damaged metadata
            raise _damaged(source, exc) from None
        if name != _FORMAT_NAME:
            raise InputError("not a workbench result file", source=source, value=name, expected=repr(_FORMAT_NAME))
        reader = _READERS.get(version) if isinstance(version, (int, np.integer)) else None
        if reader is None:
            raise InputError("unsupported result format version", source=source, value=version, expected=f"one of {list(_READERS)}")
        try:
            return reader(h5, source)
        except InputError as err:
            raise err.with_source(source) from None
        except KeyError as exc:
            raise InputError(f"the result file is incomplete (missing {exc})", source=source) from None
        except (OSError, RuntimeError, TypeError, ValueError) as exc:  # h5py's view of a damaged file
            raise _damaged(source, exc) from None


def _damaged(source: str, exc: BaseException) -> InputError:
    return InputError(f"the result file is damaged ({type(exc).__name__}: {exc})", source=source, expected="a result file as the workbench wrote it")


def group_member(parent, name: str, kind: type, source: str):
    """``parent[name]``, known to be a group or a data set (``kind``) as the format says."""
    item = parent.get(name)
    if item is None:
        raise InputError("the file is incomplete", source=source, field=f"{parent.name.rstrip('/')}/{name}", expected=f"a {kind.__name__.lower()} there")
    if not isinstance(item, kind):
        raise InputError(f"not a {kind.__name__.lower()}", source=source, field=item.name, expected=f"a {kind.__name__.lower()} as the workbench writes it")
    return item


def checked_array(dataset, source: str, *, leading: tuple[int, ...] | None = None, ndim: tuple[int, ...] | None = None) -> np.ndarray:
    """The values of a numeric data set, once its declared size and shape are known to fit.

    ``leading``: the sizes its first axes must have (points or cells, with the time axis first
    for a series); ``ndim``: the numbers of axes allowed. Both are checked before any value is
    read, so a hostile declaration costs nothing.
    """
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise InputError("not a data set", source=source, field=dataset.name, expected="a numeric array as the workbench writes it")
    shape, dtype = dataset.shape, dataset.dtype
    if shape is None or dtype.kind not in "biuf":
        raise InputError("not a numeric array", source=source, field=dataset.name, value=str(dtype), expected="integers or floating-point numbers")
    if ndim is not None and len(shape) not in ndim:
        raise InputError("the data set has the wrong number of axes", source=source, field=dataset.name, value=shape, expected=" or ".join(f"{n} axes" for n in ndim))
    if leading is not None and tuple(shape[: len(leading)]) != leading:
        raise InputError("the data set does not fit the mesh", source=source, field=dataset.name, value=shape, expected=f"leading sizes {leading}")
    LIMITS["array_bytes"].check(int(np.prod(shape, dtype=object)) * dtype.itemsize, what="the data set", source=source, field=dataset.name)
    try:
        return dataset[()]
    except (OSError, RuntimeError, ValueError) as exc:  # a damaged chunk or filter
        raise InputError(f"the data set cannot be read ({exc})", source=source, field=dataset.name, expected="a file as the workbench wrote it") from None


def json_attribute(obj, name: str, default: str | None, source: str):
    text = obj.attrs.get(name, default)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise InputError("an attribute is not JSON text", source=source, field=f"{obj.name}@{name}", value=type(text).__name__)
    return parse_json(text, source=source, what=f"JSON in the attribute {obj.name}@{name}")


def read_mesh_group(g, source: str) -> Mesh:
    """The mesh :func:`write_mesh_group` wrote into ``g``; every array's size is checked before
    it is read (a hostile file costs nothing)."""
    import h5py

    points = checked_array(group_member(g, "points", h5py.Dataset, source), source, ndim=(2,))
    cells_group = group_member(g, "cells", h5py.Group, source)
    cells = {ctype: checked_array(cells_group[ctype], source, ndim=(2,)) for ctype in cells_group if ctype in CELL_TYPES}
    regions = []
    for name, r in group_member(g, "regions", h5py.Group, source).items():
        if not isinstance(r, h5py.Group):
            raise InputError("a region is not a group", source=source, field=r.name)
        regions.append(
            Region(
                name,
                int(r.attrs["dim"]),
                {t: checked_array(r[t], source, ndim=(1,)) for t in r if t != "points"},
                checked_array(r["points"], source, ndim=(1,)) if "points" in r else None,
            )
        )
    return Mesh(points, cells, regions, source=source)


def read_field_group(g, mesh: Mesh, times: np.ndarray | None, source: str) -> dict[str, Field]:
    """The fields :func:`write_field_group` wrote into ``g``, checked to fit ``mesh`` (and
    ``times``, for a time series) before their values are read."""
    fields = {}
    for name, d in g.items():
        components = json_attribute(d, "components", "null", source)
        association = str(d.attrs["association"])
        if association not in ("point", "cell"):
            raise InputError("unknown field association", source=source, field=f"{d.name}@association", value=association, expected="'point' or 'cell'")
        series = bool(d.attrs["time_series"])
        if series and times is None:
            raise InputError("a time series in a file with no time axis", source=source, field=d.name, expected="a /times data set")
        count = mesh.n_points if association == "point" else mesh.n_cells
        fields[name] = Field(
            name,
            checked_array(d, source, leading=(len(times), count) if series else (count,), ndim=(2, 3) if series else (1, 2)),
            association,
            times if series else None,
            tuple(components) if isinstance(components, list) and components else None,
            _stored_unit(d.attrs.get("units", "")),
        )
    return fields


def _read_v1(h5, source: str) -> Result:
    import h5py

    mesh = read_mesh_group(group_member(h5, "mesh", h5py.Group, source), source)
    times = checked_array(h5["times"], source, ndim=(1,)) if "times" in h5 else None
    fields = read_field_group(group_member(h5, "fields", h5py.Group, source), mesh, times, source)
    probes = {}
    for name, p in group_member(h5, "probes", h5py.Group, source).items():
        point = np.asarray(p.attrs["point"], dtype=float).reshape(-1)
        probes[name] = ProbeReading(name, tuple(point.tolist()), {k: checked_array(v, source) for k, v in p.items()})
    provenance = json_attribute(group_member(h5, "provenance", h5py.Group, source), "json", None, source)
    if not isinstance(provenance, dict):
        raise InputError("the provenance is not a JSON object", source=source, field="/provenance@json", value=type(provenance).__name__)
    return Result(mesh, fields, Provenance.from_dict(provenance), probes)


_READERS = {1: _read_v1}
