import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from relhead import frames


def random_pose(rng):
    return Rotation.random(random_state=rng.integers(1 << 30)).as_matrix(), rng.normal(size=3)


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, -20, 10), (-80, 40, -30), (89, 170, -60), (10, 89, 0)])
def test_euler_round_trip(angles):
    """Angles round-trip within the decomposition's range (|yaw| < 90, pitch and roll in (-180, 180])."""
    R = frames.euler_to_matrix(*angles)
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1)
    assert np.allclose(frames.matrix_to_euler(R), angles, atol=1e-6)


def test_any_rotation_round_trips_through_euler():
    for R in Rotation.random(50, random_state=3).as_matrix():
        assert np.allclose(frames.euler_to_matrix(*frames.matrix_to_euler(R)), R, atol=1e-9)


def test_euler_matches_literature_decomposition():
    R = frames.euler_to_matrix(yaw=25, pitch=-15, roll=8)
    pitch = np.degrees(np.arctan2(R[2, 1], R[2, 2]))
    yaw = np.degrees(-np.arcsin(R[2, 0]))
    roll = np.degrees(np.arctan2(R[1, 0], R[0, 0]))
    assert np.allclose([yaw, pitch, roll], [25, -15, 8])


def test_euler_signs_in_the_image():
    forward = np.array([0.0, 0.0, -1.0])  # the face looks at the camera: -z of the head frame
    assert (frames.euler_to_matrix(30, 0, 0) @ forward)[0] < 0  # +yaw: face turns to image left
    assert (frames.euler_to_matrix(0, 30, 0) @ forward)[1] > 0  # +pitch: face turns down
    right = np.array([1.0, 0.0, 0.0])
    assert (frames.euler_to_matrix(0, 0, 30) @ right)[1] > 0  # +roll: clockwise in the image


def test_blender_camera_round_trip_and_axes():
    rng = np.random.default_rng(0)
    for _ in range(10):
        R, t = random_pose(rng)
        M = frames.blender_camera_from_opencv(R, t)
        R2, t2 = frames.opencv_from_blender_camera(M)
        assert np.allclose(R, R2) and np.allclose(t, t2)
        # A point straight ahead of the OpenCV camera lies on the Blender camera's -z axis.
        C = M[:3, 3]
        ahead = R.T @ (np.array([0, 0, 2.0]) - t)
        assert np.allclose(ahead - C, -2.0 * M[:3, 2])
        # Image "down" (+y OpenCV) is Blender's -y camera axis.
        assert np.allclose(R.T @ np.array([0, 1.0, 0]), -M[:3, 1])


def test_camera_centre_is_where_the_camera_sits():
    rng = np.random.default_rng(3)
    for _ in range(10):
        R, t = random_pose(rng)
        C = frames.camera_centre(R, t)
        assert np.allclose(R @ C + t, 0.0)  # the world point at the camera's origin
        assert np.allclose(C, frames.blender_camera_from_opencv(R, t)[:3, 3])


def test_blender_lens_from_K():
    K = frames.intrinsics(400, 400, 130, 120)
    lens = frames.blender_lens_from_K(K, 256, 256, sensor_mm=36)
    assert lens["lens"] == pytest.approx(400 * 36 / 256)
    assert lens["shift_x"] == pytest.approx((128 - 130) / 256)
    assert lens["shift_y"] == pytest.approx((120 - 128) / 256)
    with pytest.raises(ValueError):
        frames.blender_lens_from_K(frames.intrinsics(400, 410, 128, 128), 256, 256)


def test_relative_transform_carries_anchor_to_query():
    rng = np.random.default_rng(1)
    for _ in range(20):
        (Ra, ta), (Rq, tq) = random_pose(rng), random_pose(rng)
        Rr, tr = frames.relative_transform(Ra, ta, Rq, tq)
        X = rng.normal(size=(5, 3))
        assert np.allclose((X @ Ra.T + ta) @ Rr.T + tr, X @ Rq.T + tq, atol=1e-9)
        assert frames.geodesic_deg(Rr, np.eye(3)) == pytest.approx(frames.geodesic_deg(Ra, Rq))


def test_relative_transform_over_a_batch_is_each_pair_s():
    rng = np.random.default_rng(3)
    (Ra, ta), (Rq, tq) = (tuple(map(np.stack, zip(*(random_pose(rng) for _ in range(6))))) for _ in range(2))
    Rr, tr = frames.relative_transform(Ra, ta, Rq, tq)
    assert Rr.shape == (6, 3, 3) and tr.shape == (6, 3)
    for i in range(6):
        R1, t1 = frames.relative_transform(Ra[i], ta[i], Rq[i], tq[i])
        assert np.allclose(Rr[i], R1, atol=1e-12) and np.allclose(tr[i], t1, atol=1e-12)


# --- Pose encoding ------------------------------------------------------------------------------


