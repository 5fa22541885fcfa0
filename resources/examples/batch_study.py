"""A worked batch study from Python: one run, one comparison, a small sweep, then the numbers.

    python resources/examples/batch_study.py out/batch

The same jobs as ``workbench run`` and ``workbench sweep``, as engine calls. Each step is a
function, so a test (or your own script) can run them one by one; the sweep runs on a local
Dask cluster, which is why the script's work sits under the ``__main__`` guard.
"""

from __future__ import annotations

import sys
from pathlib import Path

import engine

CASE = engine.resource_path("examples/darcy_unit_square.toml")
STUDY = engine.resource_path("examples/darcy_study.toml")


def solve(out: Path) -> float:
    """Finite elements on the Darcy example: the pressure at the centre probe."""
    outcome = engine.run_case(CASE, out=out / "classical")
    return outcome.metrics["solvers"]["classical"]["probes"]["centre"]["u"]


def compare(out: Path) -> float:
    """Finite elements against the shipped surrogate: the relative L2 error of u."""
    outcome = engine.run_case(CASE, out=out / "compare", solver="both")
    return outcome.metrics["comparison"]["fields"]["u"]["relative_l2"]


def sweep(out: Path, *, scheduler: str | None = None) -> dict:
    """The example study (6 samples); its table as columns (numpy arrays by name)."""
    engine.run_sweep(STUDY, out=out / "study", scheduler=scheduler, progress=lambda f, m: print(f"  {m}"))
    return engine.read_results(out / "study")


def main(out: Path) -> None:
    print(f"centre pressure (finite elements): {solve(out):.5f}")
    print(f"surrogate relative L2 error of u:  {compare(out):.2%}")
    table = sweep(out)
    for k_in, f, u in zip(table["k_in"], table["physics.f"], table["centre.u"]):
        print(f"  k_in = {k_in:5.1f}, f = {f:3.1f}: u(centre) = {u:.5f}")
    print(f"open {out / 'compare' / 'classical.vtu'} in ParaView; {out / 'study' / 'results.h5'} with h5py")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/batch"))
