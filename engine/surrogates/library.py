"""The model library: a trained surrogate is a folder holding its weights and its card.

::

    darcy-fno/
        card.json            what the model answers, how it was trained, how well it does
        weights.safetensors  the state_dict (model and normalisers), plain tensors only

Loading never unpickles anything: the card is JSON, the weights are safetensors, and the
model is rebuilt from the registry by name with the card's JSON constructor arguments.

Model folders come from other people, so nothing in one is trusted before it is checked, on
import and on every load:

* the card is read through :mod:`engine.inputs` (a regular file of at most the
  ``model_card_bytes`` limit, nesting bounded) and validated by one schema (``_CardSchema``):
  every field typed, every name, text, list and table bounded;
* the card must carry the weights' SHA-256 (a missing or empty one is refused, not skipped),
  so a file swapped or edited after saving is refused;
* the weights file is bounded by ``model_weights_bytes``, and before any tensor is read or
  allocated the model the card describes is built on torch's ``meta`` device (no memory) and
  compared with the shapes the safetensors header declares; a config asking for more than
  ``model_parameters`` is refused while it is being built.

Folders are looked up by path, or by name in the shipped ``resources/models/`` and in the
user's library (``$WORKBENCH_MODELS``, default ``~/.local/share/workbench/models``). A broken
folder there never hides the others: :func:`list_models` lists the good ones and
:func:`broken_models` says what is wrong with each of the rest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.atomic import process_umask
from engine.errors import InputError
from engine.inputs import check_input_file, open_input, parse_json, read_input_bytes
from engine.limits import LIMITS

__all__ = [
    "check_library_name",
    "CARD_VERSION",
    "CARD_VERSIONS",
    "Card",
    "save_surrogate",
    "load_surrogate",
    "load_card",
    "list_models",
    "broken_models",
    "BrokenModel",
    "find_model",
    "user_library",
    "import_model",
    "export_model",
]

CARD_VERSION = 2
#: Card versions this workbench reads: 1 (grid models of Darcy flow) and 2 (any case: adds the
#: adapter, the base case's fingerprint and the varied parameters' ranges).
CARD_VERSIONS = (1, 2)
#: How a model meets a case: on the points of the case's mesh, or on a grid sampled from it.
ADAPTERS = ("grid", "points", "masked_grid")
_CARD = "card.json"
_WEIGHTS = "weights.safetensors"

# -- the card schema ------------------------------------------------------------------------
#: Grid points per side a card may declare: those a data set recipe accepts
#: (``engine.surrogates.datasets.MIN_RESOLUTION, MAX_RESOLUTION``; not imported, to keep
#: reading a card free of numpy and h5py; a test keeps the two in step).
MIN_RESOLUTION, MAX_RESOLUTION = 3, 4097
_NAME_CHARS = 64  # a channel, a coefficient path, a registry name, a config key
_TEXT_CHARS = 1024  # an equation, a date, a version string
_ENTRIES = 64  # items of a list or table the card declares (channels, constants, config)


def _printable(text: str) -> str:
    """No control characters: card texts are printed as they are by ``models list``, and an
    escape sequence there would rewrite the user's terminal."""
    bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise ValueError(f"holds a control character (U+{ord(bad):04X})")
    return text


_Name = Annotated[str, Field(min_length=1, max_length=_NAME_CHARS), AfterValidator(_printable)]
_Text = Annotated[str, Field(max_length=_TEXT_CHARS), AfterValidator(_printable)]


def _config_value(value: Any) -> Any:
    """A model option as a config class takes it: a JSON scalar or a short flat list of them."""
    items = value if isinstance(value, list) else [value]
    if len(items) > _ENTRIES:
        raise ValueError(f"a list of at most {_ENTRIES} items is expected, not {len(items)}")
    for item in items:
        if not isinstance(item, (bool, int, float, str)):
            raise ValueError(f"a number, a string, true/false or a flat list of them is expected, not {type(item).__name__}")
        if isinstance(item, str):
            _printable(item)
            if len(item) > _NAME_CHARS:
                raise ValueError(f"a string of at most {_NAME_CHARS} characters is expected")
    return value


