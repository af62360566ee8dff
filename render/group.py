"""Render one group from its spec: pose the head per view, render, and label every view.

Returns arrays and labels (:class:`RenderedGroup`); packing them into a shard sample is the job of
relhead.datasets.sample, the one owner of the sample format.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from relhead.assets.base import PosedHead
from relhead.assets.refs import AssetPool
from relhead.frames import project
from relhead.render.garment import GarmentMesh, build_garment, pattern_coordinates
from relhead.render.glasses import GlassesMesh, build_glasses
from relhead.render.hats import HatMesh, build_hat, press_hair
from relhead.render.hair import POINTS, FacialHair, Strands, grow, grow_brows, grow_facial, grow_lashes
from relhead.render.spec import TIED, GroupSpec, ViewSpec
from relhead.render.views import camera_intrinsics, head_to_camera, neck_rotation, world_to_camera


@dataclass(frozen=True)
class ViewLabels:
    """The ground truth of one view (OpenCV camera, metres, pixels; see relhead.frames)."""

    K: np.ndarray  # (3, 3)
    R: np.ndarray  # (3, 3) head -> camera
    t: np.ndarray  # (3,)
    landmarks: np.ndarray  # (68, 2) pixels, iBUG-68 order
    landmarks_visible: np.ndarray  # (68,) bool: inside the image and not occluded
    face_box: np.ndarray  # (4,) x0, y0, x1, y1: tight box of the landmarks, clipped to the image
    R_w2c: np.ndarray  # (3, 3) the camera in the model's world frame
    t_w2c: np.ndarray  # (3,)


@dataclass(frozen=True)
class RenderedView:
    rgb: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8 subject alpha
    labels: ViewLabels


@dataclass(frozen=True)
class RenderedGroup:
    spec: GroupSpec
    head_width_m: float  # ear-to-ear width at rest, which framed the cameras
    views: list[RenderedView]


def face_box(landmarks: np.ndarray, W: int, H: int) -> np.ndarray:
    """Tight box [x0, y0, x1, y1] around the landmarks, clipped to the image."""
    lo = np.clip(landmarks.min(0), 0, [W, H])
    hi = np.clip(landmarks.max(0), 0, [W, H])
    return np.array([lo[0], lo[1], hi[0], hi[1]], float)


def posed_heads(spec: GroupSpec, head_model) -> list[PosedHead]:
    views = spec.views
    return head_model.pose(spec.head.identity, [v.expression for v in views], [v.gaze_deg for v in views],
                           [neck_rotation(v) for v in views])


def label_view(view: ViewSpec, posed: PosedHead, head_width: float, W: int, H: int) -> ViewLabels:
    """The ground truth of one view from geometry alone; `landmarks_visible` here means inside the
    image (the renderer adds occlusion)."""
    K = camera_intrinsics(view.camera, W, H)
    R, t = head_to_camera(view, K, head_width, W)
    T = posed.T_world_head
    R_w2c, t_w2c = world_to_camera(R, t, T)
    uv, _ = project(K, R, t, (posed.landmarks - T[:3, 3]) @ T[:3, :3])
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    return ViewLabels(K=K, R=R, t=t, landmarks=uv, landmarks_visible=inside, face_box=face_box(uv, W, H),
                      R_w2c=R_w2c, t_w2c=t_w2c)


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


def _head_frame(points: np.ndarray, posed: PosedHead) -> np.ndarray:
    T = posed.T_world_head
    return (points.astype(np.float64) - T[:3, 3]) @ T[:3, :3]


def strands(spec: GroupSpec, head_model, first: PosedHead) -> Strands | None:
    """The group's strand hair in its head frame, grown on the first view's head (rigid scalp)."""
    hair = spec.materials.hair
    if hair is None or hair.strands is None:
        return None
    X = _head_frame(first.vertices, first)
    s = grow(head_model, X, _head_frame(first.landmarks, first), hair.strands)
    if spec.hat is not None:  # flattened under the hat; a tied tail or bun comes out through it, as through a cap's back
        n = POINTS // 2 if hair.strands.style in TIED else POINTS
        points = s.points.copy()
        points[:, :n] = press_hair(points[:, :n], head_model, X, spec.hat, HAT_ROOM_M - 0.002)
        s = Strands(points=points, radii=s.radii)
    return s


def facial_hair(spec: GroupSpec, head_model, first: PosedHead) -> FacialHair | None:
    """The group's facial hair, eyelashes and brow strands, grown on the first view's face (they then
    follow the jaw, the lids and the brows: FacialHair.at)."""
    hair = spec.materials.hair
    if hair is None or (hair.facial is None and hair.lash_density == 0 and not hair.brow_strands):
        return None
    X, landmarks = _head_frame(first.vertices, first), _head_frame(first.landmarks, first)
    parts = [grow_facial(head_model, X, landmarks, hair.facial)] if hair.facial is not None else []
    if hair.brow_strands:
        parts.append(grow_brows(head_model, X, landmarks, hair.brow_density, hair.brow_thickness, hair.face_seed + 1))
    if hair.lash_density > 0:
        parts.append(grow_lashes(head_model, X, landmarks, hair.lash_density, hair.lash_length_mm, hair.face_seed))
    return FacialHair.join(parts) if len(parts) > 1 else parts[0]


def glasses(spec: GroupSpec, head_model, first: PosedHead) -> GlassesMesh | None:
    """The group's glasses in its head frame, fitted to the first view's head (rigid with the skull)."""
    if spec.glasses is None:
        return None
    return build_glasses(head_model, _head_frame(first.vertices, first), _head_frame(first.landmarks, first),
                         spec.glasses)


HAT_ROOM_M = 0.004  # between the scalp and a hat's inside; strand hair under it is pressed into it


def hat_mesh(spec: GroupSpec, head_model, first: PosedHead) -> HatMesh | None:
    """The group's hat in its head frame, on the first view's scalp (rigid with the skull)."""
    if spec.hat is None:
        return None
    return build_hat(head_model, _head_frame(first.vertices, first), spec.hat, HAT_ROOM_M)


@contextmanager
def _no_clock(stage: str):
    yield


def render_group(cfg, spec: GroupSpec, head_model, files: AssetPool, clock=_no_clock) -> RenderedGroup:
    """Render the views of `spec` (its HDRI and background files from this host's pool `files`) and
    label them.
    `clock(stage)` is a context manager that times each stage (bench/render.py passes one)."""
    from relhead.render.scene import process_scene  # bpy only here

    W, H = cfg.image.width, cfg.image.height
    with clock("head model"):
        head_width = head_model.head_width(spec.head.identity)
        posed = posed_heads(spec, head_model)
        garment = garment_mesh(spec, head_model)
    with clock("hair strands, glasses, hat"):
        hair = strands(spec, head_model, posed[0])
        facial = facial_hair(spec, head_model, posed[0])
        eyewear = glasses(spec, head_model, posed[0])
        hat = hat_mesh(spec, head_model, posed[0])
    with clock("scene update (group)"):
        scene = process_scene(cfg, head_model)
        photo, albedo = spec.lighting.background.image, spec.materials.skin.albedo
        scene.set_group(spec, files.path(spec.lighting.hdri), files.path(photo) if photo else None,
                        files.path(albedo) if albedo else None)
        scene.set_lights(spec.lighting.lights, posed[0].T_world_head, spec.lighting.strength)
        scene.set_strands(hair, spec.materials.hair)
        scene.set_glasses(spec.glasses, eyewear)
        scene.set_hat(spec.hat, hat)
        scene.set_facial_hair(facial.strands if facial else None, spec.materials.hair,
                              facial.lash_mask() if facial else None)
        if garment is None:
            scene.set_garment(None)
        else:
            first = garment.vertices(posed[0].vertices)
            scene.set_garment(spec.garment, garment.faces, pattern_coordinates(first, garment, posed[0].vertices))
    out = []
    for v, p in zip(spec.views, posed):
        with clock("scene update (view), labels"):
            labels = label_view(v, p, head_width, W, H)
            scene.set_view(p.vertices, p.T_world_head, labels.K, labels.R_w2c, labels.t_w2c,
                           garment.vertices(p.vertices) if garment is not None else None,
                           facial.at(_head_frame(p.vertices, p)) if facial is not None else None)
            scene.set_effects(v.effects, focus_m=float(labels.t[2]))
        with clock("cycles render"):
            scene.render_still()
        with clock("read back rgb and mask"):
            rgb, mask = scene.read_back()
        with clock("landmark visibility"):
            visible = scene.visible(p.landmarks, -labels.R_w2c.T @ labels.t_w2c) & labels.landmarks_visible
        out.append(RenderedView(rgb=rgb, mask=mask, labels=replace(labels, landmarks_visible=visible)))
    return RenderedGroup(spec=spec, head_width_m=head_width, views=out)
