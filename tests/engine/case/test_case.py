"""Case files: examples load and bind, documents round-trip, every kind of bad input is named."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.case import Case, case_json_schema, case_to_toml, load_case, parse_case, save_case
from engine.case.load import case_json_schema_text
from engine.errors import CaseError, ExpressionError, InputError, MeshError, RegionError
from engine.problem import Problem
from engine.solvers import get_solver
from engine.resources import resource_path

ROOT = Path(__file__).resolve().parents[3]

MINIMAL = """
version = 1
[geometry]
kind = "unit_square"
[mesh]
size = 0.25
[physics]
kind = "diffusion"
k = 2.0
[[boundary]]
region = "left"
type = "dirichlet"
value = 0.0
"""


def case_from(text: str = MINIMAL, **edits) -> dict:
    """The case ``text`` with dotted keys set (``physics.time.step=1e-9``; missing tables are
    made), or deleted with ``_DELETE``."""
    data = tomllib.loads(text)
    for dotted, value in edits.items():
        target = data
        *parents, last = dotted.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


_DELETE = object()


def examples(resources: Path) -> list[Path]:
    return sorted(p for p in (resources / "examples").glob("*.toml") if not p.name.endswith("_study.toml"))  # studies: tests/engine/test_sweep.py


def test_every_shipped_example_loads_and_binds(resources):
    paths = examples(resources)
    assert len(paths) >= 4
    for path in paths:
        case = load_case(path)
        problem = Problem.from_case(case)
        assert problem.mesh.n_cells > 0
        for bc in case.boundary:
            assert set(bc.regions) <= set(problem.mesh.regions)


def test_darcy_example_coefficient_has_its_two_values(resources):
    problem = Problem.from_case(load_case(resources / "examples" / "darcy_unit_square.toml"))
    k = problem.coefficient("physics.k")
    np.testing.assert_allclose(k.at_points(np.array([[0.4, 0.6], [0.5, 0.2], [0.05, 0.05]])), [12.0, 3.0, 12.0])
    per_cell = k.at_cells(problem.mesh)
    assert set(np.unique(per_cell)) == {3.0, 12.0}
    assert problem.coefficient("physics.f").is_constant and problem.coefficient("physics.f").value == 1.0


def test_coefficient_read_from_a_file_is_exact_on_its_own_mesh(resources):
    problem = Problem.from_case(load_case(resources / "examples" / "darcy_checkerboard_file.toml"))
    k = problem.coefficient("physics.k")
    values = k.at_cells(problem.mesh)
    assert len(values) == problem.mesh.n_cells and set(np.unique(values)) == {3.0, 12.0}
    # off the mesh's own cells the field is sampled: the checkerboard square (0..0.25)^2 is 12
    assert k.at_points(np.array([[0.1, 0.1]]))[0] == 12.0
    assert k.at_points(np.array([[0.35, 0.1]]))[0] == 3.0


def test_toml_round_trip(resources, tmp_path):
    for path in examples(resources):
        case = load_case(path)
        save_case(case, tmp_path / path.name)
        again = load_case(tmp_path / path.name)
        assert again.model_dump() == case.model_dump()


def test_defaults_are_filled_and_documented():
    case = parse_case(MINIMAL)
    assert case.solver.kind == "classical" and case.solver.classical.element == "P1"
    assert case.output.formats == ["vtu", "hdf5"]
    assert "[solver.classical]" in case_to_toml(case)


def test_json_schema_in_docs_is_current():
    text = (ROOT / "docs" / "case-format.schema.json").read_text()
    assert json.loads(text) == json.loads(case_json_schema_text()), "regenerate with: workbench case schema > docs/case-format.schema.json"
    assert case_json_schema()["properties"]["physics"]


# -- bad input ------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(CaseError, match=r"nothing\.toml: file not found"):
        load_case(tmp_path / "nothing.toml")


def test_not_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('version = 1\n[geometry\nkind = "x"\n')
    with pytest.raises(CaseError, match=r"bad\.toml: not valid TOML \(.*line 2"):
        load_case(path)


def test_binary_file(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CaseError, match="not UTF-8"):
        load_case(path)


@pytest.mark.parametrize(
    ("edits", "error", "pattern"),
    [
        ({"version": _DELETE}, CaseError, r"version: missing 'version'; expected version = 1"),
        ({"version": 7}, CaseError, r"version: unsupported case format version: got 7; expected one of 1"),
        ({"version": "1"}, CaseError, r"unsupported case format version: got '1'"),
        ({"bondary": []}, CaseError, r"bondary: unknown key"),
        ({"physics.kind": "magnetics"}, CaseError, r"physics.kind: unknown kind: got 'magnetics'; expected one of 'diffusion', 'heat', 'elasticity'"),
        ({"physics.k": [1, 2]}, CaseError, r"physics.k: wrong type: got \[1, 2\]; expected a number, an expression"),
        ({"physics.k": True}, CaseError, r"physics.k: a boolean is not a coefficient"),
        ({"physics.k": "1 +* x"}, ExpressionError, r"physics.k: could not parse"),
        ({"physics.k": "1 + kk*x"}, ExpressionError, r"physics.k: unknown name \(column 5\): got 'kk'"),
        ({"physics.k": "__import__('os').system('true')"}, ExpressionError, r"physics.k"),
        ({"physics.k": float("nan")}, CaseError, r"physics.k: a coefficient is not finite"),
        ({"physics.kk": 1.0}, CaseError, r"physics.kk: unknown key"),
        ({"boundary.0.type": "traction"}, CaseError, r"boundary\[0\].type: diffusion physics takes no 'traction' condition: got 'traction'; expected one of dirichlet, neumann, robin"),
        ({"boundary.0.value": _DELETE}, CaseError, r"boundary\[0\].value: missing required key"),
        ({"boundary.0.region": []}, CaseError, r"boundary\[0\].region: a region name is empty"),
        ({"mesh.size": -1.0}, CaseError, r"mesh.size: input should be greater than 0: got -1.0"),
        ({"mesh.order": 3}, CaseError, r"mesh.order"),
        ({"geometry.file": "x.msh"}, CaseError, r"give exactly one of 'kind'"),
        ({"geometry": {}}, CaseError, r"give exactly one of 'kind'"),
        ({"probes": [{"name": "a", "point": [0.5, 0.5]}, {"name": "a", "point": [0.1, 0.1]}]}, CaseError, r"probe names must be unique; repeated: a"),
        ({"probes": [{"name": "a", "point": [0.5]}]}, CaseError, r"probes\[0\].point"),
        ({"solver": {"kind": "surrogate"}}, CaseError, r"needs a \[solver.surrogate\] table"),
        ({"parameters": {"a": "x"}}, CaseError, r"parameters.a: input should be a valid number"),
    ],
)
def test_bad_case_documents(edits, error, pattern):
    with pytest.raises(error, match=pattern):
        parse_case(case_from(**edits), source="case.toml")


def test_errors_in_a_flow_case_name_the_key_and_list_a_condition_keys():
    """A key spelt like a boundary type (forces.velocity) is named in full, and an unknown key
    in a [[boundary]] lists the keys that condition's type takes."""
    doc = tomllib.loads(resource_path("examples/dfg_2d1.toml").read_text(encoding="utf-8"))
    doc["physics"]["forces"]["velocity"] = -1.0
    with pytest.raises(CaseError, match=r"^physics\.forces\.velocity: input should be greater than 0"):
        parse_case(doc)
    doc["physics"]["forces"]["velocity"] = 1.0
    doc["boundary"][0]["uxx"] = 1.0
    with pytest.raises(CaseError, match=r"boundary\[0\]\.uxx: unknown key; expected one of .*\bux, uy\b") as info:
        parse_case(doc)
    assert "Did you mean 'ux'?" in str(info.value)