class _Schema(BaseModel):
    # strict: a card's "1" is not a 1, nor true a 1 (JSON keeps the types apart; so do we)
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _PhysicsSchema(_Schema):
    kind: _Name
    # grid models sample these case coefficients, one per input channel; point models read channels built from the case
    input_coefficients: Annotated[dict[_Name, _Name], Field(max_length=_ENTRIES)] = {}
    equation: _Text = ""
    boundary: _Name | None = None
    constants: Annotated[dict[_Name, float], Field(max_length=_ENTRIES)] = {}
    # point models: fields taken from the finite elements' post-processing of the predicted ones
    derived: Annotated[list[_Name], Field(max_length=_ENTRIES)] = []


class _GridSchema(_Schema):
    resolution: Annotated[int, Field(ge=MIN_RESOLUTION, le=MAX_RESOLUTION)]
    # the grid models' square; none for the masked grid, which covers each case's bounding box
    domain: Annotated[list[Annotated[list[float], Field(min_length=2, max_length=2)]], Field(min_length=2, max_length=2)] | None = None

    @field_validator("domain")
    @classmethod
    def _ordered(cls, domain: list[list[float]]) -> list[list[float]]:
        if domain is not None and any(not lo < hi for lo, hi in domain):
            raise ValueError("each axis needs [low, high] with low < high")
        return domain


class _ConditionSchema(_Schema):
    type: _Name
    regions: Annotated[list[_Name], Field(min_length=1, max_length=_ENTRIES)]


class _FingerprintSchema(_Schema):
    """What a point model knows of its base case: the geometry, the regions, the conditions."""

    geometry: _Name | None = None
    regions: Annotated[list[_Name], Field(max_length=_ENTRIES)] = []
    conditions: Annotated[list[_ConditionSchema], Field(max_length=_ENTRIES)] = []
    model: _Name | None = None  # elasticity: plane_stress, plane_strain or 3d


