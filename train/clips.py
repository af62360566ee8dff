"""Anchor policies on temporal clips: how a clip's frames get an absolute head rotation from a
relative model, given the true pose of a few frames, and the errors that result.

A relative prediction R_rel(a, q) carries the anchor's rotation to the query's: R_q = R_rel R_a.
Frame 0 always has its true pose; `nearest` and `fused` also know every k-th frame (0, k, 2k, ...).
- `first`: frame 0 anchors every other frame.
- `previous`: each frame is anchored by the one before it, whose rotation is that frame's own
  PREDICTION (frame 0's is true): R_q = R_rel(q-1, q) R_(q-1), so errors accumulate (drift).
- `nearest`: each frame whose pose is not known is anchored by the nearest known frame (the earlier
  one on a tie).
- `fused`: each frame whose pose is not known is anchored by every known frame; their predictions
  R_rel(a, q) R_a are averaged with scipy's Rotation.mean (the chordal L2 mean: the principal
  eigenvector of the weighted sum of the unit quaternions' outer products), weighted
  w = 1 / (10 + angle)^2 with `angle` the PREDICTED relative rotation's in degrees: inverse-variance
  weights if a prediction's error grows linearly with the relative angle, as the evaluation's query
  angle bins show it does. `weighted=False` gives them equal weights.
Errors of each scored frame's absolute rotation (frames whose pose is given are not scored):
`rot_deg` geodesic angle to the truth, `yaw_deg`, `pitch_deg`, `roll_deg` absolute differences of
relhead.frames.matrix_to_euler (relhead's sampling decomposition; BIWI MAE uses biwi_euler),
`ypr_deg` their mean; `by_frame` the mean `rot_deg` per frame index (for `previous`: the drift).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from relhead.frames import geodesic_deg, matrix_to_euler

POLICIES = ("first", "previous", "nearest", "fused")
FUSE_SCALE_DEG = 10.0  # fused weights 1 / (FUSE_SCALE_DEG + predicted angle)^2


def known_frames(policy: str, n: int, every: int) -> list[int]:
    """The frames whose true pose a policy is given."""
    return list(range(0, n, every)) if policy in ("nearest", "fused") else [0]


def nearest_known(q: int, known: list[int]) -> int:
    return min(known, key=lambda a: (abs(a - q), a))


def policy_pairs(policy: str, n: int, every: int) -> list[tuple[int, int]]:
    """The (anchor, query) pairs a policy needs predicted for a clip of n frames."""
    known = known_frames(policy, n, every)
    queries = [q for q in range(n) if q not in known]
    if policy == "first":
        return [(0, q) for q in queries]
    if policy == "previous":
        return [(q - 1, q) for q in queries]
    if policy == "nearest":
        return [(nearest_known(q, known), q) for q in queries]
    if policy == "fused":
        return [(a, q) for q in queries for a in known]
    raise ValueError(f"unknown anchor policy {policy!r}; known: {', '.join(POLICIES)}")


def absolute_rotations(policy: str, R_true: np.ndarray, rel: Mapping[tuple[int, int], np.ndarray], every: int,
                       weighted: bool = True) -> dict[int, np.ndarray]:
    """{frame: predicted absolute rotation} of the frames a policy scores, from the true rotations
    R_true (n, 3, 3) of its known frames only and the predicted relative rotations `rel`
    {(anchor, query): R_rel} of its pairs (policy_pairs)."""
    n = len(R_true)
    known = known_frames(policy, n, every)
    out: dict[int, np.ndarray] = {}
    if policy == "previous":
        R = R_true[0]
        for q in range(1, n):
            R = out[q] = rel[(q - 1, q)] @ R
        return out
    if policy != "fused":
        return {q: rel[(a, q)] @ R_true[a] for a, q in policy_pairs(policy, n, every)}
    for q in (q for q in range(n) if q not in known):
        preds = [rel[(a, q)] @ R_true[a] for a in known]
        angles = np.array([geodesic_deg(rel[(a, q)], np.eye(3)) for a in known])
        w = 1.0 / (FUSE_SCALE_DEG + angles) ** 2 if weighted else np.ones(len(known))
        out[q] = Rotation.from_matrix(np.stack(preds)).mean(weights=w).as_matrix()
    return out


def rotation_errors(R_pred: np.ndarray, R_true: np.ndarray) -> dict[str, float]:
    ypr = np.array(matrix_to_euler(R_pred)) - np.array(matrix_to_euler(R_true))
    d = np.abs((ypr + 180.0) % 360.0 - 180.0)
    return {"rot_deg": geodesic_deg(R_pred, R_true), "yaw_deg": float(d[0]), "pitch_deg": float(d[1]),
            "roll_deg": float(d[2])}


def clip_rows(policy: str, R_true: np.ndarray, rel: Mapping, every: int, weighted: bool = True) -> list[dict]:
    """Per scored frame of one clip: its index and its rotation errors under `policy`."""
    pred = absolute_rotations(policy, R_true, rel, every, weighted)
    return [{"frame": q, **rotation_errors(R, R_true[q])} for q, R in sorted(pred.items())]


def summarise(rows: list[dict]) -> dict:
    """Means over the rows (`rot_med_deg` a median) and the mean `rot_deg` by frame index."""
    if not rows:
        return {"n": 0}
    col = {k: np.array([r[k] for r in rows]) for k in ("rot_deg", "yaw_deg", "pitch_deg", "roll_deg")}
    out = {"n": len(rows), **{k: float(v.mean()) for k, v in col.items()}}
    out["rot_med_deg"] = float(np.median(col["rot_deg"]))
    out["ypr_deg"] = (out["yaw_deg"] + out["pitch_deg"] + out["roll_deg"]) / 3
    frames = sorted({r["frame"] for r in rows})
    out["by_frame"] = {str(f): float(np.mean([r["rot_deg"] for r in rows if r["frame"] == f])) for f in frames}
    return out


def format_table(section: dict) -> str:
    """The policies' errors, and `previous`'s drift at a few frames."""
    names = ("rot", "rot med", "yaw", "pitch", "roll", "ypr")
    keys = ("rot_deg", "rot_med_deg", "yaw_deg", "pitch_deg", "roll_deg", "ypr_deg")
    lines = [f"{'clips (abs)':<14}{'n':>6}" + "".join(f"{h:>9}" for h in names)]
    for policy, s in section["policies"].items():
        vals = "".join(f"{'-':>9}" if s["n"] == 0 else f"{s[k]:>9.2f}" for k in keys)
        lines.append(f"{policy:<14}{s['n']:>6}{vals}")
    drift = section["policies"]["previous"].get("by_frame", {})
    if drift:
        show = sorted({int(f) for f in drift} & {1, 2, 5, 10, 20, 50} | {max(int(f) for f in drift)})
        lines.append("previous drift (rot deg by frame): " + ", ".join(f"{f}: {drift[str(f)]:.2f}" for f in show))
    return "\n".join(lines)
