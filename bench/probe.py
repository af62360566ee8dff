"""What in a render's pixels a real-photo detector misses: MTCNN on a kept corpus' views (below 60 degrees
of |yaw|) after one edit of the picture at a time, and the eye region's brightness beside real photos'.

    python bench/realism.py --table look --only "as shipped" --skip-first --groups 128 --keep KEPT
    python bench/probe.py KEPT/row0                  # the edits: views found, gained and lost per edit
    python bench/probe.py --luminance KEPT/row0 ...  # eye region / cheek, renders against real photos

The edits (`edits`) darken, on relhead's own 68 landmarks, the eye openings, the upper lid line, the
brows, the lips, the eye sockets or the nostrils, or change the whole picture (contrast, saturation,
exposure, sharpness, blur): an edit that makes MTCNN find many views it missed, and lose few it found,
names what the renders lack to a detector trained on real faces. An edit of the pixels is not a render:
it says where to look, not what to change in the scene.

The luminance ratio (`eye_ratio`) is the mean linear luminance in an ellipse about each eye centre (0.56 x
0.24 of the eye distance) over that of a patch on each cheek below it: on the real photos of the real-photo
measure (relhead.train.real.PHOTOS, MTCNN's eye points) and on a corpus' near-frontal views without
glasses (relhead's eye landmarks). Not part of the tests; the tables go into bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from relhead.datasets.shards import iter_groups
from relhead.render.photo import srgb_to_linear
from relhead.train.detect import MTCNN

sys.path.insert(0, str(Path(__file__).parent))
from realism import measure_view  # noqa: E402  (bench/realism.py: found = a face on relhead's face box)


def _mask(W: int, H: int, draw, blur: float) -> np.ndarray:
    """(H, W, 1) float mask in [0, 1] of what `draw(ImageDraw)` fills, softened by a Gaussian of `blur` px."""
    im = Image.new("L", (W, H), 0)
    draw(ImageDraw.Draw(im))
    if blur > 0:
        im = im.filter(ImageFilter.GaussianBlur(float(blur)))
    return np.asarray(im, float)[..., None] / 255


def _polygon(W, H, pts, grow=1.0, blur=0.0):
    c = pts.mean(0)
    poly = [(float(x), float(y)) for x, y in c + (pts - c) * grow]
    return _mask(W, H, lambda d: d.polygon(poly, fill=255), blur)


def edits(rgb: np.ndarray, lm: np.ndarray) -> dict[str, np.ndarray]:
    """The picture `rgb` (H, W, 3 uint8) with each edit, on its 68 landmarks `lm` (image px)."""
    x = rgb.astype(float)
    H, W = x.shape[:2]
    e1, e2 = lm[36:42].mean(0), lm[42:48].mean(0)
    iod = float(np.linalg.norm(e2 - e1)) + 1e-6
    s = max(float(np.ptp(lm[:, 0])) / 4, 2.0)  # a quarter of the landmarks' width: the blur's scale

    def both(f):
        return np.maximum(f(lm[36:42]), f(lm[42:48]))

    opening = both(lambda e: _polygon(W, H, e, 1.0, 0.6))
    around = both(lambda e: _polygon(W, H, e, 1.6, s / 6))
    width = max(1, round(0.08 * iod))
    lid = np.maximum(*(_mask(W, H, lambda d, p=p: d.line([(float(a), float(b)) for a, b in p], fill=255, width=width), 0.6)
                       for p in (lm[36:40], lm[42:46])))
    brows = np.maximum(_polygon(W, H, np.r_[lm[17:22], lm[21:16:-1] + [0, s / 5]], 1.0, s / 6),
                       _polygon(W, H, np.r_[lm[22:27], lm[26:21:-1] + [0, s / 5]], 1.0, s / 6))
    lips = _polygon(W, H, lm[48:60], 1.0, s / 8)
    sockets = np.zeros((H, W, 1))
    for eye, brow in ((lm[36:42], lm[17:22]), (lm[42:48], lm[22:27])):
        c = (eye.mean(0) + brow.mean(0)) / 2
        box = [float(c[0] - 0.5 * iod), float(c[1] - 0.35 * iod), float(c[0] + 0.5 * iod), float(c[1] + 0.35 * iod)]
        sockets = np.maximum(sockets, _mask(W, H, lambda d, b=box: d.ellipse(b, fill=255), s / 4))
    nose = _polygon(W, H, np.vstack([lm[31:36], lm[33] + [0, s / 4]]), 1.2, s / 6)
    face = _polygon(W, H, np.r_[lm[0:17], lm[26:16:-1]], 1.0, s / 4)
    mean = (x * face).sum((0, 1)) / (face.sum() + 1e-9)
    grey = x.mean(2, keepdims=True)
    red = np.array([0.15, 0.45, 0.45])
    im = Image.fromarray(rgb)
    out = {"none": x,
           "eye openings x0.6": x * (1 - 0.4 * opening),
           "eye openings x0.4": x * (1 - 0.6 * opening),
           "upper lid line x0.4": x * (1 - 0.6 * lid),
           "eyes and lids x0.6": x * (1 - 0.4 * around),
           "eye sockets x0.75": x * (1 - 0.25 * sockets),
           "brows x0.6": x * (1 - 0.4 * brows),
           "lips darker, redder": x * (1 - lips * red),
           "nostrils x0.7": x * (1 - 0.3 * nose),
           "eyes, brows and lips": x * (1 - 0.4 * around) * (1 - 0.4 * brows) * (1 - lips * red),
           "face contrast x1.4": x + face * 0.4 * (x - mean),
           "saturation x1.4": grey + 1.4 * (x - grey),
           "darker x0.8": x * 0.8,
           "brighter x1.2": x * 1.2,
           "unsharp mask": np.asarray(im.filter(ImageFilter.UnsharpMask(2, 80, 2)), float),
           "blur 1 px": np.asarray(im.filter(ImageFilter.GaussianBlur(1)), float)}
    return {k: np.clip(v, 0, 255).round().astype(np.uint8) for k, v in out.items()}


def probe(corpus: Path, detector: MTCNN) -> None:
    found: dict[str, list[bool]] = {}
    onet: dict[str, list[float]] = {}  # O-Net's log-odds at the face box (MTCNN.faceness), per view
    for g in iter_groups(sorted(corpus.glob("shard-*.tar"))):
        for i, view in enumerate(g.views):
            if abs(view["euler_deg"]["yaw"]) >= 60:
                continue
            for name, img in edits(g.image(i), np.asarray(view["landmarks"], float)).items():
                row = measure_view(detector, img, view)
                found.setdefault(name, []).append(row["detected"])
                onet.setdefault(name, []).append(row["onet_logodds"])
    base, base_o = np.array(found["none"]), np.array(onet["none"])
    print(f"{corpus}: {len(base)} views below 60 degrees of |yaw|, MTCNN finds {base.sum()}\n")
    print("| edit | found | gained | lost | O-Net log-odds at the face box: mean shift (views up / down) |\n|---|---|---|---|---|")
    for name, f in found.items():
        f, d = np.array(f), np.array(onet[name]) - base_o
        d = d[np.isfinite(d)]
        print(f"| {name} | {f.sum()} ({100 * f.mean():.0f}%) | {(f & ~base).sum()} | {(~f & base).sum()} "
              f"| {d.mean():+.2f} ({(d > 0).sum()} / {(d < 0).sum()}) |")


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance (linear Rec. 709) of an 8-bit sRGB image; a greyscale one is its own grey."""
    x = srgb_to_linear(rgb.astype(float) / 255)
    return x @ [0.2126, 0.7152, 0.0722] if x.ndim == 3 else x