class _CardSchema(_Schema):
    """What ``card.json`` may hold: the one check behind ``Card.from_dict``, on import and load."""

    name: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]
    model: _Name
    config: Annotated[dict[_Name, Annotated[Any, AfterValidator(_config_value)]], Field(max_length=_ENTRIES)]
    physics: _PhysicsSchema
    inputs: Annotated[list[_Name], Field(min_length=1, max_length=_ENTRIES)]
    outputs: Annotated[list[_Name], Field(min_length=1, max_length=_ENTRIES)]
    grid: _GridSchema | None = None
    adapter: Literal["grid", "points", "masked_grid"] = "grid"
    fingerprint: _FingerprintSchema | None = None
    parameters: Annotated[dict[_Name, Annotated[list[float], Field(min_length=2, max_length=2)]], Field(max_length=_ENTRIES)] = {}
    training_ranges: Annotated[dict[_Name, Annotated[list[float], Field(min_length=2, max_length=2)]], Field(max_length=_ENTRIES)] = {}
    # Records for people (bounded by the card's size and nesting limits): never read by code as numbers.
    dataset: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    training: dict[str, Any] = {}
    versions: Annotated[dict[_Name, _Text], Field(max_length=_ENTRIES)] = {}
    created: _Text = ""
    weights_sha256: str
    format_version: int

    @field_validator("weights_sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not value:
            raise ValueError("the weights checksum is empty: a model's weights are only loaded when they match the card")
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("not a SHA-256 checksum (64 lower-case hexadecimal digits)")
        return value

    @field_validator("inputs", "outputs")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("channel names must be distinct")
        return names


def _check_consistent(card: _CardSchema, source: str | Path | None) -> None:
    """What the schema's types cannot say: the channels agree across the card's fields."""
    if card.adapter in ("points", "masked_grid"):
        if card.fingerprint is None:
            raise InputError("a point model's card names its base case", source=source, field="fingerprint",
                             expected='{"geometry": ..., "regions": [...], "conditions": [{"type": ..., "regions": [...]}]}')
    if card.adapter != "points" and card.grid is None:
        raise InputError("the model card misses keys", source=source, value=["grid"])
    if card.adapter == "grid" and card.grid.domain is None:
        raise InputError("a grid model's card names its grid's square", source=source, field="grid.domain", expected="[[x0, x1], [y0, y1]]")
    coefficients = list(card.physics.input_coefficients)
    if card.adapter == "grid" and coefficients != card.inputs:
        # the solver samples one input channel per coefficient, in this order
        raise InputError("the input coefficients do not match the inputs", source=source, field="physics.input_coefficients",
                         value=coefficients, expected=f"the inputs {card.inputs}, in this order")
    for key, channels in (("in_channels", card.inputs), ("out_channels", card.outputs)):
        if key in card.config and card.config[key] != len(channels):
            raise InputError("the config does not match the channels", source=source, field=f"config.{key}",
                             value=card.config[key], expected=f"{len(channels)}: the card has {len(channels)} {key[:-len('_channels')]}put channel(s)")
    ranges = [(f"training_ranges.{k}", v) for k, v in card.training_ranges.items()] + [(f"parameters.{k}", v) for k, v in card.parameters.items()]
    for name, (lo, hi) in ranges:
        if lo > hi:
            raise InputError("a training range's low end is above its high end", source=source, field=name, value=[lo, hi], expected="[low, high] with low <= high")


_KINDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "a list",
    "finite_number": "a finite number",
}
_EXPECTED = {
    "physics": 'a JSON object such as {"kind": "diffusion", "input_coefficients": {"k": "physics.k"}}',
    "grid": 'a JSON object such as {"resolution": 64, "domain": [[0, 1], [0, 1]]}',
    "config": "a JSON object of model options (numbers, strings, true/false or flat lists of them)",
    "inputs": "a list of channel names",
    "outputs": "a list of channel names",
    "physics.input_coefficients": 'a JSON object of input channel -> case coefficient, such as {"k": "physics.k"}',
    "grid.resolution": f"an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION}: grid points per side",
}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _card_error(exc: ValidationError, source: str | Path | None) -> InputError:
    """The first problem of a card as an InputError naming the card and the field; the others as a hint."""
    problems = []
    for err in exc.errors(include_url=False):
        field_name = _format_loc(err["loc"]) or None
        kind, base = err["type"], str(err["loc"][0]) if err["loc"] else ""
        expected = _EXPECTED.get(field_name or "")
        if kind in _KINDS:
            # the field's own description where it has one ("a JSON object such as ..."), else the type
            own = _EXPECTED.get(field_name or "")
            problem, expected = "wrong type", own if own and kind in ("dict_type", "model_type", "model_attributes_type", "list_type") else _KINDS[kind]
        elif kind == "missing":
            problem = "missing required key"
        elif kind == "extra_forbidden":
            table = {"physics": _PhysicsSchema, "grid": _GridSchema}.get(base)
            problem, expected = "unknown key", f"one of {', '.join(table.model_fields)}" if table else None
        else:
            message = err["msg"].removeprefix("Value error, ")
            problem = message[:1].lower() + message[1:]
        value = err.get("input")
        shown = {} if kind in ("missing", "extra_forbidden") or isinstance(value, Mapping) else {"value": value}
        problems.append(InputError(problem, source=source, field=field_name, expected=expected, **shown))
    first, rest = problems[0], problems[1:]
    if rest:
        first = first.replace(hint=f"{len(rest)} more problem(s): " + "; ".join(f"{p.field}: {p.problem}" for p in rest[:5]))
    return first


