"""Run a parameter study on Dask and keep its table of results: the job behind ``workbench sweep``.

Each sample is the study's base case with its parameter values put in place, solved (meshing
included) by a Dask task, on a ``distributed.LocalCluster`` by default or on an existing
cluster given by its scheduler address (``scheduler="synchronous"``: in this thread, for tests
and debugging). The client records every finished sample; the workers write nothing but their
own sample folders (``outputs.samples = true``).

The output folder::

    study.json     the study, its base case and its fingerprint (what a resume must match)
    rows.jsonl     the journal: one line per finished sample, appended, flushed and fsync'ed
    results.csv    the table: one row per finished sample, sorted by sample number
    results.h5     the same table as HDF5 columns (/columns/<name>), with the study in attrs
    samples/NNNNN/ each sample's run folder, when asked for

Crash safety. The journal is the record: a line is complete once written (a kill mid-line
leaves a last line that does not parse, and it is dropped on the next start), and a sample
appears in it once (a resume reads it, keeps one line per sample and solves only the samples
not in it). The tables are rewritten from the journal, atomically (temporary file, then
rename), every few seconds, on cancel and at the end; a kill never leaves half a table, and
the next run brings them up to date. Failed samples are recorded with their error and tried
again on the next run.

Examples
--------
>>> import tempfile, engine
>>> study = engine.load_study(engine.resource_path("examples/darcy_study.toml"))
>>> outcome = engine.run_sweep(study, out=tempfile.mkdtemp(), scheduler="synchronous")
>>> outcome.n_done, outcome.n_failed, [round(row["centre.u"], 4) for row in outcome.rows[:2]]
(6, 0, [0.0085, 0.034])
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_path, atomic_write_text
from engine.cluster import check_scheduler, check_workers
from engine.errors import Cancelled, InputError, WorkbenchError
from engine.solver import ProgressCallback
from engine.study import Study, load_study

__all__ = ["SweepOutcome", "run_sweep", "read_results", "RESULTS_FORMAT", "RESULTS_FORMAT_VERSION"]

RESULTS_FORMAT = "workbench-study-results"
RESULTS_FORMAT_VERSION = 1
_TABLE_EVERY = 2.0  # seconds between rewrites of the tables while a sweep runs


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out : Path
    rows : list of dict
        The table: one dict per finished sample (done or failed), sorted by ``sample``.
    n_samples, n_done, n_failed : int
        Samples in the study; finished well; failed (error in the ``error`` column).
    n_run : int
        Samples solved by this call (the others were in the journal already).
    files : list of Path
    wall_time : float
    backend : dict
    """

    out: Path
    rows: list[dict[str, Any]]
    n_samples: int
    n_done: int
    n_failed: int
    n_run: int
    files: list[Path] = field(default_factory=list)
    wall_time: float = 0.0
    backend: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``workbench sweep --json``)."""
        return {
            "out": str(self.out),
            "n_samples": self.n_samples,
            "n_done": self.n_done,
            "n_failed": self.n_failed,
            "n_run": self.n_run,
            "wall_time": self.wall_time,
            "backend": self.backend,
            "files": [str(p) for p in self.files],
            "rows": self.rows,
        }


def run_sweep(
    study: Study | str | Path,
    *,
    out: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    dataset_parts: str | Path | None = None,
) -> SweepOutcome:
    """Run every sample of a study not yet in ``out``, and write its table of results.

    Parameters
    ----------
    study
        A :class:`~engine.study.Study` or the path of a study file.
    out
        The output folder (created if missing). If it holds a run of the same study, its
        finished samples are kept and only the others are solved (resume).
    scheduler
        None: a local cluster of ``workers`` processes (default 2); a Dask scheduler address
        (``"tcp://host:8786"``): that cluster, whose workers need this ``engine`` installed;
        ``"synchronous"``: every sample in this thread.
    progress
        ``progress(fraction, message)`` after every sample, ``(None, message)`` for status.
    dataset_parts
        Data generation (:func:`engine.surrogates.data.generate.generate_mesh_dataset`): each
        sample is also solved into a training sample, written into this folder.
    cancel
        Once set: nothing more is started, the finished samples are kept and written to the
        tables, and ``Cancelled`` is raised. Run again to resume.

    Returns
    -------
    SweepOutcome

    Raises
    ------
    InputError
        A bad study or option, or ``out`` holds files of another study.
    Cancelled
        ``cancel`` was set.

    Examples
    --------
    >>> import tempfile, engine
    >>> out = tempfile.mkdtemp()
    >>> first = engine.run_sweep(engine.resource_path("examples/darcy_study.toml"), out=out, scheduler="synchronous")
    >>> again = engine.run_sweep(engine.resource_path("examples/darcy_study.toml"), out=out, scheduler="synchronous")
    >>> first.n_run, again.n_run, len(again.rows)
    (6, 0, 6)
    """
    started = time.perf_counter()
    if not isinstance(study, Study):
        study = load_study(study)
    check_scheduler(scheduler)
    workers = check_workers(workers)
    out = Path(out)
    samples = study.samples()
    n = len(samples)
    journal = _prepare(out, study)
    rows = _read_journal(journal, n)
    _compact(journal, rows)
    todo = [i for i in range(n) if i not in rows or rows[i].get("status") != "done"]
    if cancel is not None and cancel.is_set():
        raise Cancelled("the sweep was cancelled before it started")
    state = {"run": 0, "written": time.perf_counter()}
    names = [p.name for p in study.parameters]

    def record(row: dict[str, Any]) -> None:
        rows[int(row["sample"])] = row
        with open(journal, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, allow_nan=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        state["run"] += 1
        finished = sum(1 for r in rows.values() if r.get("status") == "done")
        status = "" if row["status"] == "done" else f" (failed: {row.get('error', '')})"
        values = ", ".join(f"{k} = {row[k]:g}" for k in names)
        _report(progress, finished / n if n else 1.0, f"{finished}/{n} samples; sample {row['sample']}: {values}{status}")
        if time.perf_counter() - state["written"] > _TABLE_EVERY:
            _write_tables(out, study, rows, names)
            state["written"] = time.perf_counter()

    backend: dict[str, Any] = {"scheduler": "none (every sample was already done)", "workers": 0}
    task = {"case_path": str(study.case_path), "solver": study.solver, "probes": study.probes, "fields": list(study.fields),
            "dataset_parts": None if dataset_parts is None else str(dataset_parts)}
    jobs = [(i, samples[i], study.case_for(samples[i], i), str(out / "samples" / f"{i:05d}") if study.keep_samples else None) for i in todo]
    if todo:
        _report(progress, (n - len(todo)) / n, f"{n - len(todo)} of {n} samples already done; solving {len(todo)}")
    else:
        _report(progress, 1.0, f"all {n} samples were already done")
    try:
        if not jobs:
            pass
        elif scheduler == "synchronous":
            backend = {"scheduler": "synchronous", "workers": 1}
            for job in jobs:
                if cancel is not None and cancel.is_set():
                    break
                record(run_sample(task, *job, cancel=cancel))
        else:
            backend = _run_dask(task, jobs, record, cancel, scheduler, workers, progress)
    except Cancelled:
        pass  # a sample interrupted inside this thread: nothing of it was recorded
    finally:
        files = _write_tables(out, study, rows, names)
    if cancel is not None and cancel.is_set() and any(rows.get(i, {}).get("status") != "done" for i in range(n)):
        done = sum(1 for r in rows.values() if r.get("status") == "done")
        raise Cancelled(f"the sweep was cancelled; {done} of {n} samples are saved in {out}; run it again to finish")
    table = [rows[i] for i in sorted(rows)]
    return SweepOutcome(
        out=out,
        rows=table,
        n_samples=n,
        n_done=sum(1 for r in table if r["status"] == "done"),
        n_failed=sum(1 for r in table if r["status"] != "done"),
        n_run=state["run"],
        files=files,
        wall_time=time.perf_counter() - started,
        backend={k: v for k, v in backend.items() if k != "start_seconds"},
    )


def run_sample(task: Mapping[str, Any], index: int, values: Mapping[str, float], case_doc: dict[str, Any], sample_dir: str | None, *, cancel: threading.Event | None = None) -> dict[str, Any]:
    """Solve one sample and return its row (a Dask task: runs in a worker process).

    Bad input (a parameter value the case refuses) and failed solves give a row with
    ``status = "failed"`` and the message in ``error``; they do not stop the sweep.
    """
    from engine.case.load import parse_case
    from engine.physics.registry import get_physics
    from engine.run import run_case, solve_case

    t0 = time.perf_counter()
    row: dict[str, Any] = {"sample": index, **{k: float(v) for k, v in values.items()}}
    try:
        case = parse_case(case_doc, source=task["case_path"])
        if task.get("dataset_parts"):  # data generation: the sample is kept whole, as its own file
            results, comparison_fields = _solve_into_dataset(case, index, values, task["dataset_parts"], cancel), None
        elif sample_dir is not None:
            outcome = run_case(case, out=sample_dir, solver=task["solver"], cancel=cancel)
            results, comparison = outcome.results, outcome.metrics.get("comparison")
            comparison_fields = comparison["fields"] if comparison else None
        else:
            results, comparison = solve_case(case, solver=task["solver"], cancel=cancel)
            comparison_fields = comparison.metrics if comparison is not None else None
        row.update(_scalars(results, comparison_fields, task, get_physics(case.physics.kind).quantities))
        row["status"] = "done"
    except Cancelled:
        raise
    except WorkbenchError as err:
        row.update(status="failed", error=str(err))
    except Exception as err:  # noqa: BLE001 - one broken sample must not stop the study
        row.update(status="failed", error=f"{type(err).__name__}: {err} ({traceback.format_exc(limit=2).splitlines()[-1]})")
    row["wall_time"] = time.perf_counter() - t0
    return row


def _solve_into_dataset(case, index: int, values: Mapping[str, float], parts: str, cancel) -> dict[str, Any]:
    """Solve a data set's sample with the finite elements and write it whole into ``parts``
    (written by the worker that solved it: no sample travels back to the client)."""
    from engine.problem import Problem
    from engine.run import solve_case
    from engine.surrogates.data.samples import sample_from_solution
    from engine.surrogates.data.store import write_part

    problem = Problem.from_case(case)
    results, _ = solve_case(case, solver="classical", mesh=problem.mesh, cancel=cancel)
    write_part(Path(parts), index, sample_from_solution(problem, results["classical"], values))
    return results


def _scalars(results, comparison_fields, task, quantities=()) -> dict[str, float]:
    """A sample's columns: its probes' values, the field statistics the study names, the
    numbers its physics reports (``quantities``: a flow's c_D, delta_p ...) and the errors."""
    from engine.comparison import point_weights

    out: dict[str, float] = {}
    several = len(results) > 1
    for solver, result in results.items():
        prefix = f"{solver}." if several else ""
        for quantity in quantities:
            value = result.provenance.metrics.get(quantity.key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}{quantity.key}"] = float(value)
        if task["probes"]:
            series = result.times is not None
            for probe, reading in result.probes.items():
                for fname, values in reading.values.items():
                    v = np.asarray(values)
                    v = v[-1] if series else v  # a time series: the last time
                    v = v.reshape(-1)
                    if v.size == 1:
                        out[f"{prefix}{probe}.{fname}"] = float(v[0])
                    else:
                        comps = result.fields[fname].components if fname in result.fields else None
                        for i, value in enumerate(v):
                            out[f"{prefix}{probe}.{fname}.{comps[i] if comps and i < len(comps) else i}"] = float(value)
        weights = None
        for item in task["fields"]:
            fname, _, stat = item.rpartition(".")
            if fname not in result.fields:
                raise InputError("no such field in the answer", field="outputs.fields", value=item, expected=f"one of {', '.join(sorted(result.fields))} with a statistic")
            f = result.fields[fname]
            values = f.at_step(-1).magnitude() if f.is_time_series else f.magnitude()
            if stat == "min":
                value = float(values.min())
            elif stat == "max":
                value = float(values.max())
            else:
                if f.association == "point":
                    weights = point_weights(result.mesh) if weights is None else weights
                    w = weights
                else:
                    w = np.ones(len(values))
                value = float(np.sum(w * values) / np.sum(w)) if stat == "mean" else float(np.sqrt(np.sum(w * values**2)))
            out[f"{prefix}{item}"] = value
    for fname, numbers in (comparison_fields or {}).items():
        out[f"error.{fname}.relative_l2"] = float(numbers["relative_l2"])
        out[f"error.{fname}.max_abs_error"] = float(numbers["max_abs_error"])
    return out


def _run_dask(task, jobs, record, cancel, scheduler, workers, progress) -> dict[str, Any]:
    from engine.cluster import cancel_futures, dask_client

    with dask_client(scheduler, workers, progress) as (client, backend):
        slots = max(2, 2 * sum(client.nthreads().values()))
        queue = iter(jobs)
        running: dict[Any, int] = {}
        try:
            while True:
                while len(running) < slots and (cancel is None or not cancel.is_set()):
                    job = next(queue, None)
                    if job is None:
                        break
                    running[client.submit(run_sample, task, *job, pure=False)] = job[0]
                if not running:
                    break
                finished = [f for f in running if f.done()]
                if not finished:
                    if cancel is not None and cancel.is_set():
                        break
                    time.sleep(0.02)
                    continue
                for future in finished:
                    index = running.pop(future)
                    try:
                        row = future.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died: the sample failed
                        row = {"sample": index, **jobs_values(jobs, index), "status": "failed", "error": f"the Dask worker failed: {type(exc).__name__}: {exc}", "wall_time": math.nan}
                    finally:
                        future.release()
                    record(row)
        finally:
            cancel_futures(client, running)
        return backend


def jobs_values(jobs, index: int) -> dict[str, float]:
    for job in jobs:
        if job[0] == index:
            return {k: float(v) for k, v in job[1].items()}
    return {}


# -- files ----------------------------------------------------------------------------------
def _prepare(out: Path, study: Study) -> Path:
    """Create ``out`` or check that it holds a run of this very study; the journal's path."""
    if out.exists() and not out.is_dir():
        raise InputError("the output path is a file", value=str(out), expected="a folder (it is created if missing)")
    marker = out / "study.json"
    fingerprint = study.fingerprint()
    if marker.exists():
        try:
            stored = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the study record ({exc})", source=marker, expected="the study.json a sweep wrote") from exc
        if stored.get("fingerprint") != fingerprint:
            raise InputError(
                "the output folder holds a run of another study (or of another version of its base case)",
                source=out,
                field="fingerprint",
                value=stored.get("fingerprint", "")[:12],
                expected=f"a run of this study ({fingerprint[:12]})",
                hint="Choose another output folder, or delete this one to start again.",
            )
    else:
        if out.is_dir() and any(out.iterdir()):
            raise InputError("the output folder is not empty and holds no study run", source=out, expected="a new or empty folder, or the folder of an earlier run of this study")
        out.mkdir(parents=True, exist_ok=True)
        record = {
            "format": RESULTS_FORMAT,
            "format_version": RESULTS_FORMAT_VERSION,
            "fingerprint": fingerprint,
            "study": study.document,
            "case": str(study.case_path),
            "case_document": study.case_document,
            "samples": study.samples(),
        }
        atomic_write_text(marker, json.dumps(record, indent=2, default=str) + "\n")
    return out / "rows.jsonl"


def _read_journal(journal: Path, n: int) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    if not journal.exists():
        return rows
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
            index = int(row["sample"])
        except (ValueError, KeyError, TypeError):
            continue  # the last line of a killed run, cut short
        if 0 <= index < n and (index not in rows or row.get("status") == "done"):
            rows[index] = row
    return rows


def _compact(journal: Path, rows: Mapping[int, Mapping[str, Any]]) -> None:
    """Rewrite the journal with one complete line per sample (drops a line cut by a kill)."""
    if journal.exists():
        atomic_write_text(journal, "".join(json.dumps(rows[i]) + "\n" for i in sorted(rows)))


def _columns(rows: Mapping[int, Mapping[str, Any]], names: list[str]) -> list[str]:
    first = ["sample", *names, "status", "wall_time"]
    rest = sorted({k for r in rows.values() for k in r} - set(first) - {"error"})
    return [*first, *rest, "error"]


def _write_tables(out: Path, study: Study, rows: Mapping[int, Mapping[str, Any]], names: list[str]) -> list[Path]:
    """results.csv and results.h5 from the rows, each written atomically."""
    import h5py

    columns = _columns(rows, names)
    ordered = [rows[i] for i in sorted(rows)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in ordered:
        writer.writerow(["" if row.get(c) is None else repr(row[c]) if isinstance(row.get(c), float) else row[c] for c in columns])
    atomic_write_text(out / "results.csv", text.getvalue())
    # Built in memory, written in one piece: HDF5 meeting a full disk mid-write can crash the
    # process when its handle is freed (see result_io.write_hdf5); a plain write fails cleanly.
    image = io.BytesIO()
    with h5py.File(image, "w") as h5:
        h5.attrs["format"] = RESULTS_FORMAT
        h5.attrs["format_version"] = RESULTS_FORMAT_VERSION
        h5.attrs["study"] = json.dumps(study.document, default=str)
        h5.attrs["name"] = study.name
        h5.attrs["n_samples"] = len(study.samples())
        h5.attrs["columns"] = columns
        group = h5.create_group("columns")
        for c in columns:
            values = [row.get(c) for row in ordered]
            if c == "sample":
                group.create_dataset(c, data=np.asarray(values, dtype=np.int64))
            elif c in ("status", "error"):
                group.create_dataset(c, data=np.asarray(["" if v is None else str(v) for v in values], dtype=h5py.string_dtype()))
            else:
                group.create_dataset(c, data=np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64))
    with atomic_path(out / "results.h5") as tmp:
        tmp.write_bytes(image.getbuffer())
    return [out / "results.csv", out / "results.h5"]


def read_results(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a ``results.h5`` table (or of the folder holding it), by name.

    Examples
    --------
    >>> import tempfile, engine
    >>> out = tempfile.mkdtemp()
    >>> _ = engine.run_sweep(engine.resource_path("examples/darcy_study.toml"), out=out, scheduler="synchronous")
    >>> table = read_results(out)
    >>> table["sample"].tolist(), table["k_in"].tolist()[:3]
    ([0, 1, 2, 3, 4, 5], [6.0, 6.0, 12.0])
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / "results.h5"
    if not path.is_file() or not h5py.is_hdf5(path):
        raise InputError("not a study results file", source=path, expected="a results.h5 written by run_sweep")
    with h5py.File(path, "r") as h5:
        if h5.attrs.get("format") != RESULTS_FORMAT:
            raise InputError("not a study results file", source=path, field="format", value=h5.attrs.get("format"), expected=repr(RESULTS_FORMAT))
        columns = [c.decode() if isinstance(c, bytes) else str(c) for c in h5.attrs["columns"]]
        out = {}
        for c in columns:
            data = h5["columns"][c][...]
            out[c] = np.asarray([v.decode() if isinstance(v, bytes) else v for v in data]) if data.dtype.kind == "O" else data
        return out


def _report(progress: ProgressCallback | None, fraction: float | None, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


