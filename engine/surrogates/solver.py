"""SurrogateSolver: a trained neural operator behind the same Solver protocol as finite elements.

It samples the Problem's coefficients onto the model's grid, runs the model, and interpolates
the answer back onto the Problem's mesh, whatever that mesh is. What the model was trained for
is on its card; a case outside it is refused with the reason (another physics, domain or
boundary condition), and inputs outside the training ranges are answered but flagged in the
Result's provenance.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from engine.comparison import point_weights
from engine.errors import InputError
from engine.problem import Problem
from engine.fields import Field
from engine.result import ProbeReading, Provenance, Result
from engine.solver import ProgressCallback, check_cancelled, report

__all__ = ["SurrogateSolver", "check_compatible", "grid_points"]


def grid_points(card) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model grid's axes and its points ``(res * res, 2)`` in row-major (y, x) order."""
    res = int(card.grid["resolution"])
    (x0, x1), (y0, y1) = card.grid["domain"]
    xs, ys = np.linspace(x0, x1, res), np.linspace(y0, y1, res)
    X, Y = np.meshgrid(xs, ys)  # rows follow y, columns x: arrays are [iy, ix]
    return xs, ys, np.column_stack([X.ravel(), Y.ravel()])


def check_compatible(problem: Problem, card) -> list[str]:
    """Why ``card``'s model cannot answer ``problem`` (empty when it can)."""
    if card.adapter in ("points", "masked_grid"):
        from engine.surrogates.adapters import point_model_reasons

        return point_model_reasons(problem, card)
    reasons = []
    physics = card.physics
    case = problem.case
    if case.physics.kind != physics.get("kind"):
        reasons.append(f"it answers {physics.get('kind')} problems, not {case.physics.kind}")
        return reasons
    mesh = problem.mesh
    lo, hi = mesh.bounding_box
    (x0, x1), (y0, y1) = card.grid["domain"]
    span = max(x1 - x0, y1 - y0)
    if mesh.gdim != 2 or not np.allclose([lo[0], lo[1], hi[0], hi[1]], [x0, y0, x1, y1], atol=1e-6 * span):
        reasons.append(f"it was trained on the square [{x0}, {x1}] x [{y0}, {y1}]; this mesh spans {lo.tolist()} .. {hi.tolist()}")
    elif abs(point_weights(mesh).sum() - (x1 - x0) * (y1 - y0)) > 1e-6 * span**2:
        reasons.append("it was trained on the full square; this mesh has holes or cut-outs")
    if physics.get("boundary") == "dirichlet_zero":
        dirichlet = [bc for bc in case.boundary if bc.type == "dirichlet"]
        held = set()
        for bc in dirichlet:
            value = problem.coefficient(f"boundary[{case.boundary.index(bc)}].value")
            if not (value.is_constant and value.value == 0.0):
                reasons.append(f"it assumes u = 0 on the boundary; boundary[{case.boundary.index(bc)}] sets u = {value.text}")
            held.update(int(i) for r in bc.regions for i in mesh.region_points(r))
        boundary_nodes = _boundary_nodes(mesh)
        if not boundary_nodes <= held:
            reasons.append("it assumes u = 0 on the whole boundary; part of this case's boundary has another or no condition")
    for name, value in physics.get("constants", {}).items():
        coef = problem.coefficient(name)
        if not (coef.is_constant and np.isclose(coef.value, value)):
            reasons.append(f"it was trained with {name} = {value}; this case has {name} = {coef.text}")
    return reasons


