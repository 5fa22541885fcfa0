"""The Solver protocol: one way to answer a Problem, whatever the solver is.

Classical solvers and surrogates both implement ``solve(problem, *, progress, cancel)``, so
the app, the batch mode and the comparison never ask which kind they hold. Progress is a plain
callback and cancellation a ``threading.Event``; the app turns both into Qt signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.errors import Cancelled

if TYPE_CHECKING:
    from engine.problem import Problem
    from engine.result import Result

__all__ = ["ProgressCallback", "Solver", "report", "check_cancelled"]

#: ``progress(fraction, message)``: fraction in [0, 1], or None when unknown.
ProgressCallback = Callable[[float | None, str], None]


@runtime_checkable
class Solver(Protocol):
    """Anything that answers a Problem with a Result."""

    name: str

    def solve(
        self,
        problem: Problem,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Result:
        """Solve ``problem``; call ``progress`` now and then; stop with ``Cancelled`` once ``cancel`` is set."""
        ...


def report(progress: ProgressCallback | None, fraction: float | None, message: str) -> None:
    """Call ``progress`` if there is one (solvers call this instead of testing for None)."""
    if progress is not None:
        progress(fraction, message)


def check_cancelled(cancel: threading.Event | None, what: str = "the run") -> None:
    """Raise ``Cancelled`` if ``cancel`` is set; solvers call this between steps."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} was cancelled")
