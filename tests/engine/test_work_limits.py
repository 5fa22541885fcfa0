"""The whole work of a case is estimated before it starts and refused beyond its limits:
cells (refinements included), time steps, saved values and probes; every refusal is bad input
(exit 2) naming the field, its value and the smallest value that fits."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.case import parse_case
from engine.errors import InputError, RunError
from engine.problem import Problem
from tests.engine.case.test_case import case_from

ROOT = Path(__file__).resolve().parents[2]

TRANSIENT = """
version = 1
[geometry]
kind = "unit_square"
[mesh]
size = 0.25
[physics]
kind = "heat"
[physics.time]
end = 1.0
step = 0.25
[[boundary]]
region = "left"
type = "dirichlet"
value = 1.0
"""


def case_doc(text: str = TRANSIENT, **edits) -> dict:
    """The case ``text`` with dotted keys set (``physics.time.step=1e-9``)."""
    return case_from(text, **edits)


def refused(doc: dict) -> InputError:
    """The InputError a case is refused with, at parse time or when bound to its mesh."""
    with pytest.raises(InputError) as info:
        Problem.from_case(parse_case(doc, source="case.toml"))
    return info.value


def no_meshing(monkeypatch) -> None:
    """Make any gmsh meshing fail loudly: the refusals below must come before it."""
    import engine.mesh.geometry as geometry

    def start_gmsh(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("gmsh was asked to mesh")

    monkeypatch.setattr(geometry, "run_isolated", start_gmsh)  # where build_mesh starts gmsh's process


def number_after(text: str, words: str) -> float:
    return float(re.search(re.escape(words) + r" ([0-9.e+-]+)", text).group(1).rstrip("."))


# -- cells, refinements included -----------------------------------------------------------------


def test_a_fine_refinement_near_a_boundary_is_refused_before_gmsh(monkeypatch):
    no_meshing(monkeypatch)
    doc = case_doc(mesh={"size": 0.1, "refine": [{"size": 1e-5, "distance": 0.5, "region": "left"}]})
    err = refused(doc)
    assert err.field == "mesh.refine[0].size" and err.value == 1e-5
    assert "too many cells" in err.problem and "WORKBENCH_LIMIT_CELLS" in err.expected
    assert err.source == "case.toml"
    # The size it names does fit, and a little less does not.
    from engine.work import check_case_mesh

    smallest = number_after(err.expected, "a refinement size of at least")
    doc["mesh"]["refine"][0]["size"] = smallest
    check_case_mesh(parse_case(doc))
    doc["mesh"]["refine"][0]["size"] = smallest * 0.98
    with pytest.raises(InputError, match=r"mesh.refine\[0\].size"):
        check_case_mesh(parse_case(doc))


def test_the_cell_limit_comes_from_the_environment(monkeypatch):
    no_meshing(monkeypatch)
    monkeypatch.setenv("WORKBENCH_LIMIT_CELLS", "100")
    err = refused(case_doc(mesh={"size": 0.05}))  # some 900 triangles
    assert err.field == "mesh.size" and err.value == 0.05
    assert "at most 100 cells" in err.expected
    smallest = number_after(err.expected, "an element size of at least")
    assert 0.14 < smallest < 0.16  # 2.31 / h**2 = 100


def test_a_tiny_global_size_is_bad_input_not_an_overflow(monkeypatch):
    no_meshing(monkeypatch)
    err = refused(case_doc(mesh={"size": 1e-300}))
    assert err.field == "mesh.size" and err.value == 1e-300
    assert "at least" in err.expected


def test_an_element_size_far_above_a_feature_is_refused(monkeypatch):
    no_meshing(monkeypatch)
    doc = case_doc(geometry={"kind": "annulus", "parameters": {"inner_radius": 0.99999}}, mesh={"size": 0.1})
    doc["boundary"][0]["region"] = "inner"
    err = refused(doc)
    assert err.field == "mesh.size" and "ring width" in err.expected and "at most 0.01" in err.expected


def test_a_refinement_size_below_what_the_geometry_resolves_is_refused(monkeypatch):
    no_meshing(monkeypatch)
    err = refused(case_doc(mesh={"size": 0.1, "refine": [{"size": 1e-9, "distance": 0.2, "point": [0.5, 0.5]}]}))
    assert err.field == "mesh.refine[0].size" and err.value == 1e-9 and "at least 1e-06" in err.expected


# Small meshes whose real cell counts the estimate must be within a factor 2 of (it is within 0.7 to 1.1).
ESTIMATED = [
    ("plate_with_hole", {}, 0.2, [{"size": 0.01, "distance": 0.3, "region": "hole"}]),
    ("unit_square", {}, 0.1, [{"size": 0.002, "distance": 0.2, "region": "left"}, {"size": 0.005, "distance": 0.1, "region": "top"}]),
    ("unit_square", {}, 0.1, [{"size": 0.001, "distance": 0.2, "point": (0.5, 0.5)}]),
    ("annulus", {}, 0.1, [{"size": 0.005, "distance": 0.2, "region": "inner"}]),
    ("box", {}, 0.25, [{"size": 0.05, "distance": 0.3, "region": "zmin"}]),
    ("rectangle", {"width": 2, "height": 1}, 0.05, []),
    ("channel_with_obstacle", {}, 0.02, [{"size": 0.002, "distance": 0.05, "region": "obstacle"}]),
]


@pytest.mark.parametrize("kind, parameters, size, refine", ESTIMATED, ids=[f"{e[0]}-{i}" for i, e in enumerate(ESTIMATED)])
def test_the_cell_estimate_follows_gmsh(kind, parameters, size, refine):
    from engine.mesh.geometry import GEOMETRIES, Refinement, build_mesh
    from engine.work import check_mesh_request

    geo = GEOMETRIES[kind]
    refinements = [Refinement(**r) for r in refine]
    estimate = check_mesh_request(geo, geo.check_parameters(parameters), size, refinements)
    real = build_mesh(kind, parameters, size=size, refine=refinements).n_cells
    assert real / 2 < estimate.total < real * 2, (real, estimate)
    assert len(estimate.bands) == len(refine) and all(band > 0 for band in estimate.bands)  # each one counted


# -- time steps and saved values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "edits, field",
    [
        ({"physics.time.end": float("inf")}, "physics.time.end"),
        ({"physics.time.step": float("inf")}, "physics.time.step"),
        ({"physics.time.tolerance": float("inf")}, "physics.time.tolerance"),
    ],
)
def test_infinite_times_are_refused_at_parse(edits, field):
    with pytest.raises(InputError, match="finite") as info:
        parse_case(case_doc(**edits))
    assert info.value.field == field


@pytest.mark.parametrize("step", [5e-324, 1e-9, 9.99e-6])
def test_too_many_time_steps_are_refused_at_parse_with_the_smallest_step(step):
    with pytest.raises(InputError) as info:
        parse_case(case_doc(**{"physics.time.step": step}), source="case.toml")
    err = info.value
    assert err.field == "physics.time.step" and err.value == step and err.source == "case.toml"
    assert "a step of at least 1e-05" in err.expected and "WORKBENCH_LIMIT_TIME_STEPS" in err.expected
    parse_case(case_doc(**{"physics.time.step": 1e-5}))  # exactly the limit fits


def test_an_adaptive_run_may_start_small_but_is_held_to_the_step_limit(monkeypatch):
    from engine.solvers import get_solver

    doc = case_doc(**{"physics.time.step": 1e-7, "physics.time.adaptive": True, "physics.time.tolerance": 1e-9})
    problem = Problem.from_case(parse_case(doc))  # the first step is only a start
    monkeypatch.setenv("WORKBENCH_LIMIT_TIME_STEPS", "5")
    with pytest.raises(RunError, match="more than 5 time steps.*WORKBENCH_LIMIT_TIME_STEPS"):
        get_solver("classical").solve(problem)


def test_an_adaptive_run_is_held_to_the_saved_values_limit(monkeypatch):
    from engine.solvers import get_solver

    doc = case_doc(**{"physics.time.adaptive": True, "physics.time.step": 0.01, "physics.time.tolerance": 1e-6})
    problem = Problem.from_case(parse_case(doc))  # adaptive: its saved steps are not known before
    monkeypatch.setenv("WORKBENCH_LIMIT_SAVED_VALUES", str(4 * problem.mesh.n_points * 3))
    with pytest.raises(RunError, match="would keep more than .*WORKBENCH_LIMIT_SAVED_VALUES"):
        get_solver("classical").solve(problem)


def test_saved_values_beyond_the_limit_are_refused_once_the_mesh_is_known(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LIMIT_SAVED_VALUES", "2000")
    doc = case_doc(**{"physics.time.step": 0.01})  # 100 steps x 25 points x 3 components
    case = parse_case(doc)
    with pytest.raises(InputError) as info:
        Problem.from_case(case)
    err = info.value
    assert err.field == "physics.time.save_every" and err.value == 1
    assert "WORKBENCH_LIMIT_SAVED_VALUES" in err.expected
    fewest = int(number_after(err.expected, "save_every of at least"))
    doc["physics"]["time"]["save_every"] = fewest
    Problem.from_case(parse_case(doc))
    doc["physics"]["time"]["save_every"] = fewest - 1
    with pytest.raises(InputError, match="save_every"):
        Problem.from_case(parse_case(doc))


# -- physics parameters ----------------------------------------------------------------------------


ELASTIC = """
version = 1
[geometry]
kind = "unit_square"
[mesh]
size = 0.5
[physics]
kind = "elasticity"
E = 1.0
nu = 0.3
[[boundary]]
region = "left"
type = "displacement"
ux = 0.0
uy = 0.0
"""


@pytest.mark.parametrize(
    "text, edits, field",
    [
        (ELASTIC, {"physics.thickness": float("inf")}, "physics.thickness"),
        (ELASTIC, {"physics.thickness": float("nan")}, "physics.thickness"),
        (ELASTIC, {"solver.classical.tolerance": float("inf")}, "solver.classical.tolerance"),
        (TRANSIENT, {"mesh.size": float("inf")}, "mesh.size"),
    ],
)
def test_physical_numbers_must_be_finite(text, edits, field):
    with pytest.raises(InputError) as info:
        parse_case(case_doc(text, **edits))
    assert info.value.field == field


# -- probes ----------------------------------------------------------------------------------------


def probes(points) -> list[dict]:
    return [{"name": f"p{i}", "point": list(p)} for i, p in enumerate(points)]


@pytest.mark.parametrize("point, index", [([float("nan"), 0.5], 0), ([0.5, float("inf")], 1)])
def test_a_probe_coordinate_must_be_finite(point, index):
    doc = case_doc(probes=probes([(0.5, 0.5), point]))
    with pytest.raises(InputError, match="finite") as info:
        parse_case(doc)
    assert info.value.field == f"probes[1].point[{index}]"


def test_too_many_probes_are_refused_at_parse(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LIMIT_PROBES", "3")
    doc = case_doc(probes=probes([(0.1 * i, 0.5) for i in range(4)]))
    with pytest.raises(InputError) as info:
        parse_case(doc)
    assert info.value.field == "probes" and info.value.value == 4
    assert "at most 3 probes" in info.value.expected


def test_probes_are_located_in_one_search(monkeypatch):
    import engine.mesh.locate as locate

    trees = []

    class CountingTree(locate.cKDTree):
        def __init__(self, *args, **kwargs):
            trees.append(1)
            super().__init__(*args, **kwargs)

    doc = case_doc(probes=probes([(0.01 + 0.98 * i / 299, 0.3) for i in range(300)]))
    case = parse_case(doc)
    monkeypatch.setattr(locate, "cKDTree", CountingTree)
    Problem.from_case(case)
    assert len(trees) <= 2  # one search for all 300 probes (and one for any left over)


# -- through the command line --------------------------------------------------------------------


CLI_CASES = [
    ({"physics.time.step": 5e-324}, "physics.time.step", "at least 1e-05"),
    ({"mesh.size": 1e-300}, "mesh.size", "at least"),
    ({"probes": probes([(float("nan"), 0.5)])}, "probes[0].point[0]", "finite"),
]


@pytest.mark.parametrize("edits, field, words", CLI_CASES, ids=[c[1] for c in CLI_CASES])
def test_case_check_refuses_with_exit_code_2(tmp_path, edits, field, words):
    import tomli_w

    doc = case_doc(**{k: v for k, v in edits.items() if k != "probes"})
    if "probes" in edits:
        doc["probes"] = edits["probes"]
    path = tmp_path / "case.toml"
    path.write_text(tomli_w.dumps(doc))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "case", "check", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stderr.strip().splitlines()[-1])
    assert error["field"] == field and words in error["message"]
    assert "internal error" not in done.stderr
