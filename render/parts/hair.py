"""Scalp and facial hair as strands, without bpy: roots on the head model's scalp, grown in the head
frame along a combed direction that bends under gravity, kept off the skin, clumped, curled and
frizzed; and stubble, moustaches, goatees and beards rooted on the face below its landmarks'
cheek line, which follow the jaw view by view (:class:`FacialHair`).

Hair is styled, not simulated: a group's strands are fixed in its head frame (they turn with the
skull from view to view), built from the first view's head, whose scalp is rigid with the skull.
Everything is numpy and seeded by the spec, so any host grows the same strands; the renderer only
draws them (Cycles curves, Principled Hair BSDF), and the landmark visibility test uses a subset as
an occluder proxy (:func:`occluder_ribbons`).

Why numpy rather than Blender's bundled hair node assets (Generate / Clump / Frizz / Curl Hair
Curves): the strands must exist without bpy (sampling and tests are bpy-free, and the visibility
test needs their geometry), and the node assets' results depend on Blender's version and on
evaluation inside a modifier stack that this pipeline could not pin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from relhead.assets.base import BROWS, PART_EYE, PART_SKIN, SCALP, PosedHead
from relhead.exact import mm, power
from relhead.frames import head_frame
from relhead.render.parts.hats import HAT_ROOM_M, press_hair
from relhead.render.parts.surface import Skin, vertex_normals
from relhead.render.spec import TIED, FacialHairSpec, GroupSpec, StrandsSpec

POINTS = 12  # points per strand
# A head has about 100,000 hairs of about 0.08 mm; relhead draws fewer, thicker in proportion, so the
# hair covers the scalp as a full head of hair does. Tips are a third of the root's width.
REAL_COUNT, REAL_DIAMETER_M = 100_000, 8e-5
GRAVITY = np.array([0.0, 1.0, 0.0])  # head frame: y points down
BACK = np.array([0.0, 0.0, 1.0])  # z points into the head, i.e. toward the back


@dataclass(frozen=True)
class Strands:
    """(S, POINTS, 3) strand points in the head frame (metres) and (S, POINTS) radii."""

    points: np.ndarray
    radii: np.ndarray

    @classmethod
    def tapered(cls, points: np.ndarray, root_radius: float, thinning: float) -> Strands:
        """Strands of `points` whose radius falls linearly from `root_radius` to `thinning` times less."""
        radii = np.linspace(root_radius, root_radius / thinning, points.shape[1])[None].repeat(len(points), 0)
        return cls(points=points.astype(np.float32), radii=radii.astype(np.float32))


def scalp_triangles(head_model, hairline_cm: float) -> np.ndarray:
    """Indices of the skin faces whose corners are all on the scalp above the hairline, off the ears."""
    sc = head_model.vertex_attributes[SCALP]
    ok = (sc[:, 0] > hairline_cm) & (sc[:, 2] > 0.5)
    faces = np.flatnonzero(head_model.face_parts == PART_SKIN)
    return faces[ok[head_model.faces[faces]].all(1)]


def _tangent(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    t = v - (v * n).sum(-1, keepdims=True) * n
    return t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-9)


def grow(head_model, X: np.ndarray, landmarks: np.ndarray, s: StrandsSpec) -> Strands:
    """The strands of `s` on the head whose vertices are X (N, 3) and landmarks (68, 3), head frame."""
    rng = np.random.default_rng(s.seed)
    faces = head_model.faces.astype(np.int64)
    tri = faces[scalp_triangles(head_model, s.hairline_cm)]
    if len(tri) == 0:
        raise ValueError(f"head model '{head_model.name}' has no scalp above a hairline {s.hairline_cm} cm up")
    normals = vertex_normals(X, faces)
    roots, rn, _, _ = _roots(rng, X, normals, tri, s.count)

    skull = X[head_model.vertex_attributes[SCALP][:, 0] > -2.0]
    centre = skull.mean(0)
    skin = Skin.of(head_model, X, normals)
    if s.style in TIED:
        pts = _tied(rng, s, skin, roots, centre, skull)
    else:
        pts = _loose(rng, s, skin, roots, rn, centre, skull, landmarks)
    face = _face_box(landmarks)

    # Clumps: each strand's tip is drawn toward the nearest of some guide strands (by root).
    guides = rng.choice(s.count, size=max(1, s.count // 40), replace=False)
    g = guides[cKDTree(roots[guides]).query(roots)[1]]
    t = np.linspace(0.0, 1.0, POINTS)[None, :, None]
    pts = pts + s.clump * t * (pts[g] - pts)
    # Curls: a helix about the strand, growing from the root; frizz: noise growing to the tip.
    if s.curl_radius_mm > 0:
        tangent = np.gradient(pts, axis=1)
        tangent /= np.maximum(np.linalg.norm(tangent, axis=2, keepdims=True), 1e-9)
        e1 = _tangent(np.cross(tangent, GRAVITY + 0.3 * BACK), tangent)
        e2 = np.cross(tangent, e1)
        arc = np.concatenate([np.zeros((s.count, 1)), np.cumsum(np.linalg.norm(np.diff(pts, axis=1), axis=2), 1)], 1)
        phase = 2 * np.pi * arc / (s.curl_period_cm / 100.0) + rng.uniform(0, 2 * np.pi, (s.count, 1))
        r = (s.curl_radius_mm / 1000.0) * np.clip(arc / 0.01, 0.0, 1.0) * rng.uniform(0.7, 1.3, (s.count, 1))
        pts = pts + r[..., None] * (np.cos(phase)[..., None] * e1 + np.sin(phase)[..., None] * e2)
    pts = pts + rng.normal(0.0, 1.0, pts.shape) * (s.frizz_mm / 1000.0) * t ** 2
    pts[:, 1:] = _clear_face(skin.push_out(pts[:, 1:].reshape(-1, 3), 0.001), face).reshape(s.count, POINTS - 1, 3)
    root = 0.5 * REAL_DIAMETER_M * max(1.0, REAL_COUNT / s.count)
    return Strands.tapered(pts, root, 3)


def _face_box(landmarks: np.ndarray) -> tuple[float, float, float]:
    """The face stays clear: below the brows and in front of the ears, hair is held outside the jaw line."""
    return landmarks[17:27, 1].min() + 0.005, landmarks[[0, 16], 2].mean(), np.abs(landmarks[:17, 0]).max() + 0.01


def _loose(rng, s: StrandsSpec, skin: Skin, roots, rn, centre, skull, landmarks) -> np.ndarray:
    """(S, POINTS, 3) hair worn loose: combed from the crown or back, falling under gravity."""
    crown = np.array([centre[0] + s.parting_cm / 100.0, skull[:, 1].min(), centre[2] + 0.02])
    # Combed direction: away from the crown (a fringe falls forward) or swept back, then down.
    radial = roots - crown
    comb = _tangent(s.fringe * radial / np.linalg.norm(radial, axis=1, keepdims=True)
                    + (1 - s.fringe) * (BACK + 0.6 * GRAVITY), rn)
    length = s.length_cm / 100.0 * rng.uniform(0.8, 1.1, s.count)
    # Hair in front of the ears' line stops at the brows, so a fringe never covers the eyes.
    brow_y = landmarks[17:27, 1].min()
    # (Hair combed forward reaches the forehead over the top of the head: its path is about the way
    # forward to the brows' depth plus the way down to them.)
    forward = (roots[:, 2] < centre[2] - 0.02) | (comb[:, 2] < -0.2)
    reach = np.maximum(brow_y - 0.01 - roots[:, 1], 0.0) + np.maximum(roots[:, 2] - landmarks[17:27, 2].mean(), 0.0)
    length = np.where(forward, np.minimum(length, np.maximum(reach, 0.01)), length)
    lift = (s.volume_mm / 1000.0) * rng.random(s.count) ** 0.5 + 0.0015  # layers of hair over the scalp

    face = _face_box(landmarks)
    pts = np.empty((s.count, POINTS, 3))
    pts[:, 0] = roots
    d = comb
    step = length / (POINTS - 1)
    for k in range(1, POINTS):
        t = k / (POINTS - 1)
        # Along the combed direction at first, then increasingly down (more for long hair).
        bend = np.clip(t * (length / 0.12), 0.0, 1.0)[:, None] * 0.85
        d = (1 - bend) * d + bend * GRAVITY
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        p = pts[:, k - 1] + step[:, None] * d
        p = _clear_face(skin.push_out(p, lift * min(1.0, 4 * t) + 0.001), face)
        d = _unit(p - pts[:, k - 1])
        pts[:, k] = p
    return pts


def _tied(rng, s: StrandsSpec, skin: Skin, roots, centre, skull) -> np.ndarray:
    """(S, POINTS, 3) hair tied back: the first half of each strand lies on the scalp along an arc
    from its root to a tie at the back of the head (`s.tie_height`: 0 at the nape, 1 high on the
    crown's back), pressed within `s.volume_mm`; the second half is a ponytail that leaves the tie
    backward and falls, widening, or a bun wound round a ball behind the tie."""
    n = len(roots)
    # A centre to arc about: the skull's middle, between its top and its widest level.
    c = np.array([centre[0], 0.5 * (skull[:, 1].min() + centre[1]) + 0.02, centre[2]])
    a = np.radians(-35.0 + 85.0 * s.tie_height)  # the tie's elevation behind the skull
    toward = np.cos(a) * BACK - np.sin(a) * GRAVITY
    on_ray = skin.points[np.argmax(mm(skin.points - c, toward) - 4.0 * np.linalg.norm(
        np.cross(skin.points - c, toward), axis=1))]  # the skin point furthest along the ray, near it
    tie = c + (mm(on_ray - c, toward) + 0.004) * toward
    # Every strand reaches the tie at its own spot on a small disc across the tail.
    e1 = _unit(np.cross(toward, GRAVITY)[None])[0]
    e2 = np.cross(toward, e1)
    r, phi = 0.007 * np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
    spot = r[:, None] * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
    half = POINTS // 2
    pts = np.empty((n, POINTS, 3))
    u0, r0 = _unit(roots - c), np.linalg.norm(roots - c, axis=1)
    u1, r1 = _unit(tie + spot - c), np.linalg.norm(tie + spot - c, axis=1)
    lift = (s.volume_mm / 1000.0) * rng.random(n) ** 0.5 + 0.0015
    # Over the top: from the root up to a waypoint above the middle of the way, then down to the tie
    # (a straight chord from a hairline in front to a tie at the nape would pass near the centre).
    mid = _unit(u0 + u1 - GRAVITY)
    for k in range(half - 1):  # the last point is the tie
        t = k / (half - 1)
        a, b, w = (u0, mid, 2 * t) if t < 0.5 else (mid, u1, 2 * t - 1)
        u = _unit((1 - w) * a + w * b)
        p = c + u * ((1 - t) * r0 + t * r1)[:, None]
        pts[:, k] = skin.settle(p, lift * min(1.0, 3 * t) + 0.001, rounds=3 if k else 0)  # onto the scalp, `lift` off it
    pts[:, half - 1] = tie + spot
    on_scalp = np.linalg.norm(np.diff(pts[:, :half], axis=1), axis=2).sum(1)
    rest = POINTS - half
    if s.style == "ponytail":
        length = np.maximum(s.length_cm / 100.0 * rng.uniform(0.85, 1.05, n) - on_scalp, 0.05)
        step = length / rest
        d = np.repeat(_unit((toward + 0.3 * GRAVITY)[None]), n, 0)
        for k in range(half, POINTS):
            t = (k - half + 1) / rest
            d = _unit(d + 0.9 * GRAVITY)
            p = pts[:, k - 1] + step[:, None] * d + 0.5 * spot * (1.0 / rest)  # widening down the tail
            pts[:, k] = skin.push_out(p, 0.004 + 0.01 * t)
    else:  # a bun: each strand winds once round a ball resting on the tie
        radius = float(np.clip(0.012 + 0.05 * s.length_cm / 100.0, 0.02, 0.035))
        ball = tie + radius * toward
        start = tie + spot - ball
        axis = _unit(np.cross(start, rng.normal(size=(n, 3))))
        sweep = rng.uniform(1.2, 1.8, n) * np.pi
        for k in range(half, POINTS):
            turned = Rotation.from_rotvec(axis * (sweep * (k - half + 1) / rest)[:, None]).apply(start)
            pts[:, k] = ball + turned * rng.uniform(0.8, 1.0, (n, 1))
    return pts


def _roots(rng: np.random.Generator, X: np.ndarray, normals: np.ndarray, tri: np.ndarray, count: int):
    """`count` points spread by area over the triangles `tri` (T, 3) of the surface X: (roots, unit
    normals there, their triangles' vertices (count, 3), barycentric weights (count, 3))."""
    a, b, c = (X[tri[:, k]] for k in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    f = rng.choice(len(tri), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    bary = np.stack([1 - u - v, u, v], 1)
    roots = np.einsum("sk,skd->sd", bary, X[tri[f]])
    rn = np.einsum("sk,skd->sd", bary, normals[tri[f]])
    return roots, rn / np.linalg.norm(rn, axis=1, keepdims=True), tri[f], bary


def _unit(d: np.ndarray) -> np.ndarray:
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)


def _clear_face(p: np.ndarray, face: tuple[float, float, float]) -> np.ndarray:
    """Points below `face`'s brow height and in front of its ear plane moved out to its half-width."""
    brow_y, ear_z, half_width = face
    inside = (p[:, 1] > brow_y) & (p[:, 2] < ear_z) & (np.abs(p[:, 0]) < half_width)
    p = p.copy()
    p[inside, 0] = np.where(p[inside, 0] < 0, -half_width, half_width)
    return p


def occluder_ribbons(strands: Strands, every: int = 16, width_m: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, triangles) in the head frame: two crossed ribbons `width_m` wide along every
    `every`-th strand, a proxy for the hair's mass in the landmark visibility test."""
    p = strands.points[::every].astype(np.float64)
    S, P, _ = p.shape
    tangent = np.gradient(p, axis=1)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=2, keepdims=True), 1e-9)
    verts, tris = [], []
    for axis in (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])):
        side = np.cross(tangent, axis)
        side /= np.maximum(np.linalg.norm(side, axis=2, keepdims=True), 1e-9)
        base = sum(len(v) for v in verts)
        v = np.concatenate([p - side * width_m / 2, p + side * width_m / 2], 1).reshape(-1, 3)  # (S*2P, 3)
        verts.append(v)
        s_idx = np.arange(S)[:, None] * 2 * P
        k = np.arange(P - 1)[None]
        a, b = s_idx + k, s_idx + k + 1
        c, d = s_idx + P + k, s_idx + P + k + 1
        tris.append(base + np.stack([np.stack([a, b, d], -1), np.stack([a, d, c], -1)], 2).reshape(-1, 3))
    return np.concatenate(verts), np.concatenate(tris)


