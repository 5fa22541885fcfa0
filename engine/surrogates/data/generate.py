"""Data generation from a study of any case: ``workbench dataset generate STUDY.toml``.

Every sample of the study (the format ``workbench sweep`` reads) is solved by the same
finite elements the app uses, on the one batch runner sweeps use (:func:`engine.sweep.run_sweep`:
a local Dask cluster, an existing one, or this process), and kept whole as a mesh sample
(:mod:`engine.surrogates.data.samples`): each sample may have its own mesh (a varied hole
radius). The worker that solves a sample writes it; the sweep's journal and the samples' files
make a killed run resume where it stopped. At the end the samples are gathered into one data set
file (:mod:`engine.surrogates.data.store`), with the sweep's table of probe values beside it
(``NAME.results.csv``).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from engine.atomic import atomic_path
from engine.errors import InputError
from engine.solver import ProgressCallback
from engine.study import Study, load_study
from engine.surrogates.data.store import MeshDatasetWriter

__all__ = ["generate_mesh_dataset", "is_study_file", "variable_parameters", "study_for_case"]


def variable_parameters(case) -> list[tuple[str, float, str]]:
    """What a study of ``case`` can vary, as ``(name, current value, description)``: the case's
    parameters by name, then its built-in geometry's sizes (``geometry.parameters.radius``:
    the parameters with a lower bound; switches such as ``quarter`` are not offered).

    Examples
    --------
    >>> import engine
    >>> from engine.case import load_case
    >>> [n for n, _, _ in variable_parameters(load_case(engine.resource_path("examples/plate_with_hole_tension.toml")))]
    ['sigma', 'geometry.parameters.width', 'geometry.parameters.height', 'geometry.parameters.radius']
    """
    from engine.mesh.geometry import GEOMETRIES

    offered = [(name, float(value), "case parameter") for name, value in case.parameters.items()]
    geometry = GEOMETRIES.get(case.geometry.kind) if case.geometry.kind else None
    if geometry is not None:
        for parameter in geometry.parameters:
            if parameter.minimum is not None:
                value = case.geometry.parameters.get(parameter.name, parameter.default)
                offered.append((f"geometry.parameters.{parameter.name}", float(value), parameter.description))
    return offered


def study_for_case(document: dict, source: str | Path | None, ranges: dict[str, tuple[float, float]], n_samples: int, *,
                   name: str = "case-study", seed: int = 0) -> Study:
    """A study of the case ``document`` (its file ``source``, against which relative paths
    resolve) drawing ``n_samples`` random values of each parameter in ``ranges``
    (``name -> (low, high)``), solved by the finite elements: what the app's training makes."""
    from engine.study import parse_study

    if not ranges:
        raise InputError("nothing to vary", field="parameters", expected="at least one parameter with a range")
    study = {
        "version": 1, "name": name, "case": document, "solver": "classical", "set": {"output.pictures": False},
        "sampling": {"method": "random", "n_samples": int(n_samples), "seed": int(seed)},
        "parameters": {key: {"min": float(lo), "max": float(hi)} for key, (lo, hi) in ranges.items()},
    }
    return parse_study(study, source=Path(source) if source is not None else None)


def is_study_file(document: dict) -> bool:
    """Whether a TOML document is a study (it names its ``case``) rather than a grid recipe."""
    return isinstance(document, dict) and "case" in document


def generate_mesh_dataset(
    study: Study | str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Solve every sample of ``study`` into the data set file ``out`` and return its path.

    A failed sample is recorded (``failed`` in the file) and generation goes on; an interrupted
    run leaves its finished samples in a folder beside ``out`` and the next run with the same
    study finishes it. The study must use the classical solver: a data set's answers are the
    finite elements'.

    Examples
    --------
    >>> import tempfile, engine
    >>> from engine.surrogates.data.store import open_mesh_dataset
    >>> out = Path(tempfile.mkdtemp()) / "darcy.h5"
    >>> data = open_mesh_dataset(generate_mesh_dataset(engine.resource_path("examples/darcy_study.toml"), out, scheduler="synchronous"))
    >>> len(data), data.physics, data.input_names[:2], data.output_names[:1]
    (6, 'diffusion', ['coef.k', 'coef.f'], ['u'])
    """
    from engine.sweep import run_sweep

    if not isinstance(study, Study):
        study = load_study(study)
    if study.solver not in ("classical", None):
        raise InputError("a data set is made with the finite elements", field="solver", value=study.solver, expected='solver = "classical"')
    out = Path(out)
    n = len(study.samples())
    writer = MeshDatasetWriter(out, n, {"study": study.document, "case": study.case_document})
    outcome = run_sweep(study, out=writer.parts / "sweep", scheduler=scheduler, workers=workers, progress=progress, cancel=cancel,
                        dataset_parts=writer.parts)
    for row in outcome.rows:
        if row["status"] != "done":
            writer.add_failed(int(row["sample"]), str(row.get("error", "failed")))
    table = writer.parts / "sweep" / "results.csv"
    if table.exists():
        with atomic_path(out.with_name(f"{out.stem}.results.csv")) as tmp:
            shutil.copyfile(table, tmp)
    return writer.finish()
