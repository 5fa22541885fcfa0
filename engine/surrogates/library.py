"""The model library: a trained surrogate is a folder holding its weights and its card.

::

    darcy-fno/
        card.json            what the model answers, how it was trained, how well it does
        weights.safetensors  the state_dict (model and normalisers), plain tensors only

Loading never unpickles anything: the card is JSON, the weights are safetensors, and the
model is rebuilt from the registry by name with the card's JSON constructor arguments. The
card records the weights' SHA-256, so a file swapped or edited after saving is refused.

Folders are looked up by path, or by name in the shipped ``resources/models/`` and in the
user's library (``$WORKBENCH_MODELS``, default ``~/.local/share/workbench/models``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import process_umask
from engine.errors import InputError

__all__ = ["check_library_name", "CARD_VERSION", "Card", "save_surrogate", "load_surrogate", "load_card", "list_models", "find_model", "user_library", "import_model", "export_model"]

CARD_VERSION = 1
_CARD = "card.json"
_WEIGHTS = "weights.safetensors"


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
        The case physics it answers (``diffusion``: Darcy flow) and the assumptions it was
        trained under (``assumes``: e.g. u = 0 on the whole boundary of the unit square, f = 1).
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
    """

    name: str
    model: str
    config: dict[str, Any]
    physics: dict[str, Any]
    inputs: list[str]
    outputs: list[str]
    grid: dict[str, Any]
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
        if not isinstance(data, dict):
            raise InputError("a model card must be a JSON object", source=source, value=type(data).__name__)
        version = data.get("format_version")
        if version != CARD_VERSION:
            raise InputError("unsupported model card version", source=source, field="format_version", value=version, expected=str(CARD_VERSION))
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError("unknown keys in the model card", source=source, value=unknown, expected=f"keys among {', '.join(sorted(known))}")
        missing = [k for k in ("name", "model", "config", "physics", "inputs", "outputs", "grid") if k not in data]
        if missing:
            raise InputError("the model card misses keys", source=source, value=missing)
        return cls(**data)


def user_library() -> Path:
    """The user's model library folder."""
    return Path(os.environ.get("WORKBENCH_MODELS", Path.home() / ".local" / "share" / "workbench" / "models"))


def _libraries() -> list[Path]:
    from engine.resources import resources_dir

    return [resources_dir() / "models", user_library()]


def list_models() -> dict[str, Path]:
    """Library name -> folder, shipped models first (a user's model of the same name wins)."""
    found: dict[str, Path] = {}
    for library in _libraries():
        if library.is_dir():
            for folder in sorted(library.iterdir()):
                if (folder / _CARD).is_file():
                    found[folder.name] = folder
    return found


def find_model(name_or_path: str | Path) -> Path:
    """The folder of a model given by library name or by path."""
    path = Path(name_or_path).expanduser()
    if (path / _CARD).is_file():
        return path
    models = list_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    raise InputError(
        "no such surrogate model",
        field="solver.surrogate.model",
        value=str(name_or_path),
        expected=f"a model folder with a {_CARD}, or one of the library's models: {', '.join(models) or '(none installed)'}",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_surrogate(folder: str | Path, surrogate, card: Card) -> Path:
    """Write ``surrogate`` (a ``SurrogateModel``) and ``card`` into ``folder``, atomically.

    The folder is assembled under a temporary name and renamed into place; an existing model
    of the same name is replaced only once the new one is complete.
    """
    from safetensors.torch import save_file

    def fill(staging: Path) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in surrogate.state_dict().items()}
        save_file(state, str(staging / _WEIGHTS), metadata={"format": "workbench-surrogate", "model": card.model})
        card.weights_sha256 = _sha256(staging / _WEIGHTS)
        (staging / _CARD).write_text(card.to_json(), encoding="utf-8")

    return _install(Path(folder), fill)


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


