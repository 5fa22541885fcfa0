"""Parameter studies: a base case, the parameters to vary, and what to record of each sample.

A study file (TOML, ``version = 1``; format: ``docs/study-format.md``)::

    version = 1
    name = "darcy-permeability"
    case = "darcy_unit_square.toml"      # the base case, relative to this file
    solver = "classical"                 # classical, surrogate or both (compared)

    [set]                                # fixed changes to the base case, by dotted path
    "mesh.size" = 0.05

    [sampling]
    method = "grid"                      # every combination; or "random": n_samples draws
    # n_samples = 16                     # random only
    # seed = 0                           # random only

    [parameters]                         # a case parameter by name, or a dotted path to a number
    k_in = [6.0, 12.0, 24.0]             # these values
    "physics.f" = { min = 0.5, max = 2.0, n = 3 }   # n evenly spaced (random: uniform in [min, max])

    [outputs]
    probes = true                        # every probe's values
    fields = ["u.max", "u.mean"]         # <field>.<min|max|mean|l2>: scalars of each answer
    samples = false                      # also keep each sample's run folder (VTU, HDF5, metrics)

This module reads and checks such files (one loader per format version) and lists the samples;
:mod:`engine.sweep` runs them.

Examples
--------
>>> from engine.resources import resource_path
>>> study = load_study(resource_path("examples/darcy_study.toml"))
>>> study.name, study.method, len(study.samples())
('darcy-permeability', 'grid', 6)
>>> study.samples()[0]
{'k_in': 6.0, 'physics.f': 0.5}
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError

__all__ = ["STUDY_VERSION", "FIELD_STATISTICS", "Study", "ParameterSpec", "load_study", "parse_study", "set_path"]

STUDY_VERSION = 1
FIELD_STATISTICS = ("min", "max", "mean", "l2")
SOLVERS = ("classical", "surrogate", "both")
_KEYS = {"version", "name", "description", "case", "solver", "set", "sampling", "parameters", "outputs"}
_SAMPLING_KEYS = {"method", "n_samples", "seed"}
_OUTPUT_KEYS = {"probes", "fields", "samples"}
_RANGE_KEYS = {"min", "max", "n", "log"}


@dataclass(frozen=True)
class ParameterSpec:
    """One varied parameter: a list of ``values``, or a range ``[low, high]`` with ``n`` points (grid)."""

    name: str
    values: tuple[float, ...] | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    log: bool = False

    def grid_values(self) -> list[float]:
        if self.values is not None:
            return list(self.values)
        points = np.geomspace(self.low, self.high, self.n) if self.log else np.linspace(self.low, self.high, self.n)
        return [float(v) for v in points]

    def draw(self, rng: np.random.Generator, size: int) -> list[float]:
        if self.values is not None:
            return [float(v) for v in rng.choice(np.asarray(self.values), size=size)]
        if self.log:
            return [float(v) for v in np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=size))]
        return [float(v) for v in rng.uniform(self.low, self.high, size=size)]


@dataclass(frozen=True)
class Study:
    """A validated study. Build it with :func:`load_study` or :func:`parse_study`.

    Attributes
    ----------
    name, description
    case_path : Path
        The base case file (absolute, or relative to the working folder when given in memory).
    case_document : dict
        The base case as parsed TOML, with the study's ``[set]`` changes applied.
    solver : {"classical", "surrogate", "both"}
    method : {"grid", "random"}
    n_samples, seed : int
        For ``random`` sampling.
    parameters : tuple of ParameterSpec
    probes : bool
    fields : tuple of str
        ``<field>.<statistic>`` scalars recorded per sample.
    keep_samples : bool
        Whether each sample's run folder is kept.
    """

    name: str
    case_path: Path
    case_document: dict[str, Any]
    parameters: tuple[ParameterSpec, ...]
    description: str = ""
    solver: str = "classical"
    method: str = "grid"
    n_samples: int = 0
    seed: int = 0
    probes: bool = True
    fields: tuple[str, ...] = ()
    keep_samples: bool = False
    source: Path | None = None
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    def samples(self) -> list[dict[str, float]]:
        """The parameter values of every sample, in order (the same every time)."""
        names = [p.name for p in self.parameters]
        if self.method == "grid":
            return [dict(zip(names, combo)) for combo in itertools.product(*(p.grid_values() for p in self.parameters))]
        if not self.parameters:  # only random fields vary: each sample draws its own
            return [{} for _ in range(self.n_samples)]
        rng = np.random.default_rng(self.seed)
        draws = [p.draw(rng, self.n_samples) for p in self.parameters]
        return [dict(zip(names, values)) for values in zip(*draws)]

    def case_for(self, values: Mapping[str, float], index: int = 0) -> dict[str, Any]:
        """The case document of sample ``index``: the base case with ``values`` put in place, and
        each random field marked ``seed_by_sample`` drawn as that sample's own (``sample = index``)."""
        doc = copy.deepcopy(self.case_document)
        for name, value in values.items():
            if "." in name:
                set_path(doc, name, float(value))
            else:
                doc.setdefault("parameters", {})[name] = float(value)
        _number_random_fields(doc, index)
        return doc

    def fingerprint(self) -> str:
        """SHA-256 of everything that decides the samples' answers (study and base case)."""
        blob = json.dumps({"study": self.document, "case": self.case_document, "samples": self.samples()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _draws_per_sample(node: Any) -> bool:
    """Whether a case document holds a random field that each sample draws anew."""
    if isinstance(node, dict):
        return ("random_field" in node and node.get("seed_by_sample") is True) or any(_draws_per_sample(v) for v in node.values())
    return isinstance(node, list) and any(_draws_per_sample(v) for v in node)


def _number_random_fields(node: Any, index: int) -> None:
    """Set ``sample = index`` in every ``{random_field = ..., seed_by_sample = true}`` table."""
    if isinstance(node, dict):
        if "random_field" in node and node.get("seed_by_sample") is True:
            node["sample"] = int(index)
        for value in node.values():
            _number_random_fields(value, index)
    elif isinstance(node, list):
        for value in node:
            _number_random_fields(value, index)


def load_study(path: str | Path) -> Study:
    """Read and check a study file (TOML); its ``case`` is read from beside it.

    Raises
    ------
    InputError
        The file or its case is missing or not TOML, or a key is unknown, missing or of the
        wrong type; the message names the file, the field and the value.

    Examples
    --------
    >>> from engine.resources import resource_path
    >>> load_study(resource_path("examples/darcy_study.toml")).solver
    'classical'
    """
    from engine.inputs import read_toml

    return parse_study(read_toml(path, what="a study file"), source=Path(path))


def parse_study(data: Mapping[str, Any], *, source: str | Path | None = None) -> Study:
    """Check a study given as a mapping (a parsed TOML document).

    ``case`` may be a path (relative to ``source``'s folder) or an inline case table.

    Examples
    --------
    >>> parse_study({"version": 1, "name": "x", "case": {"parameters": {"k": 1.0}}, "parameters": {"k": [1, 2]}, "sampling": {"method": "sobol"}})
    Traceback (most recent call last):
    ...
    engine.errors.InputError: sampling.method: unsupported value: got 'sobol'; expected 'grid' or 'random'
    """
    if not isinstance(data, Mapping):
        raise InputError("a study must be a table (mapping)", source=source, value=type(data).__name__, expected="a TOML document or a dict")
    version = data.get("version")
    if version is None:
        raise InputError("missing 'version'", source=source, field="version", expected=f"version = {STUDY_VERSION}")
    loader = _LOADERS.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
    if loader is None:
        raise InputError("unsupported study format version", source=source, field="version", value=version, expected=f"one of {', '.join(map(str, _LOADERS))}")
    return loader(dict(data), Path(source) if source is not None else None)


def _load_v1(data: dict[str, Any], source: Path | None) -> Study:
    def bad(problem: str, where: str, value: Any = None, expected: str | None = None, **kw) -> InputError:
        return InputError(problem, source=source, field=where, value=value, expected=expected, **kw)

    _unknown(data, _KEYS, "", source)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad("missing or empty name", "name", name, "a non-empty string, e.g. name = \"darcy-permeability\"")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise bad("not a string", "description", description)
    solver = data.get("solver", "classical")
    if solver not in SOLVERS:
        raise bad("unsupported value", "solver", solver, "one of classical, surrogate, both")

    case_path, case_doc = _base_case(data.get("case"), source)
    fixed = _table(data, "set", source)
    for path, value in fixed.items():
        try:
            set_path(case_doc, path, value, must_exist=False)
        except InputError as err:
            raise err.replace(source=source, field=f"set.{path}") from None

    sampling = _table(data, "sampling", source)
    _unknown(sampling, _SAMPLING_KEYS, "sampling.", source)
    method = sampling.get("method", "grid")
    if method not in ("grid", "random"):
        raise bad("unsupported value", "sampling.method", method, "'grid' or 'random'")
    n_samples = sampling.get("n_samples", 0)
    seed = sampling.get("seed", 0)
    if method == "random":
        if not _is_int(n_samples) or n_samples < 1:
            raise bad("random sampling needs a number of samples", "sampling.n_samples", n_samples, "an integer >= 1")
        if not _is_int(seed) or seed < 0:
            raise bad("invalid seed", "sampling.seed", seed, "an integer >= 0")
    elif "n_samples" in sampling:
        raise bad("grid sampling takes no n_samples (it runs every combination)", "sampling.n_samples", n_samples, "no n_samples, or method = \"random\"")

    raw = _table(data, "parameters", source)
    # random fields drawn per sample are a study's variation too: n_samples random draws need no [parameters]
    if not raw and not (method == "random" and _draws_per_sample(case_doc)):
        raise bad("no parameters to vary", "parameters",
                  expected="a [parameters] table, e.g. k_in = [6.0, 12.0] (or random sampling of a random field with seed_by_sample = true)")
    base_parameters = case_doc.get("parameters", {}) if isinstance(case_doc.get("parameters"), Mapping) else {}
    specs = []
    for pname, spec in raw.items():
        where = f"parameters.{pname}"
        if "." in pname:
            try:
                current = get_path(case_doc, pname)
            except InputError as err:
                raise err.replace(source=source, field=where) from None
            if not _is_number(current):
                raise bad("only numbers can be varied", where, current, f"a dotted path to a number in the case ({case_path.name})")
        elif pname not in base_parameters:
            close = difflib.get_close_matches(pname, list(base_parameters), n=1)
            raise bad(
                "not a parameter of the case",
                where,
                pname,
                f"one of the case's [parameters] ({', '.join(base_parameters) or 'it has none'}), or a dotted path such as physics.f",
                hint=f"Did you mean {close[0]!r}?" if close else None,
            )
        specs.append(_parameter(pname, spec, method, bad))
    if method == "grid" and math.prod(len(p.grid_values()) for p in specs) > 100_000:
        raise bad("the grid has too many samples", "parameters", math.prod(len(p.grid_values()) for p in specs), "at most 100000 combinations; use random sampling")

    outputs = _table(data, "outputs", source)
    _unknown(outputs, _OUTPUT_KEYS, "outputs.", source)
    probes, keep = outputs.get("probes", True), outputs.get("samples", False)
    for key, value in (("probes", probes), ("samples", keep)):
        if not isinstance(value, bool):
            raise bad("not true or false", f"outputs.{key}", value, "true or false")
    fields = outputs.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise bad("not a list of strings", "outputs.fields", fields, "e.g. [\"u.max\", \"u.mean\"]")
    for i, item in enumerate(fields):
        fname, _, stat = item.rpartition(".")
        if not fname or stat not in FIELD_STATISTICS:
            raise bad("not <field>.<statistic>", f"outputs.fields[{i}]", item, f"a field name and one of {', '.join(FIELD_STATISTICS)}, e.g. \"u.max\"")

    return Study(
        name=name,
        description=description,
        case_path=case_path,
        case_document=case_doc,
        parameters=tuple(specs),
        solver=solver,
        method=method,
        n_samples=int(n_samples) if method == "random" else 0,
        seed=int(seed),
        probes=probes,
        fields=tuple(fields),
        keep_samples=keep,
        source=source,
        document=json.loads(json.dumps(data, default=str)),
    )


_LOADERS: dict[int, Callable[[dict[str, Any], Path | None], Study]] = {1: _load_v1}


def _parameter(name: str, spec: Any, method: str, bad) -> ParameterSpec:
    where = f"parameters.{name}"
    expected = "a list of numbers, or a table {min = ..., max = ..., n = ...} (n for grid sampling; log = true for geometric spacing)"
    if isinstance(spec, list):
        if not spec or not all(_is_number(v) for v in spec):
            raise bad("not a list of numbers", where, spec, expected)
        return ParameterSpec(name, values=tuple(float(v) for v in spec))
    if not isinstance(spec, Mapping):
        raise bad("not a list or a range", where, spec, expected)
    unknown = sorted(set(spec) - _RANGE_KEYS)
    if unknown:
        raise bad("unknown key", f"{where}.{unknown[0]}", expected="min, max, n, log")
    low, high, n, log = spec.get("min"), spec.get("max"), spec.get("n"), spec.get("log", False)
    if not _is_number(low) or not _is_number(high) or not low <= high:
        raise bad("needs numbers min <= max", where, {"min": low, "max": high}, expected)
    if not isinstance(log, bool) or (log and low <= 0):
        raise bad("log spacing needs true or false and min > 0", f"{where}.log", log, "log = true with min > 0, or log = false")
    if method == "grid" and (not _is_int(n) or n < 1):
        raise bad("a grid range needs its number of points", f"{where}.n", n, "an integer >= 1")
    if method == "random" and n is not None:
        raise bad("random sampling takes no n per parameter", f"{where}.n", n, "[sampling] n_samples instead")
    return ParameterSpec(name, low=float(low), high=float(high), n=int(n) if n is not None else None, log=log)


def _base_case(case: Any, source: Path | None) -> tuple[Path, dict[str, Any]]:
    folder = source.parent if source is not None else Path.cwd()
    if isinstance(case, Mapping):
        return (source or folder / "study.toml"), copy.deepcopy(dict(case))
    if not isinstance(case, str) or not case:
        raise InputError("missing base case", source=source, field="case", value=case, expected="the path of a case file (.toml), relative to the study file")
    path = Path(case).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        raise InputError("the base case file is not found", source=source, field="case", value=case, expected=f"an existing case file (looked for {path})")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"the base case is not valid TOML ({exc})", source=path, expected="a case file") from exc
    return path.resolve(), doc


def _table(data: Mapping[str, Any], key: str, source: Path | None) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise InputError("not a table", source=source, field=key, value=value, expected=f"a [{key}] table")
    return dict(value)


def _unknown(data: Mapping[str, Any], allowed: set[str], prefix: str, source: Path | None) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise InputError(
                "unknown key",
                source=source,
                field=f"{prefix}{key}",
                expected=f"one of {', '.join(sorted(allowed))}",
                hint=f"Did you mean {close[0]!r}?" if close else None,
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``physics.f``, ``boundary.0.value``) of a case document."""
    node: Any = doc
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise InputError("no such entry in the base case", field=path, value=part, expected="a dotted path to an entry of the case, e.g. physics.f")
    return node


def set_path(doc: dict[str, Any], path: str, value: Any, *, must_exist: bool = True) -> None:
    """Put ``value`` at a dotted path of a case document (list items by index: ``boundary.0.value``).

    Examples
    --------
    >>> doc = {"physics": {"f": 1.0}}
    >>> set_path(doc, "physics.f", 2.0); doc
    {'physics': {'f': 2.0}}
    """
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                if must_exist:
                    raise InputError("no such entry in the base case", field=path, value=part, expected="a dotted path to an entry of the case")
                node[part] = {}
            node = node[part]
        else:
            raise InputError("no such entry in the base case", field=path, value=part, expected="a dotted path to an entry of the case")
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict) and (last in node or not must_exist):
        node[last] = value
    else:
        raise InputError("no such entry in the base case", field=path, value=last, expected="a dotted path to an entry of the case")