@dataclass
class Card:
    """What a trained surrogate is, answers and is worth.

    Attributes
    ----------
    name
        The model's id in the library (``darcy-fno``).
    model, config
        Registry name and JSON constructor arguments (``engine.surrogates.models``).
    physics
        The case physics it answers (``kind``: ``diffusion`` for Darcy flow), the case
        coefficient each input channel samples (``input_coefficients``) and the assumptions it
        was trained under (``boundary``: ``dirichlet_zero``; ``constants``: ``{"physics.f": 1}``).
    inputs, outputs
        Channel names: inputs name case coefficients (``physics.k``), outputs name fields.
    grid
        ``{"resolution": 64, "domain": [[0, 1], [0, 1]]}``: the uniform grid the model reads,
        boundary points included.
    training_ranges
        Input name -> [min, max] seen in training; answers outside are flagged.
    dataset
        Recipe, path and checksum of the training data.
    metrics
        Training and test figures (relative L2 at the training and at a finer resolution...).
    weights_sha256
        The SHA-256 of ``weights.safetensors``, filled in by :func:`save_surrogate`; a card read
        from a file must have it.
    """

    name: str
    model: str
    config: dict[str, Any]
    physics: dict[str, Any]
    inputs: list[str]
    outputs: list[str]
    grid: dict[str, Any] | None = None
    adapter: str = "grid"
    fingerprint: dict[str, Any] | None = None
    parameters: dict[str, list[float]] = field(default_factory=dict)
    training_ranges: dict[str, list[float]] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    weights_sha256: str = ""
    format_version: int = CARD_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, source: str | Path | None = None) -> Card:
        """The card in ``data`` (a parsed ``card.json``), checked against the card schema.

        Raises
        ------
        InputError
            Naming ``source`` and the field: a wrong version, an unknown or missing key, a
            value of the wrong type or beyond its bounds, a missing or empty checksum.

        Examples
        --------
        >>> Card.from_dict({"format_version": 1, "name": "m", "model": "fno", "config": {}, "physics": ["diffusion"],
        ...                 "inputs": ["k"], "outputs": ["u"], "grid": {}, "weights_sha256": "0" * 64}, source="card.json")
        Traceback (most recent call last):
        ...
        engine.errors.InputError: card.json: physics: wrong type: got ['diffusion']; expected a JSON object such as ...
        """
        if not isinstance(data, dict):
            raise InputError("a model card must be a JSON object", source=source, value=type(data).__name__)
        version = data.get("format_version")
        if isinstance(version, bool) or version not in CARD_VERSIONS:
            raise InputError("unsupported model card version", source=source, field="format_version", value=version,
                             expected=f"one of {', '.join(map(str, CARD_VERSIONS))}; a newer workbench may read it")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise InputError("unknown keys in the model card", source=source, value=unknown, expected=f"keys among {', '.join(sorted(known))}")
        required = ("name", "model", "config", "physics", "inputs", "outputs") + (("grid",) if version == 1 else ())
        missing = [k for k in required if k not in data]
        if missing:
            raise InputError("the model card misses keys", source=source, value=missing)
        if "weights_sha256" not in data:
            raise InputError("the model card has no weights checksum", source=source, field="weights_sha256",
                             expected="the SHA-256 of weights.safetensors, as saving a model writes it: a model's weights are only loaded when they match the card")
        try:
            checked = _CardSchema.model_validate(data)
        except ValidationError as exc:
            raise _card_error(exc, source) from None
        if version == 1 and (checked.adapter != "grid" or checked.fingerprint is not None or checked.parameters):
            raise InputError("a version 1 card describes a grid model", source=source, field="adapter",
                             expected="format_version 2 for a card with adapter, fingerprint or parameters")
        _check_consistent(checked, source)
        return cls(**checked.model_dump(exclude_unset=True))

    def answers_on(self) -> str:
        """Where the model answers, in words (``a 64x64 grid``, ``the points of the case's mesh``)."""
        if self.adapter in ("points", "masked_grid"):
            geometry = (self.fingerprint or {}).get("geometry")
            where = f"the points of the case's mesh ({geometry})" if geometry else "the points of the case's mesh"
            if self.adapter == "masked_grid":
                res = (self.grid or {}).get("resolution")
                where += f" through a masked {res}x{res} grid"
            return where
        res = (self.grid or {}).get("resolution")
        return f"a {res}x{res} grid"


# -- names ----------------------------------------------------------------------------------
#: A library name: a plain ASCII folder name. Anything else (spaces, Unicode hyphens, full-width
#: or Cyrillic letters) could look like another model's name in a list or a case file.
_LIBRARY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), "-")


def _look_alike_key(name: str) -> str:
    """What two names share when a reader cannot tell them apart: NFKC (full-width letters),
    trimmed, case-blind (on macOS and Windows Darcy-FNO *is* darcy-fno), any hyphen a hyphen."""
    return unicodedata.normalize("NFKC", name).translate(_DASHES).strip().casefold()


def _folders(library: Path) -> list[Path]:
    """The model folders of a library: its sub-folders, except hidden ones (a half-made
    ``.name.part-*`` folder) and ``__pycache__``."""
    if not library.is_dir():
        return []
    return sorted(p for p in library.iterdir() if not p.name.startswith((".", "__pycache__")) and p.is_dir())


