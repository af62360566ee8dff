"""The ground truth of a rendered group: the label types a renderer returns and the sample module
packs (:class:`RenderedGroup`), and the labels of one view computed from geometry alone."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from relhead.assets.base import PosedHead
from relhead.exact import mm
from relhead.frames import head_frame, project
from relhead.render.spec import GroupSpec, ViewSpec
from relhead.render.views import camera_intrinsics, head_to_camera, world_to_camera


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
    # config `labels:` (relhead.render.extra_labels), only the switched-on ones: `landmarks_3d` (68, 3),
    # `gaze` (2, 3), `dense_uv` (D, 2), `dense_3d` (D, 3), `dense_visible` (D,), `mesh_vertices` (N, 3),
    # `depth` (H, W) float64 metres (0: no surface), `normals` (H, W, 3), `segmentation` (H, W) uint8
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedGroup:
    spec: GroupSpec
    head_width_m: float  # ear-to-ear width at rest, which framed the cameras
    views: list[RenderedView]
    mesh_faces: np.ndarray | None = None  # (F, 3) the head mesh's triangles, when config labels.mesh
    dense_indices: np.ndarray | None = None  # (D,) the dense landmarks' vertex indices


def face_box(landmarks: np.ndarray, W: int, H: int) -> np.ndarray:
    """Tight box [x0, y0, x1, y1] around the landmarks, clipped to the image."""
    lo = np.clip(landmarks.min(0), 0, [W, H])
    hi = np.clip(landmarks.max(0), 0, [W, H])
    return np.array([lo[0], lo[1], hi[0], hi[1]], float)


def label_view(view: ViewSpec, posed: PosedHead, head_width: float, W: int, H: int) -> ViewLabels:
    """The ground truth of one view from geometry alone; `landmarks_visible` here means inside the
    image (the renderer adds occlusion). The camera is placed so that the head's pose is the view's."""
    K = camera_intrinsics(view.camera, W, H)
    R, t = head_to_camera(view, K, head_width, W)
    R_w2c, t_w2c = world_to_camera(R, t, posed.T_world_head)
    return _labels(K, R, t, R_w2c, t_w2c, posed, W, H)


def label_fixed_camera(K: np.ndarray, R_w2c: np.ndarray, t_w2c: np.ndarray, posed: PosedHead, W: int,
                       H: int) -> ViewLabels:
    """The ground truth of a view by a given camera (K, world -> camera): the head's pose is where the
    posed skull is in it."""
    T = posed.T_world_head
    return _labels(K, mm(R_w2c, T[:3, :3]), mm(R_w2c, T[:3, 3]) + t_w2c, R_w2c, t_w2c, posed, W, H)


def label_views(spec: GroupSpec, posed: list[PosedHead], head_width: float, W: int, H: int) -> list[ViewLabels]:
    """The ground truth of every view of a group. A clip's frames all keep its first view's camera."""
    first = label_view(spec.views[0], posed[0], head_width, W, H)
    if spec.clip is None:
        return [first] + [label_view(v, p, head_width, W, H) for v, p in zip(spec.views[1:], posed[1:])]
    return [first] + [label_fixed_camera(first.K, first.R_w2c, first.t_w2c, p, W, H) for p in posed[1:]]


def _labels(K, R, t, R_w2c, t_w2c, posed: PosedHead, W: int, H: int) -> ViewLabels:
    uv, _ = project(K, R, t, head_frame(posed.landmarks, posed))
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    return ViewLabels(K=K, R=R, t=t, landmarks=uv, landmarks_visible=inside, face_box=face_box(uv, W, H),
                      R_w2c=R_w2c, t_w2c=t_w2c)
