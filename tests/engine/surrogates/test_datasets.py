"""Neural-operator training data: random fields, recipes, the grid Darcy solve, generation into
HDF5 (synchronous and on a real Dask LocalCluster), resume after a cancel or a kill, reading."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.errors import Cancelled, InputError, RunError
from engine.surrogates import datasets as ds
from engine.surrogates.datasets import (
    DarcyGridSolver,
    generate_dataset,
    load_recipe,
    open_dataset,
    parse_recipe,
    solve_darcy_grid,
)
from engine.random_fields import grf_field, sample_rng
from engine.surrogates.sampling import grf_darcy, lognormal_permeability, threshold_permeability

# 40 points per side: 1,444 unknowns, enough for the multigrid to have two levels.
RECIPE = {"version": 1, "name": "tiny", "resolution": 40, "n_samples": 16, "seed": 7}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The data set of RECIPE, generated in one go in this thread."""
    out = tmp_path_factory.mktemp("reference") / "ref.h5"
    info = generate_dataset(RECIPE, out, scheduler="synchronous", chunk_size=16)
    assert info.complete and info.n_solved == 16
    return out


# -- random fields --------------------------------------------------------------------------


def test_grf_statistics_reproducibility_and_chunk_independence():
    z = grf_darcy(400, 33, seed=0)
    assert z.shape == (400, 33, 33)
    assert abs(z.mean()) < 0.01  # zero-mean field (and every sample has zero mean mode)
    assert 0.25 < z.std() < 0.35  # sigma = tau^(alpha-1) = 3 for alpha 2, tau 3
    k = threshold_permeability(z)
    assert set(np.unique(k)) == {3.0, 12.0}
    assert 0.4 < (k == 12.0).mean() < 0.6
    assert np.all(lognormal_permeability(z, 2.0) > 0)
    # reproducible by seed, different for another seed
    np.testing.assert_array_equal(z[:5], grf_darcy(5, 33, seed=0))
    assert not np.allclose(z[:5], grf_darcy(5, 33, seed=1))
    # sample i is the same whatever the chunk it is drawn in
    chunks = np.concatenate([grf_darcy(3, 33, seed=0, start=s) for s in range(0, 12, 3)])
    np.testing.assert_array_equal(chunks, z[:12])
    np.testing.assert_array_equal(grf_darcy(1, 33, seed=0, start=7)[0], z[7])
    # the same random function at two resolutions (the low modes get the same draws)
    coarse, fine = grf_darcy(20, 17, seed=3), grf_darcy(20, 33, seed=3)[:, ::2, ::2]
    assert np.corrcoef(coarse.ravel(), fine.ravel())[0, 1] > 0.99


def test_grf_is_the_normalised_cosine_series():
    """The DCT synthesis equals the Karhunen-Loeve sum written out by hand (FNO normalisation)."""
    from engine.random_fields import _draw_order

    n, alpha, tau = 7, 2.0, 3.0
    z = grf_field(1, n, seed=4, alpha=alpha, tau=tau)[0]
    xi = np.empty(n * n)
    xi[_draw_order(n, 2)] = sample_rng(4, 0).standard_normal(n * n)
    xi = xi.reshape(n, n)
    x = np.linspace(0.0, 1.0, n)
    expected = np.zeros((n, n))
    for k2 in range(n):
        for k1 in range(n):
            if k1 == k2 == 0:
                continue
            c = (np.sqrt(2) if k1 else 1.0) * (np.sqrt(2) if k2 else 1.0)
            a = tau ** (alpha - 1) * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2)
            expected += a * xi[k2, k1] * c * np.outer(np.cos(np.pi * k2 * x), np.cos(np.pi * k1 * x))
    np.testing.assert_allclose(z, expected, atol=1e-13)


# -- recipes --------------------------------------------------------------------------------


