"""A face detector trained on real photos, offline: MTCNN (Zhang et al. 2016) with the P-, R- and O-Net
weights that the `facenet-pytorch` wheel ships, and the map from its box to relhead's face box.

The reference BIWI protocol crops with facenet-pytorch's MTCNN. That wheel pins torch < 2.3 and its
package imports torchvision, so relhead installs it with `pip install --no-deps facenet-pytorch==2.6.0`
(only for its three state dicts, `facenet_pytorch/data/{pnet,rnet,onet}.pt`), never imports it, and
runs the cascade with its own networks (same layers, same state-dict keys) and torch ops:

- image pyramid from a 20 px smallest face, scale factor 0.709, each level resized with area
  interpolation and normalised as (x - 127.5) / 128;
- P-Net proposals (12 px cells, stride 2) scoring >= 0.6, non-maximum suppression (NMS) at IoU 0.5
  per level and 0.7 over all levels, box regression, squared;
- R-Net on 24 px crops, > 0.7, NMS 0.7, regression, squared;
- O-Net on 48 px crops, > 0.7, five landmarks, regression, NMS 0.7 on intersection over the smaller
  box; faces sorted largest first (facenet-pytorch's `select_largest`).

These are facenet-pytorch 2.6.0's defaults (`MTCNN()`), including its integer pixel conventions.
Nothing is downloaded: without the wheel, `load_mtcnn` says how to install it.

A detector's box is not relhead's `face_box` (the tight box of the 68 iBUG landmarks). `to_face_box`
maps one to the other with the ratio measured on quickstart renders by `bench/realism.py` (median
over the views where MTCNN found the face; see bench/README.md), so that a real image is cropped the
way the model's training crops were.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from relhead.configbase import ConfigError

INSTALL = "pip install --no-deps facenet-pytorch==2.6.0"
MIN_FACE = 20.0
FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)

# relhead face box from an MTCNN box (x0, y0, x1, y1), w = x1 - x0, h = y1 - y0: centre
# (cx + CX * w, cy + CY * h), size (SX * w, SY * h). Medians over the 24 views of 32 where MTCNN found the
# face, `python bench/realism.py` (quickstart, every part on, yaw +-90; bench/README.md, 2026-12-02):
# the landmark box is about as wide as MTCNN's, three quarters as tall and centred 12% of its height
# lower (MTCNN's box reaches up the forehead, the 68 landmarks start at the brows).
BOX_MAP = {"cx": 0.016, "cy": 0.120, "sx": 0.936, "sy": 0.744}
# ... and their quartiles over the same views (bench/README.md, "MTCNN's box against relhead's face box"):
# how far one detection's box strays from the median map. Training's `data.crop.detector` draws from it.
BOX_SPREAD = {"cx": (-0.039, 0.066), "cy": (0.091, 0.135), "sx": (0.849, 0.978), "sy": (0.685, 0.783)}


def detector_box(face_box, W: int, H: int, rng) -> list[float]:
    """The face box a prediction would crop around if MTCNN had found the face whose relhead face box is
    `face_box`: a detector box is drawn whose relation to the face box follows BOX_SPREAD (each of
    cx, cy, sx, sy a split normal about BOX_MAP's median whose two halves put the quartiles where they
    were measured, sigma = (median - q25) / 0.6745 below and (q75 - median) / 0.6745 above, cut at 2
    sigma), and mapped back with the median BOX_MAP, as `to_face_box` maps a real detection."""
    x0, y0, x1, y1 = (float(v) for v in face_box)
    p = {}
    for k, (q25, q75) in BOX_SPREAD.items():
        z = float(np.clip(rng.standard_normal(), -2.0, 2.0))
        p[k] = BOX_MAP[k] + z * ((q75 - BOX_MAP[k]) if z > 0 else (BOX_MAP[k] - q25)) / 0.6745
    return to_face_box(from_face_box([x0, y0, x1, y1], p)[0], W, H)


def from_face_box(face_boxes, box_map: dict | None = None) -> np.ndarray:
    """(N, 4) relhead face boxes -> the (N, 4) MTCNN boxes that `to_face_box` maps onto them (unclamped)."""
    m = box_map or BOX_MAP
    fb = np.asarray(face_boxes, float).reshape(-1, 4)
    w, h = (fb[:, 2] - fb[:, 0]) / m["sx"], (fb[:, 3] - fb[:, 1]) / m["sy"]
    cx, cy = (fb[:, 0] + fb[:, 2]) / 2 - m["cx"] * w, (fb[:, 1] + fb[:, 3]) / 2 - m["cy"] * h
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # MTCNN's x0, y0, x1, y1 (pixels)
    prob: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left and right mouth corner (image left first)

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def to_face_box(box, W: int, H: int, box_map: dict | None = None) -> list[float]:
    """MTCNN box -> relhead face box [x0, y0, x1, y1] (the landmark box training crops were made around),
    clamped to the W x H image."""
    m = box_map or BOX_MAP
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 + m["cx"] * w, (y0 + y1) / 2 + m["cy"] * h
    hw, hh = m["sx"] * w / 2, m["sy"] * h / 2
    return [max(0.0, cx - hw), max(0.0, cy - hh), min(float(W), cx + hw), min(float(H), cy + hh)]


# ----------------------------------------------------------------------------------- the networks
class _Net(nn.Module):
    """Conv + PReLU stages, then (R/O-Net) a dense layer on the features flattened in (W, H, C) order,
    the order of the original Caffe/TF weights."""

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(_Net):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class RNet(_Net):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(self._flat(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(_Net):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(self._flat(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


def weights_dir() -> Path:
    """Where the facenet-pytorch wheel put its MTCNN state dicts (the package is located, not imported)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"MTCNN weights: the facenet-pytorch wheel is not installed ({INSTALL})")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


