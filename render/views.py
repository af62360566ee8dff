"""View geometry: intrinsics and extrinsics that realise a sampled head pose exactly (numpy only).

Given where the posed head (skull frame) sits in the world, the camera is placed so that the head's
pose in the camera is exactly the sampled (yaw, pitch, roll) at the sampled distance and offset:
the head articulates by its neck share and the camera orbits for the rest.
"""

from __future__ import annotations

import numpy as np

from relhead.exact import mm
from relhead.frames import euler_to_matrix, intrinsics
from relhead.render.spec import CameraSpec, ViewSpec


def camera_intrinsics(cam: CameraSpec, W: int, H: int) -> np.ndarray:
    f = cam.focal_mm / cam.sensor_mm * max(W, H)
    ox, oy = cam.principal_offset
    return intrinsics(f, f, W / 2.0 + ox * W, H / 2.0 + oy * H)


def head_to_camera(view: ViewSpec, K: np.ndarray, head_width: float, W: int) -> tuple[np.ndarray, np.ndarray]:
    """The ground-truth head pose (R, t) in the camera for a sampled view."""
    e = view.euler_deg
    R = euler_to_matrix(e.yaw, e.pitch, e.roll)
    d = K[0, 0] * head_width / (view.camera.face_fill * W)
    lx, ly = view.camera.lookat_offset
    return R, np.array([lx * d, ly * d, d])


def neck_rotation(view: ViewSpec) -> np.ndarray:
    """The share of the head rotation done by the neck, in head-frame axes."""
    e, s = view.euler_deg, view.neck_share
    return euler_to_matrix(s * e.yaw, s * e.pitch, s * e.roll)


def world_to_camera(R_h2c, t_h2c, T_world_head) -> tuple[np.ndarray, np.ndarray]:
    """Camera extrinsics (OpenCV, world -> camera) that put the head at (R_h2c, t_h2c)."""
    R_wh, o_w = T_world_head[:3, :3], T_world_head[:3, 3]
    R_w2c = mm(R_h2c, R_wh.T)
    return R_w2c, t_h2c - mm(R_w2c, o_w)
