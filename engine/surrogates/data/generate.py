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

__all__ = ["generate_mesh_dataset", "is_study_file"]


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
