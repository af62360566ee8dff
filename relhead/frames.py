"""Frames and conventions: the one module that owns them (see docs/design.md, "Frames and conventions").

Camera frame: OpenCV (x right, y down, z forward). Head frame: rigid with the skull, origin at the
midpoint of the two eyeball centres, x toward image right / y down / z from the face into the head
when the subject looks straight into the camera (R = I). Head pose: X_cam = R @ X_head + t (metres).

Euler angles (degrees) exist for reporting and sampling only:
    R = Rz(roll) @ Ry(yaw) @ Rx(pitch)      (rotations about the OpenCV camera axes)
(pitch = atan2(R21, R22), yaw = -asin(R20), roll = atan2(R10, R00): the formulas of the head-pose
literature's readers, applied to relhead's head-to-camera R). Signs, in our frames: positive pitch
turns the face down, positive yaw turns the face toward the image left (the subject's right),
positive roll tilts the head clockwise in the image. BIWI's published labels apply those formulas
to the transposed matrix with two signs flipped, another decomposition: `biwi_euler` (below) gives
them, for BIWI MAE comparable with papers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from relhead.exact import mm

# Blender's camera looks down -z with y up; OpenCV's looks down +z with y down.
_CV_FROM_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(yaw, pitch, roll) in degrees -> 3x3 rotation, R = Rz(roll) Ry(yaw) Rx(pitch)."""
    return Rotation.from_euler("xyz", [pitch, yaw, roll], degrees=True).as_matrix()


def matrix_to_euler(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`euler_to_matrix`: (yaw, pitch, roll) in degrees, yaw in [-90, 90]."""
    pitch, yaw, roll = Rotation.from_matrix(np.asarray(R, dtype=float)).as_euler("xyz", degrees=True)
    return float(yaw), float(pitch), float(roll)


def head_frame(points, posed) -> np.ndarray:
    """World points (N, 3) of a posed head (anything with a 4x4 `T_world_head`, the head frame's pose in the
    world) in its head frame, float64: (X - t) R."""
    T = np.asarray(posed.T_world_head, float)
    return mm(np.asarray(points, float) - T[:3, 3], T[:3, :3])


def camera_centre(R_w2c, t_w2c) -> np.ndarray:
    """The camera's centre in the world, -R_w2c^T t_w2c, of a world-to-camera (R_w2c, t_w2c)."""
    return -mm(np.asarray(R_w2c, float).T, np.asarray(t_w2c, float))


def relative_transform(R_a, t_a, R_q, t_q) -> tuple[np.ndarray, np.ndarray]:
    """Anchor pose (R_a, t_a), query pose (R_q, t_q) -> (R_rel, t_rel) with
    R_q = R_rel R_a and t_q = R_rel t_a + t_rel: the query camera seen from the anchor camera. Also over
    a batch: (..., 3, 3) rotations and (..., 3) translations."""
    R_a, R_q = np.asarray(R_a, float), np.asarray(R_q, float)
    R_rel = mm(R_q, np.swapaxes(R_a, -1, -2))
    t_rel = np.asarray(t_q, float) - mm(R_rel, np.asarray(t_a, float)[..., None])[..., 0]
    return R_rel, t_rel


# The 68 iBUG/300W landmarks of a left-right mirrored face: landmark i of the mirror image is landmark
# IBUG68_MIRROR[i] of the face (jaw, brows, nose bridge, nostrils, eyes, outer and inner lips).
IBUG68_MIRROR = (tuple(range(16, -1, -1)) + tuple(range(26, 16, -1)) + (27, 28, 29, 30) + (35, 34, 33, 32, 31)
                 + (45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40)
                 + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55) + (64, 63, 62, 61, 60, 67, 66, 65))


def mirror_pose(R, t) -> tuple[np.ndarray, np.ndarray]:
    """The pose of a left-right mirrored image: with F = diag(-1, 1, 1) the camera's x flips and the
    mirrored head's frame is F times the head's (again x toward image right when frontal), so
    R' = F R F and t' = F t (still a rotation; the eye-midpoint origin is its own mirror image).
    The mirrored picture's intrinsics are :func:`mirror_intrinsics`. Batched (..., 3, 3), (..., 3)."""
    F = np.array([-1.0, 1.0, 1.0])
    R, t = np.asarray(R, float), np.asarray(t, float)
    return R * F[:, None] * F[None, :], t * F


def mirror_intrinsics(K, W: float) -> np.ndarray:
    """K of a W-pixel-wide image mirrored left-right (pixel u -> W - u): the principal point moves to
    W - cx; with :func:`mirror_pose` every point projects to its mirror image."""
    K = np.array(K, float)
    K[..., 0, 2] = W - K[..., 0, 2]
    return K


def geodesic_deg(R1, R2) -> float:
    """Angle of the rotation R1 R2^T, degrees."""
    c = (float(np.trace(mm(R1, np.asarray(R2, float).T))) - 1.0) / 2.0
    return math.degrees(math.acos(min(max(c, -1.0), 1.0)))  # libm's, not numpy's SIMD arccos (relhead.exact)


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def project(K, R, t, X) -> tuple[np.ndarray, np.ndarray]:
    """Project Nx3 points of a frame posed by (R, t) in the camera; returns (Nx2 pixels, N depths).
    Pixel centres are at integer + 0.5 (the image spans [0, W] x [0, H])."""
    Xc = mm(X, np.asarray(R, float).T) + np.asarray(t, float)
    uvw = mm(Xc, np.asarray(K, float).T)
    return uvw[:, :2] / uvw[:, 2:3], Xc[:, 2]


