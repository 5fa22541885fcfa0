"""Surrogates on meshes: point batches (padding that changes nothing), the quadrature-weighted
loss, a Transolver trained on the samples of a plate-with-hole study, its version 2 card, and the
SurrogateSolver answering a case on the case's own mesh, refusing a case of other conditions with
their names and flagging a radius outside the trained range."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import engine
from engine.case import load_case, parse_case
from engine.errors import InputError
from engine.study import parse_study, set_path
from engine.surrogates.data.generate import generate_mesh_dataset
from engine.surrogates.data.points import PointSamples, collate_points, fields_from_channels, training_weights
from engine.surrogates.data.store import open_mesh_dataset
from engine.surrogates.fit import train_surrogate
from engine.surrogates.library import Card, load_card, load_surrogate
from engine.surrogates.losses import quadrature_relative_l2_loss
from engine.surrogates.solver import SurrogateSolver, check_compatible

CASE = "examples/plate_with_hole_tension.toml"
RADII = [0.15, 0.2, 0.3, 0.35]
TENSIONS = [60e6, 140e6]


@pytest.fixture(scope="module")
def plate_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plate")
    (folder / "plate.toml").write_text(engine.resource_path(CASE).read_text(encoding="utf-8"), encoding="utf-8")
    document = {"version": 1, "name": "plate", "case": "plate.toml", "solver": "classical",
                "set": {"mesh.size": 0.2, "mesh.refine": [{"region": "hole", "size": 0.05, "distance": 0.2}], "output.pictures": False},
                "sampling": {"method": "grid"}, "parameters": {"geometry.parameters.radius": RADII, "sigma": TENSIONS}}
    study = parse_study(document, source=folder / "study.toml")
    return generate_mesh_dataset(study, folder / "plate.h5", scheduler="synchronous")


@pytest.fixture(scope="module")
def plate_model(plate_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "plate-model"
    config = {"width": 16, "layers": 1, "heads": 2, "slices": 8}
    return train_surrogate(plate_data, model="transolver", config=config, out=out, epochs=3, batch_size=4, val_fraction=0.25, seed=1)


def coarse_case(radius: float, sigma: float = 100e6, model: str | None = None):
    doc = load_case(engine.resource_path(CASE)).model_dump(mode="json", exclude_none=True)
    set_path(doc, "geometry.parameters.radius", radius)
    set_path(doc, "mesh.size", 0.2)
    doc["mesh"]["refine"] = [{"region": "hole", "size": 0.05, "distance": 0.2}]
    doc["parameters"]["sigma"] = sigma
    if model is not None:
        doc["solver"]["surrogate"]["model"] = model
    return parse_case(doc, source=engine.resource_path(CASE))


def test_training_weights_share_out_the_area_among_all_nodes_of_quadratic_cells():
    problem = engine.Problem.from_case(load_case(engine.resource_path("examples/kirsch_plate_with_hole.toml")))  # order-2 mesh
    weights = training_weights(problem.mesh)
    quarter_plate_area = 1.0 - np.pi * 0.05**2 / 4
    assert weights.sum() == pytest.approx(quarter_plate_area, rel=1e-3)  # straight-sided cells miss a sliver of the hole
    assert (weights > 0).all()


def test_a_batch_of_samples_of_different_sizes_is_padded_with_zero_weights(plate_data):
    samples = PointSamples(open_mesh_dataset(plate_data))
    a, b = samples[0], samples[len(samples) - 1]  # the smallest and the largest hole: different meshes
    assert a["x"].shape[1] != b["x"].shape[1]
    assert samples.input_names[-2:] == ["pos.x", "pos.y"] and samples.output_names[:2] == ["displacement[0]", "displacement[1]"]
    batch = collate_points([a, b])
    n = max(a["x"].shape[1], b["x"].shape[1])
    assert batch["x"].shape == (2, len(samples.input_names), n) and batch["pos"].shape == (2, n, 2)
    short = 0 if a["x"].shape[1] < n else 1
    real = min(a["x"].shape[1], b["x"].shape[1])
    assert (batch["weights"][short, real:] == 0).all() and (batch["weights"][short, :real] > 0).all()
    # the loss of the padded batch is the loss of each sample alone
    noisy = batch["y"] * (1 + 0.1 * torch.rand_like(batch["y"]))
    padded = quadrature_relative_l2_loss(noisy, batch["y"], batch["weights"], reduction="none")
    alone = quadrature_relative_l2_loss(noisy[short:short + 1, :, :real], batch["y"][short:short + 1, :, :real], batch["weights"][short:short + 1, :real])
    assert float(padded[short]) == pytest.approx(float(alone), rel=1e-6)


def test_channels_go_back_to_fields():
    fields = fields_from_channels(np.arange(12.0).reshape(4, 3), ["u[0]", "u[1]", "p", "q"])
    assert list(fields) == ["u", "p", "q"] and fields["u"].values.shape == (3, 2)


def test_a_transolver_trains_on_the_plate_samples_and_its_card_states_the_design_space(plate_model):
    folder, card = plate_model
    saved = load_card(folder)
    assert saved.format_version == 2 and saved.adapter == "points" and saved.model == "transolver" and saved.grid is None
    assert saved.fingerprint["geometry"] == "plate_with_hole" and "hole" in saved.fingerprint["regions"]
    assert {"type": "traction", "regions": ["right"]} in saved.fingerprint["conditions"]
    radius = saved.parameters["geometry.parameters.radius"]
    assert min(RADII) <= radius[0] <= radius[1] <= max(RADII) and set(saved.parameters) == {"geometry.parameters.radius", "sigma"}
    assert saved.outputs[:2] == ["displacement[0]", "displacement[1]"] and "von_mises" in saved.outputs
    assert saved.metrics["validation_samples"] == 2 and set(saved.metrics["validation_relative_l2_by_field"]) == {"displacement", "stress", "von_mises"}
    assert len(saved.training["history"]) == 3
    surrogate, _ = load_surrogate(folder)
    assert bool(surrogate.normalizers_fitted)


def test_the_surrogate_answers_on_the_cases_own_mesh_and_compares(plate_model):
    folder, _ = plate_model
    case = coarse_case(0.25, model=str(folder))
    problem = engine.Problem.from_case(case)
    result = SurrogateSolver().solve(problem)
    assert result.mesh is problem.mesh
    assert result.fields["displacement"].values.shape == (problem.mesh.n_points, 2)
    assert np.isfinite(result.fields["von_mises"].values).all()
    assert result.provenance.metrics["points"] == problem.mesh.n_points and result.provenance.metrics["out_of_training_range"] == []
    assert result.probes["right_middle"].values["displacement"].shape == (2,)
    from engine.comparison import compare

    comparison = compare(engine.get_solver("classical").solve(problem), result)
    assert set(comparison.metrics) >= {"displacement", "stress", "von_mises"}


def test_a_radius_outside_the_trained_range_is_answered_and_flagged(plate_model):
    folder, _ = plate_model
    result = SurrogateSolver().solve(engine.Problem.from_case(coarse_case(0.45, model=str(folder))))
    flags = result.provenance.metrics["out_of_training_range"]
    assert any("geometry.parameters.radius = 0.45" in f for f in flags)


def test_a_case_with_other_conditions_is_refused_with_their_names(plate_model):
    folder, _ = plate_model
    case = coarse_case(0.25, model=str(folder))
    doc = case.model_dump(mode="json", exclude_none=True)
    doc["boundary"].append({"region": "top", "type": "traction", "vector": [0.0, 1e6]})
    problem = engine.Problem.from_case(parse_case(doc, source=case.source))
    reasons = check_compatible(problem, load_card(folder))
    assert reasons == ["it was not trained with a traction condition on top"]
    with pytest.raises(InputError, match="traction condition on top"):
        SurrogateSolver().solve(problem)
    heat = engine.Problem.from_case(load_case(engine.resource_path("examples/heat_plate_with_hole.toml")))
    assert check_compatible(heat, load_card(folder)) == ["it answers elasticity problems, not heat"]


def test_the_masked_grid_holds_the_inputs_inside_and_says_where_the_domain_is(plate_data):
    from engine.surrogates.adapters import GRID_CHANNELS, masked_grid_inputs

    sample = open_mesh_dataset(plate_data)[0]
    channels = ["pos.x", "coef.E", *GRID_CHANNELS]
    x, pos = masked_grid_inputs(sample.inputs, sample.mesh, channels, 33)
    assert x.shape == (4, 33, 33) and pos.shape == (sample.mesh.n_points, 2)
    grid = np.linspace(0.0, 1.0, 33)  # the quarter plate's box
    mask, sdf = x[2], x[3]
    radius = sample.parameters["geometry.parameters.radius"]
    in_hole = np.hypot(*np.meshgrid(grid, grid)) < radius - 0.02
    assert (mask[in_hole] == 0).all() and (sdf[in_hole] < 0).all() and mask.mean() > 0.8
    inside = mask == 1
    np.testing.assert_allclose(x[0][inside], np.meshgrid(grid, grid)[0][inside], atol=1e-5)  # a linear field: exact
    assert (x[0][~inside] == 0).all() and np.allclose(x[1][inside], 210e9)
    assert pos.min() == pytest.approx(-1.0) and pos.max() == pytest.approx(1.0)


def test_a_grid_model_trains_on_meshes_through_the_masked_grid_and_answers_the_case(plate_data, tmp_path):
    folder, card = train_surrogate(plate_data, model="fno", config={"modes1": 4, "modes2": 4, "width": 8}, out=tmp_path / "fno",
                                   epochs=2, batch_size=4, val_fraction=0.25, grid_resolution=24)
    saved = load_card(folder)
    assert saved.adapter == "masked_grid" and saved.grid == {"resolution": 24} and saved.inputs[-2:] == ["grid.mask", "grid.sdf"]
    assert "through a masked 24x24 grid" in saved.answers_on()
    problem = engine.Problem.from_case(coarse_case(0.22, model=str(folder)))
    result = SurrogateSolver().solve(problem)
    assert result.fields["displacement"].values.shape == (problem.mesh.n_points, 2)
    assert np.isfinite(result.fields["stress"].values).all()


def test_deeponet_answers_at_the_mesh_points_from_the_masked_grid(plate_data, tmp_path):
    config = {"branch_widths": [32], "trunk_widths": [32], "basis_size": 16}
    folder, _ = train_surrogate(plate_data, model="deeponet", config=config, out=tmp_path / "don", epochs=2, batch_size=4,
                                val_fraction=0.25, grid_resolution=16)
    card = load_card(folder)
    assert card.adapter == "masked_grid" and card.config["grid_size"] == [16, 16]
    problem = engine.Problem.from_case(coarse_case(0.3, model=str(folder)))
    assert SurrogateSolver().solve(problem).fields["von_mises"].values.shape == (problem.mesh.n_points,)


def test_an_unknown_output_field_is_refused_with_the_known_ones(plate_data, tmp_path):
    with pytest.raises(InputError, match="displacement"):
        train_surrogate(plate_data, model="transolver", out=tmp_path / "m", epochs=1, outputs=["strain"])


def test_a_version_1_card_cannot_claim_a_point_adapter(plate_model):
    folder, _ = plate_model
    data = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    old = data | {"format_version": 1, "grid": {"resolution": 16, "domain": [[0.0, 1.0], [0.0, 1.0]]}}
    with pytest.raises(InputError, match="version 1"):
        Card.from_dict(old, source="card.json")
    del data["fingerprint"]
    with pytest.raises(InputError, match="fingerprint"):
        Card.from_dict(data, source="card.json")


def test_a_body_force_the_model_never_read_is_refused_by_name(plate_model):
    folder, _ = plate_model
    case = coarse_case(0.25, model=str(folder))
    doc = case.model_dump(mode="json", exclude_none=True)
    doc["physics"]["body_force"] = [0.0, -1e5]
    problem = engine.Problem.from_case(parse_case(doc, source=case.source))
    reasons = check_compatible(problem, load_card(folder))
    assert len(reasons) == 1 and "coef.body_force[1]" in reasons[0] and "does not read" in reasons[0]
    doc = case.model_dump(mode="json", exclude_none=True)
    doc["physics"]["model"] = "plane_strain"
    reasons = check_compatible(engine.Problem.from_case(parse_case(doc, source=case.source)), load_card(folder))
    assert reasons == ["it was trained for the plane_stress model, not plane_strain"]


def test_conditions_compare_region_by_region_however_they_are_grouped():
    from engine.surrogates.adapters import _by_region, case_fingerprint

    grouped = {"boundary": [{"region": ["top", "left"], "type": "robin", "h": 1.0, "u_inf": 0.0}]}
    split = {"boundary": [{"region": "left", "type": "robin", "h": 1.0, "u_inf": 0.0}, {"region": "top", "type": "robin", "h": 1.0, "u_inf": 0.0}]}
    fingerprint = case_fingerprint(grouped, ["left", "top"])
    assert fingerprint["conditions"] == [{"type": "robin", "regions": ["left", "top"]}]
    assert _by_region(fingerprint["conditions"]) == _by_region(case_fingerprint(split, [])["conditions"])


def test_the_mesh_loss_stays_finite_when_a_channel_is_zero_in_one_sample():
    y = torch.ones(2, 2, 4)
    y[0, 1] = 0.0  # no load of that kind in sample 0
    loss = quadrature_relative_l2_loss(y + 0.01, y, torch.ones(2, 4), reduction="none")
    assert torch.isfinite(loss).all() and float(loss.max()) < 100


def test_bad_training_options_are_refused_before_training(plate_data, tmp_path):
    with pytest.raises(InputError, match="grid_resolution"):
        train_surrogate(plate_data, model="fno", out=tmp_path / "m", epochs=1, grid_resolution=2)
    with pytest.raises(InputError, match="distinct"):
        train_surrogate(plate_data, model="transolver", out=tmp_path / "m", epochs=1, outputs=["displacement", "displacement"])


def test_a_data_set_of_another_study_is_not_trained_on_as_this_ones(plate_data, tmp_path):
    from engine.surrogates.fit import train_from_study

    study = engine.resource_path("examples/plate_with_hole_study.toml")
    with pytest.raises(InputError, match="another study"):
        train_from_study(study, plate_data, tmp_path / "m", n_samples=8, epochs=1, log=lambda line: None)


def test_fresh_cases_refuse_the_studys_own_seed_and_draw_new_random_fields(tmp_path):
    from engine.study import load_study
    from engine.surrogates.scoring import fresh_cases

    with pytest.raises(InputError, match="another seed"):
        fresh_cases(engine.resource_path("examples/plate_with_hole_study.toml"), 2, seed=0)
    darcy = load_study(engine.resource_path("examples/darcy_grf_study.toml"))
    assert darcy.parameters == () and len(darcy.samples()) == 64  # only the random field varies
    (values, case), = fresh_cases(darcy, 1, seed=1)
    assert values == {} and case.physics.k.sample == 2_000_000  # far past the study's own draws
