"""Scoring a surrogate the way its users will meet it: on fresh cases of its study, each solved
by the finite elements and answered by the surrogate on the same mesh, compared field by field.

:func:`fresh_cases` draws new samples of a study (its random sampling with another seed, so the
parameters, hole radii included, are ones training never saw); :func:`score_on_fresh_cases`
solves and answers them and returns both results with the comparison's metrics, so a caller
can add quantities of its own (a stress concentration factor, a peak temperature).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.study import Study, load_study

__all__ = ["fresh_cases", "score_on_fresh_cases"]

_FRESH_DRAWS = 1_000_000


def fresh_cases(study: Study | str | Path, n_samples: int, seed: int) -> list[tuple[dict[str, float], Any]]:
    """``n_samples`` new ``(parameter values, Case)`` pairs of ``study``, drawn with ``seed``
    (its random fields drawn per sample too: draws ``10**6 * (seed + 1)`` on)."""
    from engine.case import parse_case

    if not isinstance(study, Study):
        study = load_study(study)
    if seed == study.seed:
        from engine.errors import InputError

        raise InputError("fresh cases need another seed than the study's own", field="seed", value=seed, expected=f"any seed but {study.seed}")
    fresh = dataclasses.replace(study, method="random", n_samples=n_samples, seed=seed)
    # Random fields drawn per sample take the sample's number as their draw: numbers far past the
    # study's own give fields it never drew.
    first = _FRESH_DRAWS * (seed + 1)
    return [(values, parse_case(fresh.case_for(values, first + index), source=fresh.case_path))
            for index, values in enumerate(fresh.samples())]


def score_on_fresh_cases(model: str | Path, study: Study | str | Path, *, n_samples: int, seed: int,
                         extra: Callable[[Any, Any, Any], dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """Per fresh case: its parameters, the relative L2 error of every field the surrogate answers
    (``relative_l2``: field -> error, as ``workbench run --solver both`` reports it) and
    ``extra(case, classical, surrogate)``'s numbers."""
    import engine
    from engine.comparison import compare
    from engine.surrogates.solver import SurrogateSolver

    rows = []
    solver = SurrogateSolver(model=str(model), device="cpu")
    for values, case in fresh_cases(study, n_samples, seed):
        problem = engine.Problem.from_case(case)
        classical = engine.get_solver("classical").solve(problem)
        surrogate = solver.solve(problem)
        metrics = compare(classical, surrogate).metrics
        row = {"parameters": values, "relative_l2": {name: m["relative_l2"] for name, m in metrics.items()}}
        if extra is not None:
            row.update(extra(case, classical, surrogate))
        rows.append(row)
    return rows
