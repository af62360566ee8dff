"""What the labels' ray casts (relhead.render.blender.scene: depth, normals, segmentation, landmark
visibility) can leave out without changing a single hit: rays that miss every surface's bounding box,
and triangles that no ray of a set can meet. Plain slab and projection tests with a margin against
rounding; bpy-free."""

from __future__ import annotations

import numpy as np

from relhead.exact import mm, norm


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
    length = norm(axis)
    if not length > 0:
        return np.ones(len(faces), bool)
    axis = axis / length
    u = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= norm(u)
    basis = np.stack([u, np.cross(axis, u), axis], 1)  # columns: image x, image y, depth
    q, p = mm(d, basis), mm(verts - centre, basis)
    if not (q[:, 2] > tol).all():
        return np.ones(len(faces), bool)
    q = q[:, :2] / q[:, 2:]
    ahead = p[:, 2] > tol
    xy = p[:, :2] / np.where(ahead, p[:, 2], 1.0)[:, None]  # each vertex's image; triangles not ahead are kept anyway
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    front = ahead[a] & ahead[b] & ahead[c]
    lo = np.minimum(np.minimum(xy[a], xy[b]), xy[c]) - tol
    hi = np.maximum(np.maximum(xy[a], xy[b]), xy[c]) + tol
    return ~front | _holds_a_point(q, lo, hi)


def _holds_a_point(q: np.ndarray, lo: np.ndarray, hi: np.ndarray, cells: int = 64) -> np.ndarray:
    """(T,) whether each box [lo, hi] (T, 2) may hold one of the 2D points `q` (N, 2): counted on a grid
    over the points (a summed-area table), a box holds a point if the grid cells it overlaps do, which
    they do whenever it does (conservative: a cell's point may lie outside the box)."""
    q0, q1 = q.min(0), q.max(0)
    size = np.maximum(q1 - q0, 1e-12) / cells
    ij = np.minimum(((q - q0) / size).astype(np.int64), cells - 1)
    count = np.zeros((cells + 1, cells + 1), np.int64)
    np.add.at(count, (ij[:, 0] + 1, ij[:, 1] + 1), 1)
    count = count.cumsum(0).cumsum(1)  # count[i, j]: points in cells < i along x and < j along y
    outside = (hi[:, 0] < q0[0]) | (hi[:, 1] < q0[1]) | (lo[:, 0] > q1[0]) | (lo[:, 1] > q1[1])
    a = np.clip(np.floor((lo - q0) / size), 0, cells - 1).astype(np.int64)  # first and last cell overlapped
    b = np.clip(np.floor((hi - q0) / size), 0, cells - 1).astype(np.int64) + 1
    n = count[b[:, 0], b[:, 1]] - count[a[:, 0], b[:, 1]] - count[b[:, 0], a[:, 1]] + count[a[:, 0], a[:, 1]]
    return ~outside & (n > 0)
