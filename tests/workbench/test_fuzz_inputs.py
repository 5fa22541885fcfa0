"""Fuzzing every door a file comes in by: case files, mesh files of every format, model cards
and project files, mutated by hypothesis from real ones.

For each input the command line (in this process, as ``workbench.cli.main``) must end with exit
0, 1 or 2 and never with "internal error" (``WORKBENCH_DEBUG=1`` turns one into a failing test
with its traceback); within a time bound; writing nothing outside the folder it was given and
running nothing (hostile payloads touch a marker file if they ever run). Project files go
through ``engine.project.load_project``, which may only raise workbench errors.

The number of inputs per door is ``WORKBENCH_FUZZ_EXAMPLES`` (default 60, under a minute in
all); ``WORKBENCH_FUZZ_REPORT=file.json`` records the counts (tried, clean refusals, accepted,
crashes) for a long campaign: ``WORKBENCH_FUZZ_EXAMPLES=2000 pytest tests/workbench/test_fuzz_inputs.py``.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import random
import resource
import shutil
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import WorkbenchError
from engine.mesh.geometry import build_mesh
from engine.mesh.io import write_mesh
from engine.resources import resource_path
from tests.engine.mesh.test_mesh_hostile import plant_option_scripts

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "60"))
SECONDS_PER_INPUT = 60.0
COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

#: Strings that would do something if anything ever evaluated or ran them.
def hostile_strings(marker: Path) -> list[str]:
    return [
        f"__import__('os').system('touch {marker}')",
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"; touch {marker}",
        "../../../../etc/passwd",
        "/dev/zero",
        "~/../../dev/urandom",
        "x" * 5000,
        "1e999999",
        "nan",
        "\x00",
        "sin(" * 200 + "x" + ")" * 200,
        "max(" + ", ".join(["x"] * 3000) + ")",
        "x ** 1e308",
        "{0.__class__}",
    ]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The folder every fuzzed input lives and runs in, a HOME inside it, and the marker file."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "home").mkdir()
    marker = root / "EXECUTED"
    before = os.environ.copy()
    os.environ.update({"HOME": str(root / "home"), "WORKBENCH_MODELS": str(root / "library"), "WORKBENCH_DEBUG": "1",
                       "WORKBENCH_LIMIT_READ_SECONDS": "30", "WORKBENCH_LIMIT_MESH_SECONDS": "30"})
    (root / "home" / ".gmshrc").write_text(f'SystemCall "touch {marker}";\n')
    cwd = os.getcwd()
    os.chdir(root)
    yield root, marker
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(before)
    report = os.environ.get("WORKBENCH_FUZZ_REPORT")
    print("\nfuzz counts:", json.dumps(COUNTS))
    if report:
        Path(report).write_text(json.dumps(COUNTS, indent=1))


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_cli(door: str, sandbox, *argv: str, allowed_new=()) -> int:
    """``workbench ARGV`` in this process: its exit code, with every property of the suite checked."""
    from workbench.cli import main

    root, marker = sandbox
    before = _tree(root)
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    elapsed = time.monotonic() - start
    if os.environ.get("WORKBENCH_FUZZ_VERBOSE"):
        print(door, code, err.getvalue()[:300].strip())
    COUNTS[door]["tried"] += 1
    COUNTS[door]["accepted" if code == 0 else f"exit {code}"] += 1
    assert code in (0, 1, 2), (code, err.getvalue()[-2000:])
    assert "internal error" not in err.getvalue(), err.getvalue()[-2000:]
    assert "Traceback" not in err.getvalue() + out.getvalue()
    assert elapsed < SECONDS_PER_INPUT, f"{argv}: {elapsed:.0f} s"
    assert not marker.exists(), f"{argv}: a payload ran"
    new = {p for p in _tree(root) - before if not any(p.startswith(a) for a in allowed_new)}
    assert not new, f"{argv} wrote outside its folder: {sorted(new)[:5]}"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 6 << 20, "the test process grew past 6 GiB"  # KiB
    return code


# -- mutations ----------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random, n: int, *, text: bool = False) -> bytes:
    """``n`` random edits of the kinds that break parsers: flips, cuts, insertions, big numbers.

    With ``text``, new bytes are mostly printable ASCII, so that text formats get past decoding.
    """
    alphabet = b"0123456789.eE+-[]{}=,\"' \nabcxyz_" if text else bytes(range(256))
    data = bytearray(data)
    for _ in range(n):
        if not data:
            break
        k = rng.randrange(len(data))
        kind = rng.random()
        if kind < 0.35:
            data[k] = rng.choice(alphabet)
        elif kind < 0.55:
            del data[k : k + rng.randint(1, 64)]
        elif kind < 0.75:
            data[k:k] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 16)))
        elif kind < 0.9:
            data[k : k + 4] = rng.choice([b"\xff\xff\xff\x7f", b"99999999999", b"-1", b"0", b"1e308", b"nan", b"inf"])
        else:
            del data[k:]  # truncated
    return bytes(data)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    return json.dumps(str(value))


def to_toml(document: dict) -> str:
    """A TOML document with every table inline (enough to say anything a case can say)."""
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in document.items() if v is not None)


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    yield path


def values(marker: Path):
    scalars = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, -1, 1e-300, 5e-324, 1e300, 2**63, 1e-12]),
        st.text(max_size=20),
        st.sampled_from(hostile_strings(marker)),
        st.booleans(),
    )
    deep = st.integers(1, 200).map(lambda n: json.loads("[" * n + "1" + "]" * n))
    return st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=8), scalars, max_size=3), deep)


def mutate_document(document, data, marker: Path):
    """Replace, drop or add a few entries anywhere in a parsed document."""
    import copy

    doc = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in leaves(doc) if p and p != ("version",)]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["scale", "scale", "replace", "replace", "drop", "add"]))
        here = parent[path[-1]]
        if action == "scale" and isinstance(here, (int, float)) and not isinstance(here, bool):
            # a plausible value at another scale: reaches the solvers, not only the parser
            parent[path[-1]] = here * data.draw(st.sampled_from([0, -1, 1e-6, 1e-3, 0.5, 2, 10, 1e3, 1e6]))
        elif action in ("scale", "replace"):
            parent[path[-1]] = data.draw(values(marker))
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=10))] = data.draw(values(marker))
    return doc


# -- the doors ------------------------------------------------------------------------------------

CASES = sorted(resource_path("examples").glob("*.toml"))


@FUZZ
@given(data=st.data())
def test_fuzzed_case_files(sandbox, data):
    root, marker = sandbox
    example = data.draw(st.sampled_from(CASES))
    text = example.read_text()
    folder = root / "cases"
    folder.mkdir(exist_ok=True)
    path = folder / "case.toml"
    if data.draw(st.booleans()):
        path.write_text(to_toml(mutate_document(tomllib.loads(text), data, marker)))
    else:
        rng = random.Random(data.draw(st.integers(0, 2**32)))
        path.write_bytes(mutate_bytes(text.encode(), rng, rng.randint(1, 3), text=True))
    # mesh files named by the examples, relative to them
    for rel in ("../meshes",):
        target = folder / rel
        if not target.exists():
            shutil.copytree(resource_path("meshes"), target)
    run_cli("case files", sandbox, "case", "check", str(path), allowed_new=("cases", "meshes"))


@pytest.fixture(scope="module")
def mesh_seeds(sandbox):
    """One small mesh in every format the workbench reads (two encodings where there are two)."""
    root, _ = sandbox
    folder = root / "seeds"
    folder.mkdir()
    square = build_mesh("plate_with_hole", {"quarter": 1}, size=0.5)
    seeds = {}
    for name, fmt, binary in [("a2.msh", "msh2", False), ("b2.msh", "msh2", True), ("a4.msh", "msh4", False), ("b4.msh", "msh4", True),
                              ("a.vtu", None, False), ("b.vtu", None, True), ("a.vtk", None, False), ("b.vtk", None, True),
                              ("m.xdmf", None, True), ("m.inp", None, True), ("m.med", None, True), ("a.stl", None, False),
                              ("b.stl", None, True), ("m.obj", None, True)]:
        write_mesh(square, folder / name, fmt=fmt, binary=binary)
        seeds[name] = (folder / name).read_bytes()
    return seeds


@FUZZ
@given(data=st.data())
def test_fuzzed_mesh_files(sandbox, mesh_seeds, data):
    root, marker = sandbox
    name = data.draw(st.sampled_from(sorted(mesh_seeds)))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    folder = root / "meshes-fuzzed"
    folder.mkdir(exist_ok=True)
    path = folder / f"input{Path(name).suffix}"
    text = name.startswith("a") or Path(name).suffix in (".inp", ".obj", ".xdmf")
    path.write_bytes(mutate_bytes(mesh_seeds[name], rng, rng.randint(1, 3), text=text))
    if path.suffix == ".msh":
        plant_option_scripts(folder, path.name, marker)
    run_cli("mesh files", sandbox, "mesh", "info", str(path), allowed_new=("meshes-fuzzed",))


@FUZZ
@given(data=st.data())
def test_fuzzed_model_folders(sandbox, data):
    root, marker = sandbox
    folder = root / "models-fuzzed" / "candidate"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(resource_path("models/darcy-fno"), folder)
    card = folder / "card.json"
    if data.draw(st.booleans()):
        card.write_text(json.dumps(mutate_document(json.loads(card.read_text()), data, marker), allow_nan=True))
    else:
        rng = random.Random(data.draw(st.integers(0, 2**32)))
        target = data.draw(st.sampled_from(["card.json", "weights.safetensors"]))
        (folder / target).write_bytes(mutate_bytes((folder / target).read_bytes(), rng, rng.randint(1, 4)))
    name = f"fuzz-{COUNTS['model folders']['tried']}"
    code = run_cli("model folders", sandbox, "models", "import", str(folder), "--name", name, allowed_new=("models-fuzzed", "library"))
    # one bad model never hides the others, and a model that was taken in loads or is refused cleanly
    assert run_cli("model folders (list)", sandbox, "models", "list", "--json", allowed_new=("library",)) == 0
    if code == 0:
        run_cli("model folders (show)", sandbox, "models", "show", name, allowed_new=("library",))


@pytest.fixture(scope="module")
def project_seed(sandbox):
    from engine.case.load import load_case
    from engine.project import Project, save_project
    from engine.run import solve_case

    root, _ = sandbox
    case = load_case(resource_path("examples/darcy_unit_square.toml"))
    results, _ = solve_case(case, solver="classical")
    path = save_project(Project(case=case, results=results, view={"field": "u"}), root / "seed.wbproj")
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_fuzzed_project_files(sandbox, project_seed, data):
    from engine.project import load_project

    root, marker = sandbox
    path = root / "fuzzed.wbproj"
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    if data.draw(st.booleans()):
        path.write_bytes(mutate_bytes(project_seed, rng, rng.randint(1, 6)))
    else:  # a well-formed zip whose members are mutated
        with zipfile.ZipFile(io.BytesIO(project_seed)) as seed, zipfile.ZipFile(path, "w") as out:
            for info in seed.infolist():
                content = seed.read(info)
                if rng.random() < 0.5:
                    if info.filename.endswith(".json"):
                        content = json.dumps(mutate_document(json.loads(content), data, marker), allow_nan=True).encode()
                    else:
                        content = mutate_bytes(content, rng, rng.randint(1, 6))
                out.writestr(info, content)
    COUNTS["project files"]["tried"] += 1
    start = time.monotonic()
    try:
        load_project(path)
        COUNTS["project files"]["accepted"] += 1
    except WorkbenchError:
        COUNTS["project files"]["refused"] += 1
    assert time.monotonic() - start < SECONDS_PER_INPUT
    assert not marker.exists()
