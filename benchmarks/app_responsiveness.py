"""How responsive the desktop app is: start-up, idle CPU, and event-loop gaps when a big result arrives.

Opens the real ``MainWindow`` (under a virtual display on a headless machine) and measures

a. start-up: from spawning a fresh Python process to the window being exposed (median of a few
   runs; the process exits at once);
b. idle CPU of this process (psutil ``cpu_percent``) over ~5 s on the welcome screen and with a
   large result shown (nothing running);
c. the longest event-loop gap: a 10 ms ``QTimer`` records its ticks, and the longest interval
   between two ticks is reported while a job runs and while its answer is shown (from the job's
   ``returned`` until the loop has been idle for 2 s). The case is the Darcy example on the unit
   square with a structured mesh of about ``--cells`` triangles (default one million): meshing,
   then "Run classical", then "Run both" (the shipped darcy-fno surrogate answers any mesh of the
   unit square). It also times each ``_deliver`` (what the GUI thread does with a job's answer)
   and, afterwards, a plain ``render()`` of the shown views: the part that cannot leave the GUI
   thread.

Usage::

    xvfb-run -a .venv/bin/python benchmarks/app_responsiveness.py [--quick] [--cells N] [--no-both] [--profile]

``--quick``: about 100k cells. ``--profile``: cProfile of the GUI thread from each answer until
the window settled (the top entries by own time). Prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("WORKBENCH_LIMIT_CELLS", "4000000")  # the default cap is 500k cells

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICK_MS = 10
SETTLE_S = 2.0  # the loop counts as done with an answer once it ticked on time this long


def _startup_child() -> None:
    """Open the window like ``workbench gui`` does; say so on stdout once it is exposed."""
    from PySide6 import QtCore

    from workbench.gui.app import application
    from workbench.gui.main_window import MainWindow

    app = application()
    settings = QtCore.QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    while window.windowHandle() is None or not window.windowHandle().isExposed():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 10)
    print("exposed", flush=True)
    os._exit(0)  # skip VTK's and Qt's teardown: it is not part of start-up


def measure_startup(runs: int) -> dict[str, float]:
    """Median seconds from spawning a Python process to its window being exposed."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, __file__, "--startup-child"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = child.stdout.readline()
        times.append(time.perf_counter() - started)
        _, err = child.communicate(timeout=60)
        if line.strip() != "exposed":
            raise SystemExit(f"the start-up run failed:\n{line}{err}")
    return {"startup_s": statistics.median(times), "startup_runs": runs}


class GapMeter:
    """Ticks of a 10 ms timer; the longest interval between two ticks in a time window."""

    def __init__(self) -> None:
        from PySide6 import QtCore

        self.ticks: list[float] = []
        self.timer = QtCore.QTimer()
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks.clear()
        self.ticks.append(time.perf_counter())
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def longest(self, start: float, end: float = float("inf")) -> float:
        """The longest gap between ticks that overlaps [start, end] (the gap that straddles
        ``start`` counts: it was spent in what began there)."""
        longest = 0.0
        for a, b in zip(self.ticks, self.ticks[1:]):
            if b >= start and a <= end:
                longest = max(longest, b - a)
        return longest


