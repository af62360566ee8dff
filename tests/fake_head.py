"""A tiny analytic head-model backend, registered from outside the package the way FLAME or any
third-party backend would be: an ellipsoid skull with a nose bump, two eyeballs and a neck,
two named expressions, gaze, neck rotation, and barycentric landmarks (as FLAME's are).

Pure numpy; builds in milliseconds, so sampling and spec tests need neither Anny nor bpy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from relhead.assets import registry
from relhead.assets.base import PART_EYE, PART_SKIN, SCALP, TORSO, HeadCfg, Identity, PosedHead, sample_sparse_expression
from relhead.configbase import Range
from relhead.frames import euler_to_matrix

# Head frame (relhead.frames): x right, y down, z into the head; origin between the eyeball centres.
CENTRE = np.array([0.0, 0.0, 0.075])
AXES = np.array([0.075, 0.115, 0.095])  # ellipsoid semi-axes at width_scale 1
EYE_X, EYE_R = 0.032, 0.012
PIVOT = np.array([0.0, 0.10, 0.075])  # the neck rotates the head about this point
NECK_BASE_Y = 0.14  # where its TORSO depth is 0
EXPRESSIONS = ["jawOpen", "browRaise"]


class FakeCfg(HeadCfg):
    model: Literal["fake"] = "fake"
    width_scale: Range(0.5, 2.0) = (0.9, 1.1)
    segments: int = Field(24, ge=8, le=128, description="tessellation (a build setting)")

    def build_settings(self) -> dict:
        return {"segments": self.segments}


class FakeIdentity(Identity):
    width_scale: float


def _sphere(centre, radii, n):
    lat = np.linspace(0, np.pi, n + 1)
    lon = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    # y is the polar axis (down), so the poles are the crown and the neck
    pts = np.stack([np.sin(la) * np.cos(lo), np.cos(la), np.sin(la) * np.sin(lo)], -1).reshape(-1, 3)
    faces = []
    m = 2 * n
    for i in range(n):
        for j in range(m):
            a, b = i * m + j, i * m + (j + 1) % m
            c, d = a + m, b + m
            faces += [(a, b, c), (b, d, c)]  # counter-clockwise seen from outside: normals out
    return pts * radii + centre, np.array(faces)


def _cylinder(centre_xz, radius, y0, y1, n, rings=5):
    ang = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    ring = np.stack([radius * np.cos(ang) + centre_xz[0], np.zeros_like(ang), radius * np.sin(ang) + centre_xz[1]], -1)
    pts = np.concatenate([ring + [0, y, 0] for y in np.linspace(y0, y1, rings)])
    m = len(ang)
    faces = [(r * m + a, r * m + b, r * m + c) for r in range(rings - 1) for j in range(m)
             for a, b, c in ((j, j + m, (j + 1) % m), ((j + 1) % m, j + m, (j + 1) % m + m))]
    return pts, np.array(faces)


def _landmark_xy() -> np.ndarray:
    """68 points (x, y) on the face in iBUG-68 order, roughly where a face has them."""
    phi = np.linspace(0, np.pi, 17)
    jaw = np.stack([-0.066 * np.cos(phi), 0.01 + 0.095 * np.sin(phi)], -1)
    bx = np.linspace(0.012, 0.055, 5)
    brow_r = np.stack([-bx[::-1], -0.032 - 0.006 * np.sin(np.linspace(0, np.pi, 5))], -1)
    brow_l = np.stack([bx, -0.032 - 0.006 * np.sin(np.linspace(0, np.pi, 5))], -1)
    bridge = np.stack([np.zeros(4), np.linspace(-0.012, 0.028, 4)], -1)
    nostrils = np.stack([np.linspace(-0.015, 0.015, 5), np.full(5, 0.04)], -1)
    t = np.linspace(0, 2 * np.pi, 6, endpoint=False) + np.pi
    eye = np.stack([0.014 * np.cos(t), -0.006 * np.sin(t)], -1)
    t12 = np.linspace(0, 2 * np.pi, 12, endpoint=False) + np.pi
    t8 = np.linspace(0, 2 * np.pi, 8, endpoint=False) + np.pi
    mouth_o = np.stack([0.025 * np.cos(t12), 0.065 - 0.012 * np.sin(t12)], -1)
    mouth_i = np.stack([0.015 * np.cos(t8), 0.065 - 0.005 * np.sin(t8)], -1)
    return np.concatenate([jaw, brow_r, brow_l, bridge, nostrils, eye + [-EYE_X, 0], eye + [EYE_X, 0], mouth_o, mouth_i])


def _ray_hits(origins, direction, tris):
    """First hit of rays (origins, common direction) on triangles (T, 3, 3): (triangle, barycentric)."""
    v0, e1, e2 = tris[:, 0], tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    p = np.cross(direction, e2)
    det = (e1 * p).sum(1)
    out_f, out_b = [], []
    for o in origins:
        s = o - v0
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (s * p).sum(1) / det
            q = np.cross(s, e1)
            v = (q @ direction) / det
            dist = (e2 * q).sum(1) / det
            ok = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (dist > 0)
        f = int(np.flatnonzero(ok)[np.argmin(dist[ok])])
        out_f.append(f)
        out_b.append([1 - u[f] - v[f], u[f], v[f]])
    return np.array(out_f), np.array(out_b)


class FakeHead:
    name = "fake"

    def __init__(self, segments: int = 24):
        head, fh = _sphere(CENTRE, AXES, segments)
        front = head[:, 2] < CENTRE[2]  # the nose: a bump on the front
        bump = 0.022 * np.exp(-((head[:, 0] / 0.012) ** 2 + ((head[:, 1] - 0.025) / 0.022) ** 2))
        head[:, 2] -= np.where(front, bump, 0.0)
        neck, fn = _cylinder((0.0, CENTRE[2]), 0.05, 0.08, 0.2, segments)
        eyes, fe, eye_coords = [], [], []
        for sx in (-1, 1):
            v, f = _sphere(np.array([sx * EYE_X, 0.0, 0.0]), np.full(3, EYE_R), max(8, segments // 2))
            eyes.append(v)
            fe.append(f)
            unit = (v - [sx * EYE_X, 0.0, 0.0]) / EYE_R
            eye_coords.append(unit * [1, -1, -1])  # +z out of the pupil (toward -z of the head)
        parts = [(head, fh, PART_SKIN), (neck, fn, PART_SKIN), (eyes[0], fe[0], PART_EYE), (eyes[1], fe[1], PART_EYE)]
        verts, faces, labels, offset = [], [], [], 0
        for v, f, part in parts:
            verts.append(v)
            faces.append(f + offset)
            labels.append(np.full(len(f), part, np.int8))
            offset += len(v)
        self.rest = np.concatenate(verts).astype(float)
        self.faces = np.concatenate(faces).astype(np.int32)
        self.face_parts = np.concatenate(labels)
        n_skin = len(head) + len(neck)
        self.eye_vertices = [np.arange(n_skin, n_skin + len(eyes[0])), np.arange(n_skin + len(eyes[0]), len(self.rest))]
        attrs = np.zeros((len(self.rest), 3), np.float32)
        attrs[n_skin:] = np.concatenate(eye_coords)
        self.vertex_attributes = {"eye_coords": attrs}
        # Clothes go on the neck (the whole body this head has): depth, azimuth, body weight.
        torso = np.zeros((len(self.rest), 3), np.float32)
        torso[:, 0] = (self.rest[:, 1] - NECK_BASE_Y) * 100.0
        torso[:, 1] = np.degrees(np.arctan2(self.rest[:, 0], CENTRE[2] - self.rest[:, 2])) / 180.0
        torso[len(head):n_skin, 2] = 1.0
        self.vertex_attributes[TORSO] = torso
        # Hair grows on the skull above a level hairline 6 cm over the eyes (no ears to leave out).
        scalp = np.ones((len(self.rest), 3), np.float32)
        scalp[:, 0] = np.clip((-0.06 - self.rest[:, 1]) * 100.0, -9.0, 9.0)
        scalp[:, 1] = torso[:, 1]
        scalp[len(head):] = (-9.0, 0.0, 1.0)  # the neck and eyes are not scalp
        self.vertex_attributes[SCALP] = scalp
        # Barycentric landmarks on the skin, found by casting rays from the front.
        skin = np.flatnonzero(self.face_parts == PART_SKIN)
        xy = _landmark_xy()
        f, b = _ray_hits(np.c_[xy, np.full(len(xy), -1.0)], np.array([0.0, 0.0, 1.0]), self.rest[self.faces[skin]])
        self.landmark_faces, self.landmark_bary = skin[f], b

    @classmethod
    def from_config(cls, cfg: FakeCfg) -> "FakeHead":
        return cls(cfg.segments)

    def sample_identity(self, rng, cfg: FakeCfg) -> FakeIdentity:
        return FakeIdentity(width_scale=float(rng.uniform(*cfg.width_scale)))

    def sample_expression(self, rng, cfg: FakeCfg) -> dict[str, float]:
        return sample_sparse_expression(rng, EXPRESSIONS, cfg.expression)

    def head_width(self, identity: FakeIdentity) -> float:
        return float(2 * AXES[0] * identity.width_scale)

    def _shaped(self, identity: FakeIdentity, expression: dict) -> np.ndarray:
        v = self.rest.copy()
        v[:, 0] *= identity.width_scale
        front = v[:, 2] < CENTRE[2]
        jaw = front & (v[:, 1] > 0.045)
        v[jaw, 1] += expression.get("jawOpen", 0.0) * 0.015 * np.clip((v[jaw, 1] - 0.045) / 0.03, 0, 1)
        brow = front & (v[:, 1] < -0.02) & (v[:, 1] > -0.06)
        v[brow, 1] -= expression.get("browRaise", 0.0) * 0.006
        return v

    def pose(self, identity: FakeIdentity, expressions, gazes_deg, neck_rotations) -> list[PosedHead]:
        out = []
        for expr, (gyaw, gpitch), R in zip(expressions, gazes_deg, neck_rotations):
            v = self._shaped(identity, expr)
            Rg = euler_to_matrix(gyaw, gpitch, 0.0)
            for sx, ids in zip((-1, 1), self.eye_vertices):
                c = np.array([sx * EYE_X * identity.width_scale, 0.0, 0.0])
                v[ids] = (v[ids] - c) @ Rg.T + c
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = R, PIVOT - R @ PIVOT
            world = v @ R.T + T[:3, 3]
            lm = np.einsum("lk,lkd->ld", self.landmark_bary, world[self.faces[self.landmark_faces]])
            out.append(PosedHead(vertices=world.astype(np.float32), T_world_head=T, landmarks=lm))
        return out


# What a plugin's entry point names (group relhead.head_models; tests/test_plugins.py installs it so).
BACKEND = registry.Backend("fake", FakeCfg, FakeIdentity, FakeHead.from_config)


def register() -> None:
    registry.register(BACKEND)
