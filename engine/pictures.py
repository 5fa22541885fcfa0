"""Off-screen PNG pictures of results: what ``workbench run`` leaves beside its VTU files.

The grids come from :mod:`engine.visual` (the same bridge the app's views draw), so a picture
looks like the app's view of the same field. pyvista renders with ``off_screen=True``: no Qt,
no window, no display needed. It is imported on first use only.

How a field is shown: a 2D mesh is seen from +z with a scalar bar; a vector or tensor field is
coloured by its magnitude, and a physics' vector output (a velocity, a flux) gets arrows on top
(at most :data:`engine.visual.GLYPH_COUNT`); a result whose physics gives a displacement
(elasticity: see :func:`engine.visual.warp_field`) is drawn on the mesh warped by it, scaled so the
largest displacement is a tenth of the mesh's size; a time series shows its last step, coloured by
its range over every step (as the app's Play does).

Examples
--------
>>> import tempfile, engine
>>> outcome = engine.run_case(engine.resource_path("examples/darcy_unit_square.toml"), out=tempfile.mkdtemp())
>>> sorted(p.name for p in outcome.files if p.suffix == ".png")
['classical_flux.png', 'classical_u.png']
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.atomic import atomic_path
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.visual import (
    arrow_fields, component_names, mesh_surface, scalar_range, scalar_values, shown_fields, to_grid, vector_glyphs, warp_field,
)

if TYPE_CHECKING:
    from engine.comparison import Comparison
    from engine.result import Result

__all__ = ["render_field", "render_pictures", "WARP_FRACTION", "WINDOW_SIZE"]

#: The largest displacement is drawn as this fraction of the mesh's bounding-box diagonal.
WARP_FRACTION = 0.1
WINDOW_SIZE = (900, 700)


def _quiet_vtk() -> None:
    """Keep VTK's own log (e.g. 'bad X server connection' before it falls back) off stderr."""
    from vtkmodules.vtkCommonCore import vtkLogger, vtkObject  # not `import vtk`: that loads all of VTK

    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    vtkObject.GlobalWarningDisplayOff()


