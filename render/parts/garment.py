"""A garment's geometry from the head model's mesh, without bpy: a shell over the body below a
neckline, a few millimetres off the skin, and a skirt that carries it down and out of the frame.

The neckline is a level set on the mesh (the model's TORSO attribute: depth below the neck's base,
azimuth around the neck, body weight), cut through the triangles it crosses, so its edge is smooth
on a coarse mesh. Every shell point is a fixed blend of mesh vertices, so the garment follows the
posed body view by view (a turtleneck turns with the neck). The skirt extends the shell's lower and
side edges (where the model's bust is cut) 35 cm along the body's down direction, flaring out:
there is no bare torso and no cut edge in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
from scipy import sparse

from relhead.assets.base import PART_SKIN, TORSO, PosedHead
from relhead.exact import lstsq, mm, norm
from relhead.render.parts.surface import Skin, vertex_normals
from relhead.render.spec import GroupSpec

# Neckline depth below the neck's base (cm) by azimuth from the throat (degrees): front, side, back.
NECKLINE_AZIMUTH_DEG = (0.0, 45.0, 90.0, 135.0, 180.0)
NECKLINE_CM = {
    "crew": (2.5, 1.5, 0.0, -1.0, -1.5),
    "scoop": (7.0, 5.0, 1.5, -0.5, -1.0),
    "turtleneck": (-4.0, -4.0, -4.5, -5.0, -5.0),
    "v-neck": (2.5, 1.5, 0.0, -1.0, -1.5),  # plus the V below
    "collared": (2.5, 1.5, 0.0, -1.0, -1.5),  # plus a shallow V where the collar opens
    "hoodie": (2.0, 1.0, 0.0, -1.0, -1.5),
}
V_DEPTH_CM, V_HALF_WIDTH_DEG = {"v-neck": 6.0, "collared": 3.5}, 25.0
BODY_MIN = 0.45  # the garment covers vertices at least this much body (TORSO z): never the chin or jaw
SKIRT_M = (0.02, 0.35)  # the skirt's two rings, along the body's down direction
SKIRT_FLARE = 0.25  # outward (horizontal) share of the skirt's direction


def neckline_cm(style: str, azimuth_deg: np.ndarray) -> np.ndarray:
    a = np.abs(azimuth_deg)
    depth = np.interp(a, NECKLINE_AZIMUTH_DEG, NECKLINE_CM[style])
    if style in V_DEPTH_CM:
        depth = depth + V_DEPTH_CM[style] * np.clip(1.0 - a / V_HALF_WIDTH_DEG, 0.0, 1.0)
    return depth


@dataclass(frozen=True)
class Flap:
    """A band of fabric attached along the neckline: it stands `stand_cm` up the neck, folds over and
    lies back down over the garment for `fall_cm` from the neckline, bulging `puff_cm` off it at
    mid-fall; all three by azimuth (degrees from the throat) on `span_deg` only. A shirt's collar, or
    a hoodie's hood lying gathered behind the neck."""

    span_deg: tuple[float, float]  # |azimuth| range the band covers
    stand_cm: tuple[float, float]  # at the ends of the span, interpolated by |azimuth|
    fall_cm: tuple[float, float]
    puff_cm: tuple[float, float]


FLAPS = {
    # A collar: open at the throat, its points longest in front, standing 2.5 cm round the neck.
    "collared": Flap(span_deg=(10.0, 180.0), stand_cm=(2.0, 2.8), fall_cm=(6.0, 3.8), puff_cm=(0.3, 0.3)),
    # A hood down: a gathered roll over the shoulders and the upper back.
    "hoodie": Flap(span_deg=(40.0, 180.0), stand_cm=(1.0, 3.0), fall_cm=(4.0, 9.0), puff_cm=(1.0, 3.5)),
}
FLAP_COLUMNS_DEG = 4.0  # the band's column spacing round the neck
FLAP_FOLD_M = 0.003  # the fold's thickness, between its standing and its falling leaf
FALL_ROWS = 5