def _boundary_nodes(mesh) -> set[int]:
    """Nodes on boundary edges: edges of the domain cells that belong to one cell only."""
    edges = []
    for ctype, conn in mesh.domain_cells.items():
        n = 4 if ctype.startswith("quad") else 3
        for i in range(n):
            edges.append(np.sort(conn[:, [i, (i + 1) % n]], axis=1))
    edges = np.concatenate(edges).astype(np.int64)
    # One int64 key per edge: sorting rows (axis=0) takes seconds on a big mesh, in the GUI thread.
    keys, counts = np.unique(edges[:, 0] * mesh.n_points + edges[:, 1], return_counts=True)
    once = keys[counts == 1]
    return set(np.unique(np.concatenate([once // mesh.n_points, once % mesh.n_points])).tolist())


class SurrogateSolver:
    """Answer a Problem with a trained surrogate from the model library.

    Parameters
    ----------
    model
        A library name or a model folder; default: the case's ``solver.surrogate.model``.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; default: the
        case's ``solver.surrogate.device``. Checked by :func:`~engine.surrogates.devices.resolve_device`.
    """

    name = "surrogate"

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        self.model = model
        self.device = device

    def solve(self, problem: Problem, *, progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Result:
        import torch

        from engine.surrogates.devices import resolve_device
        from engine.surrogates.library import find_model, load_card, load_surrogate

        started = time.perf_counter()
        case = problem.case
        options = case.solver.surrogate
        reference = self.model or (options.model if options else None)
        if reference is None:
            raise InputError("no surrogate model named", field="solver.surrogate.model", expected="a [solver.surrogate] table with model = a library name or folder")
        # Before any model is read: a device this machine lacks (a case from a GPU workstation) is bad input.
        if self.device is not None:
            device = resolve_device(self.device)
        else:
            device = resolve_device(options.device if options else "auto", field="solver.surrogate.device", source=case.source)
        folder = find_model(reference)
        card = load_card(folder)
        reasons = check_compatible(problem, card)
        if reasons:
            raise InputError(
                f"model {card.name!r} cannot answer this case: " + "; ".join(reasons),
                field="solver.surrogate.model",
                value=card.name,
                expected="a model trained for this physics, domain and boundary conditions (see `workbench models show`)",
            )
        check_cancelled(cancel)
        report(progress, 0.1, f"loading {card.name}")
        surrogate, card = load_surrogate(folder, device=device)
        if card.adapter in ("points", "masked_grid"):
            fields, flags, inference, grid = *self._answer_on_points(problem, card, surrogate, device, progress, cancel), None
        else:
            fields, flags, inference, grid = self._answer_on_grid(problem, card, surrogate, device, progress, cancel)
        mesh = problem.mesh
        probes = {p.name: ProbeReading(p.name, tuple(p.point), {}) for p in case.probes}
        if case.probes:
            from engine.mesh.locate import interpolate_at_points

            at = np.array([p.point[: mesh.gdim] for p in case.probes], dtype=float)
            for name, f in fields.items():
                sampled = interpolate_at_points(mesh, f.values, at)
                for i, p in enumerate(case.probes):
                    probes[p.name].values[name] = np.atleast_1d(np.asarray(sampled[i]))
        wall = time.perf_counter() - started
        metrics: dict[str, Any] = {
            "model": card.model,
            **({"grid": grid} if grid is not None else {"points": mesh.n_points}),
            "inference_seconds": inference,
            "out_of_training_range": flags,
            "card_metrics": card.metrics,
        }
        provenance = Provenance(
            solver="surrogate",
            options={"model": card.name, "device": str(device)},
            wall_time=wall,
            model_id=card.name,
            metrics=metrics,
        )
        report(progress, 1.0, f"answered in {wall:.2f} s" + (" (inputs outside the training range)" if flags else ""))
        return Result(mesh, fields, provenance, probes)

    def _answer_on_points(self, problem, card, surrogate, device, progress, cancel):
        """The point model's fields at the case's mesh points."""
        import torch

        from engine.surrogates.adapters import point_model_inputs
        from engine.surrogates.data.points import fields_from_channels, training_weights

        x, pos, flags = point_model_inputs(problem, card)
        check_cancelled(cancel)
        report(progress, 0.4, f"running {card.model} on {problem.mesh.n_points} points")
        weights = torch.as_tensor(training_weights(problem.mesh)[None], dtype=torch.float32, device=device)
        tic = time.perf_counter()
        with torch.inference_mode():
            y = surrogate(torch.as_tensor(x[None], device=device), pos=torch.as_tensor(pos[None], device=device), weights=weights)[0]
            y = y.cpu().numpy().astype(float)
        inference = time.perf_counter() - tic
        if not np.isfinite(y).all():
            from engine.errors import RunError

            raise RunError(f"model {card.name!r} answered NaN or infinite values: the surrogate run failed")
        from engine.surrogates.adapters import derive_fields

        return derive_fields(problem, fields_from_channels(y, card.outputs), list(card.physics.get("derived", []))), flags, inference

    def _answer_on_grid(self, problem, card, surrogate, device, progress, cancel):
        """The grid model's fields, sampled on its grid and interpolated to the mesh points."""
        import torch

        xs, ys, points = grid_points(card)
        res = len(xs)
        channels, flags = [], []
        for name, path in card.physics["input_coefficients"].items():
            values = problem.coefficient(path).at_points(points, 0.0).reshape(res, res)
            channels.append(values)
            low, high = card.training_ranges.get(name, [-np.inf, np.inf])
            if values.min() < low or values.max() > high:
                flags.append(f"{name} spans [{values.min():.4g}, {values.max():.4g}], outside the training range [{low:.4g}, {high:.4g}]")
        check_cancelled(cancel)
        report(progress, 0.4, f"running {card.model} on a {res} x {res} grid")
        x = torch.as_tensor(np.stack(channels)[None], dtype=torch.float32, device=device)
        tic = time.perf_counter()
        with torch.no_grad():
            y = surrogate(x)[0].cpu().numpy().astype(float)
        inference = time.perf_counter() - tic

        from scipy.interpolate import RegularGridInterpolator

        mesh = problem.mesh
        fields = {}
        for c, name in enumerate(card.outputs):
            interpolate = RegularGridInterpolator((ys, xs), y[c], bounds_error=False, fill_value=None)
            fields[name] = Field(name, interpolate(mesh.points[:, [1, 0]]))
        return fields, flags, inference, res