def test_pose_encoding_round_trip_incl_near_half_turns():
    rng = np.random.default_rng(2)
    Rs = list(Rotation.random(30, random_state=4).as_matrix())
    for axis in np.eye(3).tolist() + [rng.normal(size=3)]:
        axis = np.asarray(axis) / np.linalg.norm(axis)
        for deg in (179.9, 180.0, -179.999):
            Rs.append(Rotation.from_rotvec(np.radians(deg) * axis).as_matrix())
    for R in Rs:
        t = rng.normal(size=3)
        K = frames.intrinsics(*rng.uniform(100, 900, size=2), 64.0, 48.0)
        enc = frames.pose_to_encoding(R, t, K, 128, 96)
        assert enc.shape == (9,) and enc[6] >= 0  # w >= 0, as VGGT standardises
        assert np.isclose(np.linalg.norm(enc[3:7]), 1.0)
        R2, t2, K2 = frames.encoding_to_pose(enc, 128, 96)
        assert np.allclose(R2, R, atol=1e-9) and np.allclose(t2, t) and np.allclose(K2, K)


def test_pose_encoding_fov_by_hand_and_identity():
    K = frames.intrinsics(fx=500.0, fy=400.0, cx=320.0, cy=240.0)
    enc = frames.pose_to_encoding(np.eye(3), [0.1, -0.2, 0.5], K, W=640, H=480)
    assert np.allclose(enc[:7], [0.1, -0.2, 0.5, 0, 0, 0, 1])
    assert enc[7] == pytest.approx(2 * np.arctan(240 / 400))  # fov_h from H and fy
    assert enc[8] == pytest.approx(2 * np.arctan(320 / 500))  # fov_w from W and fx
    # A 90-degree turn about y: quaternion (0, sin 45, 0, cos 45).
    enc = frames.pose_to_encoding(frames.euler_to_matrix(90, 0, 0), np.zeros(3), K, 640, 480)
    assert np.allclose(enc[3:7], [0, np.sqrt(0.5), 0, np.sqrt(0.5)])


def test_pose_encoding_batched_and_unnormalised_quaternion():
    rng = np.random.default_rng(5)
    R = Rotation.random(8, random_state=6).as_matrix().reshape(2, 4, 3, 3)
    t = rng.normal(size=(2, 4, 3))
    K = frames.intrinsics(300.0, 300.0, 56.0, 56.0)  # one K for all
    enc = frames.pose_to_encoding(R, t, K, 112, 112)
    assert enc.shape == (2, 4, 9)
    assert np.allclose(enc[1, 2], frames.pose_to_encoding(R[1, 2], t[1, 2], K, 112, 112))
    enc[..., 3:7] *= 3.0  # a raw network output need not be unit length
    R2, t2, K2 = frames.encoding_to_pose(enc, 112, 112)
    assert np.allclose(R2, R) and np.allclose(t2, t) and np.allclose(K2, K)


def test_a_mirrored_image_has_the_mirrored_pose():
    rng = np.random.default_rng(4)
    W = 160
    K = frames.intrinsics(420.0, 420.0, 70.0, 88.0)
    X = rng.normal(size=(30, 3)) * 0.06  # head points
    for _ in range(5):
        R = Rotation.random(random_state=rng).as_matrix()
        t = np.array([0.03, -0.02, 0.7]) + rng.normal(size=3) * 0.02
        uv, z = frames.project(K, R, t, X)
        Rm, tm = frames.mirror_pose(R, t)
        uvm, zm = frames.project(frames.mirror_intrinsics(K, W), Rm, tm, X * [-1, 1, 1])  # the mirrored head
        np.testing.assert_allclose(uvm, np.c_[W - uv[:, 0], uv[:, 1]], atol=1e-9)  # pixel u -> W - u
        np.testing.assert_allclose(zm, z, atol=1e-12)
        np.testing.assert_allclose(Rm @ Rm.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(Rm) == pytest.approx(1.0)
        yaw, pitch, roll = frames.matrix_to_euler(R)
        np.testing.assert_allclose(frames.matrix_to_euler(Rm), (-yaw, pitch, -roll), atol=1e-9)
    # relative transforms mirror like poses do
    R2, t2 = Rotation.random(random_state=rng).as_matrix(), np.array([0.0, 0.01, 0.9])
    R_rel, t_rel = frames.relative_transform(R, t, R2, t2)
    mirrored = frames.relative_transform(*frames.mirror_pose(R, t), *frames.mirror_pose(R2, t2))
    for a, b in zip(mirrored, frames.mirror_pose(R_rel, t_rel)):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("up", [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (0.3, -0.5, 0.8), (-1.0, 0.0, 0.0)])
def test_the_environment_map_zenith_goes_to_the_world_up(up):
    """Blender's Mapping node turns the lookup direction by Rz Ry Rx of its Euler (scipy's extrinsic
    'xyz'): the world's up must look up the map's zenith, and a turn must keep it there."""
    for rot in (0.0, 37.0, 250.0):
        R = Rotation.from_euler("xyz", frames.world_map_euler(up, rot)).as_matrix()
        u = np.asarray(up) / np.linalg.norm(up)
        assert np.allclose(R @ u, [0.0, 0.0, 1.0], atol=1e-12)
    # Anny's z-up world: the Euler older corpora were rendered with, to the bit
    assert frames.world_map_euler((0.0, 0.0, 1.0), 123.4) == (0.0, 0.0, np.radians(123.4))
