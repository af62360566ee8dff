"""The training loss of the published recipe: L1 on the pose encoding over the camera head's iterations.

Per iteration: mean absolute error of translation (weight `t`), quaternion components (`q`) and
field of view (`fov`), on the query frame(s) (frames 1..S-1) with weight 1 and on the anchor frame
(frame 0: identity rotation, zero translation, its own fov) with weight `anchor`, 0 by default as
in the recipe: the anchor's target is a constant, so supervising it only teaches the head to output
that constant. For the absolute twin (S = 1) the single frame is the supervised one. Iteration k of
n is weighted iter_decay^(n-1-k) and the weighted sum is divided by n.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from relhead.configbase import Strict


class LossCfg(Strict):
    t: float = Field(1.0, ge=0.0)
    q: float = Field(1.0, ge=0.0)
    fov: float = Field(0.5, ge=0.0)
    anchor: float = Field(0.0, ge=0.0, description="weight of the anchor frame (relative mode)")
    iter_decay: float = Field(0.6, gt=0.0, le=1.0)


def pose_loss(preds: list[Tensor], target: Tensor, cfg: LossCfg = LossCfg()) -> tuple[Tensor, dict[str, float]]:
    """preds: the camera head's (B, S, 9) encodings per iteration (last = final); target (B, S, 9).
    Returns the total loss and its unweighted parts of the final iteration (t, q, fov) for logging."""
    S = target.shape[1]
    frame_w = torch.ones(S, device=target.device, dtype=torch.float32)
    if S > 1:
        frame_w[0] = cfg.anchor
    frame_w = frame_w / frame_w.sum()
    n, total, parts = len(preds), 0.0, {}
    for k, pred in enumerate(preds):
        err = (pred.float() - target.float()).abs()  # (B, S, 9)
        per = {name: (err[..., sl].mean(dim=(0, 2)) * frame_w).sum()
               for name, sl in (("t", slice(0, 3)), ("q", slice(3, 7)), ("fov", slice(7, 9)))}
        total = total + cfg.iter_decay ** (n - 1 - k) * (cfg.t * per["t"] + cfg.q * per["q"] + cfg.fov * per["fov"])
        parts = per
    return total / n, {k: float(v.detach()) for k, v in parts.items()}