def test_error_names_the_file_and_counts_other_problems():
    with pytest.raises(CaseError) as info:
        parse_case(case_from(**{"physics.kk": 1.0, "mesh.size": -1.0, "bondary": []}), source="my.toml")
    text = str(info.value)
    assert text.startswith("my.toml: ")
    assert "2 more problem(s)" in text


def test_elasticity_checks():
    base = """
version = 1
[geometry]
kind = "unit_square"
[physics]
kind = "elasticity"
E = 1.0
nu = 0.3
"""
    with pytest.raises(CaseError, match=r"physics.nu: Poisson's ratio 0.5 is outside \[0, 0.5\)"):
        parse_case(case_from(base, **{"physics.nu": 0.5}))
    with pytest.raises(CaseError, match=r"physics.E: Young's modulus -1.0 is not positive"):
        parse_case(case_from(base, **{"physics.E": -1.0}))
    with pytest.raises(CaseError, match=r"give at least one of ux, uy, uz"):
        parse_case(case_from(base, boundary=[{"region": "left", "type": "displacement"}]))
    case = parse_case(case_from(base, **{"physics.model": "3d"}))
    with pytest.raises(CaseError, match=r"physics.model: 3D elasticity needs a 3D mesh"):
        Problem.from_case(case)


def test_time_stepping_checks():
    base = MINIMAL.replace('kind = "diffusion"', 'kind = "heat"')
    with pytest.raises(CaseError, match=r"step 2.0 is longer than end 1.0"):
        parse_case(case_from(base, **{"physics.time": {"end": 1.0, "step": 2.0}}))
    with pytest.raises(CaseError, match=r"physics.time.scheme"):
        parse_case(case_from(base, **{"physics.time": {"end": 1.0, "step": 0.1, "scheme": "rk4"}}))