def blender_camera_from_opencv(R_w2c: np.ndarray, t_w2c: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera extrinsics -> Blender camera object's 4x4 world matrix."""
    R_c2w = np.asarray(R_w2c, float).T
    M = np.eye(4)
    M[:3, :3] = mm(R_c2w, _CV_FROM_BLENDER_CAM)
    M[:3, 3] = -mm(R_c2w, t_w2c)
    return M


def opencv_from_blender_camera(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blender camera object's 4x4 world matrix -> OpenCV world-to-camera (R, t)."""
    M = np.asarray(M, float)
    R_c2w = mm(M[:3, :3], _CV_FROM_BLENDER_CAM)
    R = R_c2w.T
    return R, -mm(R, M[:3, 3])


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


# --- The environment map ---------------------------------------------------------------------------
# An HDRI is an equirectangular map whose zenith is +z of its lookup direction (Blender's environment
# texture). The head model's world frame has its own up (HeadModel.world_up: Anny's +z, FLAME's +y), and
# the sky belongs there, over the head, whatever the backend. Blender's Mapping node turns the lookup
# direction d into R d with R = Rz(gamma) Ry(beta) Rx(alpha) for its Euler (alpha, beta, gamma), XYZ.


def world_map_euler(up, rotation_deg: float) -> tuple[float, float, float]:
    """The Mapping node's Euler (radians) that puts the map's zenith on the world's `up` and turns the
    map by `rotation_deg` about it (LightingSpec.rotation_deg): Rx(alpha) brings `up` into the x-z
    plane, Ry(beta) onto +z, Rz turns about it. For up = +z it is exactly (0, 0, rotation)."""
    x, y, z = (float(c) for c in np.asarray(up, float) / np.linalg.norm(up))
    alpha = math.atan2(y, z) + 0.0
    beta = math.atan2(-x, math.hypot(y, z)) + 0.0  # + 0.0: never -0.0
    return alpha, beta, math.radians(rotation_deg)


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


# --- BIWI Kinect Head Pose ------------------------------------------------------------------------
# What a BIWI sequence holds (facts of the dataset's files; see datasets/biwi.py for their layout):
# - `frame_XXXXX_pose.txt`: a 3x3 matrix M (three rows) and the head centre c (mm) in the DEPTH
#   camera's frame. The camera frame is OpenCV's (x right, y down, z forward: the head centre projects
#   to u = fx x / z + cx, v = fy y / z + cy). M's columns are the head's axes in that frame, x toward
#   the image right, y down and z from the face into the head when the subject faces the camera
#   (M = I): relhead's head frame. So X_depth = M X_head + c, and M is the head-to-camera rotation R.
#   (Public readers draw M's first two columns as the head's x and y axes and minus its third as the
#   face's direction; that drawing is what fixes this reading.) The origin differs from relhead's:
#   BIWI's is the centre of its head template, relhead's the midpoint of the eyeballs.
# - `rgb.cal`: the RGB camera's intrinsics and its extrinsics (E, e) with respect to the depth camera,
#   X_rgb = E X_depth + e (mm). The RGB camera then sits at -E^T e in the depth frame; for the
#   dataset's values (e about (-24, 6, -13) mm) that is 24 mm toward +x, where the Kinect's colour
#   camera sits beside its infrared camera.
#
# Euler angles. The head-pose literature reports BIWI errors as yaw/pitch/roll MAE with angles taken
# from the TRANSPOSED matrix, R^T = M^T (Hopenet's and FSA-Net's readers, whose labels every later
# method uses): pitch = atan2(R^T_21, R^T_22), yaw = -atan2(-R^T_20, sqrt(R^T_21^2 + R^T_22^2)),
# roll = -atan2(R^T_10, R^T_00). Equivalently R = Rx(-pitch) Ry(yaw) Rz(roll): an x-y-z order, where
# relhead's own (above) is z-y-x (R = Rz(roll) Ry(yaw) Rx(pitch)). For one-axis rotations the two agree up
# to the sign of pitch; for combined ones they differ (by about 2 degrees at yaw 50, pitch 26).
# `biwi_euler` gives the literature's angles, so BIWI MAE here is comparable with published numbers.


def biwi_euler(R) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of a head-to-camera rotation as the BIWI literature reports them:
    R = Rx(-pitch) Ry(yaw) Rz(roll), yaw in [-90, 90]."""
    a, yaw, roll = Rotation.from_matrix(np.asarray(R, float)).as_euler("XYZ", degrees=True)
    return float(yaw), float(-a), float(roll)


def biwi_euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of :func:`biwi_euler`."""
    return Rotation.from_euler("XYZ", [-pitch, yaw, roll], degrees=True).as_matrix()


def depth_to_rgb(R_d, t_d, E, e) -> tuple[np.ndarray, np.ndarray]:
    """A head pose in the depth camera (R_d, t_d) -> in the RGB camera, with rgb.cal's extrinsics
    X_rgb = E X_depth + e (t and e in the same unit)."""
    E = np.asarray(E, float)
    return E @ np.asarray(R_d, float), E @ np.asarray(t_d, float) + np.asarray(e, float)


def rgb_to_depth(R_c, t_c, E, e) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`depth_to_rgb`."""
    E = np.asarray(E, float)
    return E.T @ np.asarray(R_c, float), E.T @ (np.asarray(t_c, float) - np.asarray(e, float))


def relative_rgb_to_depth(R_rel_rgb, E) -> np.ndarray:
    """A relative rotation seen in the RGB camera (R_q = R_rel R_a there) -> the same in the depth
    camera: E^T R_rel E."""
    E = np.asarray(E, float)
    return E.T @ np.asarray(R_rel_rgb, float) @ E
