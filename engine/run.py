"""Run a case end to end and write its files: the job behind ``workbench run``.

Examples
--------
>>> import tempfile, engine
>>> outcome = engine.run_case(engine.resource_path("examples/darcy_unit_square.toml"), out=tempfile.mkdtemp())
>>> sorted(p.name for p in outcome.files)
['classical.vtu', 'metrics.json', 'result.h5']
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_write_text
from engine.case.load import load_case
from engine.case.schema import Case
from engine.errors import InputError
from engine.problem import Problem
from engine.result import Result
from engine.solver import ProgressCallback

__all__ = ["RunOutcome", "run_case", "metrics_of", "METRICS_FORMAT_VERSION"]

METRICS_FORMAT_VERSION = 1


@dataclass
class RunOutcome:
    """The results of a run, by solver name, and the files written."""

    case: Case
    results: dict[str, Result]
    files: list[Path] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def run_case(
    case: Case | str | Path,
    *,
    out: str | Path,
    solver: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> RunOutcome:
    """Solve a case and write ``<solver>.vtu`` (``.pvd`` for a time series), ``result.h5`` and
    ``metrics.json`` into ``out``.

    Parameters
    ----------
    case
        A Case or the path of a case file.
    out
        Output folder (created if missing). Files are written atomically; a failed or
        cancelled run leaves earlier files there intact.
    solver
        ``"classical"`` (default: the case's ``solver.kind``), or any registered solver name.
    """
    from engine.result_io import write_hdf5, write_vtu
    from engine.solvers import get_solver

    if not isinstance(case, Case):
        case = load_case(case)
    name = solver or case.solver.kind
    if name == "both":
        raise InputError("comparing solvers needs the surrogate solver, which is not available yet", field="solver.kind", value=name, expected="'classical'")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("the output path is a file", value=str(out), expected="a folder (it is created if missing)")
    problem = Problem.from_case(case)
    result = get_solver(name).solve(problem, progress=progress, cancel=cancel)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    fields = case.output.fields
    if fields:
        unknown = sorted(set(fields) - set(result.fields))
        if unknown:
            raise InputError("unknown output field", field="output.fields", value=unknown, expected=f"some of {', '.join(result.fields)}")
        result = Result(result.mesh, {k: v for k, v in result.fields.items() if k in fields}, result.provenance, result.probes)
    if "vtu" in case.output.formats:
        files += write_vtu(result, out / f"{name}.vtu")[:1]
    if "hdf5" in case.output.formats:
        files.append(write_hdf5(result, out / "result.h5"))
    metrics = metrics_of(case, {name: result})
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    files.append(out / "metrics.json")
    return RunOutcome(case, {name: result}, files, metrics)


def metrics_of(case: Case, results: dict[str, Result]) -> dict[str, Any]:
    """The ``metrics.json`` document: per solver, its cost, convergence and probe values."""
    solvers = {}
    for name, result in results.items():
        prov = result.provenance
        solvers[name] = {
            "solver": prov.solver,
            "wall_time": prov.wall_time,
            "dofs": prov.metrics.get("dofs"),
            "iterations": prov.iterations,
            "residual": prov.residual,
            "model_id": prov.model_id,
            "details": prov.metrics,
            "fields": sorted(result.fields),
            "probes": {
                probe: {"point": list(reading.point), **{f: _plain(v) for f, v in reading.values.items()}}
                for probe, reading in result.probes.items()
            },
            "times": None if result.times is None else result.times.tolist(),
        }
    return {
        "format": "workbench-metrics",
        "format_version": METRICS_FORMAT_VERSION,
        "case": str(case.source) if case.source else None,
        "title": case.title,
        "physics": case.physics.kind,
        "solvers": solvers,
    }


def _plain(values: np.ndarray) -> Any:
    """A probe reading as JSON: a number for one scalar, else (nested) lists."""
    values = np.asarray(values)
    return float(values.reshape(-1)[0]) if values.size == 1 else values.tolist()
