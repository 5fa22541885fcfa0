"""Model folders from other people (issue 11, item 5): one card schema with bounds, a required
checksum, weights sized from their header before anything is loaded, look-alike names refused,
and one broken folder never hiding the others."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import time
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.resources import resource_path
from engine.surrogates import library
from engine.surrogates.library import check_library_name, find_model, import_model, list_models, load_card, load_surrogate
from tests.engine.surrogates.test_library_solver import tiny_model

SHIPPED = "darcy-fno"


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    """An empty user library of this test's own."""
    folder = tmp_path / "library"
    folder.mkdir()
    monkeypatch.setenv("WORKBENCH_MODELS", str(folder))
    return folder


def edit_card(folder: Path, **changes) -> Path:
    """Change keys of a model's card (a value of None removes the key)."""
    path = folder / "card.json"
    card = json.loads(path.read_text())
    card.update(changes)
    card = {k: v for k, v in card.items() if v is not None}
    path.write_text(json.dumps(card))
    return path


def card_of(folder: Path) -> dict:
    return json.loads((folder / "card.json").read_text())


# -- the schema -----------------------------------------------------------------------------
def test_physics_as_a_list_is_refused_naming_the_card_and_the_field(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    edit_card(folder, physics=["diffusion"])
    with pytest.raises(InputError) as err:
        load_card(folder)
    assert err.value.source == str(folder / "card.json") and err.value.field == "physics"
    assert "card.json: physics: wrong type: got ['diffusion']; expected a JSON object" in str(err.value)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"grid": {"resolution": 10**6, "domain": [[0.0, 1.0], [0.0, 1.0]]}}, "grid.resolution", "less than or equal to 4097"),
        ({"grid": {"resolution": 16, "domain": [[0.0, 1.0]]}}, "grid.domain", "at least 2 items"),
        ({"grid": {"resolution": 16, "domain": [[1.0, 0.0], [0.0, 1.0]]}}, "grid.domain", "low < high"),
        ({"grid": {"resolution": "64", "domain": [[0.0, 1.0], [0.0, 1.0]]}}, "grid.resolution", "expected an integer"),
        ({"inputs": ["k"] * 65}, "inputs", "at most 64 items"),
        ({"name": "x" * 300}, "name", "at most 255 characters"),
        ({"name": "tiny\x1b[2J"}, "name", r"control character \(U\+001B\)"),
        ({"config": {f"k{i}": 1 for i in range(65)}}, "config", "at most 64 items"),
        ({"config": {"width": {"nested": 1}}}, "config.width", "a number, a string"),
        ({"config": {"modes1": list(range(100))}}, "config.modes1", "at most 64 items"),
        ({"training_ranges": {"k": [12.0, 3.0]}}, "training_ranges.k", "low end is above its high end"),
        ({"inputs": ["k", "f"]}, "physics.input_coefficients", "do not match the inputs"),
        ({"config": {"in_channels": 3}}, "config.in_channels", "does not match the channels"),
    ],
)
def test_card_fields_are_typed_and_bounded(tmp_path, changes, field, message):
    folder = tiny_model(tmp_path / "tiny")
    edit_card(folder, **changes)
    with pytest.raises(InputError, match=message) as err:
        load_card(folder)
    assert err.value.field == field and err.value.source.endswith("card.json")


def test_a_card_that_is_a_named_pipe_is_refused_without_hanging(tmp_path, models):
    folder = tiny_model(models / "piped")
    (folder / "card.json").unlink()
    os.mkfifo(folder / "card.json")
    tic = time.perf_counter()
    with pytest.raises(InputError, match=r"card.json: not a regular file \(a named pipe\)"):
        load_card(folder)
    broken = library.broken_models()["piped"]
    assert broken.folder == folder and "named pipe" in broken.reason and "piped" not in list_models()
    assert time.perf_counter() - tic < 5