def eye_ratio(rgb: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> float:
    """Mean linear luminance of ellipses about the eye centres e1, e2 over that of a patch on each cheek."""
    H, W = rgb.shape[:2]
    iod = float(np.linalg.norm(e2 - e1))
    L = _luminance(rgb)

    def ellipse(c, rx, ry):
        box = [float(c[0] - rx), float(c[1] - ry), float(c[0] + rx), float(c[1] + ry)]
        return _mask(W, H, lambda d: d.ellipse(box, fill=255), 0)[..., 0] > 0.5

    eyes = ellipse(e1, 0.28 * iod, 0.12 * iod) | ellipse(e2, 0.28 * iod, 0.12 * iod)
    cheeks = ellipse(e1 + [0, 0.55 * iod], 0.2 * iod, 0.12 * iod) | ellipse(e2 + [0, 0.55 * iod], 0.2 * iod, 0.12 * iod)
    return float(L[eyes].mean() / L[cheeks].mean())


def luminance(corpora: list[Path], detector: MTCNN, frontal: float = 30.0) -> None:
    from relhead.train.real import PHOTOS, load_photo

    print("| images | views | eye region / cheek (median, quartiles) |\n|---|---|---|")
    for photo in PHOTOS:
        rgb = load_photo(photo)
        f = detector.detect(rgb)[0]
        print(f"| real photo `{photo.name}` | 1 | {eye_ratio(rgb, f.landmarks[0], f.landmarks[1]):.2f} |")
    for corpus in corpora:
        r = []
        for g in iter_groups(sorted(corpus.glob("shard-*.tar"))):
            if g.meta["spec"].get("glasses"):
                continue
            for i, v in enumerate(g.views):
                if max(abs(a) for a in v["euler_deg"].values()) < frontal:
                    lm = np.asarray(v["landmarks"], float)
                    r.append(eye_ratio(g.image(i), lm[36:42].mean(0), lm[42:48].mean(0)))
        q = np.percentile(r, [50, 25, 75]) if r else [np.nan] * 3
        print(f"| {corpus}, \\|yaw\\|, \\|pitch\\|, \\|roll\\| < {frontal:g}, no glasses | {len(r)} | "
              f"{q[0]:.2f} ({q[1]:.2f}-{q[2]:.2f}) |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpora", nargs="+", type=Path, help="corpus folders (bench/realism.py --keep's row folders)")
    ap.add_argument("--luminance", action="store_true", help="instead: the eye region's luminance over the cheeks'")
    a = ap.parse_args()
    detector = MTCNN()
    if a.luminance:
        luminance(a.corpora, detector)
    else:
        for c in a.corpora:
            probe(c, detector)


if __name__ == "__main__":
    main()
