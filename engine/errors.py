"""One error hierarchy for everything the engine refuses or fails at.

Every message says what was wrong and what was expected, naming the file, the field and the
value where they are known, so that the command line can print it as it is (no traceback) and
the app can show it in a dialog.

``InputError`` and its subclasses mean the user's input was bad (exit code 2 on the command
line); ``RunError`` means valid input but a failed run (exit code 1); ``Cancelled`` means the
user stopped the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "WorkbenchError",
    "InputError",
    "MeshError",
    "CaseError",
    "ExpressionError",
    "RegionError",
    "RunError",
    "Cancelled",
]

_UNSET: Any = object()


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_source(source: str, limit: int = 160) -> str:
    """A file name for a message: a hostile 4000-character name is shown by its two ends."""
    return source if len(source) <= limit else f"{source[: limit // 2 - 2]}...{source[-(limit // 2 - 1) :]}"


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""

    exit_code = 1


class InputError(WorkbenchError):
    """Bad input: a file, a field or a value that is not what was expected.

    Parameters
    ----------
    problem
        What is wrong, in a few words ("unknown region name").
    source
        The file the input came from, if any.
    field
        Where in that input: a dotted path such as ``boundary[2].region``.
    value
        The offending value (shown with ``repr``, shortened).
    expected
        What would have been accepted.
    hint
        One more sentence that helps fix it.

    Examples
    --------
    >>> str(InputError("unknown region name", source="case.toml", field="boundary[0].region",
    ...                value="lft", expected="one of 'left', 'right'"))
    "case.toml: boundary[0].region: unknown region name: got 'lft'; expected one of 'left', 'right'"
    """

    exit_code = 2

    def __init__(
        self,
        problem: str,
        *,
        source: str | Path | None = None,
        field: str | None = None,
        value: Any = _UNSET,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = str(source) if source is not None else None
        self.field = field
        self.value = value
        self.expected = expected
        self.hint = hint
        super().__init__(self._message())

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET

    def _message(self) -> str:
        parts = [p for p in (self.source and _short_source(self.source), self.field) if p]
        text = ": ".join(parts + [self.problem])
        if self.has_value:
            text += f": got {_short_repr(self.value)}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.hint:
            text += f". {self.hint}"
        return text

    def replace(self, **changes: Any) -> InputError:
        """A copy of this error with some of its parts changed (``source``, ``hint``...)."""
        parts = {k: getattr(self, k) for k in ("source", "field", "value", "expected", "hint")}
        parts.update(changes)
        problem = parts.pop("problem", None) or changes.get("problem", self.problem)
        err = type(self)(problem, **parts)
        err.__cause__ = self.__cause__
        return err

    def with_source(self, source: str | Path) -> InputError:
        """This error naming ``source``, unless it already names a file."""
        return self if self.source is not None else self.replace(source=str(source))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for ``--json`` output and the app's error panel."""
        out: dict[str, Any] = {"error": type(self).__name__, "message": str(self)}
        for key in ("problem", "source", "field", "expected", "hint"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.has_value:
            out["value"] = _short_repr(self.value)
        return out


class MeshError(InputError):
    """A mesh file or mesh array that cannot be used (missing, corrupt, unsupported)."""


class CaseError(InputError):
    """A case document that does not validate."""


class ExpressionError(InputError):
    """An expression that does not parse or uses names and functions we do not know."""


class RegionError(InputError):
    """A region name that the mesh does not have."""


class RunError(WorkbenchError):
    """Valid input, but the run failed (a solver diverged, a file could not be written...)."""


class Cancelled(WorkbenchError):
    """The user cancelled the job; whatever was written before stays intact."""

    exit_code = 130
