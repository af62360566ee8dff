"""Training data: stream relhead shards, hold out groups by id, draw anchor/query pairs, crop around
the face, resize, augment and batch; plus the deterministic evaluation iterator.

A batch is a dict: `images` (B, S, 3, size, size) float in [0, 1] (frame 0 the anchor; S = 1 for the
absolute twin, which sees the query frame of each drawn pair, so both modes consume the same groups
and draws), `targets` (B, S, 9) pose encodings (relhead.frames.pose_to_encoding with the crop's K:
anchor = identity, query = (R_rel, t_rel); absolute: the query's own (R, t)), `landmarks` (B, S, 68, 2)
the frames' 68 landmarks in their crops as shares of the side (x right, y down; an auxiliary target),
and `meta`, a list of
per-pair dicts (group key, anchor/query index, pair angle and tags, the query's angle from frontal,
both views' absolute poses and crop intrinsics).

Determinism: every random draw comes from a seed derived from (seed, epoch, corpus, group, draw), and
the shuffle buffer of loader slot s (one per rank x DataLoader worker) from (seed, s). Each slot
streams forever (epoch after epoch, shards reshuffled per epoch), so the DataLoader hands out batch
i from worker i % W, and a resumed run skips its first N batches inside the workers, drawing them from
the shards' tar headers alone (shard_index: no group read, no image decoded), and then sees exactly the
batches an uninterrupted run would (with the same worker count).
"""

from __future__ import annotations

import itertools
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from relhead.configbase import ConfigError, Range, Strict
from relhead.datasets.manifest import read_manifest
from relhead.datasets.pairs import frontal_view, tag
from relhead.datasets.sample import Group
from relhead.datasets.shards import iter_groups, shard_index
from relhead.frames import (IBUG68_MIRROR, euler_to_matrix, geodesic_deg, mirror_intrinsics, mirror_pose,
                            pose_to_encoding, relative_transform)


# ------------------------------------------------------------------------------------------- config
class CropCfg(Strict):
    """The one crop rule. Training draws a square around the face box: its larger side grown by
    `margin` of it per side, times `scale`, its centre moved by up to `shift` of the side. Evaluation
    and prediction take the centre of that distribution: the middle margin and scale, no shift."""

    margin: Range(0.0, 3.0) = Field((0.4, 0.6), description="per side, as a share of the face box's larger side")
    shift: float = Field(0.01, ge=0.0, le=0.5, description="max centre shift, share of the crop side")
    scale: Range(0.25, 4.0) = Field((0.9, 1.1), description="scale jitter of the crop side")
    detector: float = Field(0.0, ge=0.0, le=1.0, description="probability that a training frame is cropped "
                            "around the box a real-photo detector would give (relhead.train.detect.detector_box: "
                            "MTCNN's spread about BOX_MAP) instead of its true face box")

    def draw(self, rng: np.random.Generator) -> tuple[float, tuple[float, float], float]:
        """A training crop's (margin, shift, scale)."""
        return (float(rng.uniform(*self.margin)), tuple(rng.uniform(-self.shift, self.shift, 2)),
                float(rng.uniform(*self.scale)))

    def centre(self) -> tuple[float, tuple[float, float], float]:
        """The evaluation and prediction crop's (margin, shift, scale): the training draws' centre."""
        return sum(self.margin) / 2, (0.0, 0.0), sum(self.scale) / 2


