"""Physics as plug-ins: the built-ins come through the registry, and a physics registered from
outside shows up in the case schema, its boundary types, the app's list and the docs."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest
from pydantic import Field, create_model

from engine.case.load import case_json_schema, parse_case
from engine.case.schema import rebuild_case_schema
from engine.errors import CaseError, InputError
from engine.physics import reference, registry
from engine.physics.base import POSITIVE, BoundaryModel, OutputField, PhysicsModel, PhysicsSpec
from engine.physics.diffusion import Dirichlet, check_fixed_somewhere
from engine.physics.registry import boundary_model, default_case, get_physics, physics_kinds, register_physics, unregister_physics
from engine.physics.values import Coefficient
from engine.problem import Problem
from engine.solvers import get_solver

ROOT = Path(__file__).resolve().parents[3]
BUILT_IN = ["diffusion", "heat", "elasticity", "navier_stokes"]


# -- a plug-in physics, defined as a third party would ------------------------------------------
class ToyPhysics(PhysicsModel):
    """Toy transport from a plug-in: -div(k grad u) = f."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("k", "f")
    kind: Literal["toy"]
    k: Coefficient = Field(1.0, description="Diffusivity.")
    f: Coefficient = Field(0.0, description="Production rate.")


class ToyWall(BoundaryModel):
    """A wall of the toy."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("value",)
    start: ClassVar = {"value": 2.0}
    type: Literal["toy_wall"]
    value: Coefficient


TOY = PhysicsSpec(
    kind="toy",
    model=ToyPhysics,
    boundaries=(Dirichlet, ToyWall),
    outputs=(OutputField("u", "mol/m^3"), OutputField("flux", "mol/(m^2 s)", "vector")),
    units={"k": "m^2/s", "f": "mol/(m^3 s)", "dirichlet.value": "mol/m^3", "toy_wall.value": "mol/m^3"},
    default_case={"version": 1, "geometry": {"kind": "unit_square"}, "physics": {"kind": "toy", "k": 2.0}},
    # The diffusion solver reads physics.k, physics.f and the dirichlet conditions: the toy has those.
    classical="engine.solvers.fem.diffusion:solve_diffusion",
    checks={"k": POSITIVE},
    check_determined=check_fixed_somewhere,
)


def toy_case(**physics) -> dict:
    return {"version": 1, "geometry": {"kind": "unit_square"}, "mesh": {"size": 0.25}, "physics": {"kind": "toy", **physics},
            "boundary": [{"region": ["left", "right", "bottom", "top"], "type": "dirichlet", "value": 0.0}]}


@pytest.fixture
def toy():
    register_physics(TOY)
    yield TOY
    unregister_physics("toy")


# -- built-ins ---------------------------------------------------------------------------------
def test_built_ins_are_registered_through_the_entry_point_group():
    from importlib.metadata import entry_points

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["workbench.physics"]
    assert declared == registry._BUILT_IN, "the frozen-install fallback lists the same built-ins as pyproject.toml"
    installed = {ep.name: ep for ep in entry_points(group="workbench.physics")}
    assert set(BUILT_IN) <= set(installed), "entry points missing: run `.venv/bin/pip install -e . --no-deps` (make setup does)"
    for kind in BUILT_IN:
        assert installed[kind].load() is get_physics(kind)
    assert physics_kinds()[: len(BUILT_IN)] == BUILT_IN


def test_built_in_units_are_si_and_every_key_has_one():
    heat, elasticity = get_physics("heat"), get_physics("elasticity")
    assert [heat.unit(k) for k in ("T", "k", "rho", "c", "robin.h", "time.step")] == ["K", "W/(m K)", "kg/m^3", "J/(kg K)", "W/(m^2 K)", "s"]
    assert [elasticity.unit(k) for k in ("displacement", "stress", "von_mises", "E", "nu", "traction.vector")] == ["m", "Pa", "Pa", "Pa", "-", "Pa"]
    assert get_physics("diffusion").unit("u") == "-"
    assert heat.label("k") == "conductivity k [W/(m K)]"
    for spec in map(get_physics, BUILT_IN):
        keys = list(spec.model.coefficient_fields) + [f"{bc.model_fields['type'].annotation.__args__[0]}.{k}" for bc in spec.boundaries for k in bc.coefficient_fields]
        assert [k for k in keys if not spec.unit(k)] == [], spec.kind


@pytest.mark.parametrize("kind", BUILT_IN)
def test_each_default_case_validates_and_solves(kind):
    data = default_case(kind)
    data["mesh"] = {"size": 0.25}
    result = get_solver("classical").solve(Problem.from_case(parse_case(data)))
    first = get_physics(kind).outputs[0].name
    assert np.isfinite(result.fields[first].values).all() and np.abs(result.fields[first].values).max() > 0
    assert parse_case(default_case()).physics.kind == "diffusion"  # what the app starts with


def test_the_app_keeps_its_start_values_for_each_physics():
    assert [get_physics(k).start_physics() for k in BUILT_IN] == [
        {"kind": "diffusion", "k": 1.0, "f": 1.0},
        {"kind": "heat", "k": 1.0, "f": 0.0},
        {"kind": "elasticity", "E": 210e9, "nu": 0.3, "model": "plane_stress"},
        {"kind": "navier_stokes", "rho": 1.0, "mu": 0.01},
    ]
    assert boundary_model("robin").start == {"h": 1.0, "u_inf": 0.0}


def test_case_format_doc_lists_every_physics_as_the_registry_has_it():
    text = (ROOT / "docs" / "case-format.md").read_text(encoding="utf-8")
    assert reference.markdown() in text, "regenerate with: .venv/bin/python -m engine.physics.reference docs/case-format.md"
    for kind in BUILT_IN:
        assert f"### `{kind}`" in text


# -- a plug-in physics -------------------------------------------------------------------------
def test_a_registered_physics_validates_and_shows_in_the_schema_and_the_app_list(toy):
    case = parse_case(toy_case(k=3.0))
    assert isinstance(case.physics, ToyPhysics) and case.physics.k == 3.0
    assert ("physics.k", 3.0) in case.coefficients()
    assert "toy" in physics_kinds()  # the CasePanel's physics list
    schema = case_json_schema()
    assert "ToyPhysics" in schema["$defs"] and "ToyWall" in schema["$defs"]
    assert schema["properties"]["physics"]["discriminator"]["mapping"]["toy"] == "#/$defs/ToyPhysics"
    assert "### `toy`: Toy transport from a plug-in" in reference.markdown()
    assert "| `k` | 1.0 | m^2/s | Diffusivity; positive everywhere |" in reference.markdown()


def test_unknown_kinds_are_refused_naming_every_registered_one(toy):
    with pytest.raises(CaseError, match=r"physics.kind: unknown kind: got 'nope'; expected one of 'diffusion', 'heat', 'elasticity', 'navier_stokes', 'toy'"):
        parse_case(toy_case() | {"physics": {"kind": "nope"}})
    with pytest.raises(CaseError, match=r"physics.kind: missing 'kind'; expected one of 'diffusion', 'heat', 'elasticity', 'navier_stokes', 'toy'"):
        parse_case(toy_case() | {"physics": {"k": 1.0}})
    with pytest.raises(CaseError, match=r"physics.kk: unknown key; expected one of kind, k, f. Did you mean 'k'\?"):
        parse_case(toy_case(kk=1.0))
    with pytest.raises(InputError, match=r"physics.kind: unknown physics: got 'nope'; expected one of diffusion, heat, elasticity, navier_stokes, toy"):
        get_physics("nope")


def test_a_registered_physics_has_its_own_boundary_types(toy):
    assert get_physics("toy").boundary_types == ("dirichlet", "toy_wall")
    case = parse_case(toy_case() | {"boundary": [{"region": "left", "type": "toy_wall", "value": 1.0}]})
    assert isinstance(case.boundary[0], ToyWall)
    assert boundary_model("toy_wall").start == {"value": 2.0}  # what the app's form starts a new one with
    with pytest.raises(CaseError, match=r"boundary\[0\].type: toy physics takes no 'neumann' condition: got 'neumann'; expected one of dirichlet, toy_wall"):
        parse_case(toy_case() | {"boundary": [{"region": "left", "type": "neumann"}]})
    diffusion = toy_case() | {"physics": {"kind": "diffusion"}, "boundary": [{"region": "left", "type": "toy_wall", "value": 1.0}]}
    with pytest.raises(CaseError, match=r"diffusion physics takes no 'toy_wall' condition.*expected one of dirichlet, neumann, robin"):
        parse_case(diffusion)
    with pytest.raises(CaseError, match=r"boundary\[0\].type: missing 'type'; expected one of .*'pressure', .*'outflow', 'toy_wall'"):
        parse_case(toy_case() | {"boundary": [{"region": "left"}]})


def test_a_registered_physics_is_checked_and_solved_like_a_built_in(toy):
    with pytest.raises(CaseError, match=r"physics.k: the coefficient is not positive everywhere"):
        Problem.from_case(parse_case(toy_case(k="x - 0.5")))
    with pytest.raises(CaseError, match=r"boundary: no boundary condition fixes the solution"):
        get_solver("classical").solve(Problem.from_case(parse_case(toy_case() | {"boundary": []})))
    probe = [{"name": "centre", "point": [0.5, 0.5]}]
    toy_u = get_solver("classical").solve(Problem.from_case(parse_case(toy_case(k=2.0, f=1.0) | {"probes": probe}))).probes["centre"].values["u"]
    diffusion = toy_case(k=2.0, f=1.0) | {"probes": probe}
    diffusion["physics"]["kind"] = "diffusion"
    assert toy_u == pytest.approx(get_solver("classical").solve(Problem.from_case(parse_case(diffusion))).probes["centre"].values["u"])


def test_a_physics_without_a_classical_entry_is_refused_by_the_classical_solver():
    register_physics(PhysicsSpec(kind="analytic", model=_model("analytic"), boundaries=(), outputs=(), units={},
                                 default_case={"physics": {"kind": "analytic"}}))
    try:
        problem = Problem.from_case(parse_case({"version": 1, "geometry": {"kind": "unit_square"}, "mesh": {"size": 0.5}, "physics": {"kind": "analytic"}}))
        with pytest.raises(InputError, match=r"physics.kind: the classical solver cannot answer analytic problems"):
            get_solver("classical").solve(problem)
    finally:
        unregister_physics("analytic")


def _model(kind: str) -> type[PhysicsModel]:
    """A ``[physics]`` model with nothing but its kind."""
    return create_model(f"{kind.title()}Physics", __base__=PhysicsModel, __doc__=f"The {kind} test physics.", kind=(Literal[kind], ...))


def test_unregistering_takes_the_physics_out_of_the_schema_again():
    register_physics(TOY)
    parse_case(toy_case())
    unregister_physics("toy")
    assert "toy" not in physics_kinds()
    with pytest.raises(CaseError, match=r"unknown kind: got 'toy'; expected one of 'diffusion', 'heat', 'elasticity', 'navier_stokes'$"):
        parse_case(toy_case())


def test_clashing_plug_ins_are_refused():
    with pytest.raises(ValueError, match="a physics of kind 'heat' is already registered"):
        register_physics(get_physics("heat"))

    class OtherDirichlet(BoundaryModel):
        type: Literal["dirichlet"]

    clash = PhysicsSpec(kind="clash", model=_model("clash"), boundaries=(OtherDirichlet,), outputs=(), units={}, default_case={"physics": {"kind": "clash"}})
    with pytest.raises(ValueError, match=r"boundary type 'dirichlet' of physics 'clash' is already another model's \(Dirichlet\)"):
        register_physics(clash)
    assert "clash" not in physics_kinds()


def test_a_spec_that_contradicts_its_model_is_refused():
    with pytest.raises(ValueError, match=r"physics 'other': its model ToyPhysics must declare kind: Literal\['other'\]"):
        PhysicsSpec(kind="other", model=ToyPhysics, boundaries=(), outputs=(), units={}, default_case={"physics": {"kind": "other"}})


# -- installed plug-ins (entry points) ----------------------------------------------------------
class _FakeEntryPoint:
    def __init__(self, name: str, load) -> None:
        self.name, self.value, self._load = name, f"fake:{name}", load

    def load(self):
        return self._load()


@pytest.fixture
def installed(monkeypatch):
    """Stand-in entry points for the workbench.physics group (built-ins come from _BUILT_IN)."""
    found: list[_FakeEntryPoint] = []
    monkeypatch.setattr(registry, "entry_points", lambda group: found if group == "workbench.physics" else [])
    monkeypatch.setattr(registry, "_installed", None)
    yield found
    monkeypatch.undo()
    registry._installed = None
    rebuild_case_schema()


def test_an_installed_plug_in_comes_in_through_its_entry_point(installed):
    installed.append(_FakeEntryPoint("toy", lambda: TOY))
    rebuild_case_schema()
    assert physics_kinds() == [*BUILT_IN, "toy"]
    assert isinstance(parse_case(toy_case()).physics, ToyPhysics)


def test_a_broken_plug_in_is_left_out_with_a_warning(installed):
    def broken():
        raise ImportError("No module named 'toy_physics'")

    installed.append(_FakeEntryPoint("toy", broken))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert physics_kinds() == BUILT_IN
    assert any("the physics plug-in 'toy' (fake:toy) is left out: No module named 'toy_physics'" in str(w.message) for w in caught)
