"""The ``workbench`` command: batch jobs on the engine, with exit codes scripts can trust.

Exit codes: 0 success, 2 bad input (the message names the file, field and value), 1 a failed
run, 130 interrupted. No traceback is shown for input errors.

This module imports no Qt: the batch face must start fast and run with no display.
"""

from __future__ import annotations

import argparse
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
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    info.add_argument("file", type=Path, help="a mesh file (.msh .vtu .vtk .xdmf .inp .med .stl .obj)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")

    convert = mesh_commands.add_parser(
        "convert",
        help="convert a mesh between formats, keeping region names",
        description="Convert a mesh file to another format; the output's suffix picks the format. "
        "Region names are kept where the format can hold them (not in STL/OBJ).",
        epilog="examples:\n  workbench mesh convert part.inp part.msh\n  workbench mesh convert part.msh part.msh2.msh --format msh2 --ascii",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=Path)
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
    generate.add_argument("--out", type=Path, required=True, help="output mesh file")
    generate.add_argument("--json", action="store_true", help="print the mesh summary as JSON")

    geometry = commands.add_parser("geometry", help="the built-in parametric geometries", description="The built-in parametric geometries.")
    geometry_commands = geometry.add_subparsers(dest="geometry_command", metavar="ACTION", required=True)
    glist = geometry_commands.add_parser("list", help="list built-in geometries, their parameters and region names")
    glist.add_argument("--json", action="store_true")

    models = commands.add_parser("models", help="the surrogate model library", description="The surrogate model library.")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    mlist = models_commands.add_parser("list", help="list the models in the library (shipped and your own)")
    mlist.add_argument("--json", action="store_true")
    mshow = models_commands.add_parser("show", help="show a model's card: what it answers, how it was trained, its metrics")
    mshow.add_argument("model", help="a library name or a model folder")
    mshow.add_argument("--json", action="store_true")

    run = commands.add_parser(
        "run",
        help="solve a case and write VTU, HDF5 and metrics.json",
        description="Solve a case file and write <solver>.vtu (a .pvd collection for a time series), "
        "result.h5 and metrics.json into the output folder.",
        epilog="examples:\n  workbench run resources/examples/darcy_unit_square.toml --out out/darcy\n"
        "  workbench run resources/examples/nafems_le1.toml --out out/le1 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("case", type=Path, help="a case file (.toml)")
    run.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    run.add_argument("--solver", default=None, help="classical, surrogate or both (compared); default: the case's solver.kind")
    run.add_argument("--json", action="store_true", help="print metrics.json to stdout")
    run.add_argument("--quiet", action="store_true", help="no progress lines")

    case = commands.add_parser("case", help="check case files and print their schema", description="Check case files.")
    case_commands = case.add_subparsers(dest="case_command", metavar="ACTION", required=True)
    check = case_commands.add_parser(
        "check",
        help="validate a case, mesh its geometry and check its regions and probes",
        description="Validate a case file, build its mesh and check every region name and probe against it.",
        epilog="example:\n  workbench case check resources/examples/darcy_unit_square.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true")
    check.add_argument("--mesh-out", type=Path, help="also write the case's mesh to this file")
    case_commands.add_parser("schema", help="print the JSON schema of case files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used by ``python -m workbench``)."""
    from engine.errors import WorkbenchError

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        handler = _HANDLERS[(args.command, getattr(args, f"{args.command}_command", None))]
        return handler(args)
    except WorkbenchError as err:
        _fail(err, getattr(args, "json", False))
        return err.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `workbench ... | head` closed the pipe: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug of ours: say so plainly; the traceback on request
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("workbench: this is a bug; rerun with WORKBENCH_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return 1


def _fail(err, as_json: bool) -> None:
    if as_json and hasattr(err, "to_dict"):
        print(json.dumps(err.to_dict()), file=sys.stderr)
    else:
        print(f"workbench: error: {err}", file=sys.stderr)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


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
    from engine.surrogates.library import list_models, load_card

    cards = {name: load_card(folder) for name, folder in list_models().items()}
    if args.json:
        _print_json({name: {"folder": str(list_models()[name]), "model": c.model, "physics": c.physics.get("kind"), "metrics": c.metrics} for name, c in cards.items()})
        return 0
    if not cards:
        print("no models in the library")
    for name, card in cards.items():
        test = card.metrics.get("test_relative_l2")
        quality = f", test relative L2 {test:.2%}" if isinstance(test, float) else ""
        print(f"{name}: {card.model} for {card.physics.get('kind')} on a {card.grid['resolution']}x{card.grid['resolution']} grid{quality}")
    return 0


def _models_show(args) -> int:
    import dataclasses

    from engine.surrogates.library import find_model, load_card

    card = load_card(args.model)
    data = dataclasses.asdict(card) | {"folder": str(find_model(args.model))}
    if args.json:
        _print_json(data)
        return 0
    for key in ("name", "folder", "model", "physics", "inputs", "outputs", "grid", "training_ranges", "metrics", "training", "dataset", "created"):
        value = data[key]
        print(f"{key + ':':<16} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return 0


# -- run ------------------------------------------------------------------------------------
def _run(args) -> int:
    from engine.run import run_case

    last = {"shown": -1.0}

    def progress(fraction, message):
        if args.quiet or args.json:
            return
        if fraction is None or fraction >= 1.0 or fraction - last["shown"] >= 0.1:
            last["shown"] = fraction if fraction is not None else last["shown"]
            percent = "    " if fraction is None else f"{100 * fraction:3.0f}%"
            print(f"[{percent}] {message}", file=sys.stderr, flush=True)

    outcome = run_case(args.case, out=args.out, solver=args.solver, progress=progress)
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


_HANDLERS = {
    ("run", None): _run,
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
