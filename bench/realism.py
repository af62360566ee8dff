"""How real relhead's faces look to a detector trained on real photos: MTCNN's detection rate and its
five landmarks' error against relhead's exact landmarks, by |yaw| bin, with each realism part
switched off in turn (`--table parts`) or each look part of issue 26 (eyes, skin detail, the camera
model, procedural backdrops) switched on in turn (`--table look`); and the ratio of MTCNN's box to
relhead's face box (relhead.train.detect.BOX_MAP).

    python bench/realism.py [--table look] [--pipeline realistic] [--groups 32] [--views 4] [--size 160]
                            [--only NAME] [--set KEY=VALUE ...] [--json FILE]
    python bench/realism.py --real-rolls    # MTCNN on real photos turned by 0-45 degrees (real_rolls)
    python bench/realism.py --turned FLAT ROLLED   # roll-0 renders turned in 2D by the rolled twins' roll (turned)

Every row renders the pipeline (its seed, so every row shows the same heads, poses, cameras and
lights: the parts draw from random streams of their own) with yaw widened to +-90 degrees so that
the 60-90 bin has views and the extra labels off (they do not change the images), into a temporary
corpus, and runs relhead's MTCNN (relhead.train.detect) on every view:

- a view counts as detected when a face MTCNN returns has its box centre inside relhead's face box
  (the tight box of the 68 landmarks) and that box's centre inside the MTCNN box;
- the landmark error of a detected view is the mean distance of MTCNN's five points to relhead's
  (eye centres = mean of each eye's six iBUG points 36-41 and 42-47, nose tip 30, mouth corners 48
  and 54; MTCNN's first eye is the one on the image left, iBUG's 36-41), divided by the distance of
  relhead's two eye centres in the image (which shrinks with |yaw|, so the last bin's errors are
  large by construction);
- |yaw| is the view's yaw (relhead.frames convention) in bins 0-30, 30-60, 60-90; each row is printed
  twice, over every view and over the views with |pitch| and |roll| <= UPRIGHT (25 degrees): the
  pipelines' pitch (-40..30) and roll (+-30) reach poses a real-photo detector misses on real faces too;
- each rate is followed by its 95% Wilson interval (rate_interval), so a row is read with its noise;
- under each row, the views below 60 degrees of |yaw| found per skin-tone bin (relhead's tone, 0 the
  palest), all of them and those with sensor noise.

The box ratio is taken on the first row (every part on) over its detected views: medians of the
centre offset (relhead's face box centre minus MTCNN's, over MTCNN's width and height) and of the
size ratio (relhead's width and height over MTCNN's). Not part of the tests; the table goes into
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from relhead.config import resolve
from relhead.datasets.generate import generate
from relhead.datasets.shards import iter_groups
from relhead.train.detect import MTCNN

sys.path.insert(0, str(Path(__file__).parent))
from parts import OFF  # noqa: E402  (bench/parts.py: the switch that turns each part off)

BINS = ((0, 30), (30, 60), (60, 90.01))
PARTS = {**OFF, "mpfb skin": "render.skin_shader=relhead"}
LABELS_OFF = [f"labels.{k}=false" for k in ("depth", "normals", "segmentation", "landmarks_3d", "dense_landmarks",
                                             "gaze", "mesh")]

# The look parts of issue 26, each with its switch off and on (on: for every subject, view or group).
LOOK = {"eyes": ("eyes.detail=0", "eyes.detail=1"),
        "skin": ("skin.detail=0", "skin.detail=1"),
        "camera": ("effects.photo_fraction=0", "effects.photo_fraction=1"),
        "backdrops": ("lighting.backdrop_fraction=0", "lighting.backdrop_fraction=1")}
# Every look part off and Blender's compositor sensor noise at its default: the `realistic` pipeline as it
# was before the look parts (its config hash then, da27ff0552104419).
BEFORE = [off for off, _ in LOOK.values()] + ["effects.sensor_noise=[0.02,0.2]"]


def look_rows(pipeline: str) -> dict[str, list[str]]:
    """The look before issue 26, each look part on alone, the camera model with Blender's sensor noise off
    (the camera model's noise replacing it), and the pipeline as shipped."""
    rows = {"every look part off (before)": BEFORE}
    for name, (off, on) in LOOK.items():
        rows[f"+ {name}"] = [s for s in BEFORE if s != off] + [on]
        if name == "camera":
            rows["+ camera, Blender's sensor noise off"] = rows["+ camera"] + ["effects.sensor_noise=[0,0]"]
    rows[f"{pipeline} as shipped"] = []
    return rows


def row_config(args: dict, sets: list[str]):
    """The configuration a row renders with: the run's `args` (pipeline, groups, views, size, set; main's
    arguments, as its --json file keeps them) and the row's own settings `sets`."""
    common = [f"views={args['views']}", f"image.width={args['size']}", f"image.height={args['size']}", "shards=1",
              f"groups_per_shard={args['groups']}", "pose.yaw_deg=[-90,90]", *LABELS_OFF, *args["set"]]
    return resolve(args["pipeline"], common + list(sets))


# Each row is also summarised over the views whose pitch and roll both lie within this (degrees): MTCNN
# misses steep pitch and roll on real photos too, so the yaw bins alone mix the look with the pose.
UPRIGHT = 25.0


def five_points(lm68: np.ndarray) -> np.ndarray:
    """relhead's 68 iBUG points -> MTCNN's five: eye centres (image-left eye of a frontal face first),
    nose tip, mouth corners."""
    lm = np.asarray(lm68, float)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def _inside(p, box) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def measure_view(detector: MTCNN, rgb: np.ndarray, view: dict) -> dict:
    """One view: its |yaw|, whether MTCNN found its face, the normalised landmark error, the boxes."""
    fb = np.asarray(view["face_box"], float)
    centre = (fb[:2] + fb[2:]) / 2
    r_net, o_net = detector.faceness(rgb, [fb])[0]
    row = {"abs_yaw": abs(view["euler_deg"]["yaw"]), "pitch": view["euler_deg"]["pitch"],
           "roll": view["euler_deg"]["roll"], "face_box": fb.tolist(), "detected": False,
           "rnet_logodds": float(r_net), "onet_logodds": float(o_net)}
    for f in detector.detect(rgb):
        b = np.asarray(f.box)
        if _inside(centre, b) and _inside((b[:2] + b[2:]) / 2, fb):
            gt = five_points(view["landmarks"])
            iod = float(np.linalg.norm(gt[0] - gt[1]))
            err = float(np.linalg.norm(f.landmarks - gt, axis=1).mean())
            row.update(detected=True, mtcnn_box=b.tolist(), prob=f.prob, nme=err / max(iod, 1e-9),
                       err_px=err, iod_px=iod)
            break
    return row


def downsampled(rgb: np.ndarray, view: dict, factor: int) -> tuple[np.ndarray, dict]:
    """A view rendered at `factor` times the size, as a camera's image reaches that size: each output pixel
    the mean of factor x factor rendered ones (PIL's box filter), its face box and landmarks scaled (pixel
    coordinates with pixel edges at integers, so x / factor)."""
    from PIL import Image

    H, W = rgb.shape[:2]
    small = np.asarray(Image.fromarray(rgb).resize((W // factor, H // factor), Image.BOX))
    return small, view | {"face_box": (np.asarray(view["face_box"], float) / factor).tolist(),
                          "landmarks": (np.asarray(view["landmarks"], float) / factor).tolist()}


def measure_corpus(corpus: Path, detector: MTCNN, downsample: int = 1) -> list[dict]:
    rows = []
    for g in iter_groups(sorted(corpus.glob("shard-*.tar"))):
        spec = g.meta["spec"]
        for i, view in enumerate(g.views):
            effects = spec["views"][i].get("effects") or {}
            rgb = g.image(i)
            if downsample > 1:
                rgb, view = downsampled(rgb, view, downsample)
            noise = effects.get("sensor_noise", 0) or 0
            rows.append(measure_view(detector, rgb, view)
                        | {"tone": spec["materials"]["skin"]["tone"], "noisy": noise > 0, "sensor_noise": noise})
    return rows


def faceness_line(views: list[dict]) -> str:
    """The median of O-Net's (and R-Net's) log-odds at the true face box (MTCNN.faceness): views below 60
    degrees of yaw, and the near-frontal upright ones (|yaw| < 30, |pitch| and |roll| <= 15), which
    `real_faceness` scores on real photos framed the same way."""
    cells = []
    for name, sel in (("below 60 degrees", lambda v: v["abs_yaw"] < 60),
                      ("near frontal upright", lambda v: v["abs_yaw"] < 30 and abs(v["pitch"]) <= 15 and abs(v["roll"]) <= 15)):
        vs = [v for v in views if sel(v) and "onet_logodds" in v]
        if vs:
            o, r = (np.median([v[k] for v in vs]) for k in ("onet_logodds", "rnet_logodds"))
            cells.append(f"{name} ({len(vs)}): O-Net {o:.2f}, R-Net {r:.2f}")
    return "; ".join(cells)


def real_faceness(detector: MTCNN, size: int, face_px=(40, 50, 60)) -> str:
    """The real-photo measure's photos framed as a row frames a face (its face box face_px wide in a
    size x size image, box-filtered down from the photo): O-Net's and R-Net's log-odds at the face box,
    the reference for `faceness_line`."""
    from PIL import Image

    from relhead.train.detect import to_face_box
    from relhead.train.real import PHOTOS, load_photo

    cells = []
    for ph in PHOTOS:
        rgb = load_photo(ph)
        H, W = rgb.shape[:2]
        fb = np.array(to_face_box(detector.detect(rgb)[0].box, W, H))
        c = (fb[:2] + fb[2:]) / 2
        scores = []
        for px in face_px:
            side = int(max(fb[2] - fb[0], fb[3] - fb[1]) * size / px)
            x0, y0 = int(c[0] - side / 2), int(c[1] - side / 2)
            img = np.asarray(Image.fromarray(rgb).crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.BOX))
            scores.append(detector.faceness(img, [(fb - [x0, y0, x0, y0]) * size / side])[0])
        o, r = np.median(scores, 0)[::-1]
        cells.append(f"{ph.name} O-Net {o:.2f}, R-Net {r:.2f}")
    return f"real photos, face box {'/'.join(map(str, face_px))} px in {size} px (median): " + "; ".join(cells)


def by_noise(views: list[dict]) -> str:
    """Views below 60 degrees of yaw found, by the sensor noise drawn for them (camera effects)."""
    cells = []
    for name, lo, hi in (("none", 0.0, 1e-12), ("below 0.1", 1e-12, 0.1), ("0.1 and more", 0.1, 2.0)):
        sel = [v for v in views if v["abs_yaw"] < 60 and lo <= v.get("sensor_noise", 0) < hi]
        cells.append(f"noise {name}: {sum(v['detected'] for v in sel)}/{len(sel)}")
    return "; ".join(cells)


TONES = ((0.0, 0.3), (0.3, 0.6), (0.6, 1.01))  # relhead's skin tone: 0 the palest, 1 the darkest


def by_tone(rows: list[dict]) -> str:
    """Detected / views below 60 degrees of |yaw| per skin-tone bin, all views and those with sensor noise:
    a look part that treats skin tones differently shows here first (chroma noise did, bench/README.md)."""
    cells = []
    for lo, hi in TONES:
        sel = [r for r in rows if r["abs_yaw"] < 60 and lo <= r["tone"] < hi]
        noisy = [r for r in sel if r["noisy"]]
        cells.append(f"tone {lo:g}-{min(hi, 1):g}: {sum(r['detected'] for r in sel)}/{len(sel)} "
                     f"(noisy {sum(r['detected'] for r in noisy)}/{len(noisy)})")
    return "; ".join(cells)


def summarise(rows: list[dict]) -> dict:
    out = {}
    for lo, hi in BINS:
        sel = [r for r in rows if lo <= r["abs_yaw"] < hi]
        det = [r for r in sel if r["detected"]]
        out[f"{lo}-{int(hi)}"] = {"n": len(sel), "detected": len(det),
                                  "rate": len(det) / len(sel) if sel else None,
                                  "nme": float(np.median([r["nme"] for r in det])) if det else None}
    det = [r for r in rows if r["detected"]]
    out["all"] = {"n": len(rows), "detected": len(det), "rate": len(det) / len(rows) if rows else None,
                  "nme": float(np.median([r["nme"] for r in det])) if det else None}
    return out


def box_ratio(rows: list[dict]) -> dict:
    """Medians (and quartiles) of relhead's face box relative to MTCNN's box over the detected views."""
    det = [r for r in rows if r["detected"]]
    if not det:
        return {}
    m = np.array([r["mtcnn_box"] for r in det])
    f = np.array([r["face_box"] for r in det])
    mw, mh = m[:, 2] - m[:, 0], m[:, 3] - m[:, 1]
    vals = {"cx": ((f[:, 0] + f[:, 2]) - (m[:, 0] + m[:, 2])) / 2 / mw,
            "cy": ((f[:, 1] + f[:, 3]) - (m[:, 1] + m[:, 3])) / 2 / mh,
            "sx": (f[:, 2] - f[:, 0]) / mw, "sy": (f[:, 3] - f[:, 1]) / mh}
    return {k: {"median": float(np.median(v)), "q25": float(np.percentile(v, 25)), "q75": float(np.percentile(v, 75))}
            for k, v in vals.items()} | {"n": len(det)}


def rate_interval(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a detection rate k / n (scipy): with 41 views a row's rate is
    known to about +-10 points, which is what a 95% target has to be read against."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _cell(s: dict) -> str:
    if not s["n"]:
        return "- | -"
    nme = "-" if s["nme"] is None else f"{s['nme']:.3f}"
    lo, hi = rate_interval(s["detected"], s["n"])
    return f"{100 * s['rate']:.0f}% ({s['detected']}/{s['n']}; {100 * lo:.0f}-{100 * hi:.0f}) | {nme}"


def real_rolls(detector: MTCNN, sizes=(40, 60, 90), crop: int = 160, rolls=range(0, 50, 5)) -> None:
    """MTCNN on the real-photo measure's photos (relhead.train.real.PHOTOS) turned about the face's
    centre by each roll, both ways, scaled so MTCNN's box is `size` px wide, in a `crop` px square
    around the face: is a real face found at the rolls and sizes where renders are missed? A turn counts
    as found when a detection's box centre lies within a quarter of the box width of the crop centre."""
    from PIL import Image

    from relhead.train.real import PHOTOS, load_photo

    print("| photo | face px | " + " | ".join(f"±{r}" for r in rolls) + " |\n|---|---|" + "---|" * len(rolls))
    for photo in PHOTOS:
        rgb = load_photo(photo)
        box = np.asarray(detector.detect(rgb)[0].box)
        for size in sizes:
            scale = size / (box[2] - box[0])
            img = Image.fromarray(rgb).resize((round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), Image.BICUBIC)
            cx, cy = (box[:2] + box[2:]) / 2 * scale
            cells = []
            for roll in rolls:
                found = 0
                for sign in (1, -1):
                    turned = img.rotate(sign * roll, resample=Image.BICUBIC, center=(cx, cy))
                    x0, y0 = round(cx - crop / 2), round(cy - crop / 2)
                    view = np.asarray(turned.crop((x0, y0, x0 + crop, y0 + crop)))
                    found += any(np.hypot(*((np.asarray(f.box[:2]) + np.asarray(f.box[2:])) / 2 - crop / 2)) < size / 4
                                 for f in detector.detect(view))
                cells.append(f"{found}/2")
            print(f"| {photo.name} | {size} | " + " | ".join(cells) + " |", flush=True)


def turned(detector: MTCNN, flat: Path, rolled: Path) -> None:
    """MTCNN on the views of corpus `flat` (rendered with `--set pose.roll_deg=[0,0]`) turned in the image
    about their face box's centre by the roll of the same views in corpus `rolled` (the same command
    without that --set: the same scenes, since a range of [0, 0] still takes its draw), landmarks turned
    with them: how much of what roll costs is the detector's own answer to a turned image, the part a real
    photo would share. Prints the turned views' row, and how far the turned landmarks lie from the
    rolled renders' (pixels: a check of the turn's sign, not zero, as the camera's perspective differs). The
    picture is turned by relhead.train.data.rotated_crop, the real-photo measure's turn (uncovered corners take
    the nearest edge pixel)."""
    from relhead.frames import euler_to_matrix
    from relhead.train.data import rotated_crop

    def views(c: Path):
        for g in iter_groups(sorted(c.glob("shard-*.tar"))):
            for i, v in enumerate(g.views):
                yield g.image(i), v

    rows, apart = [], []
    for (rgb, v), (_, twin) in zip(views(flat), views(rolled), strict=True):
        roll = twin["euler_deg"]["roll"]
        if abs(v["euler_deg"]["roll"]) > 1e-6 or abs(v["euler_deg"]["yaw"] - twin["euler_deg"]["yaw"]) > 1e-6:
            raise SystemExit(f"--turned: {flat} must be {rolled}'s scenes rendered with roll 0")
        lm, fb = np.asarray(v["landmarks"], float), np.asarray(v["face_box"], float)
        c = (fb[:2] + fb[2:]) / 2
        Rz = euler_to_matrix(0.0, 0.0, roll)  # as rotated_crop turns the picture (training's roll does the same)
        lm = c + (lm - c) @ Rz[:2, :2].T
        apart.append(float(np.abs(lm - np.asarray(twin["landmarks"], float)).mean()))
        H, W = rgb.shape[:2]
        if H != W:
            raise SystemExit(f"--turned: square images only ({W} x {H})")
        img = (rotated_crop(rgb, 0.0, 0.0, W, W, roll, pivot=c) * 255).round().byte().permute(1, 2, 0).numpy()
        euler = {**v["euler_deg"], "roll": roll}
        rows.append(measure_view(detector, img, {**v, "landmarks": lm.tolist(), "euler_deg": euler,
                                                 "face_box": [*lm.min(0), *lm.max(0)]}))
    s = summarise(rows)
    cells = " | ".join(_cell(s[f"{lo}-{int(hi)}"]) for lo, hi in BINS)
    print(f"| {flat}, turned by {rolled}'s rolls | {cells} | {_cell(s['all'])} |")
    print(f"turned landmarks against the rolled renders': median {np.median(apart):.1f} px, 90th percentile "
          f"{np.percentile(apart, 90):.1f} px")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", choices=("look", "parts"), default="look",
                    help="look: each look part on in turn; parts: each scene part off in turn")
    ap.add_argument("--pipeline", default="realistic")
    ap.add_argument("--groups", type=int, default=32)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--only", default=None, help="the first row and the rows whose name contains this (| separates several)")
    ap.add_argument("--skip-first", action="store_true", help="leave the first row out (measured already)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every row (repeatable)")
    ap.add_argument("--json", default=None, help="also write every view's measurements here")
    ap.add_argument("--keep", default=None, help="keep each row's corpus in this folder (row number)")
    ap.add_argument("--downsample", type=int, default=1, metavar="N",
                    help="measure each view shrunk N times by a box filter (render at N x --size the size MTCNN sees)")
    ap.add_argument("--real-rolls", action="store_true",
                    help="instead: MTCNN on the real-photo measure's photos turned by 0-45 degrees (no renders)")
    ap.add_argument("--turned", nargs=2, metavar=("FLAT", "ROLLED"), default=None,
                    help="instead: MTCNN on corpus FLAT's views (roll 0) turned by corpus ROLLED's rolls (--keep's row folders)")
    a = ap.parse_args()
    if a.turned:
        turned(MTCNN(), *map(Path, a.turned))
        return
    if a.real_rolls:
        real_rolls(MTCNN())
        return
    if a.table == "parts":
        rows = {f"{a.pipeline}, every part on": []} | {f"- {name}": [s] for name, s in PARTS.items()}
    else:
        rows = look_rows(a.pipeline)
    if a.only:
        first = next(iter(rows))
        rows = {k: v for k, v in rows.items() if k == first or any(o in k for o in a.only.split("|"))}
    if a.skip_first:
        rows = dict(list(rows.items())[1:])
    detector = MTCNN()
    print(f"{platform.node()}: {a.pipeline} at {a.size} px, yaw +-90, {a.groups} groups x {a.views} views per row"
          + (f", measured at {a.size // a.downsample} px (box filter)" if a.downsample > 1 else "")
          + "".join(f", --set {s}" for s in a.set))
    print(real_faceness(detector, a.size // a.downsample))
    head = " | ".join(f"|yaw| {lo}-{int(hi)}: detected | NME" for lo, hi in BINS)
    print(f"| row | {head} | all: detected | NME |\n|---|" + "---|" * (2 * len(BINS) + 2), flush=True)
    results = {}
    for n, (name, sets) in enumerate(rows.items()):
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="relhead-realism-") as tmp:
            cfg = row_config(vars(a), sets)
            out = Path(a.keep) / f"row{n}" if a.keep else Path(tmp) / "c"
            generate(cfg, out, log=lambda *_: None)
            views = measure_corpus(out, detector, a.downsample)
        s = summarise(views)
        results[name] = {"sets": sets, "summary": s, "views": views, "seconds": time.time() - t0}
        up = summarise([v for v in views if abs(v["pitch"]) <= UPRIGHT and abs(v["roll"]) <= UPRIGHT])
        results[name]["summary_upright"] = up
        for label, summary in ((name, s), (f"{name}, \\|pitch\\| and \\|roll\\| <= {UPRIGHT:g}", up)):
            cells = " | ".join(_cell(summary[f"{lo}-{int(hi)}"]) for lo, hi in BINS)
            print(f"| {label} | {cells} | {_cell(summary['all'])} |", flush=True)
        print(f"|   {name}, below 60 degrees of yaw by skin tone: {by_tone(views)} |", flush=True)
        print(f"|   {name}, below 60 degrees of yaw by sensor noise: {by_noise(views)} |", flush=True)
        print(f"|   {name}, MTCNN's log-odds at the face box (median): {faceness_line(views)} |", flush=True)
        ratio = box_ratio(next(iter(results.values()))["views"])
        if a.json:  # after every row, so a long run's finished rows are kept
            Path(a.json).write_text(json.dumps({"args": vars(a), "rows": results, "box_ratio": ratio}, indent=1))
    print("\nrelhead face box vs MTCNN box (first row, detected views): " + json.dumps(ratio))


if __name__ == "__main__":
    main()
