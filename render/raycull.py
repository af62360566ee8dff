"""What the labels' ray casts (relhead.render.blender.scene: depth, normals, segmentation, landmark
visibility) can leave out without changing a single hit: rays that miss every surface's bounding box,
and triangles that no ray of a set can meet. Plain slab and projection tests with a margin against
rounding; bpy-free."""

from __future__ import annotations

import numpy as np


def rays_meet_box(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    """(N,) whether each ray `origin` + s `dirs` (s >= 0) passes through the box [lo, hi] grown by
    `margin` (metres): the slab test. A ray that does not meets no triangle inside the box."""
    lo, hi = lo - margin, hi + margin
    flat = dirs == 0  # parallel to a slab: inside it everywhere or nowhere
    step = np.where(flat, 1.0, dirs)
    a, b = (lo - origin) / step, (hi - origin) / step
    inside = (origin >= lo) & (origin <= hi)
    near = np.where(flat, np.where(inside, -np.inf, np.inf), np.minimum(a, b)).max(1)
    far = np.where(flat, np.where(inside, np.inf, -np.inf), np.maximum(a, b)).min(1)
    return far >= np.maximum(near, 0.0)


def triangles_on_rays(centre: np.ndarray, points: np.ndarray, verts: np.ndarray, faces: np.ndarray,
                      tol: float = 1e-5) -> np.ndarray:
    """(T,) whether triangle `faces` (rows of indices into `verts`) may meet a ray from `centre` through
    one of `points` (all world frame). Seen from `centre` through a plane across the points' mean
    direction, a hit on a triangle projects where the ray's point does, inside the triangle's image; a
    triangle wholly in front of the plane whose image's bounding box (grown by `tol`, in units of the
    plane at distance 1) holds no point's image is met by no ray. Conservative: triangles reaching
    behind that plane are kept, and all of them when a point lies behind it."""
    d = points - centre
    axis = d.mean(0)
    norm = np.linalg.norm(axis)
    if not norm > 0:
        return np.ones(len(faces), bool)
    axis = axis / norm
    u = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    basis = np.stack([u, np.cross(axis, u), axis], 1)  # columns: image x, image y, depth
    q, p = d @ basis, (verts - centre) @ basis
    if not (q[:, 2] > tol).all():
        return np.ones(len(faces), bool)
    q = q[:, :2] / q[:, 2:]
    z = p[faces, 2]  # (T, 3)
    front = (z > tol).all(1)
    xy = p[faces, :2] / np.where(z > tol, z, 1.0)[..., None]  # (T, 3, 2); triangles not in front are kept anyway
    lo, hi = xy.min(1) - tol, xy.max(1) + tol
    covers = np.zeros(len(faces), bool)
    for x, y in q:  # a few hundred points at most
        covers |= (lo[:, 0] <= x) & (x <= hi[:, 0]) & (lo[:, 1] <= y) & (y <= hi[:, 1])
    return ~front | covers
