"""Reading a TOML input file with the engine's errors: the file is named, and so is what was wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from engine.errors import InputError

__all__ = ["read_toml"]


def read_toml(path: str | Path, *, what: str) -> dict[str, Any]:
    """The parsed TOML document at ``path``; ``what`` names the kind of file in messages ("a study file").

    Examples
    --------
    >>> read_toml("missing.toml", what="a study file")
    Traceback (most recent call last):
    ...
    engine.errors.InputError: missing.toml: file not found; expected a study file (.toml)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a file", source=path, expected=f"{what} (.toml)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError("the file is not UTF-8 text", source=path, expected="a TOML text file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", source=path, expected="a TOML document") from exc