# ---------------------------------------------------------------------------------------- the cascade
def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, mode: str = "union",
        plus_one: bool = False) -> torch.Tensor:
    """Greedy non-maximum suppression: indices kept, best score first. A box is dropped when its overlap
    with a kept one exceeds `threshold`: intersection over union, or over the smaller box (`min`);
    `plus_one` counts integer pixel spans inclusively (w = x1 - x0 + 1)."""
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long)
    one = 1.0 if plus_one else 0.0
    x0, y0, x1, y1 = boxes.unbind(1)
    area = (x1 - x0 + one) * (y1 - y0 + one)
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while len(order):
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = (torch.minimum(x1[i], x1[rest]) - torch.maximum(x0[i], x0[rest]) + one).clamp(min=0)
        h = (torch.minimum(y1[i], y1[rest]) - torch.maximum(y0[i], y0[rest]) + one).clamp(min=0)
        inter = w * h
        denom = torch.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return torch.tensor(keep, dtype=torch.long)


def _square(b: torch.Tensor) -> torch.Tensor:
    """Boxes (N, >=4) made square about their centres, side = the longer side."""
    b = b.clone()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = torch.maximum(w, h)
    b[:, 0] += (w - side) / 2
    b[:, 1] += (h - side) / 2
    b[:, 2], b[:, 3] = b[:, 0] + side, b[:, 1] + side
    return b


def _regress(b: torch.Tensor, reg: torch.Tensor, plus_one: bool) -> torch.Tensor:
    b = b.clone()
    one = 1.0 if plus_one else 0.0
    w, h = b[:, 2] - b[:, 0] + one, b[:, 3] - b[:, 1] + one
    b[:, :4] = b[:, :4] + reg * torch.stack([w, h, w, h], 1)
    return b


