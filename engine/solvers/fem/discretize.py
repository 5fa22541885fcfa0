"""From our Mesh to scikit-fem: the mesh, the element, the basis, region facets and dofs.

Everything a physics module needs to go from "boundary condition on region 'hole'" to
"these facets, these degrees of freedom", and to bring a solution back onto the Mesh's points.
Point numbering may differ between the two meshes (scikit-fem renumbers the vertices of
quadratic meshes), so points are matched by coordinates, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree

from engine.errors import InputError
from engine.mesh.mesh import CELL_TYPES, Mesh

__all__ = ["Discretization", "ELEMENTS"]

#: (element name, domain cell type) -> (scikit-fem mesh class, scikit-fem element class).
#: Second-order geometry (triangle6, tetra10, quad9, hexahedron27) gives isoparametric meshes
#: for P2/Q2, so curved boundaries stay curved; P1/Q1 use the corner nodes only.
ELEMENTS = {
    ("P1", "triangle"): ("MeshTri1", "ElementTriP1"),
    ("P2", "triangle"): ("MeshTri1", "ElementTriP2"),
    ("P2", "triangle6"): ("MeshTri2", "ElementTriP2"),
    ("P1", "tetra"): ("MeshTet1", "ElementTetP1"),
    ("P2", "tetra"): ("MeshTet1", "ElementTetP2"),
    ("P2", "tetra10"): ("MeshTet2", "ElementTetP2"),
    ("Q1", "quad"): ("MeshQuad1", "ElementQuad1"),
    ("Q2", "quad"): ("MeshQuad1", "ElementQuad2"),
    ("Q2", "quad9"): ("MeshQuad2", "ElementQuad2"),
    ("Q1", "hexahedron"): ("MeshHex1", "ElementHex1"),
    ("Q2", "hexahedron"): ("MeshHex1", "ElementHex2"),
    ("Q2", "hexahedron27"): ("MeshHex2", "ElementHex2"),
}
_LINEAR = {"triangle6": "triangle", "tetra10": "tetra", "quad8": "quad", "quad9": "quad", "hexahedron20": "hexahedron", "hexahedron27": "hexahedron"}
_CORNERS = {"line": 2, "line3": 2, "triangle": 3, "triangle6": 3, "quad": 4, "quad8": 4, "quad9": 4}
# VTK numbers hexahedron nodes counter-clockwise per face; scikit-fem has its own order.
_VTK_TO_SKFEM_HEX = [0, 4, 3, 1, 7, 5, 2, 6]
_VTK_TO_SKFEM_HEX27 = [0, 4, 3, 1, 7, 5, 2, 6, 16, 11, 8, 19, 15, 12, 10, 18, 9, 17, 14, 13, 24, 22, 20, 25, 21, 23, 26]


class Discretization:
    """A Mesh with a finite element on it, as scikit-fem objects.

    Parameters
    ----------
    mesh
        The Mesh (one kind of domain cell).
    element
        ``"P1"``, ``"P2"`` (triangles, tetrahedra), ``"Q1"``, ``"Q2"`` (quads, hexahedra).
    components
        1 for a scalar field, the space dimension for a displacement.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> disc = Discretization(build_mesh("unit_square", size=0.5), "P2")
    >>> disc.n_dofs, disc.boundary_dofs(["left"]).tolist()
    (37, [0, 3, 7, 13, 22])
    """

    def __init__(self, mesh: Mesh, element: str, *, components: int = 1) -> None:
        import skfem

        domain = mesh.domain_cells
        if len(domain) != 1:
            raise InputError(
                "the mesh mixes cell types",
                source=mesh.source,
                value=sorted(domain),
                expected="one kind of domain cell (all triangles, all quads, ...)",
            )
        (ctype, conn), = domain.items()
        key = (element, ctype)
        if key not in ELEMENTS:
            key = (element, _LINEAR.get(ctype, ctype))
        if key not in ELEMENTS:
            fits = sorted({e for e, c in ELEMENTS if c in (ctype, _LINEAR.get(ctype))})
            raise InputError(
                f"element {element} does not fit {ctype} cells",
                field="solver.classical.element",
                value=element,
                expected=f"one of {', '.join(fits)}" if fits else "triangles, quads, tetrahedra or hexahedra",
            )
        mesh_name, element_name = ELEMENTS[key]
        self.mesh = mesh
        self.element_name = element
        self.cell_type = key[1] if mesh_name.endswith("1") else ctype
        self.components = components
        if mesh_name.endswith("1"):
            conn = conn[:, : CELL_TYPES[key[1]].n_nodes]
        if self.cell_type == "hexahedron":
            conn = conn[:, _VTK_TO_SKFEM_HEX]
        elif self.cell_type == "hexahedron27":
            conn = conn[:, _VTK_TO_SKFEM_HEX27]
        # scikit-fem wants every point used by a cell: pass only those.
        used = np.unique(conn)
        local = np.full(mesh.n_points, -1, dtype=np.int64)
        local[used] = np.arange(len(used))
        pts = mesh.points[used]
        self.skmesh = getattr(skfem, mesh_name)(np.ascontiguousarray(pts.T), np.ascontiguousarray(local[conn].T))
        scalar = getattr(skfem, element_name)()
        self.scalar_element = scalar
        self.element = skfem.ElementVector(scalar, components) if components > 1 else scalar
        self.basis = skfem.Basis(self.skmesh, self.element)
        self.scalar_basis = skfem.Basis(self.skmesh, scalar, quadrature=self.basis.quadrature) if components > 1 else self.basis

    # -- sizes -------------------------------------------------------------------------------
    @property
    def n_dofs(self) -> int:
        return int(self.basis.N)

    @property
    def dim(self) -> int:
        return int(self.skmesh.dim())

    # -- point matching ----------------------------------------------------------------------
    @cached_property
    def _vertex_of_point(self) -> np.ndarray:
        """Mesh point index -> scikit-fem vertex index (-1 where the point is no vertex)."""
        return _match(self.mesh.points, self.skmesh.p.T)

    @cached_property
    def _dof_of_point(self) -> np.ndarray:
        """Mesh point index -> scalar dof whose location is that point (-1 where none is)."""
        return _match(self.mesh.points, self.scalar_basis.doflocs.T)

    # -- regions -----------------------------------------------------------------------------
    def facets(self, regions: Iterable[str]) -> np.ndarray:
        """Indices of the scikit-fem facets on the named regions (boundary cells or node sets)."""
        facets = self.skmesh.facets  # (vertices per facet, n_facets)
        lookup = _RowLookup(np.sort(facets, axis=0).T)
        found = []
        for name in regions:
            region = self.mesh.region(name)
            if region.points is not None:
                found.append(self._facets_within(region.points))
                continue
            for ctype, idx in region.cells.items():
                corners = self.mesh.cells[ctype][idx][:, : _CORNERS.get(ctype, CELL_TYPES[ctype].n_nodes)]
                verts = self._vertex_of_point[corners]
                if (verts < 0).any() or verts.shape[1] != facets.shape[0]:
                    raise InputError(
                        f"region {name!r} is not made of facets of the domain's cells",
                        value=ctype,
                        expected=f"boundary cells with {facets.shape[0]} corners",
                    )
                hit = lookup.find(np.sort(verts, axis=1))
                if (hit < 0).any():
                    raise InputError(f"region {name!r} has cells that are not facets of the domain's cells", value=name)
                found.append(hit)
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def facets_for_load(self, regions: list[str], field: str) -> np.ndarray:
        """Facets for a flux, traction or pressure: refuse regions that hold none (a lone node)."""
        facets = self.facets(regions)
        if len(facets) == 0:
            raise InputError(
                "this condition needs boundary edges or faces, and its regions hold none",
                field=field,
                value=regions,
                expected="boundary regions (a node set only carries fixed values)",
            )
        return facets

    def _facets_within(self, points: np.ndarray) -> np.ndarray:
        """Boundary facets whose every vertex lies in a node set."""
        inside = np.zeros(self.skmesh.p.shape[1], dtype=bool)
        verts = self._vertex_of_point[points]
        inside[verts[verts >= 0]] = True
        boundary = self.skmesh.boundary_facets()
        return boundary[inside[self.skmesh.facets[:, boundary]].all(axis=0)]

    def node_set_vertices(self, regions: Iterable[str]) -> np.ndarray:
        """scikit-fem vertex indices of node-set regions (for conditions at isolated points)."""
        verts = [self._vertex_of_point[self.mesh.region(n).points] for n in regions if self.mesh.region(n).points is not None]
        verts = np.concatenate(verts) if verts else np.empty(0, dtype=np.int64)
        return np.unique(verts[verts >= 0])

    def boundary_dofs(self, regions: Iterable[str], component: int | None = None) -> np.ndarray:
        """Dofs on the named regions; of one displacement component (0, 1, 2) if given."""
        regions = list(regions)
        facets = self.facets(regions)
        dofs = self.basis.get_dofs(facets=facets)
        picked = dofs.all() if component is None else dofs.all(f"u^{component + 1}")
        vertices = self.node_set_vertices(regions)
        if len(vertices):
            nodal = self.basis.get_dofs(nodes=vertices)
            picked = np.union1d(picked, nodal.all() if component is None else nodal.all(f"u^{component + 1}"))
        return np.asarray(picked, dtype=np.int64)

    def dof_locations(self, dofs: np.ndarray) -> np.ndarray:
        """Coordinates ``(len(dofs), dim)`` of (nodal) dofs."""
        return self.basis.doflocs[:, dofs].T

    # -- back to the Mesh ---------------------------------------------------------------------
    def point_values(self, u: np.ndarray) -> np.ndarray:
        """A solution vector as values on the Mesh's points: ``(n,)`` scalar or ``(n, components)``."""
        if self.components > 1:
            parts = [self._scalar_point_values(u[self.component_dofs(c)]) for c in range(self.components)]
            return np.column_stack(parts)
        return self._scalar_point_values(u)

    def component_dofs(self, component: int) -> np.ndarray:
        """All dofs of one displacement component, in scalar-dof order."""
        return np.arange(component, self.basis.N, self.components)

    def _scalar_point_values(self, u: np.ndarray) -> np.ndarray:
        out = np.full(self.mesh.n_points, np.nan)
        direct = self._dof_of_point >= 0
        out[direct] = u[self._dof_of_point[direct]]
        missing = np.flatnonzero(~direct)
        if len(missing):  # e.g. midside nodes of a quadratic mesh solved with P1
            out[missing] = self.probe_scalar(u, self.mesh.points[missing])
        return out

    def probe_scalar(self, u: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Finite element values of a scalar solution at arbitrary points inside the mesh."""
        return self.probe_matrix(points) @ u

    def probe_matrix(self, points: np.ndarray):
        """Sparse matrix mapping scalar dof values to values at ``points`` ((k, dim) array)."""
        from scipy.sparse import coo_matrix

        x = np.asarray(points, dtype=float)[:, : self.dim].T
        cells = self._cells_of(x)
        basis = self.scalar_basis
        ref = basis.mapping.invF(x[:, :, None], tind=cells)
        phis = np.array([basis.elem.gbasis(basis.mapping, ref, k, tind=cells)[0] for k in range(basis.Nbfun)]).reshape(basis.Nbfun, -1)
        rows = np.tile(np.arange(x.shape[1]), basis.Nbfun)
        cols = basis.element_dofs[:, cells].ravel()
        return coo_matrix((phis.ravel(), (rows, cols)), shape=(x.shape[1], basis.N)).tocsr()

    def _cells_of(self, x: np.ndarray) -> np.ndarray:
        """The cell holding each point. A point a rounding error outside its cell (a probe on a
        boundary that gmsh put at 3e-16) is given the nearby cell it is within 1e-6 of, in
        reference coordinates; a point truly outside the mesh is refused."""
        try:
            return self._finder(*x)
        except ValueError:
            pass
        cells = np.empty(x.shape[1], dtype=np.int64)
        centres = self.skmesh.p[:, self.skmesh.t].mean(axis=1).T
        for i in range(x.shape[1]):
            point = x[:, i : i + 1]
            try:
                cells[i] = self._finder(*point)[0]
                continue
            except ValueError:
                pass
            for cell in np.argsort(np.linalg.norm(centres - point[:, 0], axis=1))[:8]:
                ref = self.scalar_basis.mapping.invF(point[:, :, None], tind=np.array([cell]))[:, 0, 0]
                if _inside_reference(ref, self.skmesh.t.shape[0], self.dim):
                    cells[i] = cell
                    break
            else:
                raise InputError("a probe lies outside the mesh", value=point[:, 0].tolist(), expected="a point inside the meshed domain (not in a hole)")
        return cells

    @cached_property
    def _finder(self):
        """Point -> cell; quadratic meshes search their straight-sided twin (same cells)."""
        import skfem

        mesh = self.skmesh
        if type(mesh).__name__.endswith("2"):
            linear = getattr(skfem, type(mesh).__name__[:-1] + "1")
            mesh = linear(mesh.p, mesh.t)
        return mesh.element_finder()


def _inside_reference(ref: np.ndarray, corners: int, dim: int, tol: float = 1e-6) -> bool:
    """Whether reference coordinates lie in the reference simplex or cube (with tolerance)."""
    if corners == dim + 1:  # simplex
        return bool(ref.min() >= -tol and ref.sum() <= 1 + tol)
    return bool(ref.min() >= -tol and ref.max() <= 1 + tol)


def _match(points: np.ndarray, locations: np.ndarray) -> np.ndarray:
    """For each point, the index of the location at the same coordinates, or -1."""
    locations = locations[:, : points.shape[1]]
    scale = max(1.0, float(np.abs(points).max()))
    dist, idx = cKDTree(locations).query(points, distance_upper_bound=1e-9 * scale)
    return np.where(np.isfinite(dist), idx, -1).astype(np.int64)


class _RowLookup:
    """Find rows of integers among the rows of a table (facets by their sorted vertices)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.int64)
        self._view = self.table.view([("", np.int64)] * self.table.shape[1]).ravel()
        self._order = np.argsort(self._view)

    def find(self, rows: np.ndarray) -> np.ndarray:
        """Index of each row in the table, or -1."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        view = rows.view([("", np.int64)] * rows.shape[1]).ravel()
        pos = np.searchsorted(self._view, view, sorter=self._order)
        pos = np.minimum(pos, len(self._order) - 1)
        hit = self._order[pos]
        return np.where(self._view[hit] == view, hit, -1)
