"""Flow results in pictures and views: the fields follow the physics, a velocity is drawn as its
magnitude with arrows (spread evenly, one length scale over a whole run), and only a
displacement moves the mesh."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

import engine
from engine.case.load import parse_case
from engine.fields import Field
from engine.physics.registry import default_case
from engine.pictures import render_field, render_pictures
from engine.result import Provenance, Result
from engine.resources import resource_path
from engine.visual import (
    ARROWS_ALONG, GLYPH_COUNT, arrow_fields, physics_of, primary_field, shown_fields, spread_points, vector_glyphs, warp_field,
)

pytest.importorskip("pyvista")


def short_channel_case() -> dict:
    """The shipped DFG example made transient (DFG 2D-2's inflow), short and coarse: a few seconds."""
    doc = tomllib.loads(resource_path("examples/dfg_2d1.toml").read_text(encoding="utf-8"))
    doc["parameters"]["U_max"] = 1.5
    doc["physics"]["forces"]["velocity"] = 1.0
    doc["physics"]["time"] = {"end": 0.05, "step": 0.005}
    doc["mesh"].update(size=0.05, refine=[{"region": "obstacle", "size": 0.015, "distance": 0.1}])
    return doc


def _solve(doc: dict) -> Result:
    return engine.get_solver("classical").solve(engine.Problem.from_case(parse_case(doc)))


@pytest.fixture(scope="module")
def cavity() -> Result:
    doc = default_case("navier_stokes")
    doc["mesh"] = {**doc.get("mesh", {}), "size": 0.1}
    return _solve(doc)


@pytest.fixture(scope="module")
def channel() -> Result:
    return _solve(short_channel_case())


def _dark_pixels(path) -> int:
    """Pixels darker than any colour of viridis (its darkest is (68, 1, 84)): arrows and text."""
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    return int((image.max(axis=-1) < 40).sum())


def test_the_fields_follow_the_physics(cavity):
    assert physics_of(cavity).kind == "navier_stokes"
    assert shown_fields(cavity) == ["velocity", "pressure", "vorticity"] and primary_field(cavity) == "velocity"
    assert arrow_fields(cavity) == ["velocity"] and warp_field(cavity) is None  # a velocity never moves the mesh
    # Results that record no case (a surrogate's) are told by their fields.
    mesh = cavity.mesh
    elastic = Result(mesh, {"von_mises": Field("von_mises", np.zeros(mesh.n_points)),
                            "displacement": Field("displacement", np.zeros((mesh.n_points, 2)))}, Provenance("surrogate"))
    assert physics_of(elastic).kind == "elasticity"
    assert shown_fields(elastic) == ["displacement", "von_mises"] and warp_field(elastic) == "displacement" and arrow_fields(elastic) == []
    heat = Result(mesh, {"extra": Field("extra", np.zeros(mesh.n_points)), "heat_flux": Field("heat_flux", np.zeros((mesh.n_points, 2))),
                         "T": Field("T", np.zeros(mesh.n_points))}, Provenance("surrogate"))
    assert shown_fields(heat) == ["T", "heat_flux", "extra"] and arrow_fields(heat) == ["heat_flux"] and warp_field(heat) is None
    unknown = Result(mesh, {"q": Field("q", np.zeros(mesh.n_points))}, Provenance("elsewhere"))
    assert physics_of(unknown) is None and shown_fields(unknown) == ["q"] and warp_field(unknown) is None


def test_arrows_spread_evenly_over_a_graded_mesh(channel):
    mesh = channel.mesh
    glyphs = vector_glyphs(mesh, channel.fields["velocity"])
    assert 0 < len(glyphs.point_ids) <= GLYPH_COUNT < 10 * mesh.n_points
    near = np.linalg.norm(mesh.points[:, :2] - [0.2, 0.2], axis=1) < 0.15  # the mesh is refined within 0.1 of the cylinder
    area_near = np.pi * 0.15**2 - np.pi * 0.05**2
    area_far = 2.2 * 0.41 - np.pi * 0.05**2 - area_near
    node_density = near.sum() / area_near / ((~near).sum() / area_far)
    chosen = near[glyphs.point_ids]
    arrow_density = chosen.sum() / area_near / ((~chosen).sum() / area_far)
    assert node_density > 2.5 and 0.6 < arrow_density < 1.5, (node_density, arrow_density)
    along = np.ptp(mesh.points[glyphs.point_ids, 0])
    assert len(np.unique(np.round(mesh.points[glyphs.point_ids, 0] / (along / ARROWS_ALONG)))) <= ARROWS_ALONG + 1


def test_arrows_keep_one_length_scale_over_every_step(channel):
    velocity = channel.fields["velocity"]
    glyphs = vector_glyphs(channel.mesh, velocity)
    speeds = np.linalg.norm(velocity.values[:, glyphs.point_ids], axis=-1)
    longest = []
    for step in range(len(channel.times)):
        corners = glyphs.arrows(velocity, step=step).points.reshape(-1, 3, 3)  # base, base, tip of each arrow
        lengths = np.linalg.norm(corners[:, 2] - corners[:, :2].mean(axis=1), axis=1)
        np.testing.assert_allclose(lengths, glyphs.scale * speeds[step], rtol=1e-9, atol=1e-12)
        longest.append(lengths.max())
    assert speeds[0].max() == 0.0 and longest[0] == 0.0  # the run starts at rest
    from scipy.spatial import cKDTree

    seeds = channel.mesh.points[glyphs.point_ids]
    spacing = np.median(cKDTree(seeds).query(seeds, k=2)[0][:, 1])
    assert max(longest) == pytest.approx(1.3 * spacing, rel=1e-9)  # the fastest step's longest arrow: a little over the spacing


def test_spreading_a_million_points_keeps_to_the_count():
    points = np.random.default_rng(3).random((1_000_000, 3)) * [1.0, 1.0, 0.0]
    ids = spread_points(points, 1000)
    assert len(ids) == 31 * 31 and len(np.unique(ids)) == len(ids)  # the finest square grid of at most 1000 cells, all of them filled
    strip = points * [2.0, 1.0, 0.0]  # long: its arrows are as many along it as can be read, not as many as the count allows
    assert len(spread_points(strip, 1000)) == ARROWS_ALONG * (ARROWS_ALONG // 2)


def test_velocity_pictures_show_the_magnitude_with_arrows(cavity, channel, tmp_path):
    files = render_pictures({"classical": cavity}, tmp_path / "cavity")
    assert [p.name for p in files] == ["classical_velocity.png", "classical_pressure.png", "classical_vorticity.png"]
    with_arrows = _dark_pixels(tmp_path / "cavity" / "classical_velocity.png")
    without = _dark_pixels(render_field(cavity.mesh, cavity.fields["velocity"], tmp_path / "plain.png", title="classical: velocity (magnitude)"))
    assert with_arrows > without + 3000, (with_arrows, without)
    files = render_pictures({"classical": channel}, tmp_path / "channel")
    from PIL import Image

    for path in files:
        image = np.asarray(Image.open(path).convert("RGB"), dtype=float)
        assert image.std() > 20 and (np.ptp(image, axis=-1) > 60).mean() > 0.05, path.name  # colour, not a blank frame


def test_a_transient_picture_is_coloured_by_the_whole_run(channel, tmp_path, monkeypatch):
    import engine.pictures as pictures

    asked = {}

    def record(mesh, f, path, **options):
        asked[f.name] = options
        return path

    monkeypatch.setattr(pictures, "render_field", record)
    render_pictures({"classical": channel}, tmp_path)
    pressure = channel.fields["pressure"].values
    assert asked["pressure"]["clim"] == (float(pressure.min()), float(pressure.max()))
    assert asked["pressure"]["clim"] != (float(pressure[-1].min()), float(pressure[-1].max()))
    assert asked["velocity"]["arrows"] and not asked["pressure"]["arrows"] and asked["velocity"]["warp_by"] is None