# A beard has about 30,000 hairs of about 0.1 mm.
REAL_FACIAL_COUNT, REAL_FACIAL_DIAMETER_M = 30_000, 1e-4


@dataclass(frozen=True)
class FacialHair:
    """Facial hair grown on the first view's face (head frame), and where each strand is rooted
    (a triangle of the head model and barycentric weights), so it follows the jaw and lips from
    view to view (:meth:`at`)."""

    strands: Strands
    root_vertices: np.ndarray  # (S, 3) vertex indices
    root_weights: np.ndarray  # (S, 3)
    lashes: np.ndarray | None = None  # (S,) bool: eyelashes (drawn dark; they hide no landmark); None: none

    def at(self, X: np.ndarray) -> Strands:
        """The strands on the head whose vertices are X (N, 3, head frame): each moved with its root."""
        root = np.einsum("sk,skd->sd", self.root_weights, X[self.root_vertices])
        first = self.strands.points[:, 0].astype(np.float64)
        points = self.strands.points + (root - first)[:, None].astype(np.float32)
        return Strands(points=points, radii=self.strands.radii)

    def lash_mask(self) -> np.ndarray:
        return np.zeros(len(self.root_vertices), bool) if self.lashes is None else self.lashes

    @staticmethod
    def join(parts: list[FacialHair]) -> FacialHair:
        return FacialHair(
            strands=Strands(points=np.concatenate([p.strands.points for p in parts]),
                            radii=np.concatenate([p.strands.radii for p in parts])),
            root_vertices=np.concatenate([p.root_vertices for p in parts]),
            root_weights=np.concatenate([p.root_weights for p in parts]),
            lashes=np.concatenate([p.lash_mask() for p in parts]))