class AugmentCfg(Strict):
    """Photometric augmentation (kornia), training only. Colour jitter is shared by both frames with
    probability `same_color_p`, else drawn per frame; the rest is always the same on both frames
    (same decision and parameters; Gaussian noise is even the same pattern)."""

    enabled: bool = True
    color_p: float = Field(0.8, ge=0.0, le=1.0, description="probability of colour jitter")
    brightness: float = Field(0.3, ge=0.0, le=1.0)
    contrast: float = Field(0.3, ge=0.0, le=1.0)
    saturation: float = Field(0.3, ge=0.0, le=1.0)
    hue: float = Field(0.05, ge=0.0, le=0.5)
    same_color_p: float = Field(0.7, ge=0.0, le=1.0, description="probability that both frames share the jitter")
    gamma_p: float = Field(0.3, ge=0.0, le=1.0)
    gamma: Range(0.1, 10.0) = (0.7, 1.5)
    clahe_p: float = Field(0.1, ge=0.0, le=1.0)
    clahe_clip: Range(0.1, 100.0) = (1.0, 4.0)
    rgb_shift_p: float = Field(0.3, ge=0.0, le=1.0)
    rgb_shift: float = Field(0.05, ge=0.0, le=1.0, description="max shift per channel, in [0, 1] units")
    blur_p: float = Field(0.2, ge=0.0, le=1.0)
    blur_sigma: Range(0.01, 10.0) = Field((0.1, 1.0), description="Gaussian blur, pixels of the resized crop")
    noise_p: float = Field(0.2, ge=0.0, le=1.0)
    noise_std: float = Field(0.02, ge=0.0, le=1.0)
    # camera-like degradations of real photos (off by default), after the above, in this order:
    grey_p: float = Field(0.0, ge=0.0, le=1.0, description="both frames greyscale (luma in all three channels)")
    sensor_p: float = Field(0.0, ge=0.0, le=1.0, description="sensor noise drawn per frame: Gaussian with variance "
                            "a x + b^2 (shot and read noise), a pattern of its own in each frame")
    sensor_shot: Range(0.0, 1.0) = (0.0005, 0.005)  # a, per unit of intensity in [0, 1]
    sensor_read: Range(0.0, 1.0) = (0.003, 0.02)  # b, the read noise's std
    jpeg_p: float = Field(0.0, ge=0.0, le=1.0, description="both frames re-encoded as JPEG (one quality)")
    jpeg_quality: Range(1.0, 100.0) = (30.0, 90.0)


class DataCfg(Strict):
    size: int | None = Field(None, ge=14, le=4096, description="crop side in pixels; null: the model's img_size")
    batch: int = Field(16, ge=1, description="pairs per batch, per process")
    workers: int = Field(1, ge=0, le=64, description="DataLoader worker processes (0: in the training process)")
    shuffle_buffer: int = Field(256, ge=1, description="pairs; each holds its group's encoded images")
    pairs_per_group: int = Field(1, ge=1, description="pairs drawn from a group each time the stream passes it")
    flip: float = Field(0.0, ge=0.0, le=1.0, description="probability that a training pair is mirrored "
                        "left-right, both frames and their poses (relhead.frames.mirror_pose)")
    roll: float = Field(0.0, ge=0.0, le=1.0, description="probability that a training pair's query image is turned "
                        "about its principal point by an angle uniform in +-roll_deg, its crop window turning with "
                        "the face: exactly a roll of its camera, so its pose becomes (Rz R_q, Rz t_q) and the "
                        "relative target (Rz R_rel, Rz t_rel)")
    roll_deg: float = Field(30.0, ge=0.0, le=180.0)
    holdout_every: int = Field(10, ge=2, description="group ids g with g % k == k - 1 are held out (eval only)")
    eval_pairs: Literal["all", "recorded"] = Field("all", description="every ordered pair of a held-out group, or "
                                                                      "pairs.json's")
    on_corrupt: Literal["raise", "skip"] = Field("raise", description="a corrupt shard stops the run, or is skipped "
                                                                      "with a warning")
    crop: CropCfg = CropCfg()
    augment: AugmentCfg = AugmentCfg()


# ------------------------------------------------------------------------------------------ corpora
@dataclass(frozen=True)
class Corpus:
    path: Path
    name: str
    shards: tuple[Path, ...]  # the manifest's done shards
    groups: tuple[range, ...]  # group ids per shard
    pairs_cfg: dict  # the corpus' pair policy config (easy/hard thresholds)
    held_out_only: bool = True  # evaluation reads only its held-out groups (a corpus the run trained on)


