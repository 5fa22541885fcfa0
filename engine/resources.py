"""Where the shipped resources (example cases, meshes, pretrained surrogates) live."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["resources_dir", "resource_path", "docs_dir"]


def resources_dir() -> Path:
    """The ``resources/`` folder: ``$WORKBENCH_RESOURCES`` if set, else the one beside ``engine/``.

    The source tree, an editable install and the frozen installer all keep ``resources/`` next
    to the ``engine`` package.
    """
    env = os.environ.get("WORKBENCH_RESOURCES")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "resources"


def resource_path(relative: str) -> Path:
    """Path of a shipped resource, e.g. ``resource_path("examples/darcy.toml")``."""
    path = resources_dir() / relative
    if not path.exists():
        raise FileNotFoundError(f"resource {relative!r} not found under {resources_dir()}")
    return path


def docs_dir() -> Path:
    """The ``docs/`` folder (the user guide the app's Help menu shows), beside ``resources/``.

    The installer ships it in the same place relative to ``engine`` as the source tree does.
    """
    return Path(__file__).resolve().parent.parent / "docs"