def facial_region(X: np.ndarray, landmarks: np.ndarray, style: str, neck_m: float) -> np.ndarray:
    """(N,) bool: the vertices where `style` grows, from the 68 landmarks (head frame, y down).

    Below a cheek line from the ears' front (a little below jaw landmarks 0/16: the sideburns) straight
    down to the level of the nose's base beside the mouth, and level with it across the upper lip (a
    real beard's cheek line: the upper cheeks stay bare), down to `neck_m` below the jaw line, in front
    of the ears, off the lips. A
    moustache is the band between the nose and the upper lip; a goatee adds the chin below the
    mouth; stubble and a beard take the whole region."""
    L = landmarks
    x, y, z = X[:, 0] - L[27:31, 0].mean(), X[:, 1], X[:, 2]
    ax = np.abs(x)
    ear_x, mouth_x = np.abs(L[[0, 16], 0] - L[27:31, 0].mean()).mean(), np.abs(L[[48, 54], 0] - L[[48, 54], 0].mean()).mean()
    nose_y, lip_y = L[33, 1], L[[50, 51, 52], 1].mean()
    # The cheek line: at the ears a little below their top, then straight down to the nose's base beside
    # the mouth. (It ran to the middle of the nose there, which grew hair up to the lower lids: a mask,
    # and MTCNN missed 30% of bearded faces at 30-60 degrees of yaw against 10% of the rest.)
    cheek = np.interp(ax, [0.0, mouth_x + 0.004, ear_x], [nose_y, nose_y, L[0, 1] + 0.012])
    jaw = np.interp(x, *_sorted_xy(L[0:17] - [L[27:31, 0].mean(), 0.0, 0.0]))
    front = z < L[[0, 16], 2].mean()
    inside = (ax < ear_x) & (y > cheek) & (y < jaw + neck_m) & front
    mouth_c = L[48:60, :2].mean(0)
    half = np.array([np.ptp(L[48:60, 0]) / 2 + 0.003, np.ptp(L[48:60, 1]) / 2 + 0.002])
    lips = (((X[:, :2] - mouth_c) / half) ** 2).sum(1) < 1.0
    region = inside & ~lips
    upper = (y > nose_y - 0.002) & (y < lip_y + 0.002) & (ax < mouth_x + 0.006)  # nose base to upper lip
    if style == "moustache":
        return region & upper
    if style == "goatee":
        chin = (y > L[57, 1]) & (ax < mouth_x + 0.004) & (y < jaw + 0.3 * neck_m)
        return region & (upper | chin)
    return region


