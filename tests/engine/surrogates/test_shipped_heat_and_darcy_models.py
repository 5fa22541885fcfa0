"""The shipped heat (L-bracket) and Darcy (mesh-sample format) surrogates, re-scored on fresh cases
of their studies against the finite elements, as their cards say; small as shipped."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.case import load_case
from engine.resources import resource_path
from engine.surrogates.library import list_models, load_card
from engine.surrogates.scoring import score_on_fresh_cases
from engine.surrogates.solver import SurrogateSolver

HEAT = "heat-l-bracket-transolver"
DARCY = "darcy-grf-fno"


@pytest.mark.parametrize("name", [HEAT, pytest.param(DARCY, marks=pytest.mark.xfail(
    strict=True, reason="not met yet: 900 s of training plus 76 s of setup (gridding 660 samples), over the ~15 min asked"))])
def test_the_shipped_model_is_small_and_was_trained_in_minutes(name):
    assert name in list_models()
    size = sum(p.stat().st_size for p in list_models()[name].iterdir())
    assert size < 10 * 2**20
    assert load_card(name).training["wall_time"] < 15 * 60


def test_the_bracket_example_answers_with_its_model_on_its_own_mesh():
    problem = engine.Problem.from_case(load_case(resource_path("examples/heat_l_bracket.toml")))
    result = SurrogateSolver().solve(problem)
    assert result.provenance.model_id == HEAT and result.fields["T"].values.shape == (problem.mesh.n_points,)


def test_on_fresh_brackets_temperature_and_flux_hold_as_the_card_says():
    card = load_card(HEAT)
    rows = score_on_fresh_cases(HEAT, resource_path("examples/heat_l_bracket_study.toml"), n_samples=8, seed=2024)
    temperature = np.mean([r["relative_l2"]["T"] for r in rows])
    flux = np.mean([r["relative_l2"]["heat_flux"] for r in rows])
    assert temperature < 0.01 and temperature < 2 * card.metrics["test_relative_l2_T"]
    assert flux < 0.05 and flux < 2 * card.metrics["test_relative_l2_heat_flux"]


def test_the_darcy_model_in_the_new_format_is_no_worse_than_the_grid_one():
    """Issue 12 asks for no worse than the grid model's 2.3 %: scored on fresh random fields."""
    rows = score_on_fresh_cases(DARCY, resource_path("examples/darcy_grf_study.toml"), n_samples=8, seed=2024)
    error = np.mean([r["relative_l2"]["u"] for r in rows])
    assert error < 0.023 * 1.25, error  # 8 draws scatter; the card's 40 give its test_relative_l2
    assert load_card(DARCY).metrics["test_relative_l2"] <= load_card("darcy-fno").metrics["test_relative_l2"]
