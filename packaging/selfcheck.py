"""A diagnostic of the frozen bundle: does every heavy dependency load and work from inside it?

Run as ``workbench --bundle-selfcheck [--screenshot FILE] [--no-dask]`` (the frozen program
only; packaging/entry.py routes it here). Prints one JSON report and exits 0 when every check
passed, 1 otherwise. The checks are the ones a frozen program tends to fail at run time while
the build looked fine: files found in the build tree instead of the bundle, a shared library
loaded through ctypes (gmsh), worker processes that re-run the executable (Dask), Qt plugins
and VTK's lazily imported modules (the GUI stack, drawn into a real window with --screenshot).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path


def _inside_bundle(path: str | os.PathLike) -> bool:
    bundle = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)).resolve()
    return Path(path).resolve().is_relative_to(bundle)


def check_resources() -> dict:
    from engine.resources import resources_dir

    root = resources_dir()
    examples = sorted(p.name for p in (root / "examples").glob("*.toml"))
    assert examples, f"no example cases under {root}"
    assert _inside_bundle(root), f"resources found outside the bundle: {root}"
    from engine.resources import docs_dir

    guide = sorted(p.name for p in docs_dir().glob("*.md"))  # the app's Help menu shows these
    assert "case-format.md" in guide and _inside_bundle(docs_dir()), f"the user guide is missing from the bundle: {docs_dir()}"
    return {"resources": str(root), "examples": len(examples), "docs": len(guide)}


def check_gmsh() -> dict:
    import gmsh

    assert _inside_bundle(gmsh.libpath), f"libgmsh loaded from outside the bundle: {gmsh.libpath}"
    from engine.mesh.geometry import build_mesh

    mesh = build_mesh("unit_square", {}, size=0.25)
    return {"libgmsh": os.path.basename(gmsh.libpath), "points": mesh.n_points}


def check_flow() -> dict:
    """Navier-Stokes from the bundle: its physics plug-in is found, Taylor-Hood elements
    assemble and SciPy's sparse direct solver (the flow's) factorises."""
    import engine
    from engine.case.load import parse_case
    from engine.physics.registry import default_case
    from engine.solvers.fem.classical import ClassicalSolver

    document = default_case("navier_stokes") | {"mesh": {"size": 0.2}}
    result = ClassicalSolver().solve(engine.Problem.from_case(parse_case(document)))
    speed = float(abs(result.fields["velocity"].values).max())
    assert 0.99 < speed < 1.01, f"the cavity's fastest point should move with the lid (1 m/s), not {speed}"
    return {"unknowns": result.provenance.metrics["dofs"], "newton_steps": result.provenance.metrics["newton_steps"]}


def check_torch() -> dict:
    import torch

    from engine.surrogates.library import find_model, load_surrogate

    x = torch.fft.rfft2(torch.randn(1, 1, 8, 8))
    model, card = load_surrogate("darcy-fno")
    assert _inside_bundle(find_model("darcy-fno")), "the shipped surrogate was found outside the bundle"
    return {"torch": torch.__version__, "cuda_built": torch.backends.cuda.is_built(), "fft": list(x.shape), "model": card.name}


def _square(x: int) -> int:
    return x * x


def check_dask() -> dict:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        total = sum(client.gather(client.map(_square, range(5))))
    assert total == 30, total
    return {"local_cluster_processes": 1, "result": total}


def check_gui(screenshot: Path) -> dict:
    os.environ.setdefault("QT_API", "pyside6")
    import numpy as np
    import pyqtgraph as pg
    import pyvista as pv
    from PySide6 import QtWidgets
    from pyvistaqt import QtInteractor

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    window = QtWidgets.QMainWindow()
    window.setWindowTitle("bundle self-check")
    central = QtWidgets.QWidget()
    layout = QtWidgets.QHBoxLayout(central)
    plotter = QtInteractor(central)
    layout.addWidget(plotter.interactor, 2)
    plot = pg.PlotWidget()
    plot.plot(np.linspace(0, 1, 50), np.sin(np.linspace(0, 6, 50)))
    layout.addWidget(plot, 1)
    window.setCentralWidget(central)
    window.resize(800, 500)
    grid = pv.Plane(i_resolution=20, j_resolution=20)
    grid.point_data["u"] = grid.points[:, 0] * grid.points[:, 1]
    plotter.add_mesh(grid, scalars="u", cmap="viridis", show_edges=True)
    plotter.view_xy()
    window.show()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    plotter.render()
    app.processEvents()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(screenshot)), f"could not save {screenshot}"
    plotter.close()
    window.close()
    return {"screenshot": str(screenshot), "qt_platform": app.platformName(), "vtk": ".".join(map(str, pv.vtk_version_info))}


def main(argv: list[str]) -> int:
    screenshot = None
    dask = True
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--screenshot" and args:
            screenshot = Path(args.pop(0))
        elif arg == "--no-dask":
            dask = False
        else:
            print(f"usage: workbench --bundle-selfcheck [--screenshot FILE] [--no-dask]; unknown {arg!r}", file=sys.stderr)
            return 2
    checks = {"resources": check_resources, "gmsh": check_gmsh, "flow": check_flow, "torch": check_torch}
    if dask:
        checks["dask"] = check_dask
    if screenshot is not None:
        checks["gui"] = lambda: check_gui(screenshot)
    report: dict = {"frozen": bool(getattr(sys, "frozen", False)), "executable": sys.executable}
    ok = True
    for name, check in checks.items():
        start = time.perf_counter()
        try:
            report[name] = check() | {"ok": True}
        except Exception as exc:  # report every failure, not just the first
            ok = False
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        report[name]["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(report, indent=2))
    return 0 if ok else 1
