"""Hats as a mesh in the head frame, without bpy: a beanie or a cap whose crown is the scalp above
an edge line, stood off it, with a band along the edge, and a cap's brim.

The crown is the head model's skin where its SCALP attribute (height above the hairline, azimuth)
lies above the hat's edge line, cut smoothly through the triangles the line crosses (the garment's
level-set cut), moved out along the normals past the hair under it. Its inside and outside surfaces
are joined along the edge, so the hat has the thickness of its fabric. A cap's brim leaves the front
of the edge forward and a little down. Hats are rigid with the skull: built once per group from the
first view's head and placed with the head frame view by view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relhead.assets.base import PART_SKIN, SCALP, PosedHead
from relhead.exact import arctan2, power
from relhead.frames import head_frame
from relhead.render.parts.garment import level_set_shell
from relhead.render.parts.surface import Skin, vertex_normals
from relhead.render.spec import GroupSpec, HatSpec

# The edge line's height above the head model's hairline (cm) by azimuth from the front (degrees):
# a beanie comes down over the forehead and the tops of the ears; a cap sits higher at the sides.
EDGE_AZIMUTH_DEG = (0.0, 45.0, 90.0, 135.0, 180.0)
EDGE_CM = {"beanie": (-2.0, -2.5, -3.0, -4.0, -4.5), "cap": (-1.0, -1.0, -1.0, -2.5, -3.5)}
BRIM_HALF_ANGLE_DEG = 55.0  # the brim spans the front of the edge, widest at its middle
BRIM_DROP = 0.2  # downward share of the brim's direction
BRIM_FORWARD = 0.6  # forward (rather than outward) share of it


@dataclass(frozen=True)
class HatMesh:
    """Vertices (V, 3) in the head frame (metres), triangles (F, 3), and fabric coordinates (V, 3):
    height, azimuth (radians) times 5 cm, and 0, for the fabric's patterns."""

    vertices: np.ndarray
    faces: np.ndarray
    fabric: np.ndarray
    crown: int  # the first `crown` triangles are the crown, a closed solid; the rest a cap's brim


EAR_CLEARANCE_CM = 0.5  # the edge passes at least this far above the ears


def edge_cm(style: str, azimuth_deg: np.ndarray, shift_cm: float) -> np.ndarray:
    return np.interp(np.abs(azimuth_deg), EDGE_AZIMUTH_DEG, EDGE_CM[style]) + shift_cm


def crown_field(head_model, h: HatSpec) -> np.ndarray:
    """(N,) per vertex: height above the hat's edge line (cm; >= 0 under the crown). The line is
    the style's, shifted by the spec, and lifted over the ears (the model's SCALP z = 0) where they
    reach above it, so a hat sits over the ears' tops rather than moulding them."""
    scalp = head_model.vertex_attributes[SCALP].astype(np.float64)
    height, azimuth = scalp[:, 0], scalp[:, 1] * 180.0
    edge = edge_cm(h.style, azimuth, h.edge_cm)
    ears = scalp[:, 2] < 0.5
    if ears.any():
        bins = np.arange(-180.0, 181.0, 5.0)
        near = np.abs(azimuth[ears][None, :] - bins[:, None]) < 12.0
        top = np.where(near, height[ears][None, :], -np.inf).max(1)
        edge = np.maximum(edge, np.interp(azimuth, bins, np.maximum(top, -1e3)) + EAR_CLEARANCE_CM)
    return height - edge


def _boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The border of a triangle mesh as loops of vertex indices, each in the direction its triangles run."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    undirected = {}
    for a, b in e:
        undirected[(min(a, b), max(a, b))] = undirected.get((min(a, b), max(a, b)), 0) + 1
    nxt = {int(a): int(b) for a, b in e if undirected[(min(a, b), max(a, b))] == 1}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen and v in nxt:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.asarray(loop))
    return loops