def _shipped_library() -> Path:
    from engine.resources import resources_dir

    return resources_dir() / "models"


def _name_error(name: Any, *, shipped: list[str], existing: list[str]) -> InputError | None:
    """Why ``name`` cannot name a user's model beside the ``shipped`` and ``existing`` ones, or None."""
    expected = "1 to 64 of the characters A-Z a-z 0-9 . _ -, starting with a letter or a digit (such as darcy-fno-small)"
    if not isinstance(name, str):
        return InputError("invalid model name", field="name", value=name, expected=expected)
    key = _look_alike_key(name)
    for other in shipped:
        if _look_alike_key(other) == key:
            problem = "a shipped model has this name" if name.casefold() == other.casefold() else f"the name looks like the shipped model's, {other!r}"
            return InputError(problem, field="name", value=name,
                              expected=f"another name (for example {other}-mine): yours would hide the shipped one, which the examples use")
    for other in existing:
        if other != name and _look_alike_key(other) == key:
            return InputError(f"the name looks like that of your model {other!r}", field="name", value=name,
                              expected=f"another name, or {other!r} itself to replace that model")
    if not _LIBRARY_NAME.fullmatch(name):
        odd = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
        hint = f"It holds U+{ord(odd):04X} {unicodedata.name(odd, 'a control character')}." if odd is not None else None
        return InputError("invalid model name", field="name", value=name, expected=expected, hint=hint)
    return None


def check_library_name(name: str) -> str:
    """``name`` if it can name a model in the user's library, else an ``InputError``.

    A name is a plain ASCII folder name (``[A-Za-z0-9][A-Za-z0-9._-]*``, at most 64
    characters): one that is not already a shipped model's name, nor looks like one or like
    another model of the user's library, once case, width (NFKC), surrounding spaces and
    Unicode hyphens are set aside. A user's model of that name would shadow the shipped one
    (the examples that name it would silently run another), or be mistaken for it.

    Examples
    --------
    >>> check_library_name("darcy-fno-small")
    'darcy-fno-small'
    >>> check_library_name("darcy\\u2011fno")
    Traceback (most recent call last):
    ...
    engine.errors.InputError: name: the name looks like the shipped model's, 'darcy-fno': got 'darcy‑fno'; ...
    """
    def names(library: Path) -> list[str]:
        try:
            return [f.name for f in _folders(library)]
        except OSError:  # an unreadable library holds nothing to compare with; writing there fails clearly later
            return []

    error = _name_error(name, shipped=names(_shipped_library()), existing=names(user_library()))
    if error is not None:
        raise error
    return name


# -- the library ----------------------------------------------------------------------------
def user_library() -> Path:
    """The user's model library folder."""
    return Path(os.environ.get("WORKBENCH_MODELS", Path.home() / ".local" / "share" / "workbench" / "models"))


@dataclass(frozen=True)
class BrokenModel:
    """A folder of a model library that is no usable model, and why.

    Attributes
    ----------
    folder
        The folder.
    error
        What is wrong, as loading the model by name raises it (naming the file and the field).
    """

    folder: Path
    error: InputError

    @property
    def reason(self) -> str:
        return str(self.error)

    def __str__(self) -> str:
        return self.reason


def _scan() -> tuple[dict[str, Path], dict[str, BrokenModel]]:
    """Every library folder, sorted into good ones (name -> folder) and broken ones (name -> why).

    Cheap enough to run on every listing (no checksum, no torch): each card is read and
    validated, each weights file must be a regular file within its size limit. A user's folder
    whose name is or looks like a shipped model's is broken: the shipped model keeps its name.
    """
    good: dict[str, Path] = {}
    broken: dict[str, BrokenModel] = {}
    shipped: list[str] = []
    for library, is_shipped in ((_shipped_library(), True), (user_library(), False)):
        try:
            folders = _folders(library)
        except OSError as exc:
            broken[str(library)] = BrokenModel(library, InputError(f"cannot read the model library ({exc.strerror or exc})", source=library))
            continue
        for folder in folders:
            try:
                if not is_shipped:
                    error = _name_error(folder.name, shipped=shipped, existing=[])
                    if error is not None:
                        raise error.replace(source=str(folder), hint="Rename the folder.")
                _check_folder(folder)
            except InputError as err:
                broken[folder.name] = BrokenModel(folder, err)
                continue
            good[folder.name] = folder
            if is_shipped:
                shipped.append(folder.name)
    return good, broken


