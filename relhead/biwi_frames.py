"""BIWI Kinect Head Pose frames and angles, beside relhead.frames (which owns relhead's own).

What a BIWI sequence holds (facts of the dataset's files; see datasets/biwi.py for their layout):
- `frame_XXXXX_pose.txt`: a 3x3 matrix M (three rows) and the head centre c (mm) in the DEPTH
  camera's frame. The camera frame is OpenCV's (x right, y down, z forward: the head centre projects
  to u = fx x / z + cx, v = fy y / z + cy). M's columns are the head's axes in that frame, x toward
  the image right, y down and z from the face into the head when the subject faces the camera
  (M = I): relhead's head frame. So X_depth = M X_head + c, and M is the head-to-camera rotation R.
  (Public readers draw M's first two columns as the head's x and y axes and minus its third as the
  face's direction; that drawing is what fixes this reading.) The origin differs from relhead's:
  BIWI's is the centre of its head template, relhead's the midpoint of the eyeballs.
- `rgb.cal`: the RGB camera's intrinsics and its extrinsics (E, e) with respect to the depth camera,
  X_rgb = E X_depth + e (mm). The RGB camera then sits at -E^T e in the depth frame; for the
  dataset's values (e about (-24, 6, -13) mm) that is 24 mm toward +x, where the Kinect's colour
  camera sits beside its infrared camera.

Euler angles. The head-pose literature reports BIWI errors as yaw/pitch/roll MAE with angles taken
from the TRANSPOSED matrix, R^T = M^T (Hopenet's and FSA-Net's readers, whose labels every later
method uses): pitch = atan2(R^T_21, R^T_22), yaw = -atan2(-R^T_20, sqrt(R^T_21^2 + R^T_22^2)),
roll = -atan2(R^T_10, R^T_00). Equivalently R = Rx(-pitch) Ry(yaw) Rz(roll): an x-y-z order, where
relhead.frames uses z-y-x (R = Rz(roll) Ry(yaw) Rx(pitch)). For one-axis rotations the two agree up
to the sign of pitch; for combined ones they differ (by about 2 degrees at yaw 50, pitch 26).
`biwi_euler` gives the literature's angles, so BIWI MAE here is comparable with published numbers.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


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
