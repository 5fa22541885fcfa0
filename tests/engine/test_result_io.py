"""Result files: VTU/PVD that ParaView reads, HDF5 that reopens exactly, atomic writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import h5py
import meshio
import numpy as np
import pytest

from engine.errors import InputError
from engine.fields import Field
from engine.mesh import Mesh, Region
from engine.result import ProbeReading, Provenance, Result
from engine.result_io import read_hdf5, write_hdf5, write_vtu


@pytest.fixture
def square() -> Mesh:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.5]])
    triangles = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return Mesh(points, {"triangle": triangles, "line": np.array([[0, 1]])}, [Region("bottom", 1, {"line": np.array([0])}), Region("pin", 0, {}, np.array([4]))])


def steady(mesh: Mesh) -> Result:
    u = Field("u", mesh.points[:, 0] + 2 * mesh.points[:, 1])
    flux = Field("flux", np.tile([1.0, 2.0], (mesh.n_cells, 1)), "cell", components=("x", "y"))
    provenance = Provenance("test-solver", options={"tol": 1e-8}, wall_time=0.5, iterations=3, residual=1e-9)
    probes = {"centre": ProbeReading("centre", (0.5, 0.5), {"u": np.array([1.5])})}
    return Result(mesh, {"u": u, "flux": flux}, provenance, probes)


def series(mesh: Mesh, n_steps: int = 3) -> Result:
    times = np.linspace(0.0, 1.0, n_steps)
    values = np.array([t * mesh.points[:, 0] for t in times])
    return Result(mesh, {"T": Field("T", values, times=times)}, Provenance("test-solver"))


def test_vtu_holds_point_and_cell_fields(square, tmp_path):
    (path,) = write_vtu(steady(square), tmp_path / "result.vtu")
    raw = meshio.read(path)
    np.testing.assert_allclose(raw.point_data["u"], square.points[:, 0] + 2 * square.points[:, 1])
    flux = raw.cell_data["flux"][0]
    assert flux.shape == (4, 3)  # padded to 3 components for ParaView
    np.testing.assert_allclose(flux[:, :2], np.tile([1.0, 2.0], (4, 1)))
    assert [b.type for b in raw.cells] == ["triangle"]


def test_time_series_is_a_pvd_collection(square, tmp_path):
    files = write_vtu(series(square), tmp_path / "heat.vtu")
    pvd = files[0]
    assert pvd.name == "heat.pvd"
    datasets = ET.parse(pvd).getroot().find("Collection").findall("DataSet")
    assert [float(d.get("timestep")) for d in datasets] == [0.0, 0.5, 1.0]
    for d, t in zip(datasets, [0.0, 0.5, 1.0]):
        step = meshio.read(tmp_path / d.get("file"))
        np.testing.assert_allclose(step.point_data["T"], t * square.points[:, 0])


def test_rewriting_a_series_replaces_old_steps(square, tmp_path):
    write_vtu(series(square, 5), tmp_path / "heat.vtu")
    write_vtu(series(square, 2), tmp_path / "heat.vtu")
    assert sorted(p.name for p in (tmp_path / "heat").iterdir()) == ["heat_0000.vtu", "heat_0001.vtu"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heat", "heat.pvd"]


def test_a_failed_series_write_leaves_the_previous_files(square, tmp_path, monkeypatch):
    write_vtu(series(square, 3), tmp_path / "heat.vtu")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real_write = meshio.write

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(meshio, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        write_vtu(series(square, 4), tmp_path / "heat.vtu")
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_hdf5_reopens_exactly(square, tmp_path):
    result = steady(square)
    again = read_hdf5(write_hdf5(result, tmp_path / "result.h5"))
    np.testing.assert_array_equal(again.mesh.points, square.points)
    np.testing.assert_array_equal(again.mesh.cells["triangle"], square.cells["triangle"])
    assert set(again.mesh.regions) == {"bottom", "pin"}
    np.testing.assert_array_equal(again.mesh.region_points("pin"), [4])
    np.testing.assert_array_equal(again.fields["u"].values, result.fields["u"].values)
    assert again.fields["flux"].association == "cell" and again.fields["flux"].components == ("x", "y")
    assert again.provenance.solver == "test-solver" and again.provenance.iterations == 3
    assert again.provenance.versions["workbench"] == result.provenance.versions["workbench"]
    np.testing.assert_array_equal(again.probes["centre"].values["u"], [1.5])
    assert again.probes["centre"].point == (0.5, 0.5)
    assert again.times is None


def test_hdf5_time_series(square, tmp_path):
    again = read_hdf5(write_hdf5(series(square), tmp_path / "series.h5"))
    np.testing.assert_allclose(again.times, [0.0, 0.5, 1.0])
    assert again.fields["T"].is_time_series
    np.testing.assert_allclose(again.fields["T"].at_step(2).values, square.points[:, 0])


def test_hdf5_write_is_atomic(square, tmp_path, monkeypatch):
    target = tmp_path / "result.h5"
    write_hdf5(steady(square), target)
    before = target.read_bytes()
    broken = steady(square)
    broken.provenance.options = {"bad": object()}  # not JSON serialisable: fails at the end
    with pytest.raises(TypeError):
        write_hdf5(broken, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.h5"]


def test_reading_something_else_is_refused(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_hdf5(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk" * 10)
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        read_hdf5(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = 1
    with pytest.raises(InputError, match="not a workbench result file"):
        read_hdf5(tmp_path / "other.h5")


def test_result_refuses_fields_that_do_not_fit(square):
    with pytest.raises(InputError, match="field 'u' does not fit the mesh"):
        Result(square, {"u": Field("u", np.zeros(3))}, Provenance("x"))


def test_hdf5_keeps_the_order_of_regions_and_fields(tmp_path):
    import engine

    case = engine.load_case(engine.resource_path("examples/kirsch_plate_with_hole.toml"))
    result = engine.get_solver("classical").solve(engine.Problem.from_case(case))
    back = engine.read_hdf5(engine.write_hdf5(result, tmp_path / "r.h5"))
    assert list(back.mesh.regions) == list(result.mesh.regions) == ["symmetry_x", "symmetry_y", "right", "top", "hole", "plate"]
    assert list(back.fields) == list(result.fields)


# -- hostile or damaged result files ---------------------------------------------------------
def test_a_huge_declared_field_is_refused_before_it_is_read(square, tmp_path):
    """A few kilobytes of compressed HDF5 can declare 16 GiB: refused by its declaration."""
    path = write_hdf5(steady(square), tmp_path / "r.h5")
    with h5py.File(path, "a") as h5:
        del h5["fields/u"]
        d = h5["fields"].create_dataset("u", shape=(1 << 31,), dtype="f8", chunks=(1 << 16,), compression="gzip")
        d.attrs.update({"association": "point", "components": "null", "units": "", "time_series": False})
    assert path.stat().st_size < 100_000
    with pytest.raises(InputError) as caught:
        read_hdf5(path)
    err = caught.value
    assert err.source == str(path) and err.field == "/fields/u"
    assert "does not fit the mesh" in str(err) and "(2147483648,)" in str(err)
    with h5py.File(path, "a") as h5:  # the same for the mesh, which nothing else bounds
        del h5["mesh/points"]
        h5["mesh"].create_dataset("points", shape=(1 << 30, 2), dtype="f8", chunks=(1 << 15, 2), compression="gzip")
    with pytest.raises(InputError, match=r"r\.h5: /mesh/points: the data set exceeds the limit \(16 GiB\)"):
        read_hdf5(path)


def test_an_array_beyond_the_limit_is_refused_naming_the_limit(square, tmp_path, monkeypatch):
    path = write_hdf5(steady(square), tmp_path / "r.h5")
    monkeypatch.setenv("WORKBENCH_LIMIT_ARRAY_BYTES", "64")  # the 5 points take 80 bytes
    with pytest.raises(InputError) as caught:
        read_hdf5(path)
    assert caught.value.field == "/mesh/points" and caught.value.source == str(path)
    assert "the data set exceeds the limit (80 bytes)" in str(caught.value) and "WORKBENCH_LIMIT_ARRAY_BYTES" in str(caught.value)


def test_a_field_that_does_not_fit_the_mesh_names_the_file_and_data_set(square, tmp_path):
    path = write_hdf5(steady(square), tmp_path / "r.h5")
    with h5py.File(path, "a") as h5:
        attrs = dict(h5["fields/u"].attrs)
        del h5["fields/u"]
        h5["fields"].create_dataset("u", data=np.zeros(7)).attrs.update(attrs)
    with pytest.raises(InputError, match=r"r\.h5: /fields/u: the data set does not fit the mesh: got \(7,\); expected leading sizes \(5,\)"):
        read_hdf5(path)


def test_a_damaged_data_set_is_an_input_error_naming_it(square, tmp_path):
    path = write_hdf5(steady(square), tmp_path / "r.h5")
    with h5py.File(path, "r") as h5:
        chunk = h5["mesh/points"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[chunk.byte_offset : chunk.byte_offset + chunk.size] = b"\xff" * chunk.size  # not gzip any more
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        read_hdf5(path)
    assert caught.value.source == str(path) and caught.value.field == "/mesh/points"
    assert "the data set cannot be read" in str(caught.value)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda h5: h5["provenance"].attrs.__setitem__("json", "[" * 100_000 + "]" * 100_000), "nests objects or lists too deeply"),
        (lambda h5: h5["provenance"].attrs.__setitem__("json", '{"wall_time": NaN}'), "NaN is not a JSON number"),
        (lambda h5: h5["fields/u"].attrs.__setitem__("components", "[" * 40 + "]" * 40), "nests tables or lists too deeply"),
        (lambda h5: (h5.__delitem__("mesh/points"), h5["mesh"].create_group("points")), "/mesh/points: not a dataset"),
        (lambda h5: h5["fields/u"].attrs.__setitem__("association", "edge"), "unknown field association"),
        (lambda h5: h5["mesh/regions/bottom"].attrs.__setitem__("dim", "one"), "the result file is damaged"),
    ],
)
def test_hostile_metadata_is_an_input_error_naming_the_file(square, tmp_path, damage, message):
    path = write_hdf5(steady(square), tmp_path / "r.h5")
    with h5py.File(path, "a") as h5:
        damage(h5)
    with pytest.raises(InputError, match=message) as caught:
        read_hdf5(path)
    assert caught.value.source == str(path)


def test_damaged_metadata_is_bad_input_not_a_key_error(tmp_path):
    # Found by fuzzing project files: h5py raises KeyError when an object header is damaged.
    import h5py

    from engine.result_io import read_hdf5

    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "workbench-result"
        h5.attrs["format_version"] = 1
    data = bytearray(path.read_bytes())
    data[112] = 0  # the root group's object header
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"damaged\.h5: the result file is damaged \(KeyError"):
        read_hdf5(path)