def test_example_recipe_and_validation_messages(resources):
    recipe = load_recipe(resources / "datasets" / "darcy_dataset.toml")
    assert (recipe.resolution, recipe.n_samples, recipe.seed) == (64, 1000, 0)
    assert (recipe.coefficient.kind, recipe.coefficient.high, recipe.coefficient.low) == ("threshold", 12.0, 3.0)
    assert (recipe.coefficient.alpha, recipe.coefficient.tau, recipe.solver.tolerance) == (2.0, 3.0, 1e-8)
    assert parse_recipe(json.loads(recipe.to_json())) == recipe

    def error(**changes) -> InputError:
        data = {**RECIPE, **changes}
        with pytest.raises(InputError) as err:
            parse_recipe({k: v for k, v in data.items() if v is not None})
        return err.value

    e = error(resolution=2)
    assert e.field == "resolution" and e.value == 2 and "3 to 4097" in e.expected
    e = error(resolutoin=64)
    assert e.field == "resolutoin" and e.problem == "unknown key" and "resolution" in e.hint
    e = error(n_samples=None)
    assert e.field == "n_samples" and e.problem == "missing required key"
    e = error(coefficient={"kind": "gaussian"})
    assert e.field == "coefficient.kind" and e.value == "gaussian" and "'threshold' or 'lognormal'" in e.expected
    e = error(coefficient={"alpha": 0.5})
    assert e.field == "coefficient.alpha" and "> 1" in e.expected
    e = error(seed="0")
    assert e.field == "seed" and e.value == "0"
    e = error(physics="heat")
    assert e.field == "physics" and "'darcy'" in str(e)
    e = error(version=2)
    assert e.field == "version"


# -- the single-sample solve ----------------------------------------------------------------


def _threshold_k(res: int, seed: int = 0) -> np.ndarray:
    return threshold_permeability(grf_darcy(1, res, seed=seed)[0]).astype(np.float32).astype(float)


def test_solve_darcy_grid_agrees_with_the_classical_solver_and_scikit_fem(tmp_path):
    from skfem import Basis, BilinearForm, ElementTriP1, LinearForm, MeshTri, asm, condense, solve
    from skfem.helpers import dot, grad

    import engine
    from engine.mesh.io import write_mesh
    from engine.mesh.mesh import Mesh, Region
    from engine.solvers.fem.p1 import structured_unit_square

    res = 21
    k = _threshold_k(res)
    u = solve_darcy_grid(k, 1.0, DarcyGridSolver(res, method="direct", tolerance=1e-12))
    assert u.shape == (res, res)
    assert np.all(u[0] == 0) and np.all(u[-1] == 0) and np.all(u[:, 0] == 0) and np.all(u[:, -1] == 0)

    # 1. The engine's ClassicalSolver on the same structured mesh, k read from a file.
    points, triangles, _ = structured_unit_square(res - 1)
    side = np.arange(res)
    edges = {
        "bottom": np.column_stack([side[:-1], side[1:]]),
        "top": np.column_stack([side[:-1], side[1:]]) + (res - 1) * res,
        "left": np.column_stack([side[:-1], side[1:]]) * res,
        "right": np.column_stack([side[:-1], side[1:]]) * res + res - 1,
    }
    lines = np.concatenate(list(edges.values()))
    offsets = np.cumsum([0] + [len(e) for e in edges.values()])
    regions = [Region(name, 1, {"line": np.arange(offsets[i], offsets[i + 1])}) for i, name in enumerate(edges)]
    k_cells = k.reshape(-1)[triangles].mean(axis=1)
    mesh = Mesh(points, {"triangle": triangles, "line": lines}, regions, cell_data={"k": {"triangle": k_cells, "line": np.zeros(len(lines))}})
    write_mesh(mesh, tmp_path / "grid.vtu")
    case_file = tmp_path / "case.toml"
    case_file.write_text(
        textwrap.dedent(
            """
            version = 1
            [geometry]
            file = "grid.vtu"
            [physics]
            kind = "diffusion"
            k = { file = "grid.vtu", field = "k" }
            f = 1.0
            [[boundary]]
            region = ["left", "right", "bottom", "top"]
            type = "dirichlet"
            value = 0.0
            [solver.classical]
            element = "P1"
            linear_solver = "direct"
            tolerance = 1e-12
            """
        )
    )
    result = engine.get_solver("classical").solve(engine.Problem.from_case(engine.load_case(case_file)))
    mesh_points = result.mesh.points
    i = np.rint(mesh_points[:, 0] * (res - 1)).astype(int)
    j = np.rint(mesh_points[:, 1] * (res - 1)).astype(int)
    u_classical = np.full((res, res), np.nan)
    u_classical[j, i] = result.field("u").values.reshape(-1)
    np.testing.assert_allclose(u, u_classical, rtol=0, atol=1e-8)

    # 2. scikit-fem's own assembly, k as the P1 interpolant of the grid values.
    skmesh = MeshTri(points.T, triangles.T)
    basis = Basis(skmesh, ElementTriP1(), intorder=2)
    stiffness = BilinearForm(lambda a, v, w: w["k"] * dot(grad(a), grad(v)))
    load = LinearForm(lambda v, w: v)
    A = asm(stiffness, basis, k=basis.interpolate(k.reshape(-1)))
    b = asm(load, basis)
    u_skfem = solve(*condense(A, b, D=basis.get_dofs()))
    np.testing.assert_allclose(u.reshape(-1), u_skfem, rtol=0, atol=1e-8)

    # 3. The default solver (CG + AMG to 1e-8) and an array source.
    u_default = solve_darcy_grid(k)
    np.testing.assert_allclose(u_default, u, rtol=0, atol=1e-7 * np.abs(u).max())
    np.testing.assert_allclose(solve_darcy_grid(k, np.full((res, res), 2.0)), 2 * u_default, rtol=1e-6, atol=1e-12)
    with pytest.raises(InputError, match="positive"):
        solve_darcy_grid(-k)


