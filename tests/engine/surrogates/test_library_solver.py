"""The model library (safe save/load, tamper refusal) and the SurrogateSolver on any mesh."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.case import load_case, parse_case
from engine.errors import InputError
from engine.problem import Problem
from engine.surrogates.datasets import generate_dataset, load_recipe, open_dataset
from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
from engine.surrogates.library import Card, list_models, load_card, load_surrogate, save_surrogate
from engine.surrogates.models import build_model
from engine.surrogates.solver import SurrogateSolver
from engine.surrogates.training import SurrogateModel, evaluate

SHIPPED = "darcy-fno"


def tiny_model(folder: Path, *, resolution: int = 16) -> Path:
    torch.manual_seed(0)
    network = build_model("fno", {"modes1": 4, "modes2": 4, "width": 8, "n_layers": 2})
    surrogate = SurrogateModel(network, UnitGaussianNormalizer(1), UnitGaussianNormalizer(1))
    card = Card(
        name=folder.name,
        model="fno",
        config=network.config.to_dict(),
        physics={"kind": "diffusion", "boundary": "dirichlet_zero", "constants": {"physics.f": 1.0}, "input_coefficients": {"k": "physics.k"}},
        inputs=["k"],
        outputs=["u"],
        grid={"resolution": resolution, "domain": [[0.0, 1.0], [0.0, 1.0]]},
        training_ranges={"k": [3.0, 12.0]},
    )
    return save_surrogate(folder, surrogate, card)


def darcy_case(model: str | Path, **physics) -> dict:
    return {
        "version": 1,
        "geometry": {"kind": "unit_square"},
        "mesh": {"size": 0.1},
        "physics": {"kind": "diffusion", "k": "where(x < 0.5, 12, 3)", "f": 1.0, **physics},
        "boundary": [{"region": ["left", "right", "bottom", "top"], "type": "dirichlet", "value": 0.0}],
        "probes": [{"name": "centre", "point": [0.5, 0.5]}],
        "solver": {"kind": "surrogate", "surrogate": {"model": str(model)}},
    }


def test_save_and_load_round_trip(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "weights.safetensors"]
    model, card = load_surrogate(folder)
    x = torch.rand(2, 1, 16, 16) * 9 + 3
    again, _ = load_surrogate(folder)
    torch.testing.assert_close(model(x), again(x))
    assert card.model == "fno" and len(card.weights_sha256) == 64


def test_tampered_weights_are_refused(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum"):
        load_surrogate(folder)


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(_Exploit.sentinel),))


def test_a_pickle_in_place_of_the_weights_never_runs(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    _Exploit.sentinel = str(tmp_path / "pwned")
    weights = folder / "weights.safetensors"
    weights.write_bytes(pickle.dumps(_Exploit()))
    card = json.loads((folder / "card.json").read_text())
    card["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()  # even with a checksum that matches
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="not a safetensors"):
        load_surrogate(folder)
    assert not (tmp_path / "pwned").exists()


def test_malformed_cards_are_refused(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps(card | {"format_version": 9}))
    with pytest.raises(InputError, match="unsupported model card version"):
        load_card(folder)
    (folder / "card.json").write_text(json.dumps(card | {"colour": "red"}))
    with pytest.raises(InputError, match="unknown keys in the model card"):
        load_card(folder)
    (folder / "card.json").write_text(json.dumps(card | {"config": {"width": 9, "depth": 3}}))
    with pytest.raises(InputError, match="depth"):
        load_surrogate(folder)


def test_surrogate_answers_on_an_unstructured_mesh(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    problem = Problem.from_case(parse_case(darcy_case(folder)))
    result = SurrogateSolver().solve(problem)
    u = result.fields["u"]
    assert u.values.shape == (problem.mesh.n_points,) and np.isfinite(u.values).all()
    assert result.provenance.model_id == "tiny" and result.provenance.metrics["out_of_training_range"] == []
    assert result.probes["centre"].values["u"].shape == (1,)


def test_inputs_outside_the_training_range_are_flagged(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    problem = Problem.from_case(parse_case(darcy_case(folder, k="20 + x")))
    flags = SurrogateSolver().solve(problem).provenance.metrics["out_of_training_range"]
    assert len(flags) == 1 and "outside the training range [3, 12]" in flags[0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"physics": {"kind": "heat"}}, "it answers diffusion problems, not heat"),
        ({"geometry": {"kind": "l_shape"}}, "holes or cut-outs"),
        ({"geometry": {"kind": "rectangle"}}, "trained on the square"),
        ({"boundary": [{"region": ["left", "right", "bottom", "top"], "type": "dirichlet", "value": 1.0}]}, "assumes u = 0 on the boundary"),
        ({"boundary": [{"region": ["left", "right"], "type": "dirichlet", "value": 0.0}]}, "on the whole boundary"),
        ({"physics": {"kind": "diffusion", "f": 2.0}}, "trained with physics.f = 1.0"),
    ],
)
def test_incompatible_cases_are_explained(tmp_path, change, reason):
    folder = tiny_model(tmp_path / "tiny")
    case = darcy_case(folder) | change
    if case["physics"]["kind"] == "heat":
        case["physics"] = {"kind": "heat"}
    with pytest.raises(InputError, match=reason):
        SurrogateSolver().solve(Problem.from_case(parse_case(case)))


# -- the shipped model ----------------------------------------------------------------------------
def test_the_shipped_model_is_in_the_library():
    assert SHIPPED in list_models()
    card = load_card(SHIPPED)
    assert card.metrics["test_relative_l2"] < 0.1
    size = sum(p.stat().st_size for p in list_models()[SHIPPED].iterdir())
    assert size < 8 * 2**20


@pytest.mark.slow
def test_shipped_model_metrics_hold_on_fresh_data(tmp_path, resources):
    """Fresh samples (a seed the card's test set did not use) score like the card says."""
    card = load_card(SHIPPED)
    recipe = load_recipe(resources / "datasets" / "darcy_dataset.toml").model_dump()
    spec = recipe | {"name": "fresh", "resolution": card.grid["resolution"], "n_samples": 24, "seed": 7}
    path = generate_dataset(spec, tmp_path / "fresh.h5", workers=1).path
    model, _ = load_surrogate(SHIPPED)
    scores = evaluate(model, open_dataset(path).torch_dataset())
    assert scores["mean_relative_l2"] < 1.5 * card.metrics["test_relative_l2"]


def test_shipped_model_against_the_classical_solver(resources):
    from engine.comparison import compare
    from engine.solvers.fem.classical import ClassicalSolver

    problem = Problem.from_case(load_case(resources / "examples" / "darcy_unit_square.toml"))
    surrogate = SurrogateSolver(SHIPPED).solve(problem)
    classical = ClassicalSolver().solve(problem)
    error = compare(classical, surrogate).metrics["u"]["relative_l2"]
    assert error < 0.06  # about 3%: the example's permeability looks like the training fields


@pytest.mark.parametrize("name, message", [("darcy-fno", "a shipped model has this name"), ("Darcy-FNO", "a shipped model has this name"), ("../x", "invalid model name"), ("", "invalid model name")])
def test_library_names_that_would_shadow_or_escape_are_refused(name, message, tmp_path, monkeypatch):
    from engine.resources import resource_path
    from engine.surrogates.library import check_library_name, import_model

    monkeypatch.setenv("WORKBENCH_MODELS", str(tmp_path))
    with pytest.raises(InputError, match=message):
        check_library_name(name)
    if name:
        with pytest.raises(InputError, match=message):
            import_model(resource_path("models/darcy-fno"), name=name)
    assert check_library_name("darcy-fno-mine") == "darcy-fno-mine"
