"""Result files: VTU (+ PVD for time series) for ParaView, HDF5 for arrays and provenance.

Every file is written atomically; a time series is written into a fresh folder that replaces
the old one only once complete, so a failed or cancelled write leaves the previous files intact.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from engine._version import __version__
from engine.atomic import atomic_path, atomic_write_text, process_umask
from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import CELL_TYPES, Mesh, Region
from engine.result import ProbeReading, Provenance, Result

__all__ = ["write_vtu", "write_hdf5", "read_hdf5", "RESULT_FORMAT_VERSION"]

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
    """
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as h5:
        h5.attrs["format"] = _FORMAT_NAME
        h5.attrs["format_version"] = RESULT_FORMAT_VERSION
        h5.attrs["workbench_version"] = __version__
        mesh = result.mesh
        # track_order: regions, fields and probes read back in the order they were written
        g = h5.create_group("mesh", track_order=True)
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
        fields = h5.create_group("fields", track_order=True)
        for name, f in result.fields.items():
            d = fields.create_dataset(name, data=f.values, compression="gzip")
            d.attrs["association"] = f.association
            d.attrs["components"] = json.dumps(list(f.components) if f.components else None)
            d.attrs["units"] = f.units
            d.attrs["time_series"] = f.is_time_series
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
    return path


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_hdf5(path: str | Path) -> Result:
    """Reopen a result written by ``write_hdf5``."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path, expected="a result file (.h5)")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", source=path, expected="a result file written by the workbench") from exc
    with h5:
        if h5.attrs.get("format") != _FORMAT_NAME:
            raise InputError("not a workbench result file", source=path, value=h5.attrs.get("format"), expected=repr(_FORMAT_NAME))
        version = int(h5.attrs.get("format_version", -1))
        if version not in _READERS:
            raise InputError("unsupported result format version", source=path, value=version, expected=f"one of {list(_READERS)}")
        try:
            return _READERS[version](h5, path)
        except KeyError as exc:
            raise InputError(f"the result file is incomplete (missing {exc})", source=path) from exc


def _read_v1(h5, path: Path) -> Result:
    g = h5["mesh"]
    cells = {ctype: g["cells"][ctype][()] for ctype in g["cells"] if ctype in CELL_TYPES}
    regions = []
    for name, r in g["regions"].items():
        regions.append(
            Region(
                name,
                int(r.attrs["dim"]),
                {t: r[t][()] for t in r if t != "points"},
                r["points"][()] if "points" in r else None,
            )
        )
    mesh = Mesh(g["points"][()], cells, regions, source=path)
    times = h5["times"][()] if "times" in h5 else None
    fields = {}
    for name, d in h5["fields"].items():
        components = json.loads(d.attrs.get("components", "null"))
        fields[name] = Field(
            name,
            d[()],
            str(d.attrs["association"]),
            times if bool(d.attrs["time_series"]) else None,
            tuple(components) if components else None,
            str(d.attrs.get("units", "")),
        )
    probes = {
        name: ProbeReading(name, tuple(p.attrs["point"].tolist()), {k: v[()] for k, v in p.items()})
        for name, p in h5["probes"].items()
    }
    provenance = Provenance.from_dict(json.loads(h5["provenance"].attrs["json"]))
    return Result(mesh, fields, provenance, probes)


_READERS = {1: _read_v1}
