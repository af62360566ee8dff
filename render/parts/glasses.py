"""Glasses as a mesh in the head frame, without bpy: two lenses in rims, a bridge, end pieces and
temples that run back above the ears and bend down behind them.

The front is laid out on the eyes' landmarks (lens centres a little below the eyes, at the sampled
lens size and bridge width), then moved forward as one piece until every rim and the bridge stand
clear of the skin (brow ridge, nose and cheeks differ per identity). Temples keep clear of the
head's side at their height, ears left out where the model marks them (its SCALP attribute), so
they rest in the crease above the ear. Glasses are rigid with the skull: built once per group from
the first view's head and placed with the head frame view by view, like strand hair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relhead.assets.base import SCALP, PosedHead
from relhead.exact import power
from relhead.frames import head_frame
from relhead.render.parts.surface import Skin, join_meshes
from relhead.render.spec import GlassesSpec, GroupSpec

# Outline of a lens: a superellipse |x/a|^n + |y/b|^n = 1 with this exponent (aviators also droop).
SUPERELLIPSE = {"round": 2.0, "rectangular": 5.0, "aviator": 2.4}
RIM_POINTS, SIDES = 48, 8  # points around a rim, sides of a tube's cross-section
VERTEX_DISTANCE_M = 0.012  # lens plane in front of the eyes' landmarks, before clearing the skin
CLEARANCE_M = 0.003  # between a tube's surface and the skin
LENS_M = 0.002  # lens thickness
FACE_FORM = 0.08  # the lenses' outer edges sit this much further back per metre out from the bridge


@dataclass(frozen=True)
class GlassesMesh:
    """Vertices (V, 3) in the head frame (metres), triangles (F, 3), and which triangles are lens."""

    vertices: np.ndarray
    faces: np.ndarray
    lens: np.ndarray  # (F,) bool


def lens_outline(style: str, width_m: float, height_m: float, n: int = RIM_POINTS) -> np.ndarray:
    """(n, 2) points around a lens centred at 0: x away from the nose, y down."""
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    e = 2.0 / SUPERELLIPSE[style]
    a, b = width_m / 2, height_m / 2
    x, y = a * np.sign(c) * power(np.abs(c), e), b * np.sign(s) * power(np.abs(s), e)
    if style == "aviator":  # a teardrop: the top flatter, the bottom deeper toward the temple
        y = np.where(y < 0, 0.85 * y, y * (1.0 + 0.35 * (0.5 + 0.5 * x / a)))
    return np.stack([x, y], 1)


def tube(path: np.ndarray, radius: float, closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, triangles) of a tube of `radius` around the polyline `path` (P, 3)."""
    P = len(path)
    nxt, prv = np.roll(path, -1, 0), np.roll(path, 1, 0)
    if not closed:
        nxt[-1], prv[0] = path[-1], path[0]
    t = nxt - prv
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    ref = np.where(np.abs(t[:, 2:3]) > 0.9, [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]])
    n1 = np.cross(t, ref)
    n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
    n2 = np.cross(t, n1)
    phi = np.linspace(0.0, 2 * np.pi, SIDES, endpoint=False)
    ring = np.cos(phi)[None, :, None] * n1[:, None] + np.sin(phi)[None, :, None] * n2[:, None]
    verts = (path[:, None] + radius * ring).reshape(-1, 3)
    i = np.arange(P if closed else P - 1)[:, None]
    j = np.arange(SIDES)[None]
    a, b = i * SIDES + j, i * SIDES + (j + 1) % SIDES
    c, d = ((i + 1) % P) * SIDES + j, ((i + 1) % P) * SIDES + (j + 1) % SIDES
    tris = np.stack([np.stack([a, c, d], -1), np.stack([a, d, b], -1)], 2).reshape(-1, 3)
    return verts, tris