# -- binding to a mesh ------------------------------------------------------------------------
def test_unknown_region_names_the_case_file_field_and_choices(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(MINIMAL.replace('region = "left"', 'region = "lft"'))
    with pytest.raises(RegionError) as info:
        Problem.from_case(load_case(path))
    text = str(info.value)
    assert text.startswith(f"{path}: boundary[0].region: unknown region name: got 'lft'; expected one of ")
    assert "'left'" in text and "'top'" in text


def test_subdomain_is_not_a_boundary():
    with pytest.raises(RegionError, match=r"region 'domain' is a 2D subdomain, not a boundary"):
        Problem.from_case(parse_case(case_from(**{"boundary.0.region": "domain"})))


def test_probe_outside_the_mesh():
    case = parse_case(case_from(probes=[{"name": "far", "point": [2.0, 0.5]}]))
    with pytest.raises(CaseError, match=r"probes\[0\].point: probe 'far' lies outside the mesh: got \[2.0, 0.5\]"):
        Problem.from_case(case)


def test_missing_mesh_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(MINIMAL.replace('kind = "unit_square"', 'file = "meshes/none.msh"', 1).replace("[mesh]\nsize = 0.25\n", ""))
    with pytest.raises(MeshError, match=r"meshes/none.msh: file not found.*named by geometry.file in"):
        Problem.from_case(load_case(path))


def test_bad_geometry_parameter_names_the_case_file(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(MINIMAL.replace('kind = "unit_square"', 'kind = "disk"\nparameters = { radius = -1.0 }'))
    with pytest.raises(InputError) as info:
        Problem.from_case(load_case(path))
    assert str(info.value).startswith(str(path)) and "radius" in str(info.value)


def test_unknown_field_in_file(resources, tmp_path):
    text = (resources / "examples" / "darcy_checkerboard_file.toml").read_text()
    path = resources / "examples" / "_tmp_unknown_field.toml"
    case = parse_case(text.replace('field = "k"', 'field = "perm"'), source=path)
    with pytest.raises(CaseError, match=r"physics.k.field: no field of that name in darcy_checkerboard.vtu: got 'perm'; expected one of 'k'"):
        Problem.from_case(case)


def test_mesh_options_with_a_mesh_file_are_refused(resources):
    text = (resources / "examples" / "darcy_checkerboard_file.toml").read_text()
    with pytest.raises(CaseError, match=r"\[mesh\] options \(size\) apply to built-in geometries"):
        parse_case(text + "\n[mesh]\nsize = 0.1\n")


@pytest.mark.parametrize(
    ("edits", "pattern"),
    [
        ({"physics.k": "1/x"}, r"physics.k: the coefficient is not finite everywhere: it is inf at \[0.0, "),
        ({"physics.k": "x - 0.5"}, r"physics.k: the coefficient is not positive everywhere"),
        ({"physics.k": -1.0}, r"physics.k: the coefficient is not positive everywhere: it is -1"),
        ({"boundary.0.value": "log(y)"}, r"boundary\[0\].value: the coefficient is not finite everywhere"),
    ],
)
def test_coefficients_are_checked_where_they_act(edits, pattern):
    with pytest.raises(CaseError, match=pattern):
        Problem.from_case(parse_case(case_from(**edits)))


def test_probe_in_a_hole_is_refused():
    case = parse_case(
        {"version": 1, "geometry": {"kind": "plate_with_hole"}, "mesh": {"size": 0.2}, "physics": {"kind": "diffusion"}, "probes": [{"name": "centre", "point": [0.0, 0.0]}]}
    )
    with pytest.raises(CaseError, match=r"probes\[0\].point: probe 'centre' lies outside the mesh, in a hole"):
        Problem.from_case(case)


def test_two_conditions_on_one_region_are_refused():
    extra = [{"region": "left", "type": "neumann", "flux": 1.0}]
    with pytest.raises(CaseError, match=r"boundary\[0\] and boundary\[1\] both set a condition on region 'left'"):
        parse_case(case_from(boundary=case_from()["boundary"] + extra))


def test_parameter_shadowing_a_function_is_named_as_a_parameter():
    with pytest.raises(InputError, match=r"^parameters: "):
        parse_case(case_from(parameters={"sin": 1.0}, **{"physics.k": "sin"}))


def test_element_must_fit_the_cells():
    case = parse_case(case_from(**{"mesh.cell": "quad", "mesh.structured": True}))
    with pytest.raises(CaseError, match=r"solver.classical.element: P elements need triangles"):
        Problem.from_case(case)


# -- fuzzing ----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_case_or_a_clear_error(text):
    try:
        case = parse_case(text)
    except InputError as err:
        assert str(err)
    else:
        assert isinstance(case, Case)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.floats(-2, 2), max_size=4),
    st.dictionaries(st.sampled_from(["file", "field", "kind", "x"]), st.text(max_size=5), max_size=2),
)
_PATHS = [
    "version", "title", "geometry.kind", "geometry.file", "geometry.parameters", "mesh.size", "mesh.order",
    "mesh.cell", "physics.kind", "physics.k", "physics.f", "boundary.0.region", "boundary.0.type",
    "boundary.0.value", "probes", "solver.kind", "output.formats", "parameters",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _VALUES), min_size=1, max_size=4))
