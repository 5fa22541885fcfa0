"""`workbench models ...` with model folders from other people: a broken folder in the library
never breaks the listing, and every refusal is exit 2 naming the file and the field."""

from __future__ import annotations

import json

import pytest

from engine.resources import resource_path

from tests.engine.surrogates.test_library_solver import tiny_model
from tests.workbench.test_cli import assert_clean_failure, workbench


@pytest.fixture
def library(tmp_path, monkeypatch):
    folder = tmp_path / "library"
    monkeypatch.setenv("WORKBENCH_MODELS", str(folder))  # the workbench processes inherit it
    return folder


def break_card(folder, **changes):
    path = folder / "card.json"
    path.write_text(json.dumps({k: v for k, v in (json.loads(path.read_text()) | changes).items() if v is not None}))


def test_models_list_shows_the_good_models_beside_a_broken_one(library):
    tiny_model(library / "good", resolution=8)
    break_card(tiny_model(library / "bad"), physics=["diffusion"])
    done = workbench("models", "list")
    assert done.returncode == 0, done.stderr
    assert "darcy-fno: fno for diffusion" in done.stdout and "good: fno for diffusion on a 8x8 grid" in done.stdout
    assert "bad:" not in done.stdout  # listed as usable it is not (a "bad  BROKEN: ..." line may say why)
    listed = json.loads(workbench("models", "list", "--json").stdout)
    shipped = {p.name for p in resource_path("models").iterdir() if (p / "card.json").exists()}
    assert shipped | {"good"} <= set(listed) and all("broken" in listed[name] for name in set(listed) - shipped - {"good"})
    assert_clean_failure(workbench("models", "show", "bad"), 2, "bad/card.json: physics: wrong type: got ['diffusion']")


def test_models_import_refuses_a_card_without_checksum_and_look_alike_names(tmp_path, library):
    folder = tiny_model(tmp_path / "shared")
    assert_clean_failure(workbench("models", "import", folder, "--name", "darcy-fno "), 2, "name: the name looks like the shipped model's, 'darcy-fno'")
    assert_clean_failure(workbench("models", "import", folder, "--name", "darcy\u2011fno"), 2, "looks like the shipped model's")
    break_card(folder, weights_sha256=None)
    assert_clean_failure(workbench("models", "import", folder, "--name", "shared"), 2, "shared/card.json: weights_sha256: the model card has no weights checksum")
    assert not library.exists() or list(library.iterdir()) == []