def test_a_card_over_its_size_limit_is_refused(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    edit_card(folder, metrics={"padding": "x" * (2 << 20)})  # valid JSON, 2 MiB
    with pytest.raises(InputError, match=r"card.json: the file is too large \(2 MiB\).*WORKBENCH_LIMIT_MODEL_CARD_BYTES"):
        load_card(folder)


def test_a_card_nesting_too_deeply_is_refused(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    (folder / "card.json").write_text(json.dumps(card_of(folder))[:-1] + ', "metrics": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="card.json: the document nests"):
        load_card(folder)


def test_shipped_cards_pass_the_schema_with_their_checksum():
    card = load_card(SHIPPED)
    assert len(card.weights_sha256) == 64 and card.physics["kind"] == "diffusion" and card.grid["resolution"] == 64
    assert library.broken_models() == {}


def test_the_card_grid_bounds_are_those_of_a_data_set_recipe():
    from engine.surrogates import datasets

    assert (library.MIN_RESOLUTION, library.MAX_RESOLUTION) == (datasets.MIN_RESOLUTION, datasets.MAX_RESOLUTION)


def test_saving_refuses_a_card_that_could_not_be_loaded(tmp_path):
    import torch

    from engine.surrogates.library import Card, save_surrogate

    card = Card(name="bad", model="fno", config={}, physics={"kind": "diffusion"}, inputs=["k"], outputs=["u"], grid={"resolution": 16, "domain": [[0, 1], [0, 1]]})
    with pytest.raises(InputError, match="physics.input_coefficients: the input coefficients do not match the inputs"):
        save_surrogate(tmp_path / "bad", torch.nn.Linear(1, 1), card)
    assert list(tmp_path.iterdir()) == []


# -- the checksum ---------------------------------------------------------------------------
@pytest.mark.parametrize("checksum", ["", None], ids=["empty", "missing"])
def test_a_card_without_a_checksum_is_refused_on_load_and_on_import(tmp_path, models, checksum):
    folder = tiny_model(tmp_path / "tiny")
    edit_card(folder, weights_sha256=checksum)
    for attempt in (lambda: load_surrogate(folder), lambda: import_model(folder, name="tiny-copy")):
        with pytest.raises(InputError, match="checksum") as err:
            attempt()
        assert err.value.field == "weights_sha256" and err.value.source == str(folder / "card.json")
    assert list(models.iterdir()) == []


# -- the weights: sized before anything is loaded -------------------------------------------
def warm_up(tmp_path: Path) -> None:
    """Load a good model once: the first model sized on torch's meta device imports part of
    torch (about a second, once per process), which is not what these tests time."""
    load_surrogate(tiny_model(tmp_path / "warm-up"))


def test_a_config_asking_for_ten_billion_parameters_is_refused_fast(tmp_path, models):
    warm_up(tmp_path)
    folder = tiny_model(tmp_path / "tiny")
    edit_card(folder, config=card_of(folder)["config"] | {"width": 100_000})  # ~1e12 parameters
    for attempt in (lambda: load_surrogate(folder), lambda: import_model(folder, name="huge")):
        tic = time.perf_counter()
        with pytest.raises(InputError, match="too many parameters in the model the card's config describes") as err:
            attempt()
        assert time.perf_counter() - tic < 1.0
        assert err.value.field == "config" and err.value.source.endswith("card.json") and "WORKBENCH_LIMIT_MODEL_PARAMETERS" in str(err.value)
        assert err.value.value > 10**10


def test_a_config_asking_for_a_million_small_layers_stops_early(tmp_path):
    warm_up(tmp_path)
    folder = tiny_model(tmp_path / "tiny")
    edit_card(folder, config=card_of(folder)["config"] | {"n_layers": 5_000})
    tic = time.perf_counter()
    with pytest.raises(InputError, match="the weights do not fit the model the card describes: got 'more than"):
        load_surrogate(folder)
    assert time.perf_counter() - tic < 1.0


def test_the_parameter_limit_is_the_documented_one(tmp_path, monkeypatch):
    folder = tiny_model(tmp_path / "tiny")
    monkeypatch.setenv("WORKBENCH_LIMIT_MODEL_PARAMETERS", "1000")
    with pytest.raises(InputError, match=r"at most 1000 parameters \(WORKBENCH_LIMIT_MODEL_PARAMETERS raises the limit\)"):
        load_surrogate(folder)


def write_safetensors(path: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_weights_declaring_other_shapes_are_refused_from_their_header(tmp_path, models, monkeypatch):
    """Shapes that do not fit the card's model are found in the header: no tensor is loaded."""
    import safetensors.torch

    folder = tiny_model(tmp_path / "tiny")
    weights = folder / "weights.safetensors"
    (length,) = struct.unpack("<Q", weights.read_bytes()[:8])
    header = json.loads(weights.read_bytes()[8 : 8 + length])
    data = weights.read_bytes()[8 + length :]
    name = "model.lift.weight"
    true_shape = header[name]["shape"]
    header[name]["shape"] = [100_000, 100_000]  # 40 GB if it were ever allocated
    write_safetensors(weights, header, data)
    edit_card(folder, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())

    def never(*args, **kwargs):
        raise AssertionError("weights were loaded before their shapes were checked")

    monkeypatch.setattr(safetensors.torch, "load_file", never)
    for attempt in (lambda: load_surrogate(folder), lambda: import_model(folder, name="tiny-copy")):
        with pytest.raises(InputError, match="the weights do not fit the model the card describes") as err:
            attempt()
        assert err.value.source == str(weights)
        assert f"wrong shape: {name} (100000, 100000) in the file, {tuple(true_shape)} in the model" in str(err.value)
    assert list(models.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02", "shorter than its 8-byte header length"),
        (struct.pack("<Q", 10**12) + b"{}", "its header would be 1000000000000 bytes"),
        (struct.pack("<Q", 2) + b"[]", "its header is no JSON object"),
        (struct.pack("<Q", 25) + b'{"a": {"shape": [-1, 2]}}', "a tensor without a valid shape"),
    ],
)
def test_malformed_safetensors_headers_are_input_errors(tmp_path, content, message):
    folder = tiny_model(tmp_path / "tiny")
    (folder / "weights.safetensors").write_bytes(content)
    edit_card(folder, weights_sha256=hashlib.sha256(content).hexdigest())
    with pytest.raises(InputError, match=f"not a safetensors weights file.*{message}"):
        load_surrogate(folder)


def test_a_weights_file_that_is_a_pipe_is_refused(tmp_path):
    folder = tiny_model(tmp_path / "tiny")
    (folder / "weights.safetensors").unlink()
    os.mkfifo(folder / "weights.safetensors")
    with pytest.raises(InputError, match=r"weights.safetensors: not a regular file \(a named pipe\)"):
        load_surrogate(folder)


# -- names ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("darcy-fno ", "looks like the shipped model's, 'darcy-fno'"),
        (" darcy-fno", "looks like the shipped model's, 'darcy-fno'"),
        ("darcy\u2011fno", "looks like the shipped model's, 'darcy-fno'"),
        ("darcy\u2013fno", "looks like the shipped model's, 'darcy-fno'"),
        ("\uff44\uff41\uff52\uff43\uff59-\uff46\uff4e\uff4f", "looks like the shipped model's, 'darcy-fno'"),
        ("D\uff21RCY-FNO", "looks like the shipped model's, 'darcy-fno'"),
        ("d\u0430rcy-fno", "invalid model name.*U\\+0430 CYRILLIC SMALL LETTER A"),
        ("my model", "invalid model name.*U\\+0020 SPACE"),
        ("x" * 65, "invalid model name"),
        ("-x", "invalid model name"),
    ],
)
def test_look_alike_and_non_ascii_names_are_refused(models, name, message):
    with pytest.raises(InputError, match=message):
        check_library_name(name)
    with pytest.raises(InputError, match=message):
        import_model(resource_path(f"models/{SHIPPED}"), name=name)
    assert list(models.iterdir()) == []


@pytest.mark.parametrize("name", ["MY-MODEL", "my\u2010model", "my-model ", "\uff4dy-model"])
def test_names_that_look_like_a_model_of_the_library_are_refused(tmp_path, models, name):
    tiny_model(models / "my-model")
    with pytest.raises(InputError, match="looks like that of your model 'my-model'"):
        import_model(tiny_model(tmp_path / "other"), name=name)
    assert sorted(p.name for p in models.iterdir()) == ["my-model"]
    # the same name is the way to replace it
    assert import_model(tmp_path / "other", name="my-model", replace=True).name == "my-model"


def test_a_folder_shadowing_a_shipped_model_is_broken_and_the_shipped_one_stays(models):
    for name in ("darcy-fno", "darcy-fno ", "Darcy\u2011FNO"):
        shutil.copytree(resource_path(f"models/{SHIPPED}"), models / name)
    assert list_models()[SHIPPED] == resource_path(f"models/{SHIPPED}")
    assert find_model(SHIPPED) == resource_path(f"models/{SHIPPED}")
    broken = library.broken_models()
    assert sorted(broken) == ["Darcy\u2011FNO", "darcy-fno", "darcy-fno "]
    assert "a shipped model has this name" in str(broken["darcy-fno"]) and "Rename the folder" in str(broken["darcy-fno "])
    assert broken["darcy-fno "].folder == models / "darcy-fno " and str(models / "darcy-fno ") in str(broken["darcy-fno "])


# -- one broken folder never hides the others -----------------------------------------------
def test_one_broken_folder_never_hides_the_others(models):
    good = tiny_model(models / "good")
    edit_card(tiny_model(models / "bad-physics"), physics=["diffusion"])
    (models / "no-card").mkdir()
    (tiny_model(models / "no-weights") / "weights.safetensors").unlink()
    (models / ".half-made.part-x").mkdir()  # hidden: a save in progress, not a model
    (models / "notes.txt").write_text("not a folder")

    shipped = {p.name: p for p in resource_path("models").iterdir() if (p / "card.json").exists()}
    assert list_models() == {**shipped, "good": good} and SHIPPED in shipped
    broken = library.broken_models()
    assert sorted(broken) == ["bad-physics", "no-card", "no-weights"]
    assert "card.json: physics: wrong type" in str(broken["bad-physics"])
    assert "not a model folder" in str(broken["no-card"])
    assert "weights.safetensors: file not found" in str(broken["no-weights"])
    # by name, a broken model is its own error, not "no such model"
    with pytest.raises(InputError, match="card.json: physics: wrong type"):
        load_card("bad-physics")
    with pytest.raises(InputError, match="card.json: physics: wrong type"):
        load_surrogate("bad-physics")
    assert load_surrogate("good")[1].name == "good"