@dataclass(frozen=True)
class GarmentMesh:
    """A garment's fixed topology and how to place it on a posed body (:meth:`vertices`)."""

    blend: sparse.csr_matrix  # (S, N) shell points as blends of the head model's vertices
    shell_faces: np.ndarray  # (Fs, 3) into the shell points
    edge: np.ndarray  # (B,) shell points on the cut edge of the body, which the skirt extends
    faces: np.ndarray  # (F, 3) into vertices(): the shell, then the skirt
    thickness_m: float
    head_faces: np.ndarray  # the head model's faces (for its vertex normals)
    torso: np.ndarray  # (N, 3) the model's TORSO attribute (the body's down direction is its depth's gradient)
    flap: Flap | None = None  # a collar or hood along the neckline
    flap_columns: np.ndarray | None = None  # (C,) shell points on the neckline it hangs from, in order
    flap_azimuth: np.ndarray | None = None  # (C,) their |azimuth| in degrees

    @property
    def num_vertices(self) -> int:
        flap = 0 if self.flap_columns is None else len(self.flap_columns) * (4 + FALL_ROWS)
        return self.blend.shape[0] + len(SKIRT_M) * len(self.edge) + flap

    def vertices(self, head_vertices: np.ndarray) -> np.ndarray:
        """(num_vertices, 3) garment vertices on these posed head-model vertices (same frame)."""
        n = vertex_normals(head_vertices, self.head_faces)
        p = self.blend @ head_vertices.astype(np.float64)
        nn = self.blend @ n
        shell = p + self.thickness_m * nn / np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
        down, axis_point = body_axes(head_vertices, self.torso)
        base = shell[self.edge]
        radial = base - axis_point
        radial -= np.outer(mm(radial, down), down)
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
        d = down + SKIRT_FLARE * radial
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        rings = [base + L * d for L in SKIRT_M]
        parts = [shell, *rings]
        if self.flap is not None:
            unit = nn / np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
            parts.append(self._flap_vertices(Skin.over(shell, unit), down, axis_point,
                                             Skin.over(head_vertices.astype(np.float64), n)))
        return np.concatenate(parts).astype(np.float32)

    def _flap_vertices(self, shell: Skin, down: np.ndarray, axis_point: np.ndarray, body: Skin) -> np.ndarray:
        """(rows * C, 3) the flap's vertices, row after row: up the neck from the neckline (the standing
        leaf), over the fold, then down over the garment's `shell`, walked along it away from the neck's
        base; every row kept off the `body` by the fabric's thickness (and the fold's)."""
        f, a = self.flap, self.flap_azimuth
        lerp = lambda ends: np.interp(a, f.span_deg, ends) / 100.0  # noqa: E731
        stand, fall, puff = lerp(f.stand_cm), lerp(f.fall_cm), lerp(f.puff_cm)
        P0, n0 = shell.points[self.flap_columns], shell.normals[self.flap_columns]
        up = -down
        th = self.thickness_m
        rows = [P0] + [body.push_out(P0 + (stand * k / 2)[:, None] * up, th) for k in (1, 2)]  # the standing leaf
        rows.append(body.push_out(rows[2] + FLAP_FOLD_M * n0, th + FLAP_FOLD_M))  # over the fold
        rows.append(body.push_out(rows[1] + 1.5 * FLAP_FOLD_M * n0, th + 1.5 * FLAP_FOLD_M))  # falling, down the stand
        # Then down over the garment: each step away from the neck's base, back onto the shell, off it
        # by the fold and the puff.
        p = P0 + 1.5 * FLAP_FOLD_M * n0
        for k in range(1, FALL_ROWS):
            t = k / (FALL_ROWS - 1)
            away = p - axis_point
            n = shell.normals[shell.depth(p)[1]]
            away -= (away * n).sum(1, keepdims=True) * n
            p = p + (fall / (FALL_ROWS - 1))[:, None] * away / np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
            p = shell.settle(p, 1.5 * FLAP_FOLD_M + puff * np.sin(np.pi * min(t, 0.999) ** 0.8), rounds=2)
            p = body.push_out(p, th + 1.5 * FLAP_FOLD_M)
            rows.append(p)
        return np.concatenate(rows)


def body_axes(head_vertices: np.ndarray, torso: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The body's down direction (the gradient of TORSO depth over the body below the neck's middle,
    fitted) and a point on the neck's axis (the centre of its base), in the frame of `head_vertices`."""
    depth_cm = torso[:, 0]
    bust = (depth_cm > -3.0) & (torso[:, 2] > 0.9)
    A = np.c_[head_vertices[bust], np.ones(bust.sum())].astype(np.float64)
    g = lstsq(A, depth_cm[bust].astype(np.float64))[:3]
    ring = (np.abs(depth_cm + 1.0) <= 1.5) & (torso[:, 2] > 0.5)
    return g / norm(g), head_vertices[ring].astype(np.float64).mean(0)