# -- generation -----------------------------------------------------------------------------


def _backward_error(k: np.ndarray, u: np.ndarray, f: float = 1.0) -> float:
    """Normwise backward error ||b - A u|| / (||A|| ||u|| + ||b||) (inf-norms) of the interior
    equations for one stored (k, u) pair: ~1e-7 for the float32 rounding of an exact solution,
    whatever the mesh size (the plain relative residual of a rounded solution grows like 1/h^2)."""
    grid = ds._grid(k.shape[0])
    A, b, free = grid.system(k.astype(float), f)
    x = u.astype(float).reshape(-1)[free]
    norm_a = abs(A).sum(axis=1).max()
    return float(np.abs(b - A @ x).max() / (norm_a * np.abs(x).max() + np.abs(b).max()))


def test_generated_file_is_valid_and_solves_the_discrete_equations(reference):
    with h5py.File(reference) as h5:
        assert h5.attrs["format"] == "workbench-dataset" and h5.attrs["format_version"] == 1
        assert list(h5.attrs["input_names"]) == ["k"] and list(h5.attrs["output_names"]) == ["u"]
        assert json.loads(h5.attrs["recipe"]) == json.loads(parse_recipe(RECIPE).to_json())
        assert h5["inputs"].shape == h5["outputs"].shape == (16, 1, 40, 40)
        assert h5["inputs"].dtype == h5["outputs"].dtype == np.float32
        assert h5["done"][...].all() and bool(h5.attrs["complete"])
        assert len(h5.attrs["checksum"]) == 64
    data = open_dataset(reference)
    assert len(data) == 16 and data.complete and data.verify()
    np.testing.assert_array_equal(data.grid.x, np.linspace(0, 1, 40))
    assert set(np.unique(data.inputs)) == {3.0, 12.0}
    # the inputs are the recipe's fields
    np.testing.assert_array_equal(data.inputs[:, 0], threshold_permeability(grf_darcy(16, 40, seed=7)))
    u = data.outputs[:, 0]
    assert np.all(u[:, 0, :] == 0) and np.all(u[:, -1, :] == 0) and np.all(u[:, :, 0] == 0) and np.all(u[:, :, -1] == 0)
    assert np.all(u[:, 1:-1, 1:-1] > 0)
    for i in range(len(data)):
        assert _backward_error(data.inputs[i, 0], u[i]) < 1e-6  # float32 storage
        exact = solve_darcy_grid(data.inputs[i, 0].astype(float), solver=DarcyGridSolver(40, method="direct", tolerance=1e-12))
        np.testing.assert_allclose(u[i], exact, rtol=0, atol=1e-6 * exact.max())
    assert data.stats["residual"].max() <= 1e-8  # the float64 solves met the tolerance
    prov = data.provenance
    assert prov["residual_max"] <= 1e-8 and prov["iterations_max"] >= 1
    assert prov["solver"]["method"] == "cg_amg" and prov["solver"]["tolerance"] == 1e-8
    assert {"numpy", "scipy", "h5py", "pyamg", "dask", "distributed"} <= set(prov["software"])
    assert prov["timings"]["worker_seconds_per_sample"] > 0
    # the single-sample solver reproduces the stored outputs bit for bit (same default options)
    np.testing.assert_array_equal(solve_darcy_grid(data.inputs[3, 0].astype(float)).astype(np.float32), u[3])


def test_chunk_writes_touch_only_preallocated_raw_data(tmp_path):
    """What makes a kill harmless: after creation, writing chunks changes no metadata byte."""
    recipe = parse_recipe({**RECIPE, "resolution": 20, "n_samples": 10})
    path = tmp_path / "raw.h5"
    ds._create_file(path, recipe)
    before = np.frombuffer(path.read_bytes(), np.uint8)
    writer = ds._Writer(path)
    writer.write(ds._solve_range(recipe.to_json(), 0, 4))
    writer.write(ds._solve_range(recipe.to_json(), 4, 7))
    writer.close()
    after = np.frombuffer(path.read_bytes(), np.uint8)
    assert after.size == before.size
    changed = np.flatnonzero(after != before)
    assert changed.size > 0
    with h5py.File(path) as h5:
        extents = [(h5[n].id.get_offset(), h5[n].id.get_storage_size()) for n in ("inputs", "outputs", "done", "stats/residual", "stats/iterations", "stats/seconds")]
        np.testing.assert_array_equal(h5["done"][...], [True] * 7 + [False] * 3)
    inside = np.zeros(changed.size, dtype=bool)
    for offset, size in extents:
        inside |= (changed >= offset) & (changed < offset + size)
    assert inside.all()


