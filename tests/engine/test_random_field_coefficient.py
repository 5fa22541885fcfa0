"""A coefficient drawn as a Gaussian random field (``{random_field = "grf", ...}``): the FNO Darcy
law on any case's mesh, the same function whatever the mesh, a new draw per study sample when
asked, and clear refusals."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

import engine
from engine.case import case_to_toml, parse_case
from engine.errors import CaseError
from engine.problem import Problem
from engine.random_fields import grf_field, grid_coordinates
from engine.solvers.fem.classical import ClassicalSolver
from engine.study import parse_study
from engine.sweep import read_results, run_sweep


def darcy(k, **mesh) -> dict:
    doc = tomllib.loads(engine.resource_path("examples/darcy_unit_square.toml").read_text(encoding="utf-8"))
    doc["physics"]["k"] = k
    doc["mesh"] = {"size": 1 / 16, **mesh}
    return doc


def k_at(doc: dict, points: np.ndarray) -> np.ndarray:
    return Problem.from_case(parse_case(doc)).coefficient("physics.k").at_points(points)


def test_on_the_grid_it_is_the_darcy_generators_field():
    x = grid_coordinates(17)
    grid = np.stack(np.meshgrid(x, x), axis=-1).reshape(-1, 2)
    field = {"random_field": "grf", "seed": 5, "sample": 2, "modes": 17}
    z = grf_field(1, 17, seed=5, start=2)[0].ravel()
    lognormal = k_at(darcy({**field, "transform": "exp"}), grid)
    np.testing.assert_allclose(np.log(lognormal), z, atol=1e-12)
    k = k_at(darcy({**field, "transform": "threshold"}), grid)
    np.testing.assert_array_equal(k, np.where(lognormal >= 1.0, 12.0, 3.0))
    assert 0.2 < np.mean(k == 12.0) < 0.8  # both values, in blotches
    with pytest.raises(CaseError, match=r"physics\.k: the coefficient is not positive everywhere"):
        k_at(darcy(field), grid)  # the field itself takes both signs: no permeability


def test_the_same_seed_is_the_same_field_on_any_mesh_and_solves():
    field = {"random_field": "grf", "seed": 1, "transform": "threshold"}
    points = np.array([[0.3, 0.7], [0.5, 0.5], [0.9, 0.1]])
    coarse, fine = k_at(darcy(field), points), k_at(darcy(field, size=0.03), points)
    np.testing.assert_array_equal(coarse, fine)  # a function of x and y, not of the mesh
    other = k_at(darcy({**field, "sample": 1}), np.random.default_rng(0).random((200, 2)))
    assert not np.array_equal(other, k_at(darcy(field), np.random.default_rng(0).random((200, 2))))  # another draw
    result = ClassicalSolver().solve(Problem.from_case(parse_case(darcy(field))))
    u = result.fields["u"].values
    assert np.isfinite(u).all() and u.max() > 0


def test_bad_random_fields_are_refused_with_the_key():
    with pytest.raises(CaseError, match=r"physics\.k\.alpah: unknown key; expected one of .*Did you mean 'alpha'"):
        parse_case(darcy({"random_field": "grf", "alpah": 2.0}))
    with pytest.raises(CaseError, match=r"physics\.k: alpha = 0\.5 .* expected alpha > 1"):
        parse_case(darcy({"random_field": "grf", "alpha": 0.5}))
    with pytest.raises(CaseError, match=r"physics\.k\.random_field: input should be 'grf'"):
        parse_case(darcy({"random_field": "matern"}))
    with pytest.raises(CaseError, match=r"physics\.k\.seed: input should be greater than or equal to 0"):
        parse_case(darcy({"random_field": "grf", "seed": -1}))


def test_a_study_draws_a_new_field_per_sample_when_asked(tmp_path):
    case = darcy({"random_field": "grf", "seed": 3, "transform": "threshold", "seed_by_sample": True})
    case.pop("parameters")
    case["physics"]["f"] = "f0"
    case["parameters"] = {"f0": 1.0}
    (tmp_path / "case.toml").write_text(case_to_toml(parse_case(case)), encoding="utf-8")
    study = parse_study({"version": 1, "name": "random-k", "case": "case.toml", "sampling": {"method": "grid"},
                         "parameters": {"f0": [1.0, 1.0, 1.0]}, "set": {"output.pictures": False}}, source=tmp_path / "study.toml")
    assert [study.case_for(s, i)["physics"]["k"]["sample"] for i, s in enumerate(study.samples())] == [0, 1, 2]
    outcome = run_sweep(study, out=tmp_path / "out", scheduler="synchronous")
    assert outcome.n_done == 3
    centre = np.asarray(read_results(tmp_path / "out")["centre.u"])
    assert len(set(np.round(centre, 12))) == 3  # the same source, three permeabilities, three answers