def list_models() -> dict[str, Path]:
    """Library name -> folder of every usable model, shipped ones first.

    A folder that is no usable model (a malformed card, no weights, a name that would shadow
    a shipped model) is left out, never raised: :func:`broken_models` says why.
    """
    return _scan()[0]


def broken_models() -> dict[str, BrokenModel]:
    """Library name -> the folder of that name that is no usable model, and why (empty when all are).

    A user's copy of a shipped model is listed here under the shipped model's name, which
    :func:`list_models` also holds (for the shipped one).

    Examples
    --------
    >>> broken_models()
    {}
    """
    return _scan()[1]


def find_model(name_or_path: str | Path) -> Path:
    """The folder of a model given by library name or by path.

    A broken library model named here raises what is wrong with it.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir() and os.path.lexists(path / _CARD):  # a card that is a pipe is refused when read, not overlooked
        return path
    good, broken = _scan()
    if str(name_or_path) in good:
        return good[str(name_or_path)]
    if str(name_or_path) in broken:
        raise broken[str(name_or_path)].error
    raise InputError(
        "no such surrogate model",
        field="solver.surrogate.model",
        value=str(name_or_path),
        expected=f"a model folder with a {_CARD}, or one of the library's models: {', '.join(good) or '(none installed)'}",
    )


def _read_card(path: Path) -> Card:
    """The card in the file ``path``: read through the one door for user files, then validated."""
    data = read_input_bytes(path, what="a model card (card.json)", limit="model_card_bytes")
    return Card.from_dict(parse_json(data, source=path, what="a JSON model card"), source=path)


def load_card(folder: str | Path) -> Card:
    """Read and check a model's card (no weights loaded, no torch needed)."""
    return _read_card(find_model(folder) / _CARD)


def _weights_file(folder: Path) -> Path:
    return check_input_file(folder / _WEIGHTS, what=f"the model's weights ({_WEIGHTS})", limit="model_weights_bytes")


def _check_folder(folder: Path) -> Card:
    """The card of ``folder``, once it is a model folder with a valid card and a weights file."""
    if not folder.is_dir() or not os.path.lexists(folder / _CARD):
        raise InputError("not a model folder", source=folder, expected=f"a folder with {_CARD} and {_WEIGHTS}")
    card = _read_card(folder / _CARD)
    _weights_file(folder)
    return card