def lens_slab(rim: np.ndarray, thickness_m: float = LENS_M) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, triangles) of a closed lens `thickness_m` thick filling the rim's centre line
    `rim` (n, 3): a closed solid wound outward, so a shader that tells entering from leaving reads it right."""
    n = len(rim)
    half = np.array([0.0, 0.0, thickness_m / 2])
    c = rim.mean(0)
    v = np.concatenate([[c - half], rim - half, [c + half], rim + half])  # front (toward -z), back
    i, j = np.arange(n), (np.arange(n) + 1) % n
    front = np.stack([np.zeros(n, int), 1 + i, 1 + j], 1)
    back = np.stack([np.full(n, n + 1), n + 2 + j, n + 2 + i], 1)
    wall = np.concatenate([np.stack([1 + i, n + 2 + i, n + 2 + j], 1), np.stack([1 + i, n + 2 + j, 1 + j], 1)])
    tris = np.concatenate([front, back, wall])
    # Wind every triangle outward: its normal away from the lens' centre.
    a, b, d = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    inward = (np.cross(b - a, d - a) * ((a + b + d) / 3 - c)).sum(1) < 0
    tris[inward] = tris[inward][:, ::-1]
    return v, tris


def build_glasses(head_model, X: np.ndarray, landmarks: np.ndarray, g: GlassesSpec) -> GlassesMesh:
    """The glasses of `g` on the head whose vertices are X (N, 3) and landmarks (68, 3), head frame."""
    skin = Skin.of(head_model, X)
    # The head's side, for the temples: skin without the ears where the model marks them.
    side = skin.ids
    if SCALP in head_model.vertex_attributes:
        side = side[head_model.vertex_attributes[SCALP][side, 2] > 0.5]
    Xside = X[side]

    w, h, bridge, r = g.lens_width_mm / 1000, g.lens_height_mm / 1000, g.bridge_mm / 1000, g.rim_mm / 1000
    eyes = landmarks[36:48]
    mid_x = eyes[:, 0].mean()
    centre_y = eyes[:, 1].mean() + 0.1 * h
    z0 = eyes[:, 2].min() - VERTEX_DISTANCE_M
    local = lens_outline(g.style, w, h)
    upper = local[:, 1] < -0.2 * h / 2
    inner = np.flatnonzero(upper)[np.argmin(local[upper, 0])]  # where the bridge meets the rim
    outer = np.flatnonzero(upper)[np.argmax(local[upper, 0])]  # where the end piece does

    rims = []
    for sign in (-1.0, 1.0):
        x = mid_x + sign * (bridge / 2 + w / 2 + local[:, 0])
        z = z0 + FACE_FORM * (np.abs(x - mid_x) - bridge / 2)
        rims.append(np.stack([x, centre_y + local[:, 1], z], 1))
    a, b = rims[0][inner], rims[1][inner]
    control = np.array([mid_x, min(a[1], b[1]) - 0.004, min(a[2], b[2]) - 0.002])
    s = np.linspace(0.0, 1.0, 9)[:, None]
    bridge_path = (1 - s) ** 2 * a + 2 * s * (1 - s) * control + s ** 2 * b

    # Forward as one piece until the rims' and the bridge's surfaces clear the skin.
    parts = [tube(p, r, closed=True) for p in rims] + [tube(bridge_path, r)]
    front = np.concatenate([v for v, _ in parts])
    shift = 0.0
    for _ in range(20):
        need = (CLEARANCE_M - skin.depth(front - [0.0, 0.0, shift])[0]).max()
        if need <= 1e-4:
            break
        shift += need
    back = np.array([0.0, 0.0, shift])
    rims = [p - back for p in rims]
    parts = [(v - back, f) for v, f in parts]
    ear = landmarks[[0, 16]]
    for k, sign in enumerate((-1.0, 1.0)):
        hinge = rims[k][outer]
        ear_z = ear[:, 2].mean() + 0.012  # the ear's root, a little behind the jaw's top landmark
        t = np.linspace(0.0, 1.0, 10)[1:, None]
        path = hinge + t * ([hinge[0], hinge[1] + 0.004, ear_z] - hinge)
        down = np.array([[0.0, 0.012, 0.010], [0.0, 0.026, 0.016], [0.0, 0.040, 0.018]])
        path = np.concatenate([path, path[-1] + down])
        for i, p in enumerate(path):  # outside the head's side at this height and depth
            near = Xside[(np.abs(Xside[:, 1] - p[1]) < 0.012) & (np.abs(Xside[:, 2] - p[2]) < 0.012)
                         & (np.sign(Xside[:, 0] - mid_x) == sign)]
            half = np.abs(near[:, 0] - mid_x).max() if len(near) else 0.0
            out = max(half + r + CLEARANCE_M, np.abs(hinge[0] - mid_x) + 0.004)  # an end piece, then back
            path[i, 0] = mid_x + sign * out
        parts.append(tube(np.concatenate([hinge[None], path]), 0.8 * r))

    lens_parts = [lens_slab(p) for p in rims]
    vertices, faces = join_meshes(parts + lens_parts)
    lens = np.concatenate([np.full(len(f), k >= len(parts)) for k, (_, f) in enumerate(parts + lens_parts)])
    return GlassesMesh(vertices=vertices, faces=faces, lens=lens)


def group_glasses(spec: GroupSpec, head_model, first: PosedHead) -> GlassesMesh | None:
    """The group's glasses in its head frame, fitted to the first view's head (rigid with the skull)."""
    if spec.glasses is None:
        return None
    return build_glasses(head_model, head_frame(first.vertices, first), head_frame(first.landmarks, first),
                         spec.glasses)
