"""Run a case end to end and write its files: the job behind ``workbench run``.

Examples
--------
>>> import tempfile, engine
>>> outcome = engine.run_case(engine.resource_path("examples/darcy_unit_square.toml"), out=tempfile.mkdtemp())
>>> sorted(p.name for p in outcome.files)
['classical.vtu', 'classical_flux.png', 'classical_u.png', 'metrics.json', 'result.h5']
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import StagedFolder, atomic_write_text, storage_problem, write_error
from engine.case.load import load_case
from engine.case.schema import Case
from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.problem import Problem
from engine.result import Result
from engine.solver import ProgressCallback

if TYPE_CHECKING:
    from engine.comparison import Comparison

__all__ = ["RunOutcome", "run_case", "solve_case", "metrics_of", "METRICS_FORMAT_VERSION"]

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
    """Solve a case and write ``<solver>.vtu`` (``.pvd`` for a time series), ``result.h5``,
    ``metrics.json`` and, unless the case's ``output.pictures`` is false, off-screen PNG pictures
    (``<solver>_<field>.png``, ``error_<field>.png``; see :mod:`engine.pictures`) into ``out``.

    Parameters
    ----------
    case
        A Case or the path of a case file.
    out
        Output folder (created if missing). It holds one run: the files are written into a
        staging folder inside it and swapped in once all are written, and the files of the
        previous run that this one does not write (listed in ``.workbench-run.json``) are
        removed; other files there are left alone. A failed or cancelled run leaves the earlier
        files intact.
    solver
        ``"classical"``, ``"surrogate"``, ``"both"`` (both, compared: also writes ``error.vtu``
        and the comparison's metrics), or any registered solver name; default the case's
        ``solver.kind``.
    progress, cancel
        ``progress(fraction, message)`` now and then; once ``cancel`` (a ``threading.Event``)
        is set the solve stops with ``Cancelled`` and nothing more is written.

    Returns
    -------
    RunOutcome
        The results by solver name, the files written and the ``metrics.json`` document
        (its schema: ``docs/metrics.schema.json``).

    Raises
    ------
    RunError
        A file could not be written (a full disk, a read-only folder...); the message names the
        folder and the file.

    Examples
    --------
    >>> import tempfile, engine
    >>> outcome = engine.run_case(engine.resource_path("examples/darcy_unit_square.toml"), out=tempfile.mkdtemp(), solver="both")
    >>> u = outcome.metrics["comparison"]["fields"]["u"]
    >>> bool(u["relative_l2"] < 0.06), len(u["max_abs_error_at"])
    (True, 2)
    """
    if not isinstance(case, Case):
        case = load_case(case)
    name = solver or case.solver.kind
    names = ["classical", "surrogate"] if name == "both" else [name]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("the output path is a file", value=str(out), expected="a folder (it is created if missing)")
    results, comparison = solve_case(case, solver=name, progress=progress, cancel=cancel)
    staged = StagedFolder(out)
    try:
        with staged:
            written, metrics = _write_run(case, results, comparison, names, staged)
            staged.commit()
    except Exception as exc:  # a full disk, a read-only or foreign folder: the earlier run's files stay
        if not isinstance(exc, OSError) and storage_problem(exc) is None:
            raise
        raise write_error(exc, out, writing=staged.writing, hint="free space there or choose another output folder (--out)") from None
    return RunOutcome(case, results, [staged.final(p) for p in written], metrics)


def _write_run(case: Case, results: dict[str, Result], comparison: Comparison | None, names: list[str], staged: StagedFolder) -> tuple[list[Path], dict[str, Any]]:
    """Write a run's files into the staging folder; returns them (staged paths) and the metrics."""
    from engine.result_io import write_hdf5, write_vtu

    problem_mesh = results[names[0]].mesh
    files: list[Path] = []
    for label, result in results.items():
        if "vtu" in case.output.formats:
            files += write_vtu(result, staged.path(f"{label}.vtu"))[:1]
        if "hdf5" in case.output.formats:
            files.append(write_hdf5(result, staged.path("result.h5" if label == names[0] else f"{label}.h5")))
    if comparison is not None and "vtu" in case.output.formats:
        error = Result(problem_mesh, comparison.errors, results["surrogate"].provenance)
        files += write_vtu(error, staged.path("error.vtu"))[:1]
    metrics = metrics_of(case, results, comparison=comparison)
    if case.output.pictures:
        import importlib.util

        if importlib.util.find_spec("pyvista") is None:  # the pictures come with the gui extra
            metrics["notes"] = ["no pictures: pyvista is not installed (pip install 'simulation-workbench[gui]')"]
        else:
            from engine.pictures import render_pictures

            staged.writing = "the pictures"
            try:
                pictures = render_pictures(results, staged.root, comparison=comparison)
            except Exception as exc:  # no usable off-screen GL: the answers are written; say so, do not fail
                if storage_problem(exc):  # but a full disk fails the run, as for any other file
                    raise
                metrics["notes"] = [f"no pictures: rendering failed ({type(exc).__name__}: {exc})"]
            else:
                files += pictures
                metrics["pictures"] = [p.name for p in pictures]
    atomic_write_text(staged.path("metrics.json"), json.dumps(metrics, indent=2) + "\n")
    files.append(staged.path("metrics.json"))
    return files, metrics


def solve_case(
    case: Case | str | Path,
    *,
    solver: str | None = None,
    mesh: Mesh | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> tuple[dict[str, Result], Comparison | None]:
    """Solve a case in memory, writing nothing: the results by solver name, and their comparison for ``"both"``.

    ``mesh``: the case's mesh when it is already built (the app meshes before it solves);
    default: mesh the case's geometry or read its mesh file.

    Examples
    --------
    >>> import engine
    >>> results, comparison = solve_case(engine.resource_path("examples/darcy_unit_square.toml"))
    >>> sorted(results), comparison is None
    (['classical'], True)
    """
    from engine.comparison import compare
    from engine.solvers import get_solver

    if not isinstance(case, Case):
        case = load_case(case)
    name = solver or case.solver.kind
    names = ["classical", "surrogate"] if name == "both" else [name]
    solvers = [get_solver(n) for n in names]  # unknown names fail before any solving
    if mesh is None and progress is not None:
        progress(None, "meshing")
    problem = Problem.from_case(case, mesh=mesh)
    # The surrogate answers first when both run: it takes a moment, and a case it cannot answer
    # is refused before the long classical solve rather than after it.
    order = sorted(range(len(names)), key=lambda i: names[i] != "surrogate")
    answers: dict[str, Result] = {}
    for step, i in enumerate(order):
        label, each = names[i], solvers[i]

        def sub(fraction, message, step=step, label=label):
            if progress is not None:
                progress(None if fraction is None else (step + fraction) / len(names), f"{label}: {message}")

        answers[label] = _only_fields(each.solve(problem, progress=sub, cancel=cancel), case)
        answers[label] = replace(answers[label], fields=_with_units(answers[label].fields, case))
    results = {label: answers[label] for label in names}
    comparison = compare(results["classical"], results["surrogate"]) if name == "both" else None
    if comparison is not None:
        comparison.errors = _with_units(comparison.errors, case)
    return results, comparison


def _with_units(fields: dict[str, Field], case: Case) -> dict[str, Field]:
    """The fields labelled with their units in the case's unit system (what the app and the
    exported files show); a field the physics does not know keeps the units its solver gave."""
    from engine.physics.units import in_system, unit_of

    labelled = {}
    for name, f in fields.items():
        si = unit_of(case.physics.kind, name)
        labelled[name] = replace(f, units=in_system(si, case.units)) if si else f
    return labelled


def _only_fields(result: Result, case: Case) -> Result:
    """The result restricted to the case's ``output.fields`` (all when not given)."""
    wanted = case.output.fields
    if not wanted:
        return result
    unknown = sorted(set(wanted) - set(result.fields))
    if unknown:
        raise InputError("unknown output field", field="output.fields", value=unknown, expected=f"some of {', '.join(result.fields)}")
    return Result(result.mesh, {k: v for k, v in result.fields.items() if k in wanted}, result.provenance, result.probes)


def metrics_of(case: Case, results: dict[str, Result], *, comparison: Comparison | None = None) -> dict[str, Any]:
    """The ``metrics.json`` document: per solver, its cost, convergence and probe values, and
    the ``comparison``'s error norms when there is one (the app's metrics export writes the same)."""
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
            "units": {name: f.units for name, f in result.fields.items()},
            "probes": {
                probe: {"point": list(reading.point), **{f: _plain(v) for f, v in reading.values.items()}}
                for probe, reading in result.probes.items()
            },
            "times": None if result.times is None else result.times.tolist(),
        }
    metrics = {
        "format": "workbench-metrics",
        "format_version": METRICS_FORMAT_VERSION,
        "case": str(case.source) if case.source else None,
        "title": case.title,
        "physics": case.physics.kind,
        "units": case.units,
        "solvers": solvers,
    }
    if comparison is not None:
        metrics["comparison"] = {"reference": "classical", "candidate": "surrogate", "fields": comparison.metrics}
    return metrics


def _plain(values: np.ndarray) -> Any:
    """A probe reading as JSON: a number for one scalar, else (nested) lists."""
    values = np.asarray(values)
    return float(values.reshape(-1)[0]) if values.size == 1 else values.tolist()