# -- weights --------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_input(path, what=f"the model's weights ({_WEIGHTS})", limit="model_weights_bytes") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _declared_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, as the safetensors header declares them; no tensor data is read.

    A safetensors file starts with the header's length (8 bytes, little-endian) and the header,
    a JSON object ``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}``.
    """
    not_safetensors = "not a safetensors weights file"
    with open_input(weights, what=f"the model's weights ({_WEIGHTS})", limit="model_weights_bytes") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(8)
        if len(head) < 8:
            raise InputError(f"{not_safetensors} (shorter than its 8-byte header length)", source=weights)
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise InputError(f"{not_safetensors} (its header would be {length} bytes, the file has {size})", source=weights)
        LIMITS["text_file_bytes"].check(length, what="the weights file's header", source=weights)
        header = parse_json(fh.read(length), source=weights, what="a safetensors header (JSON)")
    if not isinstance(header, dict):
        raise InputError(f"{not_safetensors} (its header is no JSON object)", source=weights)
    shapes = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and len(shape) <= 8 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise InputError(f"{not_safetensors} (a tensor without a valid shape)", source=weights, field=name, value=shape, expected="a list of at most 8 non-negative integers")
        shapes[name] = tuple(shape)
    return shapes


def _build_surrogate(card: Card):
    """The untrained ``SurrogateModel`` the card describes: the one place a model is built from a card."""
    from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    from engine.surrogates.models import build_model
    from engine.surrogates.training import SurrogateModel

    network = build_model(card.model, card.config)
    if card.adapter == "masked_grid":
        from engine.surrogates.models.masked_grid import MaskedGrid

        network = MaskedGrid(network)
    return SurrogateModel(network, UnitGaussianNormalizer(len(card.inputs)), UnitGaussianNormalizer(len(card.outputs)))


class _TooBig(Exception):
    """Stops building a model on the meta device once it has grown past what may be built."""


def _planned_shapes(card: Card, *, card_path: Path, weights: Path, tensors_in_file: int) -> dict[str, tuple[int, ...]]:
    """The state's shapes of the model the card describes, found without spending memory.

    The model is built on torch's ``meta`` device (tensors without storage), and the build is
    stopped as soon as its parameters pass ``LIMITS["model_parameters"]``, or its tensors far
    outnumber the file's (a config asking for a million layers stops after a few), so neither
    memory nor time grows with what a hostile config asks for.
    """
    import torch
    from torch.nn.modules.module import register_module_buffer_registration_hook, register_module_parameter_registration_hook

    most_parameters = LIMITS["model_parameters"].value()
    # slack: tied weights and non-persistent buffers are registered but not saved
    most_tensors = 2 * tensors_in_file + 64
    builder = threading.get_ident()  # the hooks are global: another thread's models are not ours
    counted = {"parameters": 0, "tensors": 0}

    def count(module, name, tensor):
        if tensor is None or threading.get_ident() != builder:
            return None
        counted["tensors"] += 1
        if isinstance(tensor, torch.nn.Parameter):
            counted["parameters"] += tensor.numel()
        if counted["parameters"] > most_parameters or counted["tensors"] > most_tensors:
            raise _TooBig
        return None

    hooks = [register_module_parameter_registration_hook(count), register_module_buffer_registration_hook(count)]
    try:
        with torch.device("meta"):
            surrogate = _build_surrogate(card)
    except _TooBig:
        if counted["parameters"] > most_parameters:
            raise LIMITS["model_parameters"].refuse(
                counted["parameters"], what="parameters in the model the card's config describes", source=card_path, field="config"
            ) from None
        raise InputError(
            "the weights do not fit the model the card describes",
            source=weights,
            value=f"more than {most_tensors} tensors in the model",
            expected=f"the {tensors_in_file} tensors of the file",
        ) from None
    except InputError as err:  # an unknown model name, a config value out of range
        raise err.with_source(card_path) from None
    except Exception as exc:  # noqa: BLE001 - an untrusted config meets model code (plugins too): any failure is bad input
        raise InputError(f"the card's config cannot build a {card.model!r} model ({type(exc).__name__}: {exc})", source=card_path, field="config") from None
    finally:
        for hook in hooks:
            hook.remove()
    return {name: tuple(tensor.shape) for name, tensor in surrogate.state_dict().items()}


def _check_fits(card: Card, *, card_path: Path, weights: Path) -> None:
    """The tensors the weights file declares are exactly those of the model the card describes."""
    declared = _declared_shapes(weights)
    planned = _planned_shapes(card, card_path=card_path, weights=weights, tensors_in_file=len(declared))
    missing = sorted(set(planned) - set(declared))
    unexpected = sorted(set(declared) - set(planned))
    wrong = [f"{k} {declared[k]} in the file, {planned[k]} in the model" for k in sorted(set(planned) & set(declared)) if planned[k] != declared[k]]
    if missing or unexpected or wrong:
        details = [f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}" for label, items in (("wrong shape", wrong), ("missing", missing), ("unexpected", unexpected)) if items]
        raise InputError(
            "the weights do not fit the model the card describes",
            source=weights,
            expected=f"the tensors of a {card.model!r} model with the card's config",
            hint="; ".join(details),
        )


def _checked(folder: Path) -> Card:
    """The card of a model folder whose weights match it: card schema, checksum, sizes and
    tensor shapes, all checked before a single tensor is read."""
    card = _check_folder(folder)
    weights = _weights_file(folder)
    if _sha256(weights) != card.weights_sha256:
        raise InputError(
            "the weights do not match the card's checksum: the file was changed or replaced after saving",
            source=weights,
            expected=f"sha256 {card.weights_sha256}",
        )
    _check_fits(card, card_path=folder / _CARD, weights=weights)
    return card


# -- saving and loading ---------------------------------------------------------------------
def save_surrogate(folder: str | Path, surrogate, card: Card) -> Path:
    """Write ``surrogate`` (a ``SurrogateModel``) and ``card`` into ``folder``, atomically.

    The folder is assembled under a temporary name and renamed into place; an existing model
    of the same name is replaced only once the new one is complete. The card is checked against
    the same schema as on loading, so no model is saved that could not be loaded.
    """
    from safetensors.torch import save_file

    folder = Path(folder)

    def fill(staging: Path) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in surrogate.state_dict().items()}
        save_file(state, str(staging / _WEIGHTS), metadata={"format": "workbench-surrogate", "model": card.model})
        card.weights_sha256 = _sha256(staging / _WEIGHTS)
        text = card.to_json()
        Card.from_dict(json.loads(text), source=folder / _CARD)
        (staging / _CARD).write_text(text, encoding="utf-8")

    return _install(folder, fill)


def _install(folder: Path, fill) -> Path:
    """Make ``folder`` atomically: ``fill(staging)`` writes into a temporary folder beside it,
    which then replaces ``folder`` (an old one is moved aside first, then removed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.part-", dir=folder.parent))
    try:
        fill(staging)
        # mkdtemp made the folder private; a library is read by others (the installer, a team).
        umask = process_umask()
        staging.chmod(0o777 & ~umask)
        for item in staging.iterdir():
            item.chmod(0o666 & ~umask)
        retired = None
        if folder.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            folder.rename(retired / "model")
        staging.rename(folder)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_surrogate(folder: str | Path, *, device: str = "cpu"):
    """Rebuild a saved surrogate: ``(SurrogateModel, Card)``, in eval mode on ``device``.

    Raises
    ------
    InputError
        The folder is no model, the card is malformed or has no checksum, the weights were
        changed after saving (checksum), are too large, are not safetensors, or do not fit
        the model the card describes (found from the file's header, before loading), or the
        card's config asks for more parameters than ``LIMITS["model_parameters"]``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from engine.surrogates.devices import resolve_device

    target = resolve_device(device)  # a device this machine lacks is bad input, found first
    folder = find_model(folder)
    card = _checked(folder)
    weights = folder / _WEIGHTS
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"not a safetensors weights file ({exc})", source=weights) from exc
    surrogate = _build_surrogate(card)
    try:
        surrogate.load_state_dict(state)
    except RuntimeError as exc:  # a plugin model built differently on the meta device
        raise InputError("the weights do not fit the model the card describes", source=weights, hint=str(exc)[:500]) from None
    surrogate.to(target).eval()
    return surrogate, card


def _copy_folder(source: Path, target: Path, *, replace: bool) -> Path:
    """Copy a model folder to ``target`` atomically: staged beside it, then renamed into place."""
    if target.exists() and not replace:
        raise InputError("a model of that name is there already", source=target, expected="a new name, or replace=True (--force) to replace it")

    def fill(staging: Path) -> None:
        for name in (_CARD, _WEIGHTS):
            shutil.copyfile(source / name, staging / name)

    return _install(target, fill)


def import_model(folder: str | Path, *, name: str | None = None, replace: bool = False) -> Path:
    """Copy a model folder (card + weights, checked as on loading) into the user's library; its new folder.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["WORKBENCH_MODELS"] = tempfile.mkdtemp()
    >>> from engine.resources import resource_path
    >>> import_model(resource_path("models/darcy-fno"), name="my-fno").name, "my-fno" in list_models()
    ('my-fno', True)
    >>> del os.environ["WORKBENCH_MODELS"]
    """
    source = Path(folder).expanduser()
    target_name = check_library_name(name or Path(os.path.abspath(source)).name)  # cheap first: no torch
    _checked(source)
    return _copy_folder(source, user_library() / target_name, replace=replace)


def export_model(name_or_path: str | Path, dest: str | Path, *, replace: bool = False) -> Path:
    """Copy a library model (by name or folder) to ``dest``; into ``dest/<name>`` when ``dest`` is a folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> export_model("darcy-fno", tempfile.mkdtemp()).name
    'darcy-fno'
    """
    source = find_model(name_or_path)
    _checked(source)
    dest = Path(dest).expanduser()
    target = dest / source.name if dest.is_dir() and not (dest / _CARD).is_file() else dest
    return _copy_folder(source, target, replace=replace)
