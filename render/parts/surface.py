"""Surfaces that the scene parts lie on or keep off (the head's skin for hair, glasses and hats; the
body and the garment's shell for collars and hoods), vertex normals, joining parts into one mesh,
and a posed head's points in its head frame; bpy-free.

Distances to the skin are taken along the nearest skin vertex's normal: cheap, and close to the
true distance for points a few millimetres off a mesh as fine as Anny's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from relhead.assets.base import PART_SKIN


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals."""
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Skin:
    """The skin vertices of one posed head (not the eyeballs or the mouth's inside): their indices
    into the head model's vertices, positions and unit normals (same frame as the head given), and
    a k-d tree over the positions."""

    ids: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    tree: cKDTree

    @classmethod
    def of(cls, head_model, X: np.ndarray, normals: np.ndarray | None = None) -> Skin:
        """The skin of the head whose vertices are X (N, 3); `normals`: X's vertex normals if known."""
        faces = head_model.faces.astype(np.int64)
        ids = np.unique(faces[head_model.face_parts == PART_SKIN])
        normals = vertex_normals(X, faces) if normals is None else normals
        return cls(ids=ids, points=X[ids], normals=normals[ids], tree=cKDTree(X[ids]))

    @classmethod
    def over(cls, points: np.ndarray, normals: np.ndarray) -> Skin:
        """A surface of all of `points` (M, 3) with their unit `normals` (a body, a garment's shell)."""
        return cls(ids=np.arange(len(points)), points=points, normals=normals, tree=cKDTree(points))

    def depth(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(signed distance of points p (M, 3) off the skin along the nearest skin vertex's normal,
        the index of that vertex among the skin's)."""
        # the exact nearest vertex per point, the same on any thread count; threads only pay for
        # themselves on large queries (starting them costs about a millisecond; most rounds are small)
        _, i = self.tree.query(p, workers=-1 if len(p) > 4096 else 1)
        return ((p - self.points[i]) * self.normals[i]).sum(1), i

    def push_out(self, p: np.ndarray, clearance, most: float | np.ndarray | None = None) -> np.ndarray:
        """Points moved out along the nearest vertex's normal until they are `clearance` off the skin
        (a few rounds: a point deep inside may first reach a nearer stretch of skin), by at most `most`
        a round if given (on a coarse mesh the nearest vertex's plane can lie far off the surface).
        A round looks again only at the points the last one moved: the others have the same nearest
        vertex and depth, so they would not move (about a tenth of strand hair's points move at all)."""
        clearance, most = np.asarray(clearance), None if most is None else np.asarray(most)
        moving = np.arange(len(p))

        def at(a):  # a per-point array's values at the moving points; a scalar as it is
            return a if a.ndim == 0 else a[moving]

        for r in range(3):
            depth, i = self.depth(p[moving])
            need = np.maximum(at(clearance) - depth, 0.0)
            if most is not None:
                need = np.minimum(need, at(most))
            moved = need > 0
            if not moved.any():
                break
            if r == 0:  # a copy, of the type that p + need * normals has
                p = p.astype(np.result_type(p, need, self.normals))
            p[moving] = p[moving] + need[:, None] * self.normals[i]
            moving = moving[moved]
        return p


    def settle(self, p: np.ndarray, offset, rounds: int) -> np.ndarray:
        """Points moved along the nearest vertex's normal, in or out, to `offset` off the surface,
        `rounds` times (each round may find a nearer vertex)."""
        for _ in range(rounds):
            depth, i = self.depth(p)
            p = p + (np.asarray(offset) - depth)[:, None] * self.normals[i]
        return p


def join_meshes(parts) -> tuple[np.ndarray, np.ndarray]:
    """One (vertices, triangles) of the (vertices, triangles) `parts`, each part's indices offset."""
    offsets = np.cumsum([0] + [len(v) for v, _ in parts])
    vertices = np.concatenate([np.asarray(v, float).reshape(-1, 3) for v, _ in parts])
    faces = np.concatenate([np.asarray(f, np.int64).reshape(-1, 3) + o for (_, f), o in zip(parts, offsets)])
    return vertices, faces
