"""The base of every model's typed configuration.

A config is a frozen dataclass whose fields all have defaults. It checks its own values when
made, turns into a JSON-ready dict and back, and refuses keys it does not know, so that a
typo in a saved or hand-written config fails loudly instead of silently using a default.
Configs (not pickled constructor arguments) are what a checkpoint stores next to the weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from engine.errors import InputError

__all__ = ["ModelConfig"]

C = TypeVar("C", bound="ModelConfig")

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()  # type: ignore[misc]


def _coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``, or an InputError naming the field."""
    if isinstance(default, tuple):
        if isinstance(value, (list, tuple)):
            items = tuple(_coerce(f"{name}[{i}]", v, default[0] if default else 0) for i, v in enumerate(value))
            return items
        raise InputError("wrong type", field=name, value=value, expected="a list")
    kind = type(default)
    # bool is an int in Python; a width of True is a mistake, not 1.
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise InputError("wrong type", field=name, value=value, expected=_KINDS.get(kind, kind.__name__))
    return value


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shared behaviour of model configs; subclasses only declare fields and checks.

    Subclasses are ``@dataclass(frozen=True)`` with a default for every field, and may
    override :meth:`_check` to validate values (calling the ``_positive`` and ``_choice``
    helpers).
    """

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = _coerce(field.name, getattr(self, field.name), _default(field))
            # Frozen: the only way to store the coerced value (list -> tuple, int -> float).
            object.__setattr__(self, field.name, value)
        self._check()

    def _check(self) -> None:
        """Validate values beyond their types; raise InputError naming the field."""

    def _positive(self, *names: str, minimum: int = 1) -> None:
        for name in names:
            value = getattr(self, name)
            for v in value if isinstance(value, tuple) else (value,):
                if v < minimum:
                    raise InputError("value too small", field=name, value=value, expected=f"at least {minimum}")

    def _choice(self, name: str, choices: Iterable[str]) -> None:
        choices = tuple(choices)
        if getattr(self, name) not in choices:
            raise InputError("unknown option", field=name, value=getattr(self, name), expected=f"one of {', '.join(choices)}")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The field names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in ((k, getattr(self, k)) for k in self.keys())}

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """The config from a dict such as :meth:`to_dict` writes; missing keys take defaults.

        Raises
        ------
        InputError
            For a key the config does not have (naming it and listing the valid ones), or a
            value of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise InputError(f"a {cls.__name__} must be a mapping of option names to values", value=data)
        unknown = [k for k in data if k not in cls.keys()]
        if unknown:
            raise InputError(
                f"unknown key{'s' if len(unknown) > 1 else ''} in {cls.__name__}",
                field=", ".join(map(str, unknown)),
                expected=f"one of {', '.join(cls.keys())}",
            )
        return cls(**data)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (checked like a new config)."""
        return self.from_dict({**self.to_dict(), **changes})