def level_set_shell(faces: np.ndarray, f: np.ndarray, num_vertices: int) -> tuple[sparse.csr_matrix, np.ndarray, dict]:
    """The part of the surface `faces` where the per-vertex field `f` >= 0, cut through the triangles
    that the level set f = 0 crosses: (blend (S, num_vertices): each shell point as a blend of one or
    two vertices, shell triangles (Fs, 3), {(vertex,) or (vertex, vertex): shell point})."""
    inside = f[faces] >= 0
    rows: list[tuple[int, int, float]] = []  # (shell point, vertex, weight)
    point_of: dict = {}

    def point(a: int, b: int | None = None) -> int:
        key = (a,) if b is None else (min(a, b), max(a, b))
        if key not in point_of:
            i = point_of[key] = len(point_of)
            if b is None:
                rows.append((i, a, 1.0))
            else:
                t = f[a] / (f[a] - f[b])
                rows.extend([(i, a, 1.0 - t), (i, b, t)])
        return point_of[key]

    tris = []
    for tri, ins in zip(faces, inside):
        k = int(ins.sum())
        if k == 0:
            continue
        if k == 3:
            tris.append([point(int(v)) for v in tri])
            continue
        odd = int(np.flatnonzero(ins == (k == 1))[0])  # the vertex alone on its side
        v0, v1, v2 = (int(tri[(odd + j) % 3]) for j in range(3))
        if k == 1:  # v0 inside alone
            tris.append([point(v0), point(v0, v1), point(v2, v0)])
        else:  # v0 outside alone
            p01, p20 = point(v0, v1), point(v2, v0)
            tris += [[p01, point(v1), point(v2)], [p01, point(v2), p20]]
    shell_faces = np.asarray(tris, np.int64).reshape(-1, 3)
    r, c, w = (np.array(x) for x in zip(*rows)) if rows else (np.zeros(0, int),) * 3
    blend = sparse.csr_matrix((w.astype(float), (r.astype(int), c.astype(int))), shape=(len(point_of), num_vertices))
    return blend, shell_faces, point_of


def garment_field(torso: np.ndarray, style: str) -> np.ndarray:
    """(N,) signed level set on the TORSO attribute, positive on the garment: below the neckline and
    on the body. The neckline stays 1.5 cm above the bust's cut in front (a deep V would open onto
    the inside of the skirt)."""
    depth, azimuth, body = (torso[:, k].astype(np.float64) for k in range(3))
    front = (np.abs(azimuth) < 15.0 / 180.0) & (body > BODY_MIN)
    lowest = depth[front].max() - 1.5 if front.any() else np.inf
    return np.minimum(depth - np.minimum(neckline_cm(style, azimuth * 180.0), lowest), 10.0 * (body - BODY_MIN))


def build_garment(head_model, style: str, thickness_mm: float) -> GarmentMesh:
    """The garment of `style` on `head_model` (its TORSO attribute and skin faces)."""
    torso = head_model.vertex_attributes.get(TORSO)
    if torso is None:
        raise ValueError(f"head model '{head_model.name}' has no TORSO attribute: it cannot wear clothes "
                         "(set clothing.fraction: 0)")
    f = garment_field(torso, style)
    N = len(torso)
    blend, shell_faces, point_of = level_set_shell(head_model.faces[head_model.face_parts == PART_SKIN], f, N)

    # The cut edge: shell edges used once, between two original vertices on the model's own border.
    def edges(tri_array):
        e = np.concatenate([tri_array[:, [0, 1]], tri_array[:, [1, 2]], tri_array[:, [2, 0]]])
        return e

    mesh_e = np.sort(edges(head_model.faces.astype(np.int64)), 1)
    uniq, count = np.unique(mesh_e, axis=0, return_counts=True)
    border = {tuple(x) for x in uniq[count == 1]}
    vertex_of = {i: key[0] for key, i in point_of.items() if len(key) == 1}
    se = edges(shell_faces)
    su, scount = np.unique(np.sort(se, 1), axis=0, return_counts=True)
    once = {tuple(x) for x in su[scount == 1]}
    cut = [(a, b) for a, b in se if tuple(sorted((a, b))) in once and a in vertex_of and b in vertex_of
           and tuple(sorted((vertex_of[a], vertex_of[b]))) in border]
    edge = np.unique(np.asarray(cut, np.int64).ravel()) if cut else np.zeros(0, np.int64)
    ring_of = {int(p): j for j, p in enumerate(edge)}
    S, B = len(point_of), len(edge)
    skirt = []
    for a, b in cut:  # shell triangle runs a -> b; the skirt continues the surface across that edge
        ra, rb = ring_of[int(a)], ring_of[int(b)]
        rings = [(int(a), int(b))] + [(S + k * B + ra, S + k * B + rb) for k in range(len(SKIRT_M))]
        for (a0, b0), (a1, b1) in zip(rings[:-1], rings[1:]):
            skirt += [[b0, a0, a1], [b0, a1, b1]]
    all_faces = np.concatenate([shell_faces, np.asarray(skirt, np.int64).reshape(-1, 3)])
    flap = FLAPS.get(style)
    columns = azimuth_deg = None
    if flap is not None:
        columns, azimuth_deg = _neckline_columns(point_of, torso, flap)
        base = S + len(SKIRT_M) * B
        all_faces = np.concatenate([all_faces, base + _grid_faces(4 + FALL_ROWS, len(columns))])
    return GarmentMesh(blend=blend, shell_faces=shell_faces, edge=edge, faces=all_faces,
                       thickness_m=thickness_mm / 1000.0, head_faces=head_model.faces.astype(np.int64),
                       torso=torso, flap=flap, flap_columns=columns, flap_azimuth=azimuth_deg)


