"""Off-screen pictures: written for each answer and the error, and never blank."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.pictures import render_field

pytest.importorskip("pyvista")


def picture_stats(path):
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    background = np.all(image > 250, axis=-1)  # white
    return image, 1.0 - background.mean()


def test_a_field_picture_is_not_blank(tmp_path):
    mesh = engine.Mesh(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), {"triangle": np.array([[0, 1, 2], [1, 3, 2]])})
    png = render_field(mesh, engine.Field("u", np.array([0.0, 1.0, 2.0, 3.0])), tmp_path / "u.png")
    image, drawn = picture_stats(png)
    assert image.std() > 20 and 0.2 < drawn < 0.95
    assert not list(tmp_path.glob(".*part*"))  # written atomically


def test_run_both_pictures_each_answer_and_the_error(resources, tmp_path):
    outcome = engine.run_case(resources / "examples" / "darcy_unit_square.toml", out=tmp_path, solver="both")
    names = sorted(p.name for p in outcome.files if p.suffix == ".png")
    assert names == ["classical_flux.png", "classical_u.png", "error_u.png", "surrogate_u.png"]
    assert outcome.metrics["pictures"] == [n for n in outcome.metrics["pictures"] if n in names]
    for name in names:
        image, drawn = picture_stats(tmp_path / name)
        assert image.std() > 20 and drawn > 0.2, name
        # colour from the colour map, not only grey text and frame
        assert (np.ptp(image, axis=-1) > 60).mean() > 0.1, name


def test_elasticity_is_warped_and_pictures_can_be_turned_off(resources, tmp_path):
    outcome = engine.run_case(resources / "examples" / "nafems_le1.toml", out=tmp_path / "on")
    assert {"classical_displacement.png", "classical_von_mises.png"} <= {p.name for p in outcome.files}
    _, drawn = picture_stats(tmp_path / "on" / "classical_von_mises.png")
    assert drawn > 0.1
    case = engine.load_case(resources / "examples" / "darcy_unit_square.toml")
    off = case.model_copy(update={"output": case.output.model_copy(update={"pictures": False})})
    outcome = engine.run_case(off, out=tmp_path / "off")
    assert not [p for p in outcome.files if p.suffix == ".png"] and "pictures" not in outcome.metrics