def test_a_run_killed_while_completing_is_completed_without_solving(reference, tmp_path, monkeypatch):
    recipe = parse_recipe(RECIPE)
    path = tmp_path / "all_done.h5"
    ds._create_file(path, recipe)
    writer = ds._Writer(path)
    for start in range(0, 16, 8):
        writer.write(ds._solve_range(recipe.to_json(), start, start + 8))
    writer.close()
    monkeypatch.setattr(ds, "_solve_range", None)  # nothing may be solved
    info = generate_dataset(recipe, path)  # no cluster is started either
    assert info.n_solved == 0 and info.checksum == open_dataset(reference).checksum


def test_lognormal_recipe_with_the_direct_solver(tmp_path):
    recipe = {**RECIPE, "resolution": 24, "n_samples": 5, "coefficient": {"kind": "lognormal", "scale": 2.0}, "solver": {"method": "direct"}, "f": 3.0}
    info = generate_dataset(recipe, tmp_path / "ln.h5", scheduler="synchronous")
    data = open_dataset(tmp_path / "ln.h5")
    expected = lognormal_permeability(grf_darcy(5, 24, seed=7), 2.0).astype(np.float32)
    np.testing.assert_array_equal(data.inputs[:, 0], expected)
    assert info.residual_max < 1e-12 and data.provenance["iterations_max"] == 0
    for i in range(5):
        assert _backward_error(data.inputs[i, 0], data.outputs[i, 0], 3.0) < 1e-6


def test_local_cluster_gives_the_same_bytes_cancels_and_resumes(reference, tmp_path):
    """A real LocalCluster of 2 processes: cancel after the first chunk, resume, same file."""
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    out = tmp_path / "cluster.h5"
    cancel = threading.Event()
    calls = []

    def progress(fraction, message):
        calls.append((fraction, message))
        if fraction is not None:
            cancel.set()

    with pytest.raises(Cancelled, match="run it again"):
        generate_dataset(RECIPE, out, workers=2, chunk_size=3, progress=progress, cancel=cancel)
    partial = open_dataset(out, allow_incomplete=True)
    assert 3 <= len(partial) < 16 and len(partial) % 3 in (0, 1)
    with pytest.raises(InputError, match="incomplete"):
        open_dataset(out)
    info = generate_dataset(RECIPE, out, workers=2, chunk_size=5)
    assert info.n_solved == 16 - len(partial)
    assert info.provenance["last_run"]["scheduler"] == "distributed.LocalCluster"
    assert info.provenance["last_run"]["worker_processes"] >= 1 and info.provenance["last_run"]["resumed"]
    # chunking, workers and the interruption change nothing: same bytes as the one-go file
    assert info.checksum == open_dataset(reference).checksum
    # no worker process outlives the call (multiprocessing's resource tracker, one per
    # interpreter, stays by design)
    leftover = [
        p.cmdline()
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline())
    ]
    assert leftover == []


def test_resume_after_cancel_keeps_finished_samples_and_solves_only_the_rest(reference, tmp_path, monkeypatch):
    solves = []
    original = DarcyGridSolver.solve

    def counting(self, k, f=1.0):
        solves.append(1)
        return original(self, k, f)

    monkeypatch.setattr(DarcyGridSolver, "solve", counting)
    out = tmp_path / "resume.h5"
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        generate_dataset(RECIPE, out, scheduler="synchronous", chunk_size=6, cancel=cancel, progress=lambda fr, m: cancel.set())
    assert len(solves) == 6
    first = open_dataset(out, allow_incomplete=True)
    np.testing.assert_array_equal(first.sample_ids, np.arange(6))
    solves.clear()
    # resume with another chunk size: only the 10 missing samples are solved
    info = generate_dataset(RECIPE, out, scheduler="synchronous", chunk_size=4)
    assert len(solves) == 10 and info.n_solved == 10
    data = open_dataset(out)
    np.testing.assert_array_equal(data.inputs[:6], first.inputs)
    np.testing.assert_array_equal(data.outputs[:6], first.outputs)
    assert info.checksum == data.checksum == open_dataset(reference).checksum
    # complete: nothing more to do, nothing solved
    solves.clear()
    again = generate_dataset(RECIPE, out, scheduler="synchronous")
    assert again.n_solved == 0 and solves == [] and again.checksum == info.checksum


