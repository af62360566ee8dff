"""The training loss of the published recipe: L1 on the pose encoding over the camera head's iterations.

Per iteration: mean absolute error of translation (weight `t`), of the rotation (`q`: with `rot: l1`,
the recipe's, the quaternion's components; with `rot: geodesic` the angle between the predicted and
the true rotation, radians) and of the field of view (`fov`), on the query frame(s) (frames 1..S-1) with weight 1 and on the anchor frame
(frame 0: identity rotation, zero translation, its own fov) with weight `anchor`, 0 by default as
in the recipe: the anchor's target is a constant, so supervising it only teaches the head to output
that constant. For the absolute twin (S = 1) the single frame is the supervised one. Iteration k of
n is weighted iter_decay^(n-1-k) and the weighted sum is divided by n. An auxiliary landmark term
(weight `landmarks`, 0 in the recipe) adds the mean L1 error of a landmark head's 68 points in every
frame, in shares of the crop's side.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from relhead.configbase import Strict


class LossCfg(Strict):
    t: float = Field(1.0, ge=0.0, description="weight of the translation term (L1, metres)")
    q: float = Field(1.0, ge=0.0, description="weight of the rotation term")
    rot: Literal["l1", "geodesic"] = Field("l1", description="rotation term: L1 on the quaternion's components "
                                           "(the recipe) or the geodesic angle in radians")
    fov: float = Field(0.5, ge=0.0, description="weight of the field-of-view term (L1)")
    anchor: float = Field(0.0, ge=0.0, description="weight of the anchor frame (relative mode)")
    landmarks: float = Field(0.0, ge=0.0, description="weight of the auxiliary landmark loss (needs a model "
                             "with a landmark head): L1 of the 68 landmarks in the crops, in shares of the side")
    iter_decay: float = Field(0.6, gt=0.0, le=1.0, description="camera-head iteration k of n weighs "
                                                                  "iter_decay^(n-1-k)")


def quat_angle(pred: Tensor, target: Tensor) -> Tensor:
    """Rotation angle (radians) between the rotations of quaternions `pred` (any norm, as a network
    outputs them) and `target` (unit), (..., 4) -> (...). Stable everywhere: a and -a are the same
    rotation, so with alpha the angle between the two 4-vectors the rotation angle is
    2 min(alpha, pi - alpha), and alpha = 2 atan2(|p - q|, |p + q|)."""
    p = pred / pred.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    alpha = 2 * torch.atan2((p - target).norm(dim=-1), (p + target).norm(dim=-1))
    return 2 * torch.minimum(alpha, torch.pi - alpha)


def pose_loss(preds: list[Tensor], target: Tensor, cfg: LossCfg = LossCfg(),
              landmarks: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, dict[str, float]]:
    """preds: the camera head's (B, S, 9) encodings per iteration (last = final); target (B, S, 9);
    `landmarks`: (predicted, true) (B, S, L, 2), every frame's, for the auxiliary term (weight
    cfg.landmarks). Returns the total loss and its unweighted parts of the final iteration (t, q,
    fov; lm) for logging."""
    S = target.shape[1]
    frame_w = torch.ones(S, device=target.device, dtype=torch.float32)
    if S > 1:
        frame_w[0] = cfg.anchor
    frame_w = frame_w / frame_w.sum()
    n, total, parts = len(preds), 0.0, {}
    for k, pred in enumerate(preds):
        pred, target = pred.float(), target.float()
        err = (pred - target).abs()  # (B, S, 9)
        per = {name: (err[..., sl].mean(dim=(0, 2)) * frame_w).sum()
               for name, sl in (("t", slice(0, 3)), ("q", slice(3, 7)), ("fov", slice(7, 9)))}
        if cfg.rot == "geodesic":
            per["q"] = (quat_angle(pred[..., 3:7], target[..., 3:7]).mean(dim=0) * frame_w).sum()
        total = total + cfg.iter_decay ** (n - 1 - k) * (cfg.t * per["t"] + cfg.q * per["q"] + cfg.fov * per["fov"])
        parts = per
    total = total / n
    if landmarks is not None:
        parts["lm"] = (landmarks[0].float() - landmarks[1].float()).abs().mean()
        total = total + cfg.landmarks * parts["lm"]
    return total, {k: float(v.detach()) for k, v in parts.items()}
