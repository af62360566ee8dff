"""Frames and conventions: the one module that owns them (see DESIGN.md, "Frames and conventions").

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
