"""The flow examples in resources/examples against what they claim: the lid-driven cavity at
Re 100 and 1000 (Ghia, Ghia & Shin 1982), the three single-phase CFDBench problems (cavity,
tube, cylinder) and the study over the CFDBench cavity. Meshes are coarsened through the
loaded document where the check allows it."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest
from scipy.integrate import simpson

import engine
from engine.case import parse_case
from engine.solvers.fem.classical import ClassicalSolver
from engine.study import parse_study
from engine.sweep import read_results, run_sweep

EXAMPLES = ("cavity_re100", "cavity_re1000", "cfdbench_cavity", "cfdbench_tube", "cfdbench_cylinder")

# Ghia, Ghia & Shin (1982), tables I and II: the probes' points and values.
GHIA = {
    100: {"u_min": -0.21090, "v_max": 0.17527, "v_min": -0.24533},
    1000: {"u_min": -0.38289, "v_max": 0.37095, "v_min": -0.51550},
}


def _document(name: str) -> dict:
    return tomllib.loads(engine.resource_path(f"examples/{name}.toml").read_text(encoding="utf-8"))


def _solve(document: dict):
    return ClassicalSolver().solve(engine.Problem.from_case(parse_case(document)))


def _velocity(result, probe: str) -> np.ndarray:
    return np.asarray(result.probes[probe].values["velocity"], dtype=float).reshape(-1)


@pytest.mark.parametrize("name", [*EXAMPLES, "cfdbench_cavity_study"])
def test_example_files_load(name):
    path = engine.resource_path(f"examples/{name}.toml")
    if name.endswith("_study"):
        study = engine.load_study(path)
        assert study.case_path.name == "cfdbench_cavity.toml" and len(study.samples()) == 4
    else:
        case = engine.load_case(path)
        assert case.physics.kind == "navier_stokes"


@pytest.mark.parametrize("reynolds, tolerance", [(100, 0.01), (1000, 0.012)])
def test_cavity_examples_match_ghia_at_the_extremes(reynolds, tolerance):
    document = _document(f"cavity_re{reynolds}")
    # The whole vertical centreline too, to find where u is smallest.
    ys = np.linspace(0.05, 0.95, 91)
    document["probes"] += [{"name": f"c{i}", "point": [0.5, y]} for i, y in enumerate(ys)]
    result = _solve(document)
    assert _velocity(result, "u_min")[0] == pytest.approx(GHIA[reynolds]["u_min"], abs=tolerance)
    assert _velocity(result, "v_max")[1] == pytest.approx(GHIA[reynolds]["v_max"], abs=tolerance)
    assert _velocity(result, "v_min")[1] == pytest.approx(GHIA[reynolds]["v_min"], abs=tolerance)
    u = np.array([_velocity(result, f"c{i}")[0] for i in range(len(ys))])
    where = {100: 0.4531, 1000: 0.1719}[reynolds]  # Ghia's grid point nearest the minimum
    assert abs(ys[np.argmin(u)] - where) <= 0.05
    assert u.min() == pytest.approx(GHIA[reynolds]["u_min"], abs=tolerance)


def test_cfdbench_cavity_is_ghia_scaled_and_uses_its_lid_speed():
    """At Re = 100 the 0.1 m cavity is Ghia's scaled: u / U_lid at (x/L, y/L). Doubling the lid
    speed and the viscosity keeps Re, so every velocity doubles (the lid's expression reads
    U_lid)."""
    document = _document("cfdbench_cavity")
    document["mesh"]["size"] = 0.01  # L / 10 is enough at the probes (the study's mesh)
    slow = _solve(document)
    assert _velocity(slow, "u_min")[0] == pytest.approx(GHIA[100]["u_min"], abs=0.01)
    assert _velocity(slow, "v_max")[1] == pytest.approx(GHIA[100]["v_max"], abs=0.01)
    fast = copy.deepcopy(document)
    fast["parameters"]["U_lid"] = 2.0
    fast["physics"]["mu"] = 2.0e-3
    fast = _solve(fast)
    for probe in ("centre", "u_min", "v_max"):
        np.testing.assert_allclose(_velocity(fast, probe), 2.0 * _velocity(slow, probe), rtol=1e-7, atol=1e-10)


def test_cfdbench_tube_outlet_is_poiseuille():
    """Past the entrance length the profile is 6 U y (D - y) / D^2 for the mean speed U it
    carries, and the pressure falls by 12 mu U / D^2 per metre."""
    document = _document("cfdbench_tube")
    document["mesh"]["size"] = 0.02  # D / 5; the inlet corners keep their refinement
    D, U_in, mu = 0.1, document["parameters"]["U_in"], document["physics"]["mu"]
    ys = np.linspace(0.0, D, 41)
    document["probes"] += [{"name": f"o{i}", "point": [0.98, y]} for i, y in enumerate(ys)]
    result = _solve(document)
    u = np.array([_velocity(result, f"o{i}") for i in range(len(ys))])
    mean = simpson(u[:, 0], x=ys) / D
    assert mean == pytest.approx(U_in, rel=0.01)  # the corners take U_in h / 3 off
    np.testing.assert_allclose(u[:, 0], 6.0 * mean * ys * (D - ys) / D**2, rtol=0, atol=1e-3 * U_in)
    np.testing.assert_allclose(u[:, 1], 0.0, atol=1e-4 * U_in)
    assert u[:, 0].max() / mean == pytest.approx(1.5, rel=1e-3)
    length = 0.95 - 0.7  # between the pressure_difference probes
    assert result.provenance.metrics["delta_p"] == pytest.approx(12.0 * mu * mean / D**2 * length, rel=0.01)


def test_cfdbench_cylinder_drags_and_does_not_lift():
    """Steady, Re = 20, the cylinder on the channel's axis: positive drag near the example's
    3.140, no lift by symmetry, a higher pressure in front than behind."""
    document = _document("cfdbench_cylinder")
    document["mesh"]["size"] = 0.02
    result = _solve(document)
    m = result.provenance.metrics
    assert m["c_D"] == pytest.approx(3.140, rel=0.02)
    assert abs(m["c_L"]) < 2e-3 * m["c_D"]
    assert m["drag"] == pytest.approx(m["c_D"] * 0.5 * 10.0 * 0.1**2 * 0.02, rel=1e-12)
    assert m["delta_p"] > 0.0
    assert _velocity(result, "wake")[0] > 0.0  # 2 D behind the centre: past the recirculation


def test_cavity_study_records_the_probes_through_the_sweep_api(tmp_path):
    path = engine.resource_path("examples/cfdbench_cavity_study.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["parameters"]["U_lid"] = [0.5, 1.0]
    outcome = run_sweep(parse_study(data, source=path), out=tmp_path, scheduler="synchronous")
    assert outcome.n_done == 2 and outcome.n_failed == 0
    table = read_results(tmp_path)
    np.testing.assert_allclose(table["U_lid"], [0.5, 1.0])
    u_min = np.asarray(table["u_min.velocity.x"]) / np.asarray(table["U_lid"])
    assert u_min[1] == pytest.approx(GHIA[100]["u_min"], abs=0.01)
    assert u_min[0] > u_min[1]  # Re = 50: a weaker vortex relative to the lid
    assert np.all(np.asarray(table["velocity.mean"]) > 0.0)
    assert "u_min.velocity.x" in (tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()[0]


def test_a_cylinder_study_records_the_forces_of_each_sample(tmp_path):
    """The physics' quantities are columns of a study's table: drag grows with the inflow speed."""
    case = tmp_path / "cylinder.toml"
    document = _document("cfdbench_cylinder")
    case.write_text(engine.resource_path("examples/cfdbench_cylinder.toml").read_text(encoding="utf-8"), encoding="utf-8")
    speed = next(iter(document["parameters"]))  # the inflow speed, the example's one parameter
    study = {"version": 1, "name": "cylinder-speeds", "case": str(case), "solver": "classical",
             "set": {"mesh.size": 0.02, "output.pictures": False}, "sampling": {"method": "grid"},
             "parameters": {speed: [0.05, 0.1]}, "outputs": {"probes": False, "fields": []}}
    outcome = run_sweep(parse_study(study, source=tmp_path / "study.toml"), out=tmp_path / "out", scheduler="synchronous")
    assert outcome.n_done == 2, outcome
    table = read_results(tmp_path / "out")
    drag = np.asarray(table["drag"])
    assert np.all(drag > 0) and drag[1] > 1.5 * drag[0]  # faster inflow, more drag (between linear and quadratic)
    assert {"c_D", "c_L", "lift"} <= set(table)
    assert np.all(np.abs(np.asarray(table["c_L"])) < 0.05 * np.asarray(table["c_D"]))  # a symmetric steady wake