def render_field(
    mesh: Mesh,
    field: Field,
    path: str | Path,
    *,
    title: str | None = None,
    warp_by: Field | None = None,
    step: int = -1,
    arrows: bool = False,
    clim: tuple[float, float] | None = None,
    window_size: tuple[int, int] = WINDOW_SIZE,
) -> Path:
    """Render one field on ``mesh`` into the PNG file ``path`` (written atomically).

    Parameters
    ----------
    mesh, field
        What to draw; a vector field is coloured by its magnitude.
    path
        The PNG to write.
    title
        Text at the top; default the field's name (and the time for a series).
    warp_by
        A displacement field: the mesh is drawn deformed by it (auto-scaled, see
        :data:`WARP_FRACTION`).
    step
        The step of a time series to show (default the last).
    arrows
        Draw ``field`` (a point vector field) as arrows too, over its magnitude.
    clim
        The colour range; default that of the values shown.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> mesh = Mesh(np.array([[0., 0.], [1., 0.], [0., 1.], [1., 1.]]), {"triangle": np.array([[0, 1, 2], [1, 3, 2]])})
    >>> png = render_field(mesh, Field("u", np.array([0., 1., 2., 3.])), pathlib.Path(tempfile.mkdtemp()) / "u.png")
    >>> png.stat().st_size > 1000
    True
    """
    import pyvista as pv

    from engine.physics.units import unit_label

    _quiet_vtk()
    path = Path(path)
    component = component_names(field)[0] or None  # "magnitude" for a vector, None for a scalar
    label = field.name if component is None else f"{field.name} magnitude"
    values = scalar_values(field, component or "", step=step)
    grid = to_grid(mesh)
    (grid.point_data if field.association == "point" else grid.cell_data)[label] = np.asarray(values, dtype=float)
    factor, offset = 0.0, None
    if warp_by is not None:
        displacement = to_grid(mesh, {"displacement": warp_by}, step=step).point_data["displacement"]
        largest = float(np.linalg.norm(displacement, axis=1).max()) if len(displacement) else 0.0
        if largest > 0:
            factor = WARP_FRACTION * grid.length / largest
            grid.point_data["displacement"] = displacement
            grid = grid.warp_by_vector("displacement", factor=factor)
            offset = factor * displacement
    if title is None:
        title = label
        if field.is_time_series and field.times is not None:
            title += f" at t = {float(field.times[step]):g}"
    if factor:
        title += f" (deformed x {factor:.3g})"

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    try:
        plotter.set_background("white")
        finite = np.isfinite(values)
        if clim is not None:
            limits = [float(clim[0]), float(clim[1])]
        else:
            limits = [float(values[finite].min()), float(values[finite].max())] if finite.any() else [0.0, 1.0]
        if limits[0] == limits[1]:  # a constant field: a range VTK can draw
            limits = [limits[0] - 0.5, limits[1] + 0.5]
        plotter.add_mesh(
            grid,
            scalars=label,
            clim=limits,
            cmap="viridis",
            show_edges=False,
            scalar_bar_args={"title": unit_label(label, field.units), "color": "black", "vertical": True, "position_x": 0.85, "position_y": 0.1, "height": 0.8},
        )
        if arrows:
            glyphs = vector_glyphs(mesh, field, candidates=mesh_surface(mesh).point_ids if mesh.dim == 3 else None)
            plotter.add_mesh(glyphs.arrows(field, step=step, offset=offset), color="black", scalars=None, show_scalar_bar=False)
        plotter.add_text(title, position="upper_left", font_size=12, color="black")
        if mesh.dim == 2:
            plotter.view_xy()  # from +z
        else:
            plotter.view_isometric()
        plotter.reset_camera()
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
    finally:
        plotter.close()
    return path


def render_pictures(
    results: Mapping[str, Result],
    out: str | Path,
    *,
    comparison: Comparison | None = None,
) -> list[Path]:
    """A picture of every field of every result, and of every error field of a comparison.

    Files: ``<solver>_<field>.png`` for each result and ``error_<field>.png`` (the absolute
    error, on the reference's mesh) for each compared field.

    Examples
    --------
    >>> import tempfile, engine
    >>> case = engine.load_case(engine.resource_path("examples/darcy_unit_square.toml"))
    >>> result = engine.get_solver("classical").solve(engine.Problem.from_case(case))
    >>> [p.name for p in render_pictures({"classical": result}, tempfile.mkdtemp())]
    ['classical_u.png', 'classical_flux.png']
    """
    out = Path(out)
    files = []
    for solver, result in results.items():
        warp_name, with_arrows = warp_field(result), arrow_fields(result)
        warp = result.fields[warp_name] if warp_name is not None else None
        for name in shown_fields(result):
            f = result.fields[name]
            title = f"{solver}: {name}"
            if f.n_components > 1:
                title += " (magnitude" + (", arrows)" if name in with_arrows else ")")
            clim = None
            if f.is_time_series and f.times is not None:
                title += f", t = {float(f.times[-1]):g}"
                clim = scalar_range(f, component_names(f)[0])  # one range over the run: the pictures of one run compare
            files.append(render_field(result.mesh, f, out / f"{solver}_{name}.png", title=title, warp_by=warp,
                                      arrows=name in with_arrows, clim=clim))
    if comparison is not None:
        mesh = comparison.reference.mesh
        for name, f in comparison.errors.items():
            if name.endswith("_abs_error"):
                base = name.removesuffix("_abs_error")
                files.append(render_field(mesh, f, out / f"error_{base}.png", title=f"{base}: absolute error of {comparison.candidate.provenance.solver} against {comparison.reference.provenance.solver}"))
    return files