def _norm(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _crops(img: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of `boxes` (integer pixel spans, 1-based inclusive corners clamped to the image, as the
    reference does), resized to size x size with area interpolation; and which boxes gave a crop."""
    H, W = img.shape[-2:]
    b = boxes[:, :4].trunc().long()
    x0, y0 = b[:, 0].clamp(min=1), b[:, 1].clamp(min=1)
    x1, y1 = b[:, 2].clamp(max=W), b[:, 3].clamp(max=H)
    ok = (x1 > x0 - 1) & (y1 > y0 - 1)
    out = [F.interpolate(img[:, :, int(y0[k]) - 1:int(y1[k]), int(x0[k]) - 1:int(x1[k])], size=(size, size),
                         mode="area") for k in torch.nonzero(ok).flatten().tolist()]
    return (_norm(torch.cat(out)) if out else torch.zeros(0, 3, size, size)), ok


class MTCNN:
    """The three networks with facenet-pytorch's shipped weights; `detect(rgb)` -> faces, largest first."""

    def __init__(self, device: str | torch.device = "cpu"):
        folder = weights_dir()
        self.device = torch.device(device)
        self.nets = []
        for name, net in (("pnet", PNet()), ("rnet", RNet()), ("onet", ONet())):
            path = folder / f"{name}.pt"
            if not path.is_file():
                raise ConfigError(f"MTCNN weights: {path} is missing ({INSTALL})")
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            self.nets.append(net.eval().to(self.device))

    @torch.no_grad()
    def detect(self, rgb: np.ndarray) -> list[Face]:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        pnet, rnet, onet = self.nets
        img = torch.from_numpy(np.array(rgb, copy=True)).to(self.device).permute(2, 0, 1)[None].float()
        H, W = rgb.shape[:2]

        # stage 1: P-Net over the pyramid
        found = []
        scale, side = 12.0 / MIN_FACE, min(H, W) * 12.0 / MIN_FACE
        while side >= 12:
            level = _norm(F.interpolate(img, size=(int(H * scale + 1), int(W * scale + 1)), mode="area"))
            reg, prob = pnet(level)
            rows, cols = torch.nonzero(prob[0, 1] >= THRESHOLDS[0], as_tuple=True)
            if len(rows):
                xy = torch.stack([cols, rows], 1).float()
                b = torch.cat([((2 * xy + 1) / scale).floor(), ((2 * xy + 12) / scale).floor(),
                               prob[0, 1, rows, cols][:, None], reg[0][:, rows, cols].T], 1)
                found.append(b[nms(b[:, :4], b[:, 4], 0.5)])
            scale, side = scale * FACTOR, side * FACTOR
        if not found:
            return []
        b = torch.cat(found)
        b = b[nms(b[:, :4], b[:, 4], 0.7)]
        b = _square(torch.cat([_regress(b[:, :4], b[:, 5:9], plus_one=False), b[:, 4:5]], 1))

        # stage 2: R-Net
        x, ok = _crops(img, b, 24)
        b = b[ok]
        if not len(b):
            return []
        reg, prob = rnet(x)
        keep = prob[:, 1] > THRESHOLDS[1]
        b, reg = torch.cat([b[keep, :4], prob[keep, 1:2]], 1), reg[keep]
        k = nms(b[:, :4], b[:, 4], 0.7)
        b = _square(_regress(b[k], reg[k], plus_one=True))
        if not len(b):
            return []

        # stage 3: O-Net, landmarks
        x, ok = _crops(img, b, 48)
        b = b[ok]
        if not len(b):
            return []
        reg, pts, prob = onet(x)
        keep = prob[:, 1] > THRESHOLDS[2]
        b, reg, pts = torch.cat([b[keep, :4], prob[keep, 1:2]], 1), reg[keep], pts[keep]
        w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
        lm = torch.stack([w[:, None] * pts[:, :5] + b[:, :1] - 1, h[:, None] * pts[:, 5:] + b[:, 1:2] - 1], 2)
        b = _regress(b, reg, plus_one=True)
        k = nms(b[:, :4], b[:, 4], 0.7, mode="min", plus_one=True)
        faces = [Face(tuple(float(v) for v in b[i, :4]), float(b[i, 4]), lm[i].cpu().numpy().astype(float))
                 for i in k.tolist()]
        return sorted(faces, key=lambda f: -f.area)

    @torch.no_grad()
    def faceness(self, rgb: np.ndarray, face_boxes) -> np.ndarray:
        """(N, 2): R-Net's and O-Net's log-odds that the square about each relhead face box (mapped to the
        box MTCNN would draw with the median BOX_MAP, then squared as the cascade squares) is a face,
        whether or not the cascade's proposals reached it. A continuous score where `detect` gives a yes or
        no: MTCNN keeps a box when each stage's probability passes THRESHOLDS (log-odds 0.41, 0.85, 0.85)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        boxes = _square(torch.tensor(from_face_box(face_boxes), dtype=torch.float32))
        img = torch.from_numpy(np.array(rgb, copy=True)).to(self.device).permute(2, 0, 1)[None].float()
        out = np.full((len(boxes), 2), -np.inf)
        for col, (net, size) in enumerate(((self.nets[1], 24), (self.nets[2], 48))):
            x, ok = _crops(img, boxes.to(self.device), size)
            if len(x):
                prob = net(x)[-1].double().cpu().numpy()
                out[ok.cpu().numpy(), col] = np.log(prob[:, 1]) - np.log(prob[:, 0])
        return out


_DETECTOR: MTCNN | None = None


def load_mtcnn() -> MTCNN:
    """The process' one MTCNN (CPU; it is small)."""
    global _DETECTOR
    if _DETECTOR is None:
        _DETECTOR = MTCNN()
    return _DETECTOR


def detect_face_box(rgb: np.ndarray, detector: MTCNN | None = None) -> tuple[list[float], Face] | None:
    """The largest face's relhead face box and the detection itself, or None when no face is found."""
    faces = (detector or load_mtcnn()).detect(rgb)
    if not faces:
        return None
    return to_face_box(faces[0].box, rgb.shape[1], rgb.shape[0]), faces[0]


class NoFace(ConfigError):
    """An image MTCNN finds no face in, where one is needed (one line naming the image)."""


def resolve_box(rgb: np.ndarray, text: str | None, option: str, path) -> tuple[list[float] | None, dict]:
    """A `relhead predict` box option -> (the face box to crop around, or None for the whole image; what
    the JSON says about it). No value: MTCNN's largest face mapped to a relhead face box (NoFace when
    it finds none); `full`: the image is already the face crop; else x0,y0,x1,y1."""
    from relhead.train.options import check_box, parse_numbers

    if text == "full":
        return None, {"source": "full", "box": None}
    if text is not None:
        box = list(check_box(parse_numbers(text, 4, option, "40,30,200,210"), rgb.shape[1], rgb.shape[0], option))
        return box, {"source": "given", "box": box}
    found = detect_face_box(rgb)
    if found is None:
        raise NoFace(f"{path}: the detector (MTCNN) found no face; give {option} x0,y0,x1,y1 "
                     f"(or {option} full if the image is the face crop)")
    box, face = found
    return box, {"source": "mtcnn", "box": box, "mtcnn_box": list(face.box), "mtcnn_prob": face.prob}