def open_corpora(paths: list[str | Path], check: bool = False, on_corrupt: str = "raise") -> list[Corpus]:
    """Corpus folders (each with manifest.json) -> their done shards; ConfigError when one is not. With
    `check`, every shard's size and sha256 are compared with the manifest first (what the reader checks
    before it reads a shard, with the same message) and its tar headers read (members that are not regular
    files, or no tar at all): a corrupt shard raises CorruptShard, or with `on_corrupt="skip"` is left out
    with a warning, before training has written anything. A corpus given twice is a ConfigError."""
    from relhead.datasets.manifest import file_problem
    from relhead.datasets.shards import CorruptShard, member_problem

    if not paths:
        raise ConfigError("--data: give at least one corpus folder")
    out, names, given = [], set(), {}
    for p in map(Path, paths):
        if p.resolve() in given:  # counted twice, its groups would weigh double
            raise ConfigError(f"--data {p}: given twice (the same corpus as --data {given[p.resolve()]}); "
                              "give each corpus once")
        given[p.resolve()] = p
        manifest = read_manifest(p) if p.is_dir() else None
        if manifest is None:
            raise ConfigError(f"--data {p}: not a corpus folder (no manifest.json)")
        shards = manifest.get("shards")
        if not isinstance(shards, dict) or not all(isinstance(e, dict) and k.isdigit() for k, e in shards.items()):
            raise ConfigError(f"--data {p}: its manifest.json has no valid shard list (`relhead verify {p}` says "
                              "more; rendering into the folder again rebuilds it)")
        done = [e for _, e in sorted(shards.items(), key=lambda kv: int(kv[0])) if e.get("status") == "done"]
        if check:
            for e in list(done):
                problem = file_problem(p / e["file"], e) or member_problem(p / e["file"])
                if problem and on_corrupt == "raise":
                    raise CorruptShard(f"{p / e['file']}: {problem}")
                if problem:
                    warnings.warn(f"skipping corrupt shard {p / e['file']}: {problem}", stacklevel=2)
                    done.remove(e)
        if not done:
            raise ConfigError(f"--data {p}: no finished shards")
        name = p.resolve().name
        name = name if name not in names else f"{name}#{len(out)}"
        names.add(name)
        out.append(Corpus(p, name, tuple(p / e["file"] for e in done), tuple(range(*e["groups"]) for e in done),
                          manifest["config"]["pairs"]))
    return out


def held_out(group: int, every: int) -> bool:
    """The held-out rule, by group id only (the same for training and evaluation)."""
    return group % every == every - 1


def split_counts(corpora: list[Corpus], every: int) -> tuple[int, int]:
    """(training groups, held-out groups) over all corpora, from the manifests alone."""
    ids = [g for c in corpora for r in c.groups for g in r]
    held = sum(held_out(g, every) for g in ids)
    return len(ids) - held, held


# --------------------------------------------------------------------------------- crop and targets
def square_crop(box, W: int, H: int, margin: float, shift=(0.0, 0.0), scale: float = 1.0) -> tuple[float, float, float]:
    """(x0, y0, side) of a square around face box [x0, y0, x1, y1]: the box's larger side grown by
    `margin` of it on each side, times `scale`, its centre moved by `shift` x side, then clamped to the
    image (side at most min(W, H), the square moved inside)."""
    bx0, by0, bx1, by1 = map(float, box)
    side = min(max(bx1 - bx0, by1 - by0, 1.0) * (1 + 2 * margin) * scale, W, H)
    cx, cy = (bx0 + bx1) / 2 + shift[0] * side, (by0 + by1) / 2 + shift[1] * side
    return float(np.clip(cx - side / 2, 0, W - side)), float(np.clip(cy - side / 2, 0, H - side)), side


def crop_intrinsics(K, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """K of the crop [x0, x0 + side] x [y0, y0 + side] resized to size x size."""
    s = size / side
    return np.diag([s, s, 1.0]) @ np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]]) @ np.asarray(K, float)


