"""Frames and conventions: the one module that owns them (see docs/design.md, "Frames and conventions").

Camera frame: OpenCV (x right, y down, z forward). Head frame: rigid with the skull, origin at the
midpoint of the two eyeball centres, x toward image right / y down / z from the face into the head
when the subject looks straight into the camera (R = I). Head pose: X_cam = R @ X_head + t (metres).

Euler angles (degrees) exist for reporting and sampling only:
    R = Rz(roll) @ Ry(yaw) @ Rx(pitch)      (rotations about the OpenCV camera axes)
which is the decomposition used for MAE in the 300W-LP/AFLW2000/BIWI literature
(pitch = atan2(R21, R22), yaw = -asin(R20), roll = atan2(R10, R00)). Signs, in our frames:
positive pitch turns the face down, positive yaw turns the face toward the image left (the
subject's right), positive roll tilts the head clockwise in the image.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# Blender's camera looks down -z with y up; OpenCV's looks down +z with y down.
_CV_FROM_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(yaw, pitch, roll) in degrees -> 3x3 rotation, R = Rz(roll) Ry(yaw) Rx(pitch)."""
    return Rotation.from_euler("xyz", [pitch, yaw, roll], degrees=True).as_matrix()


def matrix_to_euler(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`euler_to_matrix`: (yaw, pitch, roll) in degrees, yaw in [-90, 90]."""
    pitch, yaw, roll = Rotation.from_matrix(np.asarray(R, dtype=float)).as_euler("xyz", degrees=True)
    return float(yaw), float(pitch), float(roll)


def relative_transform(R_a, t_a, R_q, t_q) -> tuple[np.ndarray, np.ndarray]:
    """Anchor pose (R_a, t_a), query pose (R_q, t_q) -> (R_rel, t_rel) with
    R_q = R_rel R_a and t_q = R_rel t_a + t_rel: the query camera seen from the anchor camera."""
    R_a, R_q = np.asarray(R_a, float), np.asarray(R_q, float)
    R_rel = R_q @ R_a.T
    t_rel = np.asarray(t_q, float) - R_rel @ np.asarray(t_a, float)
    return R_rel, t_rel


def geodesic_deg(R1, R2) -> float:
    """Angle of the rotation R1 R2^T, degrees."""
    c = (np.trace(np.asarray(R1, float) @ np.asarray(R2, float).T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def project(K, R, t, X) -> tuple[np.ndarray, np.ndarray]:
    """Project Nx3 points of a frame posed by (R, t) in the camera; returns (Nx2 pixels, N depths).
    Pixel centres are at integer + 0.5 (the image spans [0, W] x [0, H])."""
    Xc = np.asarray(X, float) @ np.asarray(R, float).T + np.asarray(t, float)
    uvw = Xc @ np.asarray(K, float).T
    return uvw[:, :2] / uvw[:, 2:3], Xc[:, 2]


def blender_camera_from_opencv(R_w2c: np.ndarray, t_w2c: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera extrinsics -> Blender camera object's 4x4 world matrix."""
    R_c2w = np.asarray(R_w2c, float).T
    M = np.eye(4)
    M[:3, :3] = R_c2w @ _CV_FROM_BLENDER_CAM
    M[:3, 3] = -R_c2w @ np.asarray(t_w2c, float)
    return M


def opencv_from_blender_camera(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blender camera object's 4x4 world matrix -> OpenCV world-to-camera (R, t)."""
    M = np.asarray(M, float)
    R_c2w = M[:3, :3] @ _CV_FROM_BLENDER_CAM
    R = R_c2w.T
    return R, -R @ M[:3, 3]


def blender_lens_from_K(K: np.ndarray, width: int, height: int, sensor_mm: float = 36.0) -> dict:
    """Blender camera data settings that realise pinhole K (square pixels) at (width, height).

    The sensor is fit to the larger image side; Blender's shifts are in units of that side.
    """
    K = np.asarray(K, float)
    if abs(K[0, 0] - K[1, 1]) > 1e-6 * K[0, 0] or abs(K[0, 1]) > 0:
        raise ValueError("Blender cameras need square pixels and no skew (fx == fy, K[0,1] == 0)")
    side = max(width, height)
    return {
        "sensor_fit": "HORIZONTAL" if width >= height else "VERTICAL",
        "sensor_width": sensor_mm,
        "sensor_height": sensor_mm,
        "lens": K[0, 0] * sensor_mm / side,
        "shift_x": (width / 2.0 - K[0, 2]) / side,
        "shift_y": (K[1, 2] - height / 2.0) / side,
    }


# --- Pose encoding ------------------------------------------------------------------------------
# The camera head's target, VGGT's "absT_quaR_FoV": 9 numbers per frame,
#     [t (3), quaternion of R as x, y, z, w (4), fov_h, fov_w (2, radians)]
# for an OpenCV world-to-camera extrinsic [R | t] (for us the relative transform R_rel, t_rel of a
# query, identity for the anchor, or an absolute head pose R, t) and pinhole K of a W x H image,
# with fov_h = 2 atan(H/2 / fy) and fov_w = 2 atan(W/2 / fx). Like VGGT (utils/rotation.py
# mat_to_quat -> standardize_quaternion) a quaternion is flipped to w >= 0; at exactly w = 0 the
# sign is whichever the conversion gave. Decoding puts the principal point at the image centre.


def pose_to_encoding(R, t, K, W: int, H: int) -> np.ndarray:
    """(R, t, K) of a W x H image -> (9,) encoding; batched inputs (..., 3, 3), (..., 3) give (..., 9)."""
    R, t, K = np.asarray(R, float), np.asarray(t, float), np.asarray(K, float)
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat().reshape(R.shape[:-2] + (4,))
    q = np.where(q[..., 3:] < 0, -q, q)
    fov_h = 2.0 * np.arctan(H / 2.0 / K[..., 1, 1])
    fov_w = 2.0 * np.arctan(W / 2.0 / K[..., 0, 0])
    shape = np.broadcast_shapes(t.shape[:-1], q.shape[:-1], fov_h.shape)
    parts = [t, q, fov_h[..., None], fov_w[..., None]]
    return np.concatenate([np.broadcast_to(p, shape + p.shape[-1:]) for p in parts], axis=-1)


def encoding_to_pose(enc, W: int, H: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`pose_to_encoding`: (..., 9) -> (R, t, K); the quaternion need not be unit
    (a network's raw output), K has its principal point at (W/2, H/2)."""
    enc = np.asarray(enc, float)
    R = Rotation.from_quat(enc[..., 3:7].reshape(-1, 4)).as_matrix().reshape(enc.shape[:-1] + (3, 3))
    K = np.zeros(enc.shape[:-1] + (3, 3))
    K[..., 0, 0] = W / 2.0 / np.tan(enc[..., 8] / 2.0)
    K[..., 1, 1] = H / 2.0 / np.tan(enc[..., 7] / 2.0)
    K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = W / 2.0, H / 2.0, 1.0
    return R, enc[..., :3].copy(), K
