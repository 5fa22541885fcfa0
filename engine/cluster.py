"""Dask for parameter sweeps: a local cluster by default, an existing one by its address.

Data set generation (:mod:`engine.surrogates.datasets`) and parameter studies
(:mod:`engine.sweep`) both get their workers here, so both start, configure and close a cluster
the same way. The workers are started with the ``spawn`` method: a script that runs a sweep on
the local cluster needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from engine.errors import InputError

__all__ = ["SCHEDULER_EXPECTED", "check_scheduler", "check_workers", "local_cluster", "dask_client", "cancel_futures", "restore_environ"]

SCHEDULER_EXPECTED = "None (a local cluster), 'synchronous', or a Dask scheduler address such as 'tcp://host:8786'"

#: Environment variables distributed's nannies write into the *calling* process's os.environ
#: before spawning workers (``distributed.nanny.pre-spawn-environ``); restored afterwards, so that
#: a sweep in the app does not leave it with OMP_NUM_THREADS=1 (a torch imported later would
#: train on one thread) and the like.
NANNY_ENVIRON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")


def check_scheduler(scheduler: Any) -> None:
    """Refuse a scheduler option that is neither None, ``"synchronous"`` nor an address."""
    if scheduler is None:
        return
    if not isinstance(scheduler, str) or (scheduler != "synchronous" and ":" not in scheduler):
        raise InputError("invalid scheduler", field="scheduler", value=scheduler, expected=SCHEDULER_EXPECTED)


def check_workers(workers: Any) -> int | None:
    """``workers`` as an int (or None), refusing anything but a positive integer."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise InputError("invalid number of workers", field="workers", value=workers, expected="an integer >= 1, or None for 2")
    return int(workers)


def local_cluster(n_workers: int):
    """A LocalCluster of ``n_workers`` single-threaded processes, leaving this process's environment as it was.

    The workers get one BLAS/OpenMP thread each, but not distributed's default
    ``MALLOC_TRIM_THRESHOLD_=65536``: setting any trim threshold turns off glibc's dynamic mmap
    threshold, so every numpy temporary above 128 kB is mmap'ed and page-faulted afresh; the
    solves ran 20-40% slower in the workers (64 x 64: 8.6-10 against 7.1 ms per sample).
    """
    import logging

    import dask
    from distributed import LocalCluster

    saved = {key: os.environ.get(key) for key in NANNY_ENVIRON}
    try:
        settings = {
            "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            "distributed.worker.profile.enabled": False,  # its stack sampling every 10 ms costs ~10%
        }
        with dask.config.set(settings):
            # CRITICAL: a task's error reaches the client as its exception; what the workers log
            # at ERROR is their own plumbing, e.g. the heartbeat traceback of a worker that finds
            # the scheduler gone when Ctrl-C stops a sweep, printed over a clean "interrupted".
            return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL)
    finally:
        restore_environ(saved)


def restore_environ(saved: Mapping[str, str | None]) -> None:
    """Put back the environment variables ``saved`` (None: unset)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None, progress: Callable[[float | None, str], None] | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A ``distributed.Client`` and a description of its backend, closed (with its local cluster) on exit.

    Parameters
    ----------
    scheduler
        None: a local cluster of ``workers`` processes (default 2); else a scheduler address.
    progress
        Told ``(None, message)`` while the cluster starts.

    Yields
    ------
    (client, backend)
        ``backend`` holds ``scheduler``, ``workers`` and ``start_seconds``.

    Raises
    ------
    InputError
        The scheduler cannot be reached.
    """
    from distributed import Client

    t0 = time.perf_counter()
    saved = {key: os.environ.get(key) for key in NANNY_ENVIRON}
    cluster = client = None
    try:
        if scheduler is None:
            n_workers = workers or 2
            if progress is not None:
                progress(None, f"starting a local cluster of {n_workers} worker processes")
            cluster = local_cluster(n_workers)
            client = Client(cluster, set_as_default=False)
            backend: dict[str, Any] = {"scheduler": "distributed.LocalCluster", "workers": n_workers}
        else:
            if progress is not None:
                progress(None, f"connecting to the Dask scheduler at {scheduler}")
            try:
                client = Client(scheduler, timeout="20s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise InputError(f"cannot connect to the Dask scheduler ({exc})", field="scheduler", value=scheduler, expected=SCHEDULER_EXPECTED) from exc
            backend = {"scheduler": scheduler, "workers": len(client.scheduler_info().get("workers", {}))}
        backend["start_seconds"] = time.perf_counter() - t0
        yield client, backend
    finally:
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
            restore_environ(saved)  # a restarted worker's nanny may have written it again


def cancel_futures(client, running: dict) -> None:
    """Cancel the tasks still in flight (on cancel or on an error) and forget them."""
    if running:
        try:
            client.cancel(list(running))
        except Exception:  # noqa: BLE001 - closing anyway
            pass
    running.clear()