def _neckline_columns(point_of: dict, torso: np.ndarray, flap: Flap) -> tuple[np.ndarray, np.ndarray]:
    """The shell points on the neckline (cut between a vertex above it and one below) where a flap's
    columns hang, one per FLAP_COLUMNS_DEG of azimuth over its span, in order round the neck from the
    subject's right through the back to the left (through the front, when the span includes it);
    and their |azimuth| in degrees."""
    ids, az = [], []
    for key, i in point_of.items():
        if len(key) == 2 and torso[list(key), 2].min() >= BODY_MIN:  # the neckline, not the body-weight cut
            ids.append(i)
            rad = np.radians(torso[list(key), 1] * 180.0)
            az.append(math.degrees(math.atan2(np.sin(rad).sum(), np.cos(rad).sum())))  # across +-180 too
    ids, az = np.asarray(ids), np.asarray(az)
    # Unwrapped so the band runs through the back (|azimuth| 180) without a seam.
    unwrapped = np.where(az < 0, az + 360.0, az)
    lo, hi = flap.span_deg
    centres = np.arange(lo, 360.0 - lo + 1e-6, FLAP_COLUMNS_DEG)
    pick = [int(np.argmin(np.abs(unwrapped - c))) for c in centres]
    columns = ids[pick]
    return columns, np.minimum(unwrapped[pick], 360.0 - unwrapped[pick])


def _grid_faces(rows: int, cols: int) -> np.ndarray:
    """Triangles of a rows x cols grid of vertices stored row after row (an open band)."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (r * cols + c).ravel()
    b, d, e = a + 1, a + cols, a + cols + 1
    return np.concatenate([np.stack([a, b, e], 1), np.stack([a, e, d], 1)])


def pattern_coordinates(vertices: np.ndarray, mesh: GarmentMesh, head_vertices: np.ndarray) -> np.ndarray:
    """(num_vertices, 3) fabric coordinates in metres, fixed for the group (from its first view): depth
    along the body's down direction, then across the body and front to back, about the neck's base."""
    down, centre = body_axes(head_vertices, mesh.torso)
    side = np.cross(down, [0.0, 0.0, 1.0]) if abs(down[2]) < 0.9 else np.cross(down, [1.0, 0.0, 0.0])
    side /= norm(side)
    front = np.cross(side, down)
    rel = vertices.astype(np.float64) - centre
    return np.stack([mm(rel, down), mm(rel, side), mm(rel, front)], 1).astype(np.float32)


_GARMENTS: dict = {}  # (head model id, style, thickness) -> GarmentMesh, for the process


def garment_mesh(spec: GroupSpec, head_model) -> GarmentMesh | None:
    """The group's garment geometry (its topology depends on the model and style only: cached)."""
    g = spec.garment
    if g is None:
        return None
    key = (id(head_model), g.style, g.thickness_mm)
    if key not in _GARMENTS:
        if len(_GARMENTS) > 64:
            _GARMENTS.clear()
        _GARMENTS[key] = build_garment(head_model, g.style, g.thickness_mm)
    return _GARMENTS[key]


def group_garment(spec: GroupSpec, head_model, first: PosedHead) -> tuple[GarmentMesh, np.ndarray] | None:
    """The group's garment mesh and its fabric coordinates (on the first view's body), or None.
    Its vertices follow the body view by view (GarmentMesh.vertices)."""
    mesh = garment_mesh(spec, head_model)
    if mesh is None:
        return None
    return mesh, pattern_coordinates(mesh.vertices(first.vertices), mesh, first.vertices)
