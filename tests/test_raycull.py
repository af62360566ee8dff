"""The labels' ray casts leave out rays and triangles (relhead.render.raycull) without changing a hit:
every ray that meets a triangle is kept, every triangle a ray meets is kept, and the nearest hit
Blender's BVH finds is the same with or without them; and the culling does cull."""

import numpy as np
import pytest

from relhead.render.raycull import rays_meet_box, triangles_on_rays


def _hits(origin, dirs, verts, faces):
    """(N, T) distances along unit `dirs` at which each ray meets each triangle (inf: none);
    Moller-Trumbore in float64."""
    a, b, c = (verts[faces[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    p = np.cross(dirs[:, None], e2[None])  # (N, T, 3)
    det = (p * e1[None]).sum(-1)
    s = origin - a  # (T, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (p * s[None]).sum(-1) / det
        q = np.cross(s, e1)  # (T, 3)
        v = (dirs[:, None] * q[None]).sum(-1) / det
        t = (q[None] * e2[None]).sum(-1) / det
    ok = (np.abs(det) > 1e-15) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return np.where(ok, t, np.inf)


def _scene(seed, n=400):
    """Small triangles scattered about a head-sized region 1 m in front of a camera at the origin,
    some reaching behind the camera's side plane."""
    rng = np.random.default_rng(seed)
    centres = rng.normal([0.0, 0.0, 1.0], [0.12, 0.12, 0.1], size=(n, 3))
    verts = (centres[:, None] + rng.normal(scale=0.02, size=(n, 3, 3))).reshape(-1, 3)
    faces = np.arange(3 * n).reshape(n, 3)
    return verts, faces, rng


def _targets(verts, faces, rng, n=300):
    """Points on rays worth testing: on triangles (inside, on edges, at corners) and off them."""
    tri = verts[faces[rng.integers(len(faces), size=n)]]
    w = rng.dirichlet([1, 1, 1], size=n)
    w[: n // 4, 0] = 0.0  # on an edge
    w[: n // 4] /= w[: n // 4].sum(1, keepdims=True)
    w[n // 4: n // 3] = np.eye(3)[rng.integers(3, size=n // 3 - n // 4)]  # at a corner
    on = (w[:, :, None] * tri).sum(1)
    off = rng.normal([0.0, 0.0, 1.2], [0.3, 0.3, 0.2], size=(n, 3))
    return np.concatenate([on, off])


@pytest.mark.parametrize("seed", range(4))
def test_rays_that_meet_a_triangle_meet_the_box(seed):
    verts, faces, rng = _scene(seed)
    points = _targets(verts, faces, rng)
    points = np.concatenate([points, verts[verts.argmin(0)], verts[verts.argmax(0)]])  # the box's own corners' vertices
    origin = rng.normal(scale=0.05, size=3)
    dirs = points - origin
    dirs = np.concatenate([dirs, rng.normal(size=(500, 3)), [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    met = np.isfinite(_hits(origin, dirs, verts, faces)).any(1)
    keep = rays_meet_box(origin, dirs, verts.min(0), verts.max(0))
    assert met.sum() > 100 and not (met & ~keep).any()
    assert (~keep).sum() > 100  # rays that point away are left out
    # inside the box every ray meets it; parallel to a slab and outside it, none does
    inside = rays_meet_box(verts.mean(0), dirs, verts.min(0), verts.max(0))
    assert inside.all()
    flat = np.array([[-0.1, -0.1, 1.0], [0.1, -0.1, 1.0], [0.0, 0.1, 1.0]])  # a box of no depth
    to_flat = flat.mean(0) + rng.uniform(-0.03, 0.03, size=(50, 2)) @ np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert rays_meet_box(np.zeros(3), to_flat / np.linalg.norm(to_flat, axis=1, keepdims=True), flat.min(0), flat.max(0)).all()
    lo, hi = np.zeros(3), np.ones(3)
    assert not rays_meet_box(np.array([2.0, 0.5, 0.5]), np.array([[0.0, 1.0, 0.0]]), lo, hi)[0]
    assert rays_meet_box(np.array([0.5, -1.0, 0.5]), np.array([[0.0, 1.0, 0.0]]), lo, hi)[0]


@pytest.mark.parametrize("seed", range(4))
def test_triangles_a_ray_meets_are_kept(seed):
    verts, faces, rng = _scene(seed)
    centre = rng.normal(scale=0.05, size=3)
    points = _targets(verts, faces, rng)
    dirs = points - centre
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    met = np.isfinite(_hits(centre, dirs, verts, faces)).any(0)  # rays run on past their points, as visible() casts
    keep = triangles_on_rays(centre, points, verts, faces)
    assert met.sum() > 100 and not (met & ~keep).any()
    # a handful of points (the 68 landmarks on a face) see a small share of a scene's triangles
    few = triangles_on_rays(centre, points[:5], verts, faces)
    assert few.sum() < len(faces) // 4 and not (np.isfinite(_hits(centre, dirs[:5], verts, faces)).any(0) & ~few).any()
    # a point behind the camera, or a triangle reaching behind it: kept, never guessed
    assert triangles_on_rays(centre, np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]), verts, faces).all()
    behind = np.array([[0.0, 0.0, -0.5], [0.1, 0.0, 1.0], [0.0, 0.1, 1.0]])
    assert triangles_on_rays(np.zeros(3), np.array([[0.5, 0.5, 1.0]]), behind, np.array([[0, 1, 2]]))[0]


def test_blender_finds_the_same_nearest_hits_among_the_kept_triangles():
    pytest.importorskip("bpy")
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    verts, faces, rng = _scene(7, n=3000)
    centre = np.array([0.01, -0.02, 0.0])
    points = _targets(verts, faces, rng, n=200)
    keep = triangles_on_rays(centre, points, verts, faces)
    used, kept = np.unique(faces[keep], return_inverse=True)
    full = BVHTree.FromPolygons(verts.tolist(), faces.tolist())
    culled = BVHTree.FromPolygons(verts[used].tolist(), kept.reshape(-1, 3).tolist())
    c = Vector(centre.tolist())
    n_hit = 0
    for p in points:
        d = Vector(p.tolist()) - c
        a, b = full.ray_cast(c, d.normalized(), d.length + 1.0), culled.ray_cast(c, d.normalized(), d.length + 1.0)
        assert (a[0] is None) == (b[0] is None)
        if a[0] is not None:
            n_hit += 1
            assert a[3] == b[3] and tuple(a[0]) == tuple(b[0])
    assert n_hit > 150 and not keep.all()
