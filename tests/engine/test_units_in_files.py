"""A run's files carry the units of its fields, in the unit system the case states: each VTU
array's UNITS_LABEL (VTK and ParaView read it; meshio reads past it), each HDF5 field's units
attribute, and metrics.json's units."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import meshio
import pytest

import engine
from engine.case.load import parse_case

_PLATE = {
    "version": 1,
    "geometry": {"kind": "unit_square"},
    "mesh": {"size": 0.25},
    "physics": {"kind": "elasticity", "E": 210e9, "nu": 0.3},
    "boundary": [
        {"region": "left", "type": "displacement", "ux": 0.0, "uy": 0.0},
        {"region": "right", "type": "traction", "vector": [1e6, 0.0]},
    ],
    "probes": [{"name": "middle", "point": [0.5, 0.5]}],
    "output": {"pictures": False},
}
_EXPECTED = {"displacement": "m", "stress": "Pa", "von_mises": "Pa"}


def _vtu_units(path) -> dict[str, str]:
    """Each point array's UNITS_LABEL, read from the VTU's XML."""
    root = ET.parse(path).getroot()
    return {
        array.get("Name"): key.text.strip()
        for array in root.iter("DataArray")
        for key in array.iter("InformationKey")
        if key.get("name") == "UNITS_LABEL"
    }


@pytest.fixture(scope="module")
def plate_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plate")
    engine.run_case(parse_case(_PLATE), out=out)
    return out


def test_the_vtu_reopens_with_the_unit_of_each_field(plate_run):
    assert _vtu_units(plate_run / "classical.vtu") == _EXPECTED
    assert set(meshio.read(plate_run / "classical.vtu").point_data) == set(_EXPECTED)  # still a plain VTU to meshio


def test_vtk_reads_the_units_back(plate_run):
    vtk = pytest.importorskip("vtkmodules.vtkIOXML")
    from vtkmodules.vtkCommonCore import vtkDataArray

    reader = vtk.vtkXMLUnstructuredGridReader()
    reader.SetFileName(str(plate_run / "classical.vtu"))
    reader.Update()
    data = reader.GetOutput().GetPointData()
    arrays = [data.GetArray(i) for i in range(data.GetNumberOfArrays())]
    assert {a.GetName(): a.GetInformation().Get(vtkDataArray.UNITS_LABEL()) for a in arrays} == _EXPECTED


def test_the_hdf5_result_and_the_metrics_reopen_with_their_units(plate_run):
    result = engine.read_hdf5(plate_run / "result.h5")
    assert {name: f.units for name, f in result.fields.items()} == _EXPECTED
    metrics = json.loads((plate_run / "metrics.json").read_text())
    assert metrics["units"] == "SI"
    assert metrics["solvers"]["classical"]["units"] == _EXPECTED


def test_a_time_series_labels_every_step_in_the_stated_system(tmp_path):
    case = parse_case({
        "version": 1,
        "units": "SI-degC",
        "geometry": {"kind": "unit_square"},
        "mesh": {"size": 0.25},
        "physics": {"kind": "heat", "initial": 20.0, "time": {"end": 0.2, "step": 0.1}},
        "boundary": [{"region": "left", "type": "dirichlet", "value": 100.0}],
        "output": {"pictures": False},
    })
    engine.run_case(case, out=tmp_path)
    steps = sorted((tmp_path / "classical").glob("*.vtu"))  # beside classical.pvd
    assert len(steps) == 3 and all(_vtu_units(p) == {"T": "°C", "heat_flux": "W/m^2"} for p in steps)
    assert engine.read_hdf5(tmp_path / "result.h5").fields["T"].units == "°C"
    # A file written before units were recorded called T's unit "temperature": no unit, so none.
    import h5py

    with h5py.File(tmp_path / "result.h5", "r+") as h5:
        h5["fields/T"].attrs["units"] = "temperature"
    assert engine.read_hdf5(tmp_path / "result.h5").fields["T"].units == ""