def crop_image(rgb: np.ndarray, x0: float, y0: float, side: float, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) float in [0, 1]; the crop box's edges map to the output's
    edges (pixel centres at +0.5, as relhead.frames.project), antialiased bilinear."""
    img = Image.fromarray(rgb).resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div_(255.0)


def _turned_back(du, dv, theta_deg: float):
    """Where the point at offset (du, dv) from the pivot of a picture turned by `theta_deg` lay before the
    turn: Rot(theta)^T (du, dv), image coordinates (x right, y down; clockwise on the screen for positive
    theta). The sampling grid of rotated_crop and turn_frames (arrays or tensors)."""
    c, s = np.cos(np.radians(theta_deg)), np.sin(np.radians(theta_deg))
    return c * du + s * dv, -s * du + c * dv


def rotated_crop(rgb: np.ndarray, x0: float, y0: float, side: float, size: int, theta_deg: float,
                 pivot=None, padding: str = "border") -> torch.Tensor:
    """The crop [x0, x0 + side] x [y0, y0 + side] of (H, W, 3) uint8 `rgb` with the picture turned by
    `theta_deg` about `pivot` (image coordinates, pixel centres at +0.5; default the crop's centre), as
    (3, size, size) float in [0, 1]: a point p of the photo lands at pivot + Rot(theta) (p - pivot),
    Rot(theta) = [[cos, -sin], [sin, cos]] in image coordinates (x right, y down), i.e. clockwise on
    the screen for positive theta. With the principal point at `pivot` this is exactly the image of the
    camera rolled about its optical axis so that every point X becomes Rz(theta) X, i.e. the head's pose
    (R, t) becomes (Rz(theta) R, Rz(theta) t) (relhead.frames: positive roll tilts the head clockwise).
    Sampled bilinearly at the photo's own resolution, then resized to `size` antialiased; pixels the
    photo does not cover take `padding` (grid_sample's "border", "reflection" or "zeros")."""
    import torch.nn.functional as F

    H, W = rgb.shape[:2]
    n = max(size, int(np.ceil(side)))
    px, py = (x0 + side / 2, y0 + side / 2) if pivot is None else (float(pivot[0]), float(pivot[1]))
    u = x0 + (np.arange(n) + 0.5) * side / n  # output pixel centres, in photo coordinates before turning
    v = y0 + (np.arange(n) + 0.5) * side / n
    du, dv = _turned_back(*np.meshgrid(u - px, v - py), theta_deg)
    sx, sy = px + du, py + dv
    grid = torch.from_numpy(np.stack([2 * sx / W - 1, 2 * sy / H - 1], -1)[None]).float()
    img = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode=padding, align_corners=False)
    if n != size:
        out = F.interpolate(out, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0].clamp_(0, 255).div_(255.0)


def turn_frames(x: torch.Tensor, theta_deg: float) -> torch.Tensor:
    """Square frames (..., C, S, S) turned by `theta_deg` about their centres, as rotated_crop turns a crop
    (clockwise on the screen for positive theta; the image of the camera rolled by Rz(theta) when the
    principal point is the centre), from the frames' own pixels: the corners they do not cover take the
    nearest edge pixel (grid_sample's "border", rotated_crop's default)."""
    import torch.nn.functional as F

    shape, S = x.shape, x.shape[-1]
    u = (torch.arange(S, dtype=torch.float64) + 0.5) * 2 / S - 1  # pixel centres, normalised
    v, u = torch.meshgrid(u, u, indexing="ij")
    grid = torch.stack(_turned_back(u, v, theta_deg), -1).to(x.dtype)
    flat = x.reshape(-1, *shape[-3:])
    out = F.grid_sample(flat, grid.expand(len(flat), S, S, 2), mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.reshape(shape)


def pair_meta(corpus: Corpus, g: Group, a: int, q: int, K_a, K_q) -> dict:
    va, vq = g.views[a], g.views[q]
    R_a, R_q = np.asarray(va["R"]), np.asarray(vq["R"])
    recorded = {(p["anchor"], p["query"]): p["tags"] for p in g.pairs.get("pairs", [])}
    angle = geodesic_deg(R_a, R_q)
    tags = recorded.get((a, q))
    if tags is None:  # not a recorded pair: the corpus' own thresholds
        tags = tag({"anchor": a, "angle_deg": angle}, frontal_view(g.views), SimpleNamespace(**corpus.pairs_cfg))
    return {"key": f"{corpus.name}/{g.key}", "group": int(g.meta["group"]), "anchor": a, "query": q,
            "angle_deg": angle, "tags": list(tags), "query_angle_deg": geodesic_deg(R_q, np.eye(3)),
            "R_a": R_a, "t_a": np.asarray(va["t"], float), "R_q": R_q, "t_q": np.asarray(vq["t"], float),
            "K_a": K_a, "K_q": K_q}


def targets(meta: dict, size: int, mode: str) -> np.ndarray:
    """(S, 9) pose encodings of a pair (see the module docstring)."""
    if mode == "absolute":
        return pose_to_encoding(meta["R_q"], meta["t_q"], meta["K_q"], size, size)[None]
    R_rel, t_rel = relative_transform(meta["R_a"], meta["t_a"], meta["R_q"], meta["t_q"])
    anchor = pose_to_encoding(np.eye(3), np.zeros(3), meta["K_a"], size, size)
    return np.stack([anchor, pose_to_encoding(R_rel, t_rel, meta["K_q"], size, size)])


# -------------------------------------------------------------------------------------- augmentation
class Augmenter:
    """The photometric augmentation of AugmentCfg on a (S, 3, H, W) pair, seeded per pair (kornia draws
    from torch's global generator, so it runs inside fork_rng and leaves the caller's stream alone)."""

    def __init__(self, cfg: AugmentCfg):
        import kornia.augmentation as K

        c = cfg
        jitter = dict(brightness=c.brightness, contrast=c.contrast, saturation=c.saturation, hue=c.hue, p=c.color_p)
        self.same_color_p = c.same_color_p
        self.jitter_same = K.ColorJitter(**jitter, same_on_batch=True)
        self.jitter_each = K.ColorJitter(**jitter, same_on_batch=False)
        kernel = 2 * int(np.ceil(3 * c.blur_sigma[1])) + 1
        # (probability, transform applied to both frames alike); drawn here, since kornia computes a
        # transform (CLAHE: ~10 ms) even where its own p rejects it
        self.shared = [
            (c.gamma_p, K.RandomGamma(gamma=c.gamma, p=1.0, same_on_batch=True)),
            (c.clahe_p, K.RandomClahe(clip_limit=c.clahe_clip, grid_size=(8, 8), p=1.0, same_on_batch=True)),
            (c.rgb_shift_p, K.RandomRGBShift(c.rgb_shift, c.rgb_shift, c.rgb_shift, p=1.0, same_on_batch=True)),
            (c.blur_p, K.RandomGaussianBlur(kernel, c.blur_sigma, p=1.0, same_on_batch=True)),
            (c.noise_p, K.RandomGaussianNoise(std=c.noise_std, p=1.0, same_on_batch=True)),
        ]
        self.cfg = c

    def __call__(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            same = torch.rand(()).item() < self.same_color_p
            x = (self.jitter_same if same else self.jitter_each)(x)
            for p, transform in self.shared:
                if torch.rand(()).item() < p:
                    x = transform(x)
            x = x.clamp_(0.0, 1.0)
            c = self.cfg  # the real-photo degradations draw only when switched on: off, the above is unchanged
            if c.grey_p and torch.rand(()).item() < c.grey_p:
                luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
                x = luma.expand_as(x).contiguous()
            if c.sensor_p and torch.rand(()).item() < c.sensor_p:
                shot = _uniform(*c.sensor_shot, (x.shape[0], 1, 1, 1))
                read = _uniform(*c.sensor_read, (x.shape[0], 1, 1, 1))
                x = (x + torch.randn_like(x) * (shot * x + read ** 2).sqrt()).clamp_(0.0, 1.0)
            if c.jpeg_p and torch.rand(()).item() < c.jpeg_p:
                x = jpeg(x, int(round(_uniform(*c.jpeg_quality, ()).item())))
            return x


def _uniform(lo: float, hi: float, shape) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Frames (S, 3, H, W) in [0, 1] re-encoded as JPEG at `quality` (PIL, 4:2:0), as a camera or a web
    page would have saved them."""
    import io

    out = []
    for f in x:
        buf = io.BytesIO()
        Image.fromarray((f.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(buf, "JPEG", quality=quality)
        buf.seek(0)
        out.append(torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1))
    return torch.stack(out).float().div_(255.0)


# ------------------------------------------------------------------------------------------ streams
@dataclass(frozen=True)
class GroupRef:
    """A group known by its shard's tar headers only (relhead.datasets.shards.shard_index): what a resumed
    stream draws for the pairs it skips, and loads only for those it keeps."""
    shard: Path
    group: int
    views: int


@dataclass
class PairDraw:
    corpus: int
    group: Group | GroupRef
    anchor: int
    query: int
    seed: tuple[int, ...]


def collate(items: list[dict]) -> dict:
    batch = {"images": torch.stack([it["images"] for it in items]),
             "targets": torch.from_numpy(np.stack([it["targets"] for it in items])).float(),
             "meta": [it["meta"] for it in items]}
    if "landmarks" in items[0]:
        batch["landmarks"] = torch.stack([it["landmarks"] for it in items])
    return batch


class TrainPairs(torch.utils.data.IterableDataset):
    """Endless training batches (see the module docstring); use with DataLoader(batch_size=None)."""

    def __init__(self, corpora: list[Corpus], cfg: DataCfg, size: int, mode: str, seed: int, skip_batches: int = 0):
        self.corpora, self.cfg, self.size, self.mode, self.seed = corpora, cfg, size, mode, seed
        self.skip_batches = skip_batches
        self._augment = None

    def draws(self, slot: int, slots: int, skipping=None) -> Iterator[PairDraw]:
        """This slot's pair draws, epoch after epoch. Shards are shuffled per epoch and dealt to the
        slots; with fewer shards than slots every slot reads every shard and keeps every slots-th group.
        While `skipping.done` is false (a resumed stream passing over what it consumed) a shard is read
        by its tar headers only and its draws hold GroupRefs: the same draws, nothing decoded."""
        shards = [(ci, s) for ci, c in enumerate(self.corpora) for s in c.shards]
        every = self.cfg.holdout_every
        for epoch in itertools.count():
            order = [shards[i] for i in np.random.default_rng([self.seed, epoch]).permutation(len(shards))]
            deal = len(shards) >= slots
            mine, n, count = (order[slot::slots] if deal else order), 0, 0
            for ci, shard in mine:
                if skipping is not None and not skipping.done:
                    groups = [GroupRef(shard, gid, v) for gid, v in shard_index(shard, self.cfg.on_corrupt)]
                else:
                    groups = iter_groups([shard], on_corrupt=self.cfg.on_corrupt)
                for g in groups:
                    gid, V = (g.group, g.views) if isinstance(g, GroupRef) else (int(g.meta["group"]), len(g.views))
                    if held_out(gid, every):
                        continue
                    count += 1
                    if not deal and (count - 1) % slots != slot:
                        continue
                    for j in range(self.cfg.pairs_per_group):
                        seed = (self.seed, epoch, ci, gid, j)
                        rng = np.random.default_rng(seed)
                        a = int(rng.integers(V))
                        q = (a + 1 + int(rng.integers(V - 1))) % V  # uniform over the other views
                        n += 1
                        if isinstance(g, GroupRef):
                            skipping.refs += 1
                        yield PairDraw(ci, g, a, q, seed)
            if n == 0:
                raise RuntimeError(f"loader slot {slot} of {slots}: no training pairs in its shards "
                                   f"(all groups held out, or its shards skipped as corrupt)")

    def item(self, d: PairDraw) -> dict:
        cfg, size = self.cfg, self.size
        rng = np.random.default_rng(d.seed + (1,))
        # the sim-to-real knobs (crop.detector, roll) draw from a stream of their own, so that switched
        # off they change nothing and switched on they leave every other draw as it was
        bridge = np.random.default_rng(d.seed + (2,))
        crops, Ks = [], []
        for i in (d.anchor, d.query):
            v = d.group.views[i]
            face_box = v["face_box"]
            if cfg.crop.detector and bridge.random() < cfg.crop.detector:
                from relhead.train.detect import detector_box

                face_box = detector_box(face_box, v["W"], v["H"], bridge)
            box = square_crop(face_box, v["W"], v["H"], *cfg.crop.draw(rng))
            crops.append(box)
            Ks.append(crop_intrinsics(v["K"], *box, size))
        meta = pair_meta(self.corpora[d.corpus], d.group, d.anchor, d.query, *Ks)
        theta, pivot = 0.0, None
        if cfg.roll and bridge.random() < cfg.roll:
            # the query's image turned about its principal point (a roll of its camera), and its crop window
            # moved with the face: the window's centre turns too, so the face stays where the crop had it
            # (moving a window changes only K, which crop_intrinsics follows)
            theta = float(bridge.uniform(-cfg.roll_deg, cfg.roll_deg))
            vq, (x0, y0, side) = d.group.views[d.query], crops[1]
            pivot = np.asarray(vq["K"], float)[:2, 2]
            dx, dy = _turned_back(x0 + side / 2 - pivot[0], y0 + side / 2 - pivot[1], -theta)  # turned forward
            crops[1] = (pivot[0] + dx - side / 2, pivot[1] + dy - side / 2, side)
            Ks[1] = crop_intrinsics(vq["K"], *crops[1], size)
            meta["K_q"] = Ks[1]
        frames = [(d.query, crops[1])] if self.mode == "absolute" else [(d.anchor, crops[0]), (d.query, crops[1])]
        images = torch.stack([rotated_crop(d.group.image(i), *box, size, theta, pivot, "reflection")
                              if theta and i == d.query else crop_image(d.group.image(i), *box, size)
                              for i, box in frames])
        # the 68 landmarks in the crops, as shares of the side (an auxiliary target)
        pts = [np.asarray(d.group.views[i]["landmarks"], float) for i, _ in frames]
        if theta:
            Rz = euler_to_matrix(0.0, 0.0, theta)
            pts[-1] = pivot + (pts[-1] - pivot) @ Rz[:2, :2].T
            for k in ("R_q", "t_q"):
                meta[k] = Rz @ meta[k]
            meta["angle_deg"] = geodesic_deg(meta["R_q"], meta["R_a"])
            meta["query_angle_deg"] = geodesic_deg(meta["R_q"], np.eye(3))
            meta["roll_deg"] = theta
        landmarks = np.stack([(p - box[:2]) / box[2] for p, (_, box) in zip(pts, frames)])
        if cfg.augment.enabled:
            if self._augment is None:
                self._augment = Augmenter(cfg.augment)
            images = self._augment(images, int(rng.integers(2**62)))
        if cfg.flip and rng.random() < cfg.flip:
            images = images.flip(-1)
            landmarks = np.concatenate([1.0 - landmarks[..., :1], landmarks[..., 1:]], axis=-1)[:, IBUG68_MIRROR]
            for f in ("a", "q"):
                meta[f"R_{f}"], meta[f"t_{f}"] = mirror_pose(meta[f"R_{f}"], meta[f"t_{f}"])
                meta[f"K_{f}"] = mirror_intrinsics(meta[f"K_{f}"], size)
            meta["mirrored"] = True
        return {"images": images, "targets": targets(meta, size, self.mode), "meta": meta,
                "landmarks": torch.from_numpy(landmarks).float()}

    def __iter__(self):
        import webdataset as wds
        from webdataset.utils import pytorch_worker_info

        rank, world, worker, workers = pytorch_worker_info()
        # The DataLoader takes batch i from worker i % W. A resumed loader starts again at worker 0, so
        # its worker w plays the stream (role) that would have made the next batch, and skips what that
        # stream already made.
        role = (worker + self.skip_batches) % workers
        slot, slots = rank * workers + role, world * workers
        skip_items = len(range(role, self.skip_batches, workers)) * self.cfg.batch
        bufsize = self.cfg.shuffle_buffer
        skipping = SimpleNamespace(done=skip_items == 0, refs=0)  # refs: GroupRef draws not yet loaded or skipped

        def skip(src):
            src = iter(src)
            for d in itertools.islice(src, skip_items):
                skipping.refs -= isinstance(d.group, GroupRef)
            skipping.done = True
            yield from src

        pipeline = wds.DataPipeline(
            lambda: self.draws(slot, slots, skipping),
            wds.shuffle(bufsize, initial=bufsize, rng=random.Random(f"{self.seed}/{slot}")),
            skip,
            lambda src: loaded(src, skipping),
            wds.map(self.item),
            wds.batched(self.cfg.batch, collation_fn=collate, partial=False),
        )
        return iter(pipeline)


def loaded(draws: Iterator[PairDraw], skipping, keep: int = 64) -> Iterator[PairDraw]:
    """The draws with each GroupRef's group read (its shard read once and kept among the last `keep`, until
    the stream has no GroupRef left: `skipping.refs`, counted by `draws`); a group that is not what its
    shard's headers said raises CorruptShard."""
    from relhead.datasets.shards import CorruptShard

    shards: dict[Path, dict[int, Group]] = {}
    for d in draws:
        ref = d.group
        if isinstance(ref, GroupRef):
            if ref.shard not in shards:
                if len(shards) >= keep:
                    shards.pop(next(iter(shards)))
                shards[ref.shard] = {int(g.meta["group"]): g for g in iter_groups([ref.shard])}
            g = shards[ref.shard].get(ref.group)
            if g is None or len(g.views) != ref.views:
                raise CorruptShard(f"{ref.shard}: group {ref.group} is not what its tar headers say "
                                   f"({ref.views} views); the shard changed during the run?")
            d = PairDraw(d.corpus, g, d.anchor, d.query, d.seed)
            skipping.refs -= 1
            if skipping.done and not skipping.refs:
                shards.clear()
        yield d


def train_loader(corpora, cfg: DataCfg, size: int, mode: str, seed: int, skip_batches: int = 0,
                 pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """Endless batches of training pairs; `skip_batches`: batches this rank already consumed."""
    ds = TrainPairs(corpora, cfg, size, mode, seed, skip_batches)
    return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=cfg.workers, pin_memory=pin_memory,
                                       prefetch_factor=2 if cfg.workers else None, worker_init_fn=_leave_signals)


def _leave_signals(worker: int) -> None:
    """A loader worker ignores SIGINT and SIGTERM: the training process stops it when it stops."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def eval_items(corpora: list[Corpus], cfg: DataCfg, size: int) -> Iterator[dict]:
    """The evaluation pairs (all ordered pairs of a group, or the recorded ones) with evaluation crops,
    in corpus, shard, group and pair order: of every held-out group, and of every group of a corpus
    whose `held_out_only` is off; images (2, 3, size, size), relative targets (2, 9)."""
    for ci, corpus in enumerate(corpora):
        for g in iter_groups(corpus.shards, on_corrupt=cfg.on_corrupt):
            if corpus.held_out_only and not held_out(int(g.meta["group"]), cfg.holdout_every):
                continue
            V = len(g.views)
            if cfg.eval_pairs == "all":
                pairs = [(a, q) for a in range(V) for q in range(V) if a != q]
            else:
                pairs = [(p["anchor"], p["query"]) for p in g.pairs.get("pairs", [])]
            crops = {}
            for a, q in pairs:
                for i in (a, q):
                    if i not in crops:
                        crops[i] = eval_crop(g, i, cfg, size)
                images, (K_a, K_q) = zip(*(crops[i] for i in (a, q)))
                meta = pair_meta(corpus, g, a, q, K_a, K_q)
                yield {"images": torch.stack(images), "targets": targets(meta, size, "relative"),
                       "meta": meta}


def eval_crop(g: Group, i: int, cfg: DataCfg, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """View `i`'s evaluation crop as the model sees it, (3, size, size) in [0, 1], and its K: the square
    of the training crops' centre (CropCfg.centre) around the view's face box."""
    v = g.views[i]
    box = square_crop(v["face_box"], v["W"], v["H"], *cfg.crop.centre())
    return crop_image(g.image(i), *box, size), crop_intrinsics(v["K"], *box, size)


def eval_clips(corpora: list[Corpus], cfg: DataCfg, size: int) -> Iterator[dict]:
    """Every evaluated group (as eval_items chooses them) that is a temporal clip, in corpus, shard and
    group order: `key`, the frames' true rotations `R` (V, 3, 3) and their evaluation crops `images`
    (V, 3, size, size)."""
    for corpus in corpora:
        for g in iter_groups(corpus.shards, on_corrupt=cfg.on_corrupt):
            if g.clip is None or (corpus.held_out_only and not held_out(int(g.meta["group"]), cfg.holdout_every)):
                continue
            images = [eval_crop(g, i, cfg, size)[0] for i in range(len(g.views))]
            yield {"key": f"{corpus.name}/{g.key}", "R": np.array([v["R"] for v in g.views], float),
                   "images": torch.stack(images)}


def eval_batches(corpora, cfg: DataCfg, size: int, batch: int, limit: int | None = None) -> Iterator[dict]:
    """eval_items in batches (the last may be smaller), the first `limit` pairs when given."""
    items = itertools.islice(eval_items(corpora, cfg, size), limit)
    while chunk := list(itertools.islice(items, batch)):
        yield collate(chunk)