def load_card(folder: str | Path) -> Card:
    """Read and check a model's card (no weights loaded, no torch needed)."""
    path = find_model(folder) / _CARD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the model card ({exc})", source=path, expected="a JSON model card") from exc
    return Card.from_dict(data, source=path)


def load_surrogate(folder: str | Path, *, device: str = "cpu"):
    """Rebuild a saved surrogate: ``(SurrogateModel, Card)``, in eval mode on ``device``.

    Raises
    ------
    InputError
        The folder is no model, the card is malformed, the weights were changed after saving
        (checksum), are not safetensors, or do not fit the model the card describes.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    from engine.surrogates.models import build_model
    from engine.surrogates.training import SurrogateModel

    folder = find_model(folder)
    card = load_card(folder)
    weights = folder / _WEIGHTS
    if not weights.is_file():
        raise InputError("the model has no weights file", source=folder, expected=_WEIGHTS)
    if card.weights_sha256 and _sha256(weights) != card.weights_sha256:
        raise InputError(
            "the weights do not match the card's checksum: the file was changed or replaced after saving",
            source=weights,
            expected=f"sha256 {card.weights_sha256}",
        )
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"not a safetensors weights file ({exc})", source=weights) from exc
    network = build_model(card.model, card.config)
    surrogate = SurrogateModel(network, UnitGaussianNormalizer(len(card.inputs)), UnitGaussianNormalizer(len(card.outputs)))
    expected = surrogate.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise InputError(
            "the weights do not fit the model the card describes",
            source=weights,
            value={"missing": missing[:5], "unexpected": unexpected[:5], "wrong shape": wrong[:5]},
            expected=f"the state of {card.model} with {card.config}",
        )
    surrogate.load_state_dict(state)
    surrogate.to(device).eval()
    return surrogate, card


def _copy_folder(source: Path, target: Path, *, replace: bool) -> Path:
    """Copy a model folder to ``target`` atomically: staged beside it, then renamed into place."""
    if target.exists() and not replace:
        raise InputError("a model of that name is there already", source=target, expected="a new name, or replace=True (--force) to replace it")

    def fill(staging: Path) -> None:
        for name in (_CARD, _WEIGHTS):
            shutil.copyfile(source / name, staging / name)

    return _install(target, fill)


def _checked(folder: Path) -> Card:
    """The card of a model folder whose weights match it (checksum); no torch needed."""
    if not (folder / _CARD).is_file():
        raise InputError("not a model folder", source=folder, expected=f"a folder with {_CARD} and {_WEIGHTS}")
    card = load_card(folder)
    weights = folder / _WEIGHTS
    if not weights.is_file():
        raise InputError("the model has no weights file", source=folder, expected=_WEIGHTS)
    if card.weights_sha256 and _sha256(weights) != card.weights_sha256:
        raise InputError("the weights do not match the card's checksum", source=weights, expected=f"sha256 {card.weights_sha256}")
    return card


def check_library_name(name: str) -> str:
    """``name`` if it can name a model in the user's library, else an ``InputError``.

    A name is one plain folder name, and not the name of a shipped model: a user's model of
    that name would shadow it, and the examples that name the shipped model would silently run
    another.
    """
    if not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name or name.startswith("."):
        raise InputError("invalid model name", field="name", value=name, expected="a folder name such as darcy-fno-small")
    from engine.resources import resources_dir

    shipped = resources_dir() / "models"
    taken = {f.name.casefold() for f in shipped.iterdir() if (f / _CARD).is_file()} if shipped.is_dir() else set()
    if name.casefold() in taken:  # case-blind: on macOS and Windows Darcy-FNO *is* darcy-fno
        raise InputError("a shipped model has this name", field="name", value=name,
                         expected=f"another name (for example {name}-mine): yours would hide the shipped one, which the examples use")
    return name


def import_model(folder: str | Path, *, name: str | None = None, replace: bool = False) -> Path:
    """Copy a model folder (card + weights, checked) into the user's library; its new folder.

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
    _checked(source)
    target_name = check_library_name(name or source.name)
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
