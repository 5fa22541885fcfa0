"""The ``workbench`` command: batch jobs on the engine, with exit codes scripts can trust.

Exit codes: 0 success, 2 bad input (the message names the file, field and value), 1 a failed
run, 130 interrupted. No traceback is shown for input errors.

This module imports no Qt: the batch face must start fast and run with no display.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine._version import __version__

EXAMPLES = """\
examples:
  workbench mesh info resources/meshes/plate_with_hole.msh
  workbench mesh info part.inp --json
  workbench mesh convert part.inp part.msh
  workbench geometry list
  workbench mesh generate plate_with_hole --param radius=0.2 --size 0.05 --out plate.msh
  workbench case check resources/examples/darcy_unit_square.toml
  workbench run resources/examples/darcy_unit_square.toml --out out/darcy
  workbench run resources/examples/darcy_unit_square.toml --out out/cmp --solver both
  workbench sweep resources/examples/darcy_study.toml --out out/study
  workbench dataset generate resources/datasets/darcy_dataset.toml --out out/darcy.h5
  workbench train out/darcy.h5 --model fno --name my-fno --epochs 20
  workbench models list

Every command has --help with examples. Exit codes: 0 done, 2 bad input, 1 failed run,
130 interrupted (Ctrl-C stops cleanly; rerun a sweep or a dataset generation to resume).
"""


def _user_path(text: str) -> Path:
    """A path argument with ``~`` expanded: the shell leaves ``--out=~/x`` as it is."""
    return Path(os.path.expanduser(text))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workbench",
        description="Simulation workbench: meshes, cases, classical and surrogate solvers.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    mesh = commands.add_parser("mesh", help="inspect, convert and generate meshes", description="Inspect, convert and generate meshes.")
    mesh_commands = mesh.add_subparsers(dest="mesh_command", metavar="ACTION", required=True)

    info = mesh_commands.add_parser(
        "info",
        help="counts, bounding box, cell types and named regions of a mesh file",
        description="Print point and cell counts, the bounding box, cell types and the named regions with their sizes.",
        epilog="example:\n  workbench mesh info resources/meshes/plate_with_hole.msh --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("file", type=_user_path, help="a mesh file (.msh .vtu .vtk .xdmf .inp .med .stl .obj)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")

    convert = mesh_commands.add_parser(
        "convert",
        help="convert a mesh between formats, keeping region names",
        description="Convert a mesh file to another format; the output's suffix picks the format. "
        "Region names are kept where the format can hold them (not in STL/OBJ).",
        epilog="examples:\n  workbench mesh convert part.inp part.msh\n  workbench mesh convert part.msh part.msh2.msh --format msh2 --ascii",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("input", type=_user_path)
    convert.add_argument("output", type=_user_path)
    convert.add_argument("--format", dest="fmt", help="output format: gmsh (4.1), msh2, msh4, vtu, vtk, xdmf, abaqus, med, stl, obj")
    convert.add_argument("--ascii", action="store_true", help="text instead of binary where the format has both")

    generate = mesh_commands.add_parser(
        "generate",
        help="mesh a built-in parametric geometry with gmsh",
        description="Mesh a built-in geometry (see `workbench geometry list`) and write it.",
        epilog="example:\n  workbench mesh generate plate_with_hole --param radius=0.2 --size 0.05 --out plate.msh",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("geometry", help="a built-in geometry name")
    generate.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a geometry parameter (repeatable)")
    generate.add_argument("--size", type=float, help="global element size")
    generate.add_argument("--order", type=int, default=1, choices=(1, 2))
    generate.add_argument("--cell", help="triangle or quad (2D), tetra or hexahedron (3D)")
    generate.add_argument("--structured", action="store_true", help="structured (transfinite) mesh where the geometry allows")
    generate.add_argument("--out", type=_user_path, required=True, help="output mesh file")
    generate.add_argument("--json", action="store_true", help="print the mesh summary as JSON")

    geometry = commands.add_parser("geometry", help="the built-in parametric geometries", description="The built-in parametric geometries.")
    geometry_commands = geometry.add_subparsers(dest="geometry_command", metavar="ACTION", required=True)
    glist = geometry_commands.add_parser(
        "list", help="list built-in geometries, their parameters and region names", description="List the built-in geometries.",
        epilog="examples:\n  workbench geometry list\n  workbench geometry list --json", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    glist.add_argument("--json", action="store_true")

    models = commands.add_parser("models", help="the surrogate model library", description="The surrogate model library.")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    mlist = models_commands.add_parser(
        "list", help="list the models in the library (shipped and your own)", description="List the surrogate models: shipped ones and those in your library ($WORKBENCH_MODELS).",
        epilog="examples:\n  workbench models list\n  workbench models list --json", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mlist.add_argument("--json", action="store_true", help="print JSON")
    mshow = models_commands.add_parser(
        "show", help="show a model's card: what it answers, how it was trained, its metrics", description="Show a model's card.",
        epilog="examples:\n  workbench models show darcy-fno\n  workbench models show path/to/model --json", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mshow.add_argument("model", help="a library name or a model folder")
    mshow.add_argument("--json", action="store_true", help="print JSON")
    mimport = models_commands.add_parser(
        "import", help="copy a model folder (card + weights) into your library",
        description="Check a model folder (its card and the weights' checksum) and copy it into your model library ($WORKBENCH_MODELS, default ~/.local/share/workbench/models).",
        epilog="examples:\n  workbench models import ~/Downloads/darcy-fno-big\n  workbench models import exported/darcy-fno --name darcy-fno-copy --force",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mimport.add_argument("folder", type=_user_path, help="a model folder holding card.json and weights.safetensors")
    mimport.add_argument("--name", help="its name in the library (default the folder's name)")
    mimport.add_argument("--force", action="store_true", help="replace a model of the same name")
    mimport.add_argument("--json", action="store_true", help="print JSON")
    mexport = models_commands.add_parser(
        "export", help="copy a library model to a folder (to share it)",
        description="Copy a model (card + weights) out of the library. DEST: the new model folder, or an existing folder to put it in.",
        epilog="examples:\n  workbench models export darcy-fno shared/\n  workbench models export my-fno /tmp/my-fno-v2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mexport.add_argument("model", help="a library name or a model folder")
    mexport.add_argument("dest", type=_user_path, help="the folder to write, or an existing folder to write into")
    mexport.add_argument("--force", action="store_true", help="replace an existing model folder there")
    mexport.add_argument("--json", action="store_true", help="print JSON")

    run = commands.add_parser(
        "run",
        help="solve a case and write VTU, HDF5 and metrics.json",
        description="Solve a case file and write <solver>.vtu (a .pvd collection for a time series), "
        "result.h5, metrics.json and PNG pictures of each field (and of the error for --solver both) "
        "into the output folder. Open the VTU/PVD files in ParaView, the .h5 files with h5py.",
        epilog="examples:\n  workbench run resources/examples/darcy_unit_square.toml --out out/darcy\n"
        "  workbench run resources/examples/darcy_unit_square.toml --out out/cmp --solver both\n"
        "  workbench run resources/examples/nafems_t3.toml --out out/t3 --quiet\n"
        "  workbench run resources/examples/nafems_le1.toml --out out/le1 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("case", type=_user_path, help="a case file (.toml)")
    run.add_argument("--out", type=_user_path, required=True, help="output folder (created if missing)")
    run.add_argument("--solver", default=None, help="classical, surrogate or both (compared); default: the case's solver.kind")
    run.add_argument("--json", action="store_true", help="print metrics.json to stdout")
    run.add_argument("--quiet", action="store_true", help="no progress bar or lines")

    sweep = commands.add_parser(
        "sweep",
        help="run a parameter study on Dask and write its table of results",
        description="Run a parameter study (a base case and the parameters to vary, on a grid or by random "
        "samples; format: docs/study-format.md) on a local Dask cluster, or on an existing one with "
        "--scheduler, and write results.csv and results.h5 (one row per sample) into the output folder. "
        "Interrupted (Ctrl-C, a crash, a kill)? Run the same command again: finished samples are kept.",
        epilog="examples:\n  workbench sweep resources/examples/darcy_study.toml --out out/study\n"
        "  workbench sweep study.toml --out out/study --workers 4\n"
        "  workbench sweep study.toml --out out/study --scheduler tcp://head-node:8786 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("study", type=_user_path, help="a study file (.toml)")
    sweep.add_argument("--out", type=_user_path, required=True, help="output folder (created if missing; an earlier run of the study there is resumed)")
    _dask_options(sweep, json_help="print the summary and table as JSON")

    dataset = commands.add_parser("dataset", help="training data for surrogates", description="Training data for surrogates.")
    dataset_commands = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    dgen = dataset_commands.add_parser(
        "generate",
        help="solve a study's samples (or a grid recipe's) into a training data set (HDF5; on Dask, resumable)",
        description="From a study (the format `workbench sweep` reads): solve every sample of any case with finite "
        "elements and keep each on its own mesh, with its input channels (coefficients, distances, conditions) and "
        "fields. From a grid recipe: sample and solve Darcy permeabilities on the unit square. On a local Dask cluster "
        "(or --scheduler). Interrupted? Run the same command again to finish it.",
        epilog="examples:\n  workbench dataset generate resources/examples/darcy_study.toml --out out/darcy_mesh.h5\n"
        "  workbench dataset generate resources/datasets/darcy_dataset.toml --out out/darcy.h5\n"
        "  workbench dataset generate recipe.toml --out data.h5 --workers 4 --chunk-size 32",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dgen.add_argument("recipe", type=_user_path, help="a study or a grid data set recipe (.toml)")
    dgen.add_argument("--out", type=_user_path, required=True, help="the data set file (.h5); an unfinished one of the same recipe is resumed")
    dgen.add_argument("--chunk-size", type=int, default=16, help="grid recipes: samples per task and per write (default 16)")
    _dask_options(dgen, json_help="print a JSON summary")

    train = commands.add_parser(
        "train",
        help="train a surrogate on a data set and save it with its card",
        description="Train a neural operator on a data set file, score it on a held-out validation split and save "
        "weights + card: into a folder (--out) or into your model library (--name). Grid models (fno, ffno, mgno, unet, "
        "deeponet) train on grid data sets, or on the samples of a study through a masked grid of each sample's bounding "
        "box (--grid); the mesh model (transolver) on the samples of a study, each on its own mesh.",
        epilog="examples:\n  workbench train out/darcy.h5 --model fno --name my-fno --epochs 50\n"
        "  workbench train out/plate.h5 --model transolver --name my-plate --time-budget 600\n"
        "  workbench train out/plate.h5 --model fno --grid 64 --name my-plate-fno --time-budget 600\n"
        "  workbench train out/darcy.h5 --model unet --config unet.json --out models/unet --time-budget 600\n"
        "  workbench train out/darcy.h5 --model fno --config '{\"modes1\": 8, \"modes2\": 8, \"width\": 16}' --name small-fno",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("dataset", type=_user_path, help="a data set file written by `workbench dataset generate`")
    train.add_argument("--model", default="fno", help="registry name: fno, ffno, mgno, unet, deeponet (grids, or meshes through --grid); transolver (meshes); default fno")
    train.add_argument("--outputs", help="mesh data sets: the fields to learn, comma-separated (default all)")
    train.add_argument("--grid", type=int, default=64, help="mesh data sets and a grid model: the masked grid's points per side (default 64)")
    train.add_argument("--config", help="model options: a JSON/TOML file or a JSON object")
    where = train.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=_user_path, help="the model folder to write")
    where.add_argument("--name", help="save into your model library under this name")
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--val-fraction", type=float, default=0.1, help="share of samples held out to score the model")
    train.add_argument("--time-budget", type=float, help="stop training after this many seconds")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", action="store_true", help="print the card as JSON")
    train.add_argument("--quiet", action="store_true", help="no progress bar or lines")

    case = commands.add_parser("case", help="check case files and print their schema", description="Check case files.")
    case_commands = case.add_subparsers(dest="case_command", metavar="ACTION", required=True)
    check = case_commands.add_parser(
        "check",
        help="validate a case, mesh its geometry and check its regions and probes",
        description="Validate a case file, build its mesh and check every region name and probe against it.",
        epilog="example:\n  workbench case check resources/examples/darcy_unit_square.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", type=_user_path)
    check.add_argument("--json", action="store_true")
    check.add_argument("--mesh-out", type=_user_path, help="also write the case's mesh to this file")
    case_commands.add_parser(
        "schema", help="print the JSON schema of case files", description="Print the JSON schema of case files (for editors and validators).",
        epilog="example:\n  workbench case schema > case.schema.json", formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    gui = commands.add_parser(
        "gui",
        help="open the desktop app (also what `workbench` alone does)",
        description="Open the desktop app, optionally on a case (.toml) or a project (.wbproj), run it, "
        "save a screenshot of the window and exit: what docs and tests use to drive the real window.",
        epilog="examples:\n  workbench gui resources/examples/darcy_unit_square.toml --run both\n"
        "  workbench gui resources/examples/darcy_unit_square.toml --run both --screenshot compare.png --exit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gui.add_argument("target", nargs="?", type=_user_path, help="a case file (.toml) or a project (.wbproj) to open")
    gui.add_argument("--run", choices=("classical", "surrogate", "both"), help="run the opened case with this solver")
    gui.add_argument("--screenshot", type=_user_path, metavar="FILE", help="save a PNG of the window once the runs are done")
    gui.add_argument("--exit", action="store_true", help="quit once the runs are done and the screenshot is saved")
    return parser


def _dask_options(parser: argparse.ArgumentParser, *, json_help: str) -> None:
    """The options of every job that runs on Dask: where, how many workers, how to report."""
    parser.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:8786); default a local cluster; 'synchronous' runs in this process")
    parser.add_argument("--workers", type=int, help="worker processes of the local cluster (default 2)")
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or lines")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used by ``python -m workbench``).

    Every failure ends here as one message (JSON on stderr with ``--json``) and its exit code:
    bad input 2, a failed run 1 (a full disk, not enough memory), 130 interrupted, and 1 for a
    bug of ours, which says so.
    """
    from engine.errors import Cancelled, WorkbenchError

    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    _Parser.json_errors = as_json
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `workbench` alone opens the app
        args = parser.parse_args(["gui"])
    try:
        handler = _HANDLERS[(args.command, getattr(args, f"{args.command}_command", None))]
        return handler(args)
    except Cancelled as err:
        return _fail(err, as_json, kind="interrupted", prefix="interrupted")
    except WorkbenchError as err:
        return _fail(err, as_json)
    except KeyboardInterrupt:
        return _fail(Cancelled("stopped at once (Ctrl-C)"), as_json, kind="interrupted", prefix="interrupted")
    except BrokenPipeError:  # `workbench ... | head` closed the pipe: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file the engine did not catch at its door: still the user's input or disk
        return _fail(_os_error(exc), as_json)
    except MemoryError as exc:
        from engine.errors import RunError

        detail = f" ({exc})" if str(exc) else ""
        return _fail(RunError(f"not enough memory for this job{detail}; try a coarser mesh, fewer samples or a machine with more memory"), as_json, kind="memory")
    except Exception as exc:  # a bug of ours: say so plainly; the traceback on request
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        hint = "this is a bug; rerun with WORKBENCH_DEBUG=1 for the traceback and report it"
        if as_json:
            _print_error_json({"error": type(exc).__name__, "kind": "internal", "exit_code": 1, "message": f"internal error: {type(exc).__name__}: {exc}", "hint": hint})
        else:
            print(f"workbench: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            print(f"workbench: {hint}", file=sys.stderr)
        return 1


def _os_error(exc: OSError):
    """The workbench error for an ``OSError`` that escaped: a full or read-only disk is a failed
    run (exit 1) naming the folder; anything else is a file the user named that cannot be used
    (exit 2) naming the file."""
    from engine.atomic import storage_problem, write_error
    from engine.errors import InputError
    from engine.inputs import os_problem

    where = Path(os.fsdecode(exc.filename)) if exc.filename is not None else None
    if storage_problem(exc) and exc.errno not in (errno.EACCES, errno.EPERM):
        return write_error(exc, where.parent if where is not None else Path.cwd(), writing=where.name if where is not None else "a file")
    return InputError(os_problem(exc), source=where)


def _fail(err, as_json: bool, *, kind: str | None = None, prefix: str = "error") -> int:
    """Print ``err`` (a WorkbenchError) as the user sees it; returns its exit code."""
    from engine.errors import InputError

    kind = kind or ("input" if isinstance(err, InputError) else "run")
    if as_json:
        document = err.to_dict() if hasattr(err, "to_dict") else {"error": type(err).__name__, "message": str(err)}
        _print_error_json(document | {"kind": kind, "exit_code": err.exit_code})
    else:
        print(f"workbench: {prefix}: {err}", file=sys.stderr)
    return err.exit_code


def _print_error_json(document: dict[str, Any]) -> None:
    print(json.dumps(document), file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are JSON too when ``--json`` was given."""

    json_errors = False  # set by main() for the command line being parsed

    def error(self, message: str):
        if _Parser.json_errors:
            _print_error_json({"error": "UsageError", "kind": "usage", "exit_code": 2, "message": f"{self.prog}: {message}", "usage": self.format_usage().strip()})
            self.exit(2)
        super().error(message)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# -- progress and Ctrl-C --------------------------------------------------------------------
class _Progress:
    """The engine's ``progress(fraction, message)`` shown to a person: a rich progress bar when
    stderr is a terminal, plain log lines (at most one per 10%, and every status message)
    otherwise; nothing with ``--quiet`` or ``--json``."""

    def __init__(self, args) -> None:
        self.silent = getattr(args, "quiet", False) or getattr(args, "json", False)
        self.bar = None
        self.task = None
        self.shown = -1.0

    def __enter__(self) -> _Progress:
        if not self.silent and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("starting", total=1.0)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, fraction: float | None, message: str) -> None:
        if self.silent:
            return
        if self.bar is not None:
            self.bar.update(self.task, description=message[:60], **({} if fraction is None else {"completed": fraction}))
            return
        if fraction is None or fraction >= 1.0 or fraction - self.shown >= 0.1:
            self.shown = fraction if fraction is not None else self.shown
            percent = "    " if fraction is None else f"{100 * fraction:3.0f}%"
            print(f"[{percent}] {message}", file=sys.stderr, flush=True)


class _cancel_on_sigint:
    """Turn the first Ctrl-C (SIGINT) into the engine's cancel event, so the job stops at its next
    check, keeps what it finished and leaves no half-written file; a second Ctrl-C interrupts at once."""

    def __enter__(self):
        import signal
        import threading

        self.cancel = threading.Event()
        self.signal = signal
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread (main() called from a worker): no handler
            self.previous = None
        return self.cancel

    def _handle(self, signum, frame) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt
        self.cancel.set()
        print("workbench: stopping (Ctrl-C again to abort at once)", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            self.signal.signal(self.signal.SIGINT, self.previous)


# -- mesh -----------------------------------------------------------------------------------
def _mesh_info(args) -> int:
    from engine.mesh.io import read_mesh

    mesh = read_mesh(args.file)
    summary = mesh.summary()
    if args.json:
        _print_json(summary)
    else:
        print(format_mesh_summary(summary))
    return 0


def format_mesh_summary(summary: dict[str, Any]) -> str:
    """The human-readable form of ``Mesh.summary()``."""
    lo, hi = summary["bounding_box"]["min"], summary["bounding_box"]["max"]
    lines = [
        f"mesh:        {summary['source'] or '(in memory)'}",
        f"dimension:   {summary['dimension']}D in {summary['coordinates']} coordinates",
        f"points:      {summary['points']}",
        "cells:       " + ", ".join(f"{n} {t}" for t, n in summary["cells"].items()),
        "bounds:      " + "  ".join(f"{a}: [{l:.6g}, {h:.6g}]" for a, l, h in zip("xyz", lo, hi)),
    ]
    if summary["regions"]:
        lines.append(f"regions:     {len(summary['regions'])}")
        width = max(len(r["name"]) for r in summary["regions"])
        for r in summary["regions"]:
            what = f"{r['size']} nodes" if r["kind"] == "nodes" else f"{r['size']} {'/'.join(r['cell_types'])} cells"
            lines.append(f"  {r['name']:<{width}}  {r['dim']}D  {what}")
    else:
        lines.append("regions:     none")
    data = [*summary["point_data"], *summary["cell_data"]]
    if data:
        lines.append("data arrays: " + ", ".join(data))
    return "\n".join(lines)


def _mesh_convert(args) -> int:
    from engine.mesh.io import read_mesh, write_mesh

    mesh = read_mesh(args.input)
    notes = write_mesh(mesh, args.output, fmt=args.fmt, binary=not args.ascii)
    for note in notes:
        print(f"workbench: note: {note}", file=sys.stderr)
    print(f"wrote {args.output} ({mesh.n_points} points, {mesh.n_cells} cells)")
    return 0


def _mesh_generate(args) -> int:
    from engine.errors import InputError
    from engine.mesh.geometry import build_mesh
    from engine.mesh.io import write_mesh

    params = {}
    for item in args.param:
        name, sep, text = item.partition("=")
        name = name.strip()
        if name in params:
            raise InputError("a --param is given twice", field="--param", value=name, expected="each parameter once")
        try:
            if not sep or not name:
                raise ValueError
            params[name] = float(text)
        except ValueError:
            raise InputError("a --param is not NAME=NUMBER", field="--param", value=item, expected="e.g. radius=0.2") from None
    kwargs: dict[str, Any] = {"size": args.size, "order": args.order, "structured": args.structured}
    if args.cell:
        kwargs["cell"] = args.cell
    mesh = build_mesh(args.geometry, params, **kwargs)
    for note in write_mesh(mesh, args.out):
        print(f"workbench: note: {note}", file=sys.stderr)
    if args.json:
        _print_json(mesh.summary() | {"written": str(args.out)})
    else:
        print(format_mesh_summary(mesh.summary() | {"source": str(args.out)}))
    return 0


def _geometry_list(args) -> int:
    from engine.mesh.geometry import GEOMETRIES

    if args.json:
        _print_json(
            {
                name: {
                    "description": g.description,
                    "dim": g.dim,
                    "parameters": {p.name: {"default": p.default, "description": p.description} for p in g.parameters},
                    "boundaries": list(g.boundaries),
                    "subdomains": list(g.subdomains),
                }
                for name, g in GEOMETRIES.items()
            }
        )
        return 0
    for name, g in GEOMETRIES.items():
        print(f"{name} ({g.dim}D): {g.description}")
        for p in g.parameters:
            print(f"    {p.name} = {p.default:g}    {p.description}")
        print(f"    regions: {', '.join([*g.subdomains, *g.boundaries])}")
    return 0


# -- models ---------------------------------------------------------------------------------
def _models_list(args) -> int:
    from engine.surrogates.library import broken_models, list_models, load_card

    models = list_models()
    cards = {name: load_card(folder) for name, folder in models.items()}
    broken = broken_models()  # listed with their reason: one bad folder hides nothing else
    if args.json:
        listing = {name: {"folder": str(models[name]), "model": c.model, "physics": c.physics.get("kind"), "metrics": c.metrics} for name, c in cards.items()}
        for name, entry in broken.items():  # a user's copy of a shipped model is broken under the shipped name: keyed by folder
            listing[name if name not in listing else str(entry.folder)] = {"folder": str(entry.folder), "broken": entry.reason, "error": entry.error.to_dict()}
        _print_json(listing)
        return 0
    if not cards and not broken:
        print("no models in the library")
    for name, card in cards.items():
        test = card.metrics.get("test_relative_l2")
        quality = f", test relative L2 {test:.2%}" if isinstance(test, float) else ""
        print(f"{name}: {card.model} for {card.physics.get('kind')} on {card.answers_on()}{quality}")
    for name, entry in broken.items():
        print(f"{name}  BROKEN: {entry.reason}")
    return 0


def _models_show(args) -> int:
    import dataclasses

    from engine.surrogates.library import find_model, load_card

    card = load_card(args.model)
    data = dataclasses.asdict(card) | {"folder": str(find_model(args.model))}
    if args.json:
        _print_json(data)
        return 0
    keys = ("name", "folder", "model", "physics", "inputs", "outputs", "grid", "fingerprint", "parameters", "training_ranges", "metrics", "training", "dataset", "created")
    for key in keys:
        value = data[key]
        if value is None or (key == "parameters" and not value):
            continue
        print(f"{key + ':':<16} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return 0


# -- run ------------------------------------------------------------------------------------
def _run(args) -> int:
    from engine.physics.registry import get_physics
    from engine.run import run_case

    with _Progress(args) as progress, _cancel_on_sigint() as cancel:
        outcome = run_case(args.case, out=args.out, solver=args.solver, progress=progress, cancel=cancel)
    for note in outcome.metrics.get("notes", []):
        print(f"workbench: note: {note}", file=sys.stderr)
    if args.json:
        _print_json(outcome.metrics)
        return 0
    for name, summary in outcome.metrics["solvers"].items():
        if summary["model_id"]:
            print(f"{name}: model {summary['model_id']}, {summary['wall_time']:.2f} s")
            for flag in summary["details"].get("out_of_training_range", []):
                print(f"  warning: {flag}")
        else:
            print(f"{name}: {summary['dofs']} unknowns, {summary['iterations']} iterations, residual {summary['residual']:.2e}, {summary['wall_time']:.2f} s")
        for quantity in get_physics(outcome.metrics["physics"]).quantities:
            value = summary["details"].get(quantity.key)
            if isinstance(value, (int, float)):
                unit = "" if quantity.unit == "-" else f" {quantity.unit}"
                print(f"  {quantity.key} = {value:.6g}{unit} ({quantity.description})")
        times = summary["times"]
        for probe, values in summary["probes"].items():
            if times:  # a time series: the value at the last time
                shown = ", ".join(f"{f}(t={times[-1]:g}) = {_short(v[-1])}" for f, v in values.items() if f != "point")
            else:
                shown = ", ".join(f"{f} = {_short(v)}" for f, v in values.items() if f != "point")
            print(f"  probe {probe} at {values['point']}: {shown}")
    for field_name, numbers in outcome.metrics.get("comparison", {}).get("fields", {}).items():
        where = ", ".join(f"{v:.4g}" for v in numbers["max_abs_error_at"])
        print(f"compare {field_name}: relative L2 {numbers['relative_l2']:.3%}, max |error| {numbers['max_abs_error']:.4g} at ({where})")
    for path in outcome.files:
        print(f"wrote {path}")
    return 0


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    flat = list(_flatten(value))
    return f"[{', '.join(f'{v:.6g}' for v in flat[:4])}{', ...' if len(flat) > 4 else ''}]"


def _flatten(value):
    for item in value:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


# -- sweep, dataset, train ------------------------------------------------------------------
def _sweep(args) -> int:
    from engine.study import load_study
    from engine.sweep import run_sweep

    study = load_study(args.study)
    with _Progress(args) as progress, _cancel_on_sigint() as cancel:
        outcome = run_sweep(study, out=args.out, scheduler=args.scheduler, workers=args.workers, progress=progress, cancel=cancel)
    if args.json:
        _print_json(outcome.to_dict())
    else:
        print(f"study {study.name}: {outcome.n_done} of {outcome.n_samples} samples done, {outcome.n_failed} failed "
              f"({outcome.n_run} solved now, {outcome.wall_time:.1f} s)")
        for row in outcome.rows:
            if row["status"] != "done":
                print(f"  sample {row['sample']} failed: {row.get('error', '')}")
        for path in outcome.files:
            print(f"wrote {path}")
    return 0 if outcome.n_failed == 0 else 1


def _dataset_generate(args) -> int:
    from engine.inputs import read_toml
    from engine.surrogates.data.generate import is_study_file
    from engine.surrogates.datasets import generate_dataset, load_recipe

    if is_study_file(read_toml(args.recipe, what="a study or a data set recipe")):
        return _dataset_generate_from_study(args)
    recipe = load_recipe(args.recipe)
    with _Progress(args) as progress, _cancel_on_sigint() as cancel:
        info = generate_dataset(recipe, args.out, scheduler=args.scheduler, workers=args.workers, chunk_size=args.chunk_size, progress=progress, cancel=cancel)
    summary = {
        "path": str(info.path), "n_samples": info.n_samples, "n_solved": info.n_solved, "complete": info.complete,
        "checksum": info.checksum, "wall_time": info.wall_time, "residual_max": info.residual_max,
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"data set {recipe.name}: {info.n_samples} samples ({info.n_solved} solved now, {info.wall_time:.1f} s), "
              f"largest residual {info.residual_max:.1e}")
        print(f"wrote {info.path}")
    return 0


def _dataset_generate_from_study(args) -> int:
    from engine.study import load_study
    from engine.surrogates.data.generate import generate_mesh_dataset
    from engine.surrogates.data.store import open_mesh_dataset

    study = load_study(args.recipe)
    with _Progress(args) as progress, _cancel_on_sigint() as cancel:
        path = generate_mesh_dataset(study, args.out, scheduler=args.scheduler, workers=args.workers, progress=progress, cancel=cancel)
    data = open_mesh_dataset(path)
    summary = {"path": str(path), "n_samples": len(data), "failed": data.failed, "physics": data.physics,
               "inputs": data.input_names, "outputs": data.output_names, "parameters": data.parameter_names}
    if args.json:
        _print_json(summary)
    else:
        print(f"data set {study.name}: {len(data)} {data.physics} samples (each with its mesh), inputs {', '.join(data.input_names)}; "
              f"outputs {', '.join(data.output_names)}" + (f"; {len(data.failed)} failed" if data.failed else ""))
        print(f"wrote {path}")
    return 0 if not data.failed else 1


def _train(args) -> int:
    import dataclasses

    from engine.surrogates.fit import train_surrogate

    with _Progress(args) as progress, _cancel_on_sigint() as cancel:
        folder, card = train_surrogate(
            args.dataset, model=args.model, config=args.config, out=args.out, name=args.name, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate, val_fraction=args.val_fraction,
            time_budget=args.time_budget, seed=args.seed, progress=progress, cancel=cancel,
            outputs=[n.strip() for n in args.outputs.split(",") if n.strip()] if args.outputs else None,
            grid_resolution=args.grid,
        )
    if args.json:
        _print_json(dataclasses.asdict(card) | {"folder": str(folder)})
        return 0
    score = card.metrics.get("validation_relative_l2")
    quality = f", validation relative L2 {score:.2%}" if isinstance(score, float) else ""
    print(f"trained {card.model} for {card.training['epochs_run']} epochs ({card.training['stopped_reason']}){quality}")
    print(f"wrote {folder}")
    return 0


def _models_import(args) -> int:
    from engine.surrogates.library import import_model

    folder = import_model(args.folder, name=args.name, replace=args.force)
    if args.json:
        _print_json({"name": folder.name, "folder": str(folder)})
    else:
        print(f"imported {folder.name} into {folder.parent}")
    return 0


def _models_export(args) -> int:
    from engine.surrogates.library import export_model

    folder = export_model(args.model, args.dest, replace=args.force)
    if args.json:
        _print_json({"folder": str(folder)})
    else:
        print(f"wrote {folder}")
    return 0


# -- case -----------------------------------------------------------------------------------
def _case_check(args) -> int:
    from engine.case.load import load_case
    from engine.problem import Problem

    case = load_case(args.file)
    problem = Problem.from_case(case)
    mesh = problem.mesh
    if args.mesh_out:
        from engine.mesh.io import write_mesh

        write_mesh(mesh, args.mesh_out)
    report = {
        "case": str(args.file),
        "title": case.title,
        "physics": case.physics.kind,
        "geometry": case.geometry.file or case.geometry.kind,
        "mesh": {"points": mesh.n_points, "cells": mesh.n_cells, "dimension": mesh.dim, "regions": list(mesh.regions)},
        "boundary": [{"type": bc.type, "regions": bc.regions} for bc in case.boundary],
        "coefficients": {path: c.text for path, c in problem.coefficients.items()},
        "probes": {p.name: p.point for p in case.probes},
        "solver": case.solver.kind,
        "valid": True,
    }
    if args.json:
        _print_json(report)
        return 0
    print(f"case:      {args.file}  ({case.title or 'untitled'})")
    print(f"physics:   {case.physics.kind}")
    for path, text in report["coefficients"].items():
        print(f"    {path} = {text}")
    print(f"geometry:  {report['geometry']}")
    print(f"mesh:      {mesh.n_points} points, {mesh.n_cells} cells ({mesh.dim}D), regions: {', '.join(mesh.regions)}")
    for bc in report["boundary"]:
        print(f"boundary:  {bc['type']:<12} on {', '.join(bc['regions'])}")
    for name, point in report["probes"].items():
        print(f"probe:     {name} at {point}")
    print(f"solver:    {case.solver.kind}")
    if args.mesh_out:
        print(f"wrote mesh to {args.mesh_out}")
    print("the case is valid")
    return 0


def _case_schema(args) -> int:
    from engine.case.load import case_json_schema

    _print_json(case_json_schema())
    return 0


# -- gui ------------------------------------------------------------------------------------
def _gui(args) -> int:
    from workbench.gui.app import launch  # Qt is imported here, never by the batch commands

    return launch(args.target, run=args.run, screenshot=args.screenshot, exit_when_done=args.exit)


_HANDLERS = {
    ("gui", None): _gui,
    ("run", None): _run,
    ("sweep", None): _sweep,
    ("dataset", "generate"): _dataset_generate,
    ("train", None): _train,
    ("models", "import"): _models_import,
    ("models", "export"): _models_export,
    ("models", "list"): _models_list,
    ("models", "show"): _models_show,
    ("mesh", "info"): _mesh_info,
    ("mesh", "convert"): _mesh_convert,
    ("mesh", "generate"): _mesh_generate,
    ("geometry", "list"): _geometry_list,
    ("case", "check"): _case_check,
    ("case", "schema"): _case_schema,
}


if __name__ == "__main__":
    sys.exit(main())