def test_mutated_cases_validate_or_fail_clearly(mutations):
    data = case_from()
    for dotted, value in mutations:
        target = data
        *parents, last = dotted.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {}) if isinstance(target, dict) else target
        if isinstance(target, dict):
            if value is None:
                target.pop(last, None)
            else:
                target[last] = value
    try:
        parse_case(data, source="fuzz.toml")
    except InputError as err:
        assert str(err).startswith("fuzz.toml")


@pytest.mark.parametrize("boundary", [[], [{"region": "left", "type": "neumann", "flux": 1.0}]])
def test_a_steady_problem_with_no_condition_fixing_u_is_refused(boundary):
    case = parse_case({"version": 1, "geometry": {"kind": "unit_square"}, "mesh": {"size": 0.25}, "physics": {"kind": "diffusion", "f": 1.0}, "boundary": boundary})
    problem = Problem.from_case(case)  # a case being set up may lack its conditions for a while
    with pytest.raises(CaseError, match=r"boundary: no boundary condition fixes the solution.*expected at least one dirichlet"):
        get_solver("classical").solve(problem)


def test_a_robin_condition_alone_fixes_u():
    case = parse_case({"version": 1, "geometry": {"kind": "unit_square"}, "mesh": {"size": 0.25}, "physics": {"kind": "heat"},
                       "boundary": [{"region": "left", "type": "robin", "h": 2.0}]})
    assert get_solver("classical").solve(Problem.from_case(case)).fields["T"].n_values > 0
