"""How a point model meets a case: what it knows of its base case, whether a case fits, and the
input channels it reads from one.

A model trained on the samples of a study (``adapter = "points"`` on its card) answers on the
points of the case's own mesh. Its card keeps a *fingerprint* of the study's base case
(:func:`case_fingerprint`): the built-in geometry it was made on, the mesh's named regions, and
which regions carry which condition type. :func:`point_model_reasons` compares a case with it
and says why not, naming the region or the condition; the case's parameters and input channels
outside the trained ranges are answered but flagged (:func:`out_of_range`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.problem import Problem

__all__ = ["case_fingerprint", "point_model_reasons", "parameter_value", "out_of_range", "point_model_inputs"]


def _conditions(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for bc in document.get("boundary", []) or []:
        regions = bc.get("regions") or ([bc["region"]] if bc.get("region") else [])
        out.append({"type": str(bc.get("type")), "regions": sorted(map(str, regions))})
    return out


def case_fingerprint(document: Mapping[str, Any], region_names: list[str]) -> dict[str, Any]:
    """What a point model keeps of its base case (a case document, as a study holds it, and the
    region names of a sample's mesh).

    Examples
    --------
    >>> doc = {"geometry": {"kind": "plate_with_hole"}, "boundary": [{"region": "right", "type": "traction", "vector": [1, 0]}]}
    >>> case_fingerprint(doc, ["hole", "right"])
    {'geometry': 'plate_with_hole', 'regions': ['hole', 'right'], 'conditions': [{'type': 'traction', 'regions': ['right']}]}
    """
    geometry = (document.get("geometry") or {}).get("kind")
    return {"geometry": str(geometry) if geometry else None, "regions": list(region_names), "conditions": _conditions(document)}


def parameter_value(case, name: str) -> float | None:
    """The value of a study parameter in ``case``: a case parameter by name, or a number at a
    dotted path (``geometry.parameters.radius``); None where the case has no such number."""
    from engine.study import get_path

    if "." not in name:
        value = case.parameters.get(name)
    else:
        try:
            value = get_path(case.model_dump(mode="json"), name)
        except Exception:  # noqa: BLE001 - any miss (a key, an index, a non-table) means "not in this case"
            return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def point_model_reasons(problem: Problem, card) -> list[str]:
    """Why the point model of ``card`` cannot answer ``problem`` (empty when it can)."""
    case = problem.case
    if case.physics.kind != card.physics.get("kind"):
        return [f"it answers {card.physics.get('kind')} problems, not {case.physics.kind}"]
    if problem.mesh.gdim != 2:
        return ["it answers on 2D meshes; this case's mesh is 3D"]
    known = card.fingerprint or {}
    reasons = []
    missing = [r for r in known.get("regions", []) if r not in problem.mesh.regions]
    if missing:
        reasons.append(f"it was trained on a mesh with the regions {', '.join(missing)}, which this case's mesh lacks")
    trained = {(c["type"], tuple(c["regions"])) for c in known.get("conditions", [])}
    here = {(c["type"], tuple(c["regions"])) for c in _conditions(case.model_dump(mode="json"))}
    for kind, regions in sorted(here - trained):
        reasons.append(f"it was not trained with a {kind} condition on {', '.join(regions)}")
    for kind, regions in sorted(trained - here):
        reasons.append(f"it was trained with a {kind} condition on {', '.join(regions)}, which this case does not set")
    return reasons


def out_of_range(values: Mapping[str, float], ranges: Mapping[str, list[float]], what: str) -> list[str]:
    """A flag per value outside its trained range (a small relative slack for round-off)."""
    flags = []
    for name, value in values.items():
        if name not in ranges:
            continue
        low, high = ranges[name]
        slack = 1e-9 * max(abs(low), abs(high), 1e-300)
        if value < low - slack or value > high + slack:
            flags.append(f"{what} {name} = {value:.4g} is outside the trained range [{low:.4g}, {high:.4g}]")
    return flags


def point_model_inputs(problem: Problem, card) -> tuple[np.ndarray, list[str]]:
    """The ``(C_in, N)`` inputs of ``card``'s point model on ``problem``'s mesh, and the flags of
    the parameters and channels outside the trained ranges."""
    from engine.surrogates.data.channels import input_channels
    from engine.surrogates.data.points import point_inputs

    channels = input_channels(problem)
    x = point_inputs(channels, problem.mesh, card.inputs)
    flags = []
    parameters = {name: parameter_value(problem.case, name) for name in card.parameters}
    flags += out_of_range({k: v for k, v in parameters.items() if v is not None}, card.parameters, "parameter")
    spans = {name: (float(row.min()), float(row.max())) for name, row in zip(card.inputs, x)}
    for name, (lo, hi) in spans.items():
        if name in card.training_ranges:
            low, high = card.training_ranges[name]
            slack = 1e-6 * max(abs(low), abs(high), 1e-300)
            if lo < low - slack or hi > high + slack:
                flags.append(f"input {name} spans [{lo:.4g}, {hi:.4g}], outside the trained range [{low:.4g}, {high:.4g}]")
    return x, flags