def build_hat(head_model, X: np.ndarray, h: HatSpec, under_m: float) -> HatMesh:
    """The hat of `h` on the head whose vertices are X (N, 3, head frame), standing `under_m` off the
    scalp (room for the hair under it) plus its fabric's thickness."""
    scalp = head_model.vertex_attributes.get(SCALP)
    if scalp is None:
        raise ValueError(f"head model '{head_model.name}' has no SCALP attribute: it cannot wear hats "
                         "(set accessories.hats: 0)")
    azimuth = scalp[:, 1].astype(np.float64) * 180.0
    f = crown_field(head_model, h)
    faces = head_model.faces[head_model.face_parts == PART_SKIN].astype(np.int64)
    blend, shell_faces, _ = level_set_shell(faces, f, len(X))
    if len(shell_faces) == 0:
        raise ValueError(f"head model '{head_model.name}': no scalp above a {h.style}'s edge")
    n = blend @ vertex_normals(X, head_model.faces.astype(np.int64))
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    base = blend @ X.astype(np.float64)
    thick = h.thickness_mm / 1000.0
    inner, outer = base + under_m * n, base + (under_m + thick) * n
    S = len(base)
    parts_v, parts_f = [outer, inner], [shell_faces, shell_faces[:, ::-1] + S]
    loops = _boundary_loops(shell_faces)
    edge = max(loops, key=len)  # the hat's edge (any other loop: a hole in the model's scalp)
    for loop in loops:  # a band joins the outside to the inside along each
        nxt = np.roll(loop, -1)
        parts_f.append(np.concatenate([np.stack([nxt, loop, loop + S], 1), np.stack([nxt, loop + S, nxt + S], 1)]))
    vertices = np.concatenate(parts_v)
    fabric_height = -vertices[:, 1]
    fabric_around = arctan2(vertices[:, 0], -vertices[:, 2]) * 0.05
    fabric = np.stack([fabric_height, fabric_around, np.zeros(len(vertices))], 1)
    faces_out = np.concatenate(parts_f)
    crown = len(faces_out)
    if h.style == "cap" and h.brim_cm > 0:
        bv, bf, bfab = _brim(outer, n, edge, azimuth_deg=(blend @ azimuth)[edge], length_m=h.brim_cm / 100.0,
                             thick=thick)
        faces_out = np.concatenate([faces_out, bf + len(vertices)])
        vertices = np.concatenate([vertices, bv])
        fabric = np.concatenate([fabric, bfab])
    return HatMesh(vertices=vertices.astype(np.float32), faces=faces_out, fabric=fabric.astype(np.float32), crown=crown)


def _brim(outer: np.ndarray, n: np.ndarray, edge: np.ndarray, azimuth_deg: np.ndarray, length_m: float,
          thick: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cap's brim: the front of the edge carried forward and a little down, widest in the middle;
    a top and an underside `thick` apart, joined at the brim's rim."""
    front = np.abs(azimuth_deg) < BRIM_HALF_ANGLE_DEG
    idx = np.flatnonzero(front)
    if len(idx) < 3:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3))
    # Order the front points along the edge, starting after a gap (the edge is a loop).
    gap = np.flatnonzero(~front)
    start = (gap.max() + 1) % len(edge) if len(gap) else 0
    order = [(start + k) % len(edge) for k in range(len(edge)) if front[(start + k) % len(edge)]]
    p = outer[edge[order]]
    a = np.radians(azimuth_deg[order])
    reach = length_m * power(np.maximum(np.cos(np.clip(a / np.radians(BRIM_HALF_ANGLE_DEG), -1, 1) * np.pi / 2), 0.0), 0.7)
    radial = p - p.mean(0)
    radial[:, 1] = 0.0
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    out = (1 - BRIM_FORWARD) * radial + BRIM_FORWARD * np.array([0.0, 0.0, -1.0])
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    d = (1 - BRIM_DROP) * out + BRIM_DROP * np.array([0.0, 1.0, 0.0])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    tip = p + reach[:, None] * d
    up = np.array([0.0, -thick, 0.0])
    rings = [p, tip, tip + up, p + up]  # one surface out to the tip, the rim, the other `thick` above it, back
    m = len(p)
    v = np.concatenate(rings)
    tris = []
    for r in range(3):
        a0, a1 = r * m, (r + 1) * m
        for k in range(m - 1):
            tris += [[a0 + k, a1 + k, a1 + k + 1], [a0 + k, a1 + k + 1, a0 + k + 1]]
    fabric = np.stack([-v[:, 1], np.zeros(len(v)), np.zeros(len(v))], 1)
    return v, np.asarray(tris, np.int64), fabric


def under_hat(head_model, h: HatSpec) -> np.ndarray:
    """(N,) bool: the head model's vertices under the hat's crown."""
    return crown_field(head_model, h) >= 0


def press_hair(points: np.ndarray, head_model, X: np.ndarray, h: HatSpec, room_m: float) -> np.ndarray:
    """Strand points (..., 3, head frame) under the hat pressed to within `room_m` of the scalp (hair
    flattened by the hat); points below its edge are left as they are, so hair falls out from under it."""
    skin = Skin.of(head_model, X)
    covered = under_hat(head_model, h)[skin.ids]
    p = points.reshape(-1, 3).astype(np.float64)
    for _ in range(3):  # a pressed point may find a nearer stretch of scalp, whose plane lies higher
        depth, i = skin.depth(p)
        over = covered[i] & (depth > room_m)
        if not over.any():
            break
        p[over] -= (depth[over] - room_m)[:, None] * skin.normals[i][over]
    return p.reshape(points.shape).astype(points.dtype)


HAT_ROOM_M = 0.004  # between the scalp and a hat's inside; strand hair under it is pressed into it


def group_hat(spec: GroupSpec, head_model, first: PosedHead) -> HatMesh | None:
    """The group's hat in its head frame, on the first view's scalp (rigid with the skull)."""
    if spec.hat is None:
        return None
    return build_hat(head_model, head_frame(first.vertices, first), spec.hat, HAT_ROOM_M)
