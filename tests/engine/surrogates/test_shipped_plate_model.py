"""The shipped plate-with-hole surrogate, re-scored on fresh cases of its study (radii and
tensions it was not trained on) against the finite elements: displacement within 2 % relative
L2 and the stress concentration factor within 5 %, as the issue asks; small and fast as shipped."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.case import load_case
from engine.resources import resource_path
from engine.surrogates.library import list_models, load_card
from engine.surrogates.scoring import score_on_fresh_cases
from engine.surrogates.solver import SurrogateSolver

SHIPPED = "plate-with-hole-transolver"
STUDY = "examples/plate_with_hole_study.toml"


def concentration_factor(case, result) -> float:
    """Peak sigma_xx on the hole over the applied tension (the plate is pulled along x)."""
    return float(result.fields["stress"].values[result.mesh.region_points("hole"), 0].max() / case.parameters["sigma"])


def test_the_shipped_plate_model_is_small_and_states_its_design_space():
    assert SHIPPED in list_models()
    card = load_card(SHIPPED)
    size = sum(p.stat().st_size for p in list_models()[SHIPPED].iterdir())
    assert size < 10 * 2**20
    assert card.adapter == "points" and card.physics["kind"] == "elasticity"
    assert card.parameters["geometry.parameters.radius"][0] == pytest.approx(0.1, abs=0.01)
    assert card.parameters["geometry.parameters.radius"][1] == pytest.approx(0.4, abs=0.01)
    assert card.metrics["test_relative_l2_displacement"] < 0.02
    assert card.training["wall_time"] < 15 * 60


def test_the_example_case_answers_with_the_shipped_model():
    problem = engine.Problem.from_case(load_case(resource_path("examples/plate_with_hole_tension.toml")))
    result = SurrogateSolver().solve(problem)
    assert result.provenance.model_id == SHIPPED and result.provenance.metrics["out_of_training_range"] == []
    assert result.fields["displacement"].values.shape == (problem.mesh.n_points, 2)


def test_on_fresh_radii_the_displacement_and_the_stress_concentration_hold():
    def scf(case, classical, surrogate):
        return {"scf_error": abs(concentration_factor(case, surrogate) / concentration_factor(case, classical) - 1)}

    rows = score_on_fresh_cases(SHIPPED, resource_path(STUDY), n_samples=8, seed=2024, extra=scf)
    radii = [r["parameters"]["geometry.parameters.radius"] for r in rows]
    assert len(set(radii)) == 8  # eight new holes
    displacement = [r["relative_l2"]["displacement"] for r in rows]
    assert np.mean(displacement) < 0.02, displacement
    assert max(r["scf_error"] for r in rows) < 0.05, [r["scf_error"] for r in rows]


@pytest.mark.xfail(strict=True, reason="not met yet: at the corner of the design space (radius near 0.4, the ligament "
                   "narrowest, high tension) the predicted peak stress is up to 14 % low; see the card's test_scf_error_predicted_max")
def test_the_stress_concentration_holds_at_the_largest_holes_too():
    from engine.case import parse_case
    from engine.study import set_path

    doc = load_case(resource_path("examples/plate_with_hole_tension.toml")).model_dump(mode="json", exclude_none=True)
    set_path(doc, "geometry.parameters.radius", 0.391)
    doc["parameters"]["sigma"] = 146e6
    problem = engine.Problem.from_case(parse_case(doc, source=resource_path("examples/plate_with_hole_tension.toml")))
    classical = engine.get_solver("classical").solve(problem)
    surrogate = SurrogateSolver().solve(problem)
    assert abs(concentration_factor(problem.case, surrogate) / concentration_factor(problem.case, classical) - 1) < 0.05
