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