def _sorted_xy(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(p[:, 0])
    return p[order, 0], p[order, 1]


def grow_facial(head_model, X: np.ndarray, landmarks: np.ndarray, s: FacialHairSpec) -> FacialHair:
    """The facial hair of `s` on the head whose vertices are X (N, 3) and landmarks (68, 3), head frame:
    roots spread by area over the region, strands lying along the skin, downward (a moustache also
    outward from the middle), kept just off it."""
    rng = np.random.default_rng(s.seed)
    faces = head_model.faces.astype(np.int64)
    skin_faces = faces[head_model.face_parts == PART_SKIN]
    region = facial_region(X, landmarks, s.style, s.neck_mm / 1000.0)
    tri = skin_faces[region[skin_faces].all(1)]
    if len(tri) == 0:
        raise ValueError(f"head model '{head_model.name}': no skin where a {s.style} grows")
    normals = vertex_normals(X, faces)
    roots, rn, root_tri, bary = _roots(rng, X, normals, tri, s.count)

    skin = Skin.of(head_model, X, normals)
    side = np.sign(roots[:, 0] - landmarks[27:31, 0].mean())[:, None] * [1.0, 0.0, 0.0]
    outward = 0.6 if s.style == "moustache" else 0.15
    d = _tangent(GRAVITY + outward * side + 0.3 * rn, rn)
    length = s.length_mm / 1000.0 * rng.uniform(0.6, 1.1, s.count)
    # Hair above the mouth ends at the upper lip (a moustache trimmed to it), so the lips stay visible.
    L = landmarks
    lip_y, mouth_x = L[[50, 51, 52], 1].mean(), np.ptp(L[48:60, 0]) / 2 + 0.008
    above = (roots[:, 1] < lip_y) & (np.abs(roots[:, 0] - L[48:60, 0].mean()) < mouth_x)
    length = np.where(above, np.clip(lip_y + 0.003 - roots[:, 1], 0.001, length), length)
    step = length / (POINTS - 1)
    lift = 0.0004 + 0.15 * length  # long beards stand further off the skin
    pts = np.empty((s.count, POINTS, 3))
    pts[:, 0] = roots
    for k in range(1, POINTS):
        t = k / (POINTS - 1)
        p = pts[:, k - 1] + step[:, None] * d
        p = skin.push_out(p, lift * min(1.0, 3 * t) + 0.0003, most=step + lift)
        d = _unit(0.7 * _unit(p - pts[:, k - 1]) + 0.3 * GRAVITY)
        pts[:, k] = p
    t = np.linspace(0.0, 1.0, POINTS)[None, :, None]
    if s.curl_radius_mm > 0:
        phase = rng.uniform(0, 2 * np.pi, (s.count, 1)) + 2 * np.pi * t[..., 0] * length[:, None] / 0.01
        r = s.curl_radius_mm / 1000.0 * t[..., 0]
        pts = pts + r[..., None] * (np.cos(phase)[..., None] * [1.0, 0.0, 0.0] + np.sin(phase)[..., None] * BACK)
    pts = pts + rng.normal(0.0, 1.0, pts.shape) * (s.frizz_mm / 1000.0) * t ** 2
    pts[:, 1:] = skin.push_out(pts[:, 1:].reshape(-1, 3), 0.0003, most=0.001).reshape(s.count, POINTS - 1, 3)
    root = 0.5 * REAL_FACIAL_DIAMETER_M * max(1.0, REAL_FACIAL_COUNT / s.count)
    return FacialHair(strands=Strands.tapered(pts, root, 3),
                      root_vertices=root_tri, root_weights=bary)


# Eyelashes per eye at full density, along the upper and the lower lid, and their length profile.
LASHES = (100, 40)
LASH_DIAMETER_M = 1.5e-4
LID_NUDGES_M = (6e-4, 9e-4, 1.2e-3, 1.6e-3, 2e-3)  # a root's steps out of the eye opening, onto the lid's front


def front_of(head_model, X: np.ndarray, xy: np.ndarray, part: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface of the head model's `part` (PART_SKIN, PART_EYE, ...) seen first from in front of the face
    (-z, the face's front) at each head-frame point xy (M, 2): its z (M,), NaN where none of the part's
    triangles covers xy, and where it lies as the corners (M, 3) and barycentric weights (M, 3) of the
    triangle it lies on. Exact and elementwise (the same bytes on any host): each point against the
    triangles whose box holds it."""
    faces = head_model.faces[head_model.face_parts == part].astype(np.int64)
    T = X[faces]  # (F, 3, 3)
    if len(xy):
        near = ((T[:, :, :2].max(1) >= xy.min(0) - 1e-9) & (T[:, :, :2].min(1) <= xy.max(0) + 1e-9)).all(1)
        faces, T = faces[near], T[near]
    if not len(faces) or not len(xy):
        return np.full(len(xy), np.nan), np.zeros((len(xy), 3), np.int64), np.zeros((len(xy), 3))
    a, b, c = T[None, :, 0], T[None, :, 1], T[None, :, 2]
    v0x, v0y, v1x, v1y = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1], c[..., 0] - a[..., 0], c[..., 1] - a[..., 1]
    px, py = xy[:, None, 0] - a[..., 0], xy[:, None, 1] - a[..., 1]
    det = v0x * v1y - v0y * v1x
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (px * v1y - py * v1x) / det
        v = (v0x * py - v0y * px) / det
    inside = (det != 0) & (u >= 0) & (v >= 0) & (u + v <= 1)
    z = np.where(inside, a[..., 2] + u * (b[..., 2] - a[..., 2]) + v * (c[..., 2] - a[..., 2]), np.inf)
    k, m = np.argmin(z, 1), np.arange(len(xy))
    hit = np.isfinite(z[m, k])
    w = np.column_stack([1 - u[m, k] - v[m, k], u[m, k], v[m, k]])
    return np.where(hit, z[m, k], np.nan), faces[k], np.where(hit[:, None], w, 0.0)


def lid_roots(head_model, X: np.ndarray, contour: np.ndarray, out_y: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where lashes grow from the lid whose contour points (M, 3, head frame) are given: the lid's front,
    the skin first seen from in front of the face a little out of the opening (`out_y`: -1 the upper lid,
    +1 the lower, head frame y down), at the first step of LID_NUDGES_M where that skin is in front of the
    eyeball. Anny's contour landmarks lie where the lids meet the eyeball, several mm behind the lids'
    front: lashes rooted there grow inside the lid and no camera sees them. Returns the corners (M, 3) and
    weights (M, 3) of the skin triangles the roots lie on, and (M,) whether a root was found (none where
    the model has no skin in front of the eyeball there)."""
    vids, w = np.zeros((len(contour), 3), np.int64), np.zeros((len(contour), 3))
    todo = np.ones(len(contour), bool)
    for nudge in LID_NUDGES_M:
        xy = contour[todo, :2] + [0.0, out_y * nudge]
        z, f, b = front_of(head_model, X, xy, PART_SKIN)
        ze = front_of(head_model, X, xy, PART_EYE)[0]
        ok = np.isfinite(z) & ~(ze < z)  # skin there, not behind the eyeball
        idx = np.flatnonzero(todo)[ok]
        vids[idx], w[idx] = f[ok], b[ok]
        todo[idx] = False
        if not todo.any():
            break
    return vids, w, ~todo


def grow_lashes(head_model, X: np.ndarray, landmarks: np.ndarray, density: float, length_mm: float,
                seed: int) -> FacialHair:
    """Eyelashes along both eyes' lid margins (the 68 landmarks' eye contours, head frame): upper lashes
    out of the eye and curling up, longest past the middle, lower ones shorter and curling down. Each
    is rooted on the lid's front (lid_roots), on a skin triangle, so lashes follow the lids view by view."""
    rng = np.random.default_rng(seed)
    skin = Skin.of(head_model, X)
    L = landmarks
    centre_x = L[27:31, 0].mean()
    pts, rv, rw = [], [], []
    for eye in (L[36:42], L[42:48]):
        # The contour runs corner, upper lid, corner, lower lid; outer corner first, in both eyes.
        outer_first = np.abs(eye[0, 0] - centre_x) > np.abs(eye[3, 0] - centre_x)
        upper = eye[[0, 1, 2, 3]] if outer_first else eye[[3, 2, 1, 0]]
        lower = eye[[0, 5, 4, 3]] if outer_first else eye[[3, 4, 5, 0]]
        for lid, n_full, up, scale in ((upper, LASHES[0], -1.0, 1.0), (lower, LASHES[1], 1.0, 0.45)):
            n = max(1, int(round(n_full * density)))
            seg = np.linalg.norm(np.diff(lid, axis=0), axis=1)
            s = np.sort(rng.uniform(0.04, 0.96, n)) * seg.sum()  # arc length from the outer corner
            k = np.minimum(np.searchsorted(np.cumsum(seg), s), len(seg) - 1)
            t = (s - np.concatenate([[0.0], np.cumsum(seg)])[k]) / seg[k]
            p = lid[k] + t[:, None] * (lid[k + 1] - lid[k])
            vids, w, found = lid_roots(head_model, X, p, up)  # on the lid's front, not inside it
            if not found.all():  # no skin in front of the eyeball there: the nearest skin vertices
                d, i = skin.tree.query(p[~found], k=3)
                w[~found] = 1.0 / np.maximum(d, 1e-5)
                w[~found] /= w[~found].sum(1, keepdims=True)
                vids[~found] = skin.ids[i]
            root = np.einsum("sk,skd->sd", w, X[vids])
            u = s / seg.sum()  # 0 outer corner .. 1 inner
            length = length_mm / 1000.0 * scale * (0.55 + 0.45 * np.sin(np.pi * np.clip(1.1 * power(np.maximum(1 - u, 0.0), 0.8), 0, 1)))
            length *= rng.uniform(0.85, 1.1, n)
            out = np.sign(root[:, 0] - centre_x)[:, None] * [1.0, 0.0, 0.0]
            dirn = _unit(np.array([0.0, 0.2 * up, -1.0]) + 0.35 * (1 - u)[:, None] * out)
            step = length / (POINTS - 1)
            strand = np.empty((n, POINTS, 3))
            strand[:, 0] = root
            for j in range(1, POINTS):  # out of the eye, curling away from it, kept off the lid
                dirn = _unit(dirn + 0.08 * up * np.array([0.0, 1.0, 0.0]))
                strand[:, j] = skin.push_out(strand[:, j - 1] + step[:, None] * dirn, 0.0005, most=step)
            pts.append(strand)
            rv.append(vids)
            rw.append(w)
    P = np.concatenate(pts)
    return FacialHair(strands=Strands.tapered(P, 0.5 * LASH_DIAMETER_M, 4),
                      root_vertices=np.concatenate(rv), root_weights=np.concatenate(rw),
                      lashes=np.ones(len(P), bool))


BROW_STRANDS = 900  # both brows at density 1 (real brows: about 250 hairs each, thinner)
BROW_DIAMETER_M = 1.2e-4


def grow_brows(head_model, X: np.ndarray, landmarks: np.ndarray, density: float, thickness: float,
               seed: int) -> FacialHair:
    """Eyebrows as strands where the head model's BROWS attribute says they grow (within `thickness`
    of the brow's centre line, between its ends): 4-9 mm hairs lying along the skin, pointing up at
    the brow's inner end and turning toward its tail, rooted on the brow's triangles so they follow
    raised brows view by view. The painted brows stay underneath as the skin's shading."""
    rng = np.random.default_rng(seed)
    brows = head_model.vertex_attributes.get(BROWS)
    if brows is None:
        raise ValueError(f"head model '{head_model.name}' has no BROWS attribute (where brows grow)")
    faces = head_model.faces.astype(np.int64)
    skin_faces = faces[head_model.face_parts == PART_SKIN]
    def inside(b: np.ndarray) -> np.ndarray:
        return (np.abs(b[..., 0]) < thickness) & (b[..., 1] > -0.02) & (b[..., 1] < 1.02) & (b[..., 2] > 0.5)

    tri = skin_faces[inside(brows[skin_faces]).any(1)]  # triangles that reach into the brows
    if len(tri) == 0:
        raise ValueError(f"head model '{head_model.name}': no skin inside its brows")
    normals = vertex_normals(X, faces)
    count = max(1, int(round(BROW_STRANDS * density)))
    # Roots spread over those triangles, kept where the brow attribute interpolates to inside.
    roots, rn, root_tri, bary = _roots(rng, X, normals, tri, 8 * count)
    at = np.einsum("sk,skd->sd", bary, brows[root_tri])
    keep = np.flatnonzero(inside(at))[:count]
    if len(keep) == 0:
        raise ValueError(f"head model '{head_model.name}': no skin inside its brows")
    roots, rn, root_tri, bary, at = roots[keep], rn[keep], root_tri[keep], bary[keep], at[keep]
    count = len(keep)
    u = np.clip(at[:, 1], 0.0, 1.0)  # 0 inner end .. 1 tail
    skin = Skin.of(head_model, X, normals)
    toward_tail = np.sign(roots[:, 0] - landmarks[27:31, 0].mean())[:, None] * [1.0, 0.0, 0.0]
    up = np.array([0.0, -1.0, 0.0])
    d = _tangent((0.25 + u[:, None]) * toward_tail + (1.0 - u[:, None]) * up + 0.1 * rng.normal(size=(count, 3)), rn)
    length = rng.uniform(4.0, 9.0, count) * (1.0 - 0.4 * u) / 1000.0
    step = length / (POINTS - 1)
    pts = np.empty((count, POINTS, 3))
    pts[:, 0] = roots
    for k in range(1, POINTS):  # lying on the skin, bending toward the tail
        d = _unit(d + 0.1 * toward_tail)
        pts[:, k] = skin.push_out(pts[:, k - 1] + step[:, None] * d, 0.0003, most=step)
    return FacialHair(strands=Strands.tapered(pts, 0.5 * BROW_DIAMETER_M, 3),
                      root_vertices=root_tri, root_weights=bary)


def group_strands(spec: GroupSpec, head_model, first: PosedHead) -> Strands | None:
    """The group's strand hair in its head frame, grown on the first view's head (rigid scalp)."""
    hair = spec.materials.hair
    if hair is None or hair.strands is None:
        return None
    X = head_frame(first.vertices, first)
    s = grow(head_model, X, head_frame(first.landmarks, first), hair.strands)
    if spec.hat is not None:  # flattened under the hat; a tied tail or bun comes out through it, as through a cap's back
        n = POINTS // 2 if hair.strands.style in TIED else POINTS
        points = s.points.copy()
        points[:, :n] = press_hair(points[:, :n], head_model, X, spec.hat, HAT_ROOM_M - 0.002)
        s = Strands(points=points, radii=s.radii)
    return s


def group_facial_hair(spec: GroupSpec, head_model, first: PosedHead) -> FacialHair | None:
    """The group's facial hair, eyelashes and brow strands, grown on the first view's face (they then
    follow the jaw, the lids and the brows: FacialHair.at)."""
    hair = spec.materials.hair
    if hair is None or (hair.facial is None and hair.lash_density == 0 and not hair.brow_strands):
        return None
    X, landmarks = head_frame(first.vertices, first), head_frame(first.landmarks, first)
    parts = [grow_facial(head_model, X, landmarks, hair.facial)] if hair.facial is not None else []
    if hair.brow_strands:
        parts.append(grow_brows(head_model, X, landmarks, hair.brow_density, hair.brow_thickness, hair.face_seed + 1))
    if hair.lash_density > 0:
        parts.append(grow_lashes(head_model, X, landmarks, hair.lash_density, hair.lash_length_mm, hair.face_seed))
    return FacialHair.join(parts) if len(parts) > 1 else parts[0]
