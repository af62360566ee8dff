"""Prediction: the relative head pose between an anchor and a query image from a trained run.

With a face box [x0, y0, x1, y1] (relhead's `face_box`: the tight box of the 68 iBUG landmarks) an image
is cropped as in evaluation, at the centre of the training crops (relhead.train.data.CropCfg: a square
around the box, its larger side grown by the middle margin per side, clamped to the image); without
one it is taken as already cropped that way and resized whole (a non-square image is stretched). A
crop under a quarter of the model's input size holds no face and is refused. The result holds R_rel, t_rel
(R_q = R_rel R_a, t_q = R_rel t_a + t_rel; t in metres, meaningful only as far as the crops' fields of
view match the training data), the relative yaw/pitch/roll (relhead.frames convention) and, given
the anchor's absolute rotation, the query's (R_q = R_rel R_a). An absolute-twin run predicts each
frame's pose alone and derives the relative one from them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from relhead.configbase import ConfigError
from relhead.frames import euler_to_matrix, geodesic_deg, matrix_to_euler
from relhead.train.data import crop_image, square_crop
from relhead.train.eval import predict_poses
from relhead.train.options import check_box, parse_numbers  # noqa: F401  (the CLI's, named here too)


def _euler(R) -> dict:
    return dict(zip(("yaw", "pitch", "roll"), matrix_to_euler(R)))


MAX_UPSAMPLING = 4  # a face crop is enlarged at most this much to the model's input; smaller holds no face


class Predictor:
    """A trained run's model, ready to predict on RGB uint8 arrays."""

    def __init__(self, model, cfg, device: torch.device, bf16: bool):
        self.model, self.cfg, self.device, self.bf16 = model, cfg, device, bf16

    @classmethod
    def from_checkpoint(cls, run: str | Path, device: str = "auto") -> "Predictor":
        from relhead.train.runs import load_run, resolve_device

        cfg, model = load_run(run, "cpu")
        if device != "auto":
            cfg = cfg.model_copy(update={"device": device})
        dev, bf16 = resolve_device(cfg)
        return cls(model.to(dev), cfg, dev, bf16)

    def frame(self, rgb: np.ndarray, box=None, name: str = "box") -> torch.Tensor:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        H, W = rgb.shape[:2]
        size = self.cfg.size
        least = int(np.ceil(size / MAX_UPSAMPLING))
        what = name.replace(" box", "")
        if box is None:
            if min(H, W) < least:
                raise ConfigError(f"{what} image: {W}x{H} px is too small to hold a face at the model's {size} px "
                                  f"input (at least {least} px a side)")
            return _resize_whole(rgb, size)
        box = check_box(box, W, H, name)
        x0, y0, side = square_crop(box, W, H, *self.cfg.data.crop.centre())
        if side < least:
            raise ConfigError(f"{name} {','.join(f'{v:g}' for v in box)}: its crop is {side:.0f} px, too small for a "
                              f"face at the model's {size} px input (at least {least} px; a face box of at least "
                              f"{least / self.crop_growth():.0f} px)")
        return crop_image(rgb, x0, y0, side, size)

    def crop_growth(self) -> float:
        """The crop's side over the face box's larger side."""
        margin, _, scale = self.cfg.data.crop.centre()
        return (1 + 2 * margin) * scale

    def predict(self, anchor: np.ndarray, query: np.ndarray, anchor_box=None, query_box=None,
                anchor_pose=None) -> dict:
        """anchor_pose: the anchor's absolute rotation, a 3x3 matrix or (yaw, pitch, roll) degrees."""
        images = torch.stack([self.frame(anchor, anchor_box, "anchor box"), self.frame(query, query_box, "query box")])
        pred = predict_poses(self.model, images[None], self.cfg.mode, self.device, self.bf16, self.cfg.test_time)
        pred = {k: v[0] for k, v in pred.items()}
        R_rel, t_rel = pred["R_rel"], pred["t_rel"]
        out = {"mode": self.cfg.mode, "R_rel": R_rel.tolist(), "t_rel": t_rel.tolist(),
               "relative_euler_deg": _euler(R_rel), "relative_angle_deg": geodesic_deg(R_rel, np.eye(3))}
        if self.cfg.mode == "absolute":
            for f in ("a", "q"):
                out["anchor" if f == "a" else "query_predicted"] = {
                    "R": pred[f"R_{f}"].tolist(), "t": pred[f"t_{f}"].tolist(), "euler_deg": _euler(pred[f"R_{f}"])}
        if anchor_pose is not None:
            R_a = np.asarray(anchor_pose, float)
            R_a = euler_to_matrix(*R_a) if R_a.shape == (3,) else R_a
            R_q = R_rel @ R_a
            out["query"] = {"R": R_q.tolist(), "euler_deg": _euler(R_q)}
        return out


def _resize_whole(rgb: np.ndarray, size: int) -> torch.Tensor:
    from PIL import Image

    img = Image.fromarray(rgb).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div_(255.0)


def read_rgb(path: str | Path, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{name} {path}: cannot read an image there ({type(exc).__name__})") from None
