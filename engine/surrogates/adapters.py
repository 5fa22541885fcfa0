"""How a point model meets a case: what it knows of its base case, whether a case fits, and the
input channels it reads from one.

A model trained on the samples of a study (``adapter = "points"`` on its card) answers on the
points of the case's own mesh. Its card keeps a *fingerprint* of the study's base case
(:func:`case_fingerprint`): the built-in geometry it was made on, the mesh's named regions, and
which regions carry which condition type (and elasticity's model). :func:`point_model_reasons`
compares a case with it and says why not, naming the region, the condition or a coefficient the
model does not read; the geometry's kind is kept for people (another shape with the same regions
is answered: its distance channels tell the model the shape). The case's parameters and input
channels outside the trained ranges are answered but flagged (:func:`out_of_range`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.problem import Problem

__all__ = ["masked_grid_inputs", "GRID_CHANNELS", "case_fingerprint", "point_model_reasons", "parameter_value", "out_of_range", "point_model_inputs", "DERIVABLE", "derive_fields"]

#: Per physics: the predicted field and the fields the finite elements' post-processing derives
#: from it (the card's ``physics.derived`` names those a model answers this way).
DERIVABLE = {"elasticity": ("displacement", ("stress", "von_mises"))}


#: The channels the masked-grid adapter adds to a case's own: where the domain is.
GRID_CHANNELS = ("grid.mask", "grid.sdf")


def masked_grid_inputs(inputs: Mapping[str, np.ndarray], mesh, channels: list[str], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The masked-grid adapter's view of a sample: ``(x, pos)``.

    ``x`` ``(len(channels), R, R)``: the point channels (``channels`` as the card names them,
    ending with :data:`GRID_CHANNELS`) on a uniform ``R x R`` grid of the mesh's bounding box,
    edges included, rows along y: interpolated linearly inside the domain, zero outside; then the
    0/1 mask of the grid points inside and their signed distance to the boundary (negative
    outside). ``pos`` ``(N, 2)``: the mesh's points scaled to ``[-1, 1]`` over the box, where the
    model's grid answer is read back.
    """
    from engine.mesh.locate import interpolate_at_points
    from engine.surrogates.data.channels import signed_distance
    from engine.surrogates.data.points import point_inputs

    own = [c for c in channels if c not in GRID_CHANNELS]
    xy = mesh.points[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    X, Y = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    at = np.column_stack([X.ravel(), Y.ravel()])
    values = interpolate_at_points(mesh, point_inputs(inputs, mesh, own).T.astype(float), at)  # (R*R, C), NaN outside
    inside = np.isfinite(values[:, 0]) if values.shape[1] else np.ones(len(at), bool)
    values[~inside] = 0.0
    extra = {"grid.mask": inside.astype(float), "grid.sdf": signed_distance(mesh, at)}
    rows = [values[:, own.index(c)] if c in own else extra[c] for c in channels]
    x = np.stack(rows).reshape(len(channels), resolution, resolution).astype(np.float32)
    pos = (2.0 * (xy - lo) / np.where(hi > lo, hi - lo, 1.0) - 1.0).astype(np.float32)
    return x, pos


def _conditions(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for bc in document.get("boundary", []) or []:
        named = bc.get("regions", bc.get("region"))
        regions = [named] if isinstance(named, str) else list(named or [])
        out.append({"type": str(bc.get("type")), "regions": sorted(map(str, regions))})
    return out


def _by_region(conditions: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(type, region) pairs: the same conditions however the regions are grouped or ordered."""
    return {(c["type"], r) for c in conditions for r in c["regions"]}


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
    model = (document.get("physics") or {}).get("model")  # elasticity's plane stress / plane strain / 3d
    return {"geometry": str(geometry) if geometry else None, "regions": list(region_names), "conditions": _conditions(document),
            **({"model": str(model)} if model is not None else {})}


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
    document = case.model_dump(mode="json")
    trained = _by_region(known.get("conditions", []))
    here = _by_region(_conditions(document))
    for kind, region in sorted(here - trained):
        reasons.append(f"it was not trained with a {kind} condition on {region}")
    for kind, region in sorted(trained - here):
        reasons.append(f"it was trained with a {kind} condition on {region}, which this case does not set")
    model = (document.get("physics") or {}).get("model")
    if known.get("model") is not None and model != known.get("model"):
        reasons.append(f"it was trained for the {known['model']} model, not {model}")
    if not reasons:
        # Every coefficient and condition value the case sets must be one the model reads: a body
        # force it never saw would otherwise be dropped without a word.
        from engine.surrogates.data.channels import value_channel_names

        unread = [n for n in value_channel_names(problem) if n not in card.inputs]
        if unread:
            reasons.append(f"it does not read {', '.join(unread)}, which this case sets")
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


def point_model_inputs(problem: Problem, card) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The inputs of ``card``'s model on ``problem``'s mesh (``(C_in, N)`` at the points, or on
    the masked grid ``(C_in, R, R)``), the points' ``pos`` as the model reads them, and the flags
    of the parameters and channels outside the trained ranges."""
    from engine.surrogates.data.channels import input_channels
    from engine.surrogates.data.points import point_inputs

    channels = input_channels(problem)
    own = [c for c in card.inputs if c not in GRID_CHANNELS]
    at_points = point_inputs(channels, problem.mesh, own)
    if card.adapter == "masked_grid":
        x, pos = masked_grid_inputs(channels, problem.mesh, card.inputs, int(card.grid["resolution"]))
    else:
        x, pos = at_points, problem.mesh.points[:, :2].astype(np.float32)
    flags = []
    parameters = {name: parameter_value(problem.case, name) for name in card.parameters}
    flags += out_of_range({k: v for k, v in parameters.items() if v is not None}, card.parameters, "parameter")
    spans = {name: (float(row.min()), float(row.max())) for name, row in zip(own, at_points)}
    for name, (lo, hi) in spans.items():
        if name in card.training_ranges:
            low, high = card.training_ranges[name]
            slack = 1e-6 * max(abs(low), abs(high), 1e-300)
            if lo < low - slack or hi > high + slack:
                flags.append(f"input {name} spans [{lo:.4g}, {hi:.4g}], outside the trained range [{low:.4g}, {high:.4g}]")
    return x, pos, flags


def derive_fields(problem: Problem, fields: dict, names: list[str]) -> dict:
    """``fields`` with ``names`` replaced by what the finite elements' post-processing makes of
    the predicted field they derive from (:data:`DERIVABLE`)."""
    from engine.fields import Field

    if not names:
        return fields
    kind = problem.case.physics.kind
    source, derivable = DERIVABLE.get(kind, (None, ()))
    unknown = [n for n in names if n not in derivable]
    if unknown or source not in fields:
        from engine.errors import InputError

        raise InputError(f"these fields cannot be derived for {kind}", field="physics.derived", value=unknown or names,
                         expected=f"some of {', '.join(derivable)} with {source} predicted" if source else "no derived fields for this physics")
    from engine.solvers.fem.elasticity import stresses_from_displacement

    derived = stresses_from_displacement(problem, fields[source].values)
    return {**fields, **{n: Field(n, derived[n]) for n in names}}