def spin(seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    from PySide6 import QtCore

    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def idle_cpu(seconds: float = 5.0) -> float:
    """Per cent of one core this process used while the event loop idled."""
    process = psutil.Process()
    process.cpu_percent(None)
    spin(seconds)
    return process.cpu_percent(None)


def wait_until_settled(meter: GapMeter, timeout: float = 600.0) -> None:
    """Spin until the timer has ticked on time for SETTLE_S (the answer is fully shown)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        spin(0.25)
        recent = [t for t in meter.ticks if t > time.perf_counter() - SETTLE_S]
        if len(recent) > 1 and max(b - a for a, b in zip(recent, recent[1:])) < 0.05 and recent[0] - (time.perf_counter() - SETTLE_S) < 0.05:
            return
    raise SystemExit("the window never settled")


def run_job(window, meter: GapMeter, start, *, profile: bool) -> dict[str, float]:
    """Start a job with ``start()``; the longest gaps while it runs and while its answer is shown."""
    import cProfile
    import pstats

    marks: dict[str, float] = {}
    deliveries: list[float] = []
    original = window._deliver
    profiler = cProfile.Profile() if profile else None

    def timed_deliver(*args):
        marks.setdefault("returned", time.perf_counter())
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()  # until the window has settled: the paints that follow count too
        try:
            original(*args)
        finally:
            deliveries.append(time.perf_counter() - t0)

    window._deliver = timed_deliver  # start_job's slot looks the method up when the job returns
    outcome: dict[str, str] = {}

    def finished(name: str, how: str) -> None:
        outcome["how"] = how

    window.jobFinished.connect(finished)
    marks["start"] = time.perf_counter()
    job = start()
    if job is None:
        raise SystemExit(f"the job did not start: {window.statusBar().currentMessage()}")
    while "how" not in outcome:
        spin(0.05)
    if outcome["how"] != "returned":
        raise SystemExit(f"the job ended {outcome['how']}: {window.last_error}")
    window.jobFinished.disconnect(finished)
    wait_until_settled(meter)
    if profiler is not None:
        profiler.disable()
    del window._deliver
    returned = marks["returned"]
    figures = {"job_s": job.wall_time, "gap_during_job_s": meter.longest(marks["start"], returned - 0.05),
               "gap_after_answer_s": meter.longest(returned), "deliver_s": sum(deliveries)}
    if profiler is not None:
        print(f"-- GUI thread from the answer of {job.name} until it settled --")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return figures


def render_times(window, *names: str) -> dict[str, float]:
    """Seconds for one plain render() of each view that shows a result (median of 3). Each asks
    Qt for a paint, which draws once more: let the loop settle after this."""
    out = {}
    for name in names:
        view = getattr(window, name)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            view.plotter.ren_win.Render()
            times.append(time.perf_counter() - t0)
        out[f"render_{name}_s"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 100k cells instead of 1M")
    parser.add_argument("--cells", type=float, default=None, help="about how many triangles (default 1e6; --quick 1e5)")
    parser.add_argument("--no-both", action="store_true", help="skip Run both")
    parser.add_argument("--startup-runs", type=int, default=None, help="start-up runs (default 3; --quick 1)")
    parser.add_argument("--profile", action="store_true", help="cProfile the GUI thread during each delivery")
    parser.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.startup_child:
        _startup_child()
    cells = args.cells or (1e5 if args.quick else 1e6)
    # A structured n x n-square mesh of the unit square has 2 n^2 triangles of size 1 / n.
    size = 1.0 / round((cells / 2) ** 0.5)
    record: dict[str, object] = {"benchmark": "app_responsiveness", "target_cells": cells, "mesh_size": size,
                                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                                            f"{psutil.virtual_memory().total / 2**30:.0f} GB, Python {platform.python_version()}",
                                 "date": time.strftime("%Y-%m-%d")}
    record |= measure_startup(args.startup_runs or (1 if args.quick else 3))

    from PySide6 import QtCore

    from engine.resources import resource_path
    from workbench.gui.app import application
    from workbench.gui.main_window import MainWindow

    app = application()
    settings = QtCore.QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.confirm_close = False
    window.show()
    while window.windowHandle() is None or not window.windowHandle().isExposed():
        app.processEvents()
    spin(1.0)
    record["idle_cpu_welcome_pct"] = idle_cpu()

    meter = GapMeter()
    meter.start()
    assert window.open_case(resource_path("examples/darcy_unit_square.toml"), mesh=False)
    window.editor.edit("benchmark mesh", lambda d: d["mesh"].update(size=size, structured=True))
    mesh = run_job(window, meter, window.mesh_case, profile=args.profile)
    record["cells"] = window.session.mesh.n_cells
    record["points"] = window.session.mesh.n_points
    record |= {f"mesh_{k}": v for k, v in mesh.items()}
    classical = run_job(window, meter, lambda: window.run("classical"), profile=args.profile)
    record |= {f"classical_{k}": v for k, v in classical.items()}
    meter.stop()
    record["idle_cpu_result_pct"] = idle_cpu()
    record |= render_times(window, "result_view")
    if not args.no_both:
        meter.start()
        wait_until_settled(meter)  # the paints the timed renders asked for
        both = run_job(window, meter, lambda: window.run("both"), profile=args.profile)
        record |= {f"both_{k}": v for k, v in both.items()}
        meter.stop()
        record["idle_cpu_compare_pct"] = idle_cpu()
        record |= {f"after_both_{k}": v for k, v in render_times(window, "result_view", "compare_view").items()}
    window.close()

    print(f"app responsiveness: {record['cells']} cells, {record['points']} points (structured, size {size:.3g}); {record['machine']}")
    rows = [
        ("start-up to a visible window", record["startup_s"], "s"),
        ("idle CPU, welcome screen", record["idle_cpu_welcome_pct"], "%"),
        ("idle CPU, classical result shown", record["idle_cpu_result_pct"], "%"),
    ]
    for job in ("mesh", "classical", "both"):
        if f"{job}_job_s" not in record:
            continue
        rows += [(f"{job}: job on the worker", record[f"{job}_job_s"], "s"),
                 (f"{job}: longest gap while it runs", record[f"{job}_gap_during_job_s"], "s"),
                 (f"{job}: longest gap as its answer is shown", record[f"{job}_gap_after_answer_s"], "s"),
                 (f"{job}: GUI thread in _deliver", record[f"{job}_deliver_s"], "s")]
    rows += [("render() of the result view", record["render_result_view_s"], "s")]
    if "idle_cpu_compare_pct" in record:
        rows += [("render() of the compare view", record["after_both_render_compare_view_s"], "s"),
                 ("idle CPU, comparison shown", record["idle_cpu_compare_pct"], "%")]
    for label, value, unit in rows:
        print(f"  {label:<46} {value:8.3f} {unit}")
    print(json.dumps(record))
    sys.stdout.flush()
    os._exit(0)  # VTK's teardown of a million-cell scene is not part of what is measured


if __name__ == "__main__":
    main()