def test_a_failing_chunk_keeps_the_finished_ones(tmp_path, monkeypatch):
    original = ds._solve_range

    def flaky(recipe_json, start, stop):
        if start >= 8:
            raise FloatingPointError("simulated failure")
        return original(recipe_json, start, stop)

    monkeypatch.setattr(ds, "_solve_range", flaky)
    out = tmp_path / "flaky.h5"
    with pytest.raises(RunError, match="samples 8 to 11 failed.*simulated failure"):
        generate_dataset(RECIPE, out, scheduler="synchronous", chunk_size=4)
    assert len(open_dataset(out, allow_incomplete=True)) == 8


KILLED_RUN = """
import sys, time
from engine.surrogates.datasets import generate_dataset

def progress(fraction, message):
    if fraction is not None:
        print("chunk", flush=True)
        time.sleep(0.2)

generate_dataset({recipe!r}, sys.argv[1], scheduler="synchronous", chunk_size=2, progress=progress)
"""


def test_a_killed_run_keeps_every_finished_chunk_and_resumes(reference, tmp_path):
    out = tmp_path / "killed.h5"
    code = KILLED_RUN.format(recipe=RECIPE)
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3])
    try:
        for _ in range(2):
            assert proc.stdout.readline().strip() == "chunk"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    partial = open_dataset(out, allow_incomplete=True)  # readable after the kill
    assert 4 <= len(partial) < 16
    info = generate_dataset(RECIPE, out, scheduler="synchronous", chunk_size=8)
    assert info.n_solved == 16 - len(partial)
    assert info.checksum == open_dataset(reference).checksum
    assert not list(tmp_path.glob(".*part*"))  # no temporary file left by the completion


def test_another_recipe_or_a_foreign_file_is_refused(reference, tmp_path):
    with pytest.raises(InputError) as err:
        generate_dataset({**RECIPE, "seed": 8, "coefficient": {"high": 10.0}}, reference, scheduler="synchronous")
    assert "another recipe" in err.value.problem
    assert "seed" in err.value.field and "coefficient.high" in err.value.field
    assert "seed: the file has 7, the recipe 8" in err.value.hint
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["data"] = np.arange(3)
    before = foreign.read_bytes()
    with pytest.raises(InputError, match="not a data set to resume"):
        generate_dataset(RECIPE, foreign, scheduler="synchronous")
    assert foreign.read_bytes() == before
    with pytest.raises(InputError, match="invalid scheduler"):
        generate_dataset(RECIPE, tmp_path / "x.h5", scheduler="threads")
    with pytest.raises(InputError, match="chunk size"):
        generate_dataset(RECIPE, tmp_path / "x.h5", chunk_size=0)


def test_open_dataset_refuses_what_is_not_a_dataset(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["inputs"] = np.zeros((2, 1, 3, 3))
    with pytest.raises(InputError, match="not a workbench data set") as err:
        open_dataset(foreign)
    assert err.value.source == str(foreign)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(InputError, match="not an HDF5 file"):
        open_dataset(text)
    with pytest.raises(InputError, match="file not found"):
        open_dataset(tmp_path / "missing.h5")


def test_torch_dataset_yields_x_and_y_in_channel_first_format(reference):
    import torch
    from torch.utils.data import DataLoader

    data = open_dataset(reference)
    train, val = data.split(0.25, seed=1)
    assert len(train) == 12 and len(val) == 4
    assert set(train).isdisjoint(val) and sorted({*train, *val}) == list(range(16))
    np.testing.assert_array_equal(data.split(0.25, seed=1)[1], val)
    tds = data.torch_dataset(train)
    assert len(tds) == 12
    item = tds[0]
    assert set(item) == {"x", "y"}
    assert item["x"].shape == (1, 40, 40) and item["y"].shape == (1, 40, 40)
    assert item["x"].dtype == item["y"].dtype == torch.float32
    np.testing.assert_array_equal(item["y"].numpy(), data.outputs[train[0]])
    batch = next(iter(DataLoader(tds, batch_size=5, shuffle=False)))
    assert batch["x"].shape == (5, 1, 40, 40) and batch["y"].shape == (5, 1, 40, 40)
    clone = pickle.loads(pickle.dumps(tds))  # DataLoader workers started with spawn pickle it
    assert type(clone).__name__ == "TorchGridDataset" and len(clone) == 12
    assert len(data.torch_dataset()) == 16
