"""Exact test-time averaging (relhead.train.eval.predict_poses, TrainConfig.test_time): with a model that
answers every variant of a pair correctly, swapping and mirroring give back the true pose (the inverse
and mirror conventions are right); with a model wrong on one variant, the average is the midpoint."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from relhead.frames import euler_to_matrix, geodesic_deg, intrinsics, mirror_pose, pose_to_encoding
from relhead.train.config import resolve_training
from relhead.train.eval import predict_poses

S = 16
K = intrinsics(20.0, 20.0, S / 2, S / 2)
POSES = {1: (euler_to_matrix(10.0, -5.0, 3.0), np.array([0.01, -0.02, 0.6])),
         2: (euler_to_matrix(-35.0, 12.0, -20.0), np.array([-0.03, 0.01, 0.7])),
         3: (euler_to_matrix(60.0, 20.0, 8.0), np.array([0.05, 0.04, 0.55]))}
NOISE = Rotation.from_rotvec(np.radians(10.0) * np.array([0.0, 0.6, 0.8])).as_matrix()  # 10 degrees


def frame(i: int) -> torch.Tensor:
    f = torch.zeros(3, S, S)
    f[0, 0, 0] = i / 100  # the frame's id at the top-left pixel: top-right once mirrored
    return f


class Oracle(torch.nn.Module):
    """Reads each frame's id (and whether it was mirrored) from its pixels and answers with the true pose
    of what it sees; `wrong(mirrored, reversed)` says when to turn its relative answer by NOISE."""

    def __init__(self, wrong=lambda mirrored, reversed_: False):
        super().__init__()
        self.wrong = wrong

    def seen(self, f):
        left, right = round(float(f[0, 0, 0]) * 100), round(float(f[0, 0, -1]) * 100)
        R, t = POSES[left or right]
        return (mirror_pose(R, t) if right else (R, t)), left or right, bool(right)

    def forward(self, x):
        B, n = x.shape[:2]
        enc = np.zeros((B, n, 9))
        for b in range(B):
            if n == 1:
                (R, t), _, _ = self.seen(x[b, 0])
                enc[b, 0] = pose_to_encoding(R, t, K, S, S)
                continue
            ((Ra, ta), ia, m), ((Rq, tq), iq, _) = self.seen(x[b, 0]), self.seen(x[b, 1])
            R_rel = Rq @ Ra.T
            t_rel = tq - R_rel @ ta
            if self.wrong(m, ia > iq):
                R_rel = NOISE @ R_rel
            enc[b, 0] = pose_to_encoding(np.eye(3), np.zeros(3), K, S, S)
            enc[b, 1] = pose_to_encoding(R_rel, t_rel, K, S, S)
        return [torch.as_tensor(enc, dtype=torch.float32)]


PAIRS = [(1, 2), (3, 1), (2, 3)]


def batch():
    return torch.stack([torch.stack([frame(a), frame(q)]) for a, q in PAIRS])


def truth(a, q):
    (Ra, ta), (Rq, tq) = POSES[a], POSES[q]
    R = Rq @ Ra.T
    return R, tq - R @ ta


@pytest.mark.parametrize("test_time", [[], ["swap"], ["mirror"], ["swap", "mirror"]])
def test_a_consistent_model_gives_the_true_pose_under_every_averaging(test_time):
    out = predict_poses(Oracle(), batch(), "relative", torch.device("cpu"), False, test_time)
    for i, (a, q) in enumerate(PAIRS):
        R, t = truth(a, q)
        assert geodesic_deg(out["R_rel"][i], R) < 1e-3 and np.allclose(out["t_rel"][i], t, atol=1e-5)
        assert geodesic_deg(out["R_rel_net"][i], R) < 1e-3


def test_the_absolute_twin_averages_its_mirror_too():
    out = predict_poses(Oracle(), batch(), "absolute", torch.device("cpu"), False, ["swap", "mirror"])
    for i, (a, q) in enumerate(PAIRS):
        for f, k in (("a", a), ("q", q)):
            assert geodesic_deg(out[f"R_{f}"][i], POSES[k][0]) < 1e-3
            assert np.allclose(out[f"t_{f}"][i], POSES[k][1], atol=1e-5)
        assert geodesic_deg(out["R_rel"][i], truth(a, q)[0]) < 1e-3


@pytest.mark.parametrize("test_time,wrong", [
    (["mirror"], lambda m, r: m),  # wrong on mirrored pairs only
    (["swap"], lambda m, r: r),  # wrong on reversed pairs only (the pairs given in reverse too)
])
def test_one_wrong_variant_of_two_costs_half_its_error(test_time, wrong):
    model = Oracle(wrong)
    out = predict_poses(model, batch(), "relative", torch.device("cpu"), False, test_time)
    for i, (a, q) in enumerate(PAIRS):
        R, _ = truth(a, q)
        assert geodesic_deg(out["R_rel"][i], R) == pytest.approx(5.0, abs=1e-3)  # the midpoint of 0 and 10
        net = geodesic_deg(out["R_rel_net"][i], R)  # the network's own answer for the pair as given
        assert net == pytest.approx(10.0 if wrong(False, a > q) else 0.0, abs=1e-3)


def test_an_unknown_variant_is_a_config_error():
    from relhead.configbase import ConfigError

    with pytest.raises(ConfigError, match="test_time"):
        resolve_training("small-cpu", ["test_time=[rotate]"])


# ------------------------------------------------------------------------------------------- roll
SR = 48  # frames for the roll variant: two blobs about the centre give a frame's in-plane angle and handedness


def blob_frame(i: int, theta: float) -> torch.Tensor:
    """Frame i of a head turned in the picture by theta (clockwise on the screen, as turn_frames): blob A
    (channel 0) at angle theta from the x axis, blob B (channel 1) 90 degrees further clockwise, and the
    frame's id as channel 2's level."""
    u = torch.arange(SR, dtype=torch.float64) + 0.5 - SR / 2
    y, x = torch.meshgrid(u, u, indexing="ij")
    f = torch.zeros(3, SR, SR, dtype=torch.float64)
    for ch, a in ((0, theta), (1, theta + 90.0)):
        cx, cy = 12 * np.cos(np.radians(a)), 12 * np.sin(np.radians(a))  # y down: clockwise on the screen
        f[ch] = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 2.0 ** 2))
    f[2] = i / 10
    return f.float()


class RollOracle(torch.nn.Module):
    """Sees a frame's angle (blob A's centroid) and whether it is mirrored (blob B counter-clockwise of A),
    and answers with the true pose of what it sees: frame i of POSES turned by its angle, Rz(theta) R_i,
    or for a mirrored frame the mirrored pose turned the other way (mirror_pose(Rz R) = Rz^T mirror_pose(R))."""

    def seen(self, f):
        u = torch.arange(SR, dtype=torch.float64) + 0.5 - SR / 2
        y, x = torch.meshgrid(u, u, indexing="ij")
        ang = []
        for ch in (0, 1):
            w = f[ch].double().clamp(min=0)
            ang.append(np.degrees(np.arctan2(float((w * y).sum()), float((w * x).sum()))))
        mirrored = ((ang[1] - ang[0]) % 360) > 180
        R, t = POSES[round(float(f[2].mean()) * 10)]
        if mirrored:  # the mirror image of the head turned by theta, blob A at 180 - theta: the mirrored head turned by -theta
            R, t = mirror_pose(R, t)
        Rz = euler_to_matrix(0.0, 0.0, ang[0] - 180.0 if mirrored else ang[0])
        return Rz @ R, Rz @ t

    def forward(self, x):
        B = x.shape[0]
        enc = np.zeros((B, 2, 9))
        for b in range(B):
            (Ra, ta), (Rq, tq) = self.seen(x[b, 0]), self.seen(x[b, 1])
            R_rel = Rq @ Ra.T
            enc[b, 0] = pose_to_encoding(np.eye(3), np.zeros(3), K_R, SR, SR)
            enc[b, 1] = pose_to_encoding(R_rel, tq - R_rel @ ta, K_R, SR, SR)
        return [torch.as_tensor(enc, dtype=torch.float32)]


K_R = intrinsics(60.0, 60.0, SR / 2, SR / 2)


@pytest.mark.parametrize("test_time", [["roll"], ["roll", "swap", "mirror"]])
def test_the_roll_variant_turns_both_frames_and_its_answer_back(test_time):
    """Frames whose pose the oracle reads off the picture: turned by +-10 degrees, their answers turned back
    (R_rel = Rz^T R_rel' Rz) agree with the truth to the blobs' resampling error. Turned back with the
    wrong sign, or not at all, the yaw and pitch of these pairs would be off by degrees."""
    pairs = [((1, 0.0), (2, 20.0)), ((3, -15.0), (1, 5.0)), ((2, 30.0), (3, -30.0))]
    images = torch.stack([torch.stack([blob_frame(i, th), blob_frame(j, ph)]) for (i, th), (j, ph) in pairs])
    out = predict_poses(RollOracle(), images, "relative", torch.device("cpu"), False, test_time)
    for k, ((i, th), (j, ph)) in enumerate(pairs):
        Ra, ta = euler_to_matrix(0.0, 0.0, th) @ POSES[i][0], euler_to_matrix(0.0, 0.0, th) @ POSES[i][1]
        Rq, tq = euler_to_matrix(0.0, 0.0, ph) @ POSES[j][0], euler_to_matrix(0.0, 0.0, ph) @ POSES[j][1]
        R = Rq @ Ra.T
        assert geodesic_deg(out["R_rel_net"][k], R) < 0.3  # the oracle reads the untouched frames
        assert geodesic_deg(out["R_rel"][k], R) < 0.3
        assert np.allclose(out["t_rel"][k], tq - R @ ta, atol=2e-3)


def test_turned_frames_are_the_crop_turned_about_its_centre():
    """turn_frames against rotated_crop (the training roll's and the roll test's crop): the same picture
    inside the disc both cover, for either sign."""
    from relhead.train.data import rotated_crop, turn_frames

    rng = np.random.default_rng(0)
    rgb = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    from scipy.ndimage import gaussian_filter

    rgb = gaussian_filter(rgb.astype(float), (2, 2, 0)).astype(np.uint8)  # smooth: resampling errors small
    u = np.arange(32) + 0.5 - 16
    disc = torch.as_tensor(np.hypot(*np.meshgrid(u, u)) < 12)
    flat = rotated_crop(rgb, 16, 16, 32, 32, 0.0)
    for theta in (20.0, -20.0):
        turned = turn_frames(flat[None], theta)[0]
        err = (turned - rotated_crop(rgb, 16, 16, 32, 32, theta))[:, disc].abs().mean()
        wrong = (turn_frames(flat[None], -theta)[0] - rotated_crop(rgb, 16, 16, 32, 32, theta))[:, disc].abs().mean()
        assert err < 0.01 < wrong
