"""A public real-photo measure: the exact roll test on real face photos that installed packages ship,
the same test on held-out renders, and label-free consistency checks (issue 26). bench/real.py runs it.

The roll test. A face-centred square crop of a photo is taken as the image of a pinhole camera with
its principal point at the crop's centre (what the model's decoding assumes: relhead.frames,
encoding_to_pose). Turning that image about its centre by theta (relhead.train.data.rotated_crop:
clockwise on the screen for positive theta) is then exactly a roll of that camera: every point X
becomes Rz(theta) X, so the head's pose (R, t) becomes (Rz(theta) R, Rz(theta) t) and the true relative
transform of the turned crop (query) with respect to the unturned one (anchor) is R_rel = Rz(theta),
t_rel = 0 (relhead.frames: R_q = R_rel R_a, t_q = R_rel t_a + t_rel; positive roll tilts the head
clockwise in the image). `tests/test_real.py` pins the sign with relhead.frames.project.

The crop is the prediction crop (relhead.train.predict: the face box from MTCNN mapped by BOX_MAP, a
square at the centre of the training crops, CropCfg.centre), shrunk about its centre where needed so
that the disc it sweeps while turning (radius side / sqrt 2) lies inside the photo: no crop at any angle
has a pixel the photo does not cover (no black or smeared corners); `scale` records the shrink. Every
frame, the unturned anchor too, goes through the same resampling.

Pairs per image, for each theta in `angles` (both signs): (0, theta) with truth Rz(theta) and its swap
(theta, 0) with truth Rz(-theta); `roll_gain` is the median of the predicted roll (the Euler roll of
R_pred, relhead.frames) over the true one: 1 for a model that sees the whole roll, 0 for one that sees none. Label-free checks, in degrees (zero for a consistent model, whatever
the truth): swap consistency angle(R_ab R_ba) and cycle consistency angle(R_bc R_ab R_ac^T) over the
triplet (a, b, c) = (0, +theta, -theta) (with R_q = R_rel R_a, R_c = R_bc R_ab R_a = R_ac R_a).

Images: PHOTOS, real photos that installed registry packages ship (each with its package, the path
inside it and its licence); and the held-out views of a rendered corpus, cropped the same way (the face
box from MTCNN, as for the photos: like for like), for the synthetic side. Every summary shows the
model's error beside the no-rotation baseline's (identity: its error is |theta|), and `ratio` divides
the real numbers by the synthetic ones. Medians and the ratio of medians carry a 95% bootstrap
interval over images, then each image's pairs by crop (boot_medians): with three photos the photo drawn
moves the median most.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from relhead.configbase import ConfigError
from relhead.frames import euler_to_matrix, geodesic_deg, matrix_to_euler

ANGLES = (10.0, 20.0, 30.0, 45.0)  # |theta|, degrees; each with both signs
BOOT = 2000  # bootstrap resamples behind each median's interval (boot_medians)
LEVEL = 95.0  # the intervals' coverage, percent


# ------------------------------------------------------------------------------------------- photos
@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # the distribution that ships it (PyPI)
    module: str  # its top-level import name, located with importlib (never imported here)
    path: str  # inside the module's folder
    licence: str
    subject: str
    grey: bool = False


PHOTOS = (
    Photo("astronaut", "scikit-image", "skimage", "data/astronaut.png",
          "public domain (NASA; skimage.data.astronaut's docstring: 'No known copyright restrictions, released into the public domain')",
          "Eileen Collins, NASA portrait, frontal"),
    Photo("grace_hopper", "matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
          "public domain (an official US Navy photograph, a work of the US government; matplotlib ships it without a note)",
          "Grace Hopper, official portrait, slightly turned"),
    Photo("camera", "scikit-image", "skimage", "data/camera.png",
          "CC0 (skimage.data.camera's docstring: 'No copyright restrictions. CC0 by the photographer (Lav Varshney)')",
          "a cameraman outdoors, face turned toward the image left, greyscale", grey=True),
)


def photo_file(photo: Photo) -> Path:
    spec = importlib.util.find_spec(photo.module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"photo {photo.name}: package {photo.package} is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / photo.path
    if not path.is_file():
        raise ConfigError(f"photo {photo.name}: {path} is missing from the installed {photo.package}")
    return path


def load_photo(photo: Photo) -> np.ndarray:
    """(H, W, 3) uint8 RGB, read from the file the package ships (nothing is downloaded)."""
    from PIL import Image

    with Image.open(photo_file(photo)) as img:
        return np.asarray(img.convert("RGB")).copy()


# ------------------------------------------------------------------------------------- geometry
def roll_matrix(theta_deg: float) -> np.ndarray:
    """Rz(theta): the relative rotation of a crop turned by theta (rotated_crop) w.r.t. the unturned one."""
    return euler_to_matrix(0.0, 0.0, theta_deg)


def roll_square(box, W: int, H: int, crop) -> tuple[float, float, float, float]:
    """(x0, y0, side, scale): the prediction crop around face box `box` (CropCfg.centre), shrunk about
    its centre so that the disc of radius side / sqrt 2 around it lies inside the W x H photo."""
    from relhead.train.data import square_crop

    x0, y0, side = square_crop(box, W, H, *crop.centre())
    cx, cy = x0 + side / 2, y0 + side / 2
    fit = min(side, np.sqrt(2) * min(cx, W - cx, cy, H - cy))
    return cx - fit / 2, cy - fit / 2, float(fit), float(fit / side)


def roll_frames(rgb: np.ndarray, box, crop, size: int, angles=ANGLES) -> tuple[dict[float, torch.Tensor], float]:
    """{theta: (3, size, size) crop turned by theta} for 0 and +-each angle, and the crop's scale."""
    from relhead.train.data import rotated_crop

    H, W = rgb.shape[:2]
    x0, y0, side, scale = roll_square(box, W, H, crop)
    thetas = [0.0] + [s * a for a in angles for s in (1.0, -1.0)]
    return {t: rotated_crop(rgb, x0, y0, side, size, t) for t in thetas}, scale


def roll_pairs(angles=ANGLES) -> list[tuple[float, float]]:
    """(anchor theta, query theta) of one image: (0, theta), its swap (theta, 0), and (theta, -theta)
    for the cycle."""
    out = []
    for a in angles:
        for t in (a, -a):
            out += [(0.0, t), (t, 0.0)]
        out.append((a, -a))
    return out


def swap_deg(R_ab, R_ba) -> float:
    """Swap consistency: the angle of R_ab R_ba (0 when the reversed pair's prediction is the inverse)."""
    return geodesic_deg(np.asarray(R_ab) @ np.asarray(R_ba), np.eye(3))


def cycle_deg(R_ab, R_bc, R_ac) -> float:
    """Cycle consistency of three frames: the angle of R_bc R_ab R_ac^T (R_q = R_rel R_a, so going a -> b
    -> c must equal a -> c)."""
    return geodesic_deg(np.asarray(R_bc) @ np.asarray(R_ab), np.asarray(R_ac))


# ------------------------------------------------------------------------------------- measuring
def _predict(model, cfg, device, bf16, images: list[torch.Tensor], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """R_rel as the run predicts it (with its test_time averaging) and the network's own, per pair."""
    from relhead.train.eval import predict_poses

    out, net = [], []
    for i in range(0, len(images), batch):
        p = predict_poses(model, torch.stack(images[i:i + batch]), cfg.mode, device, bf16, cfg.test_time)
        out.append(p["R_rel"])
        net.append(p["R_rel_net"])
    empty = np.zeros((0, 3, 3))
    return (np.concatenate(out), np.concatenate(net)) if out else (empty, empty)


def roll_rows(model, cfg, device, bf16, frames: dict[float, torch.Tensor], angles=ANGLES) -> dict:
    """One image's roll test: per pair (anchor theta, query theta, error, identity error), swap and cycle.
    Errors are the run's predictions' (its test_time averaging included); swap and cycle check the
    network's own predictions (a swap-averaged prediction is swap-consistent by construction)."""
    pairs = roll_pairs(angles)
    pred, own = _predict(model, cfg, device, bf16, [torch.stack([frames[a], frames[q]]) for a, q in pairs])
    R, N = dict(zip(pairs, pred)), dict(zip(pairs, own))
    rows = [{"anchor": a, "query": q, "roll": q - a, "rot_deg": geodesic_deg(R[(a, q)], roll_matrix(q - a)),
             "identity_deg": abs(q - a), "pred_roll_deg": matrix_to_euler(R[(a, q)])[2],
             "R_pred": np.round(R[(a, q)], 6).tolist()}
            for a, q in pairs if a == 0.0 or q == 0.0]
    swaps = [{"roll": t, "swap_deg": swap_deg(N[(0.0, t)], N[(t, 0.0)])} for a in angles for t in (a, -a)]
    cycles = [{"roll": a, "cycle_deg": cycle_deg(N[(0.0, a)], N[(a, -a)], N[(0.0, -a)])} for a in angles]
    return {"pairs": rows, "swap": swaps, "cycle": cycles}


def crop_units(pairs: list[dict]) -> list[list[float]]:
    """An image's roll-pair errors by the two crops they pair: (0, theta) with its swap (theta, 0), one unit;
    a row without `anchor` and `query` is a unit of its own. The two of a unit share their frames, and under
    test-time swap (the reversed prediction averaged in) their errors are the same number."""
    units: dict = {}
    for i, r in enumerate(pairs):
        key = frozenset((r["anchor"], r["query"])) if "anchor" in r and "query" in r else i
        units.setdefault(key, []).append(r["rot_deg"])
    return list(units.values())


def boot_medians(images: list[dict], n: int = BOOT, seed: int = 0) -> np.ndarray:
    """The median roll-pair error of `n` resamples of `images` (each roll_rows' output): the images drawn
    with replacement, then each drawn image's crop units (crop_units) with replacement (two levels, because
    the pairs of one photo share its face and are not independent draws, nor are a pair and its swap).
    Seeded, so a run's intervals are reproducible; empty without images."""
    U = [crop_units(im["pairs"]) for im in images]
    if not U:
        return np.zeros(0)
    if len({len(u) for u in U}) != 1 or len({len(x) for u in U for x in u}) != 1:  # images x units x pairs
        raise ValueError("boot_medians: every image needs the same number of pairs, in as many crop units, got "
                         f"{sorted({sum(len(x) for x in u) for u in U})} pairs")
    E = np.array(U, float)
    m, k, _ = E.shape
    rng = np.random.default_rng(seed)
    out = []
    for i in range(0, n, 250):  # in chunks: the synthetic side has hundreds of images
        b = min(250, n - i)
        img = rng.integers(m, size=(b, m, 1))
        unit = rng.integers(k, size=(b, m, k))
        out.append(np.median(E[img, unit].reshape(b, -1), axis=1))
    return np.concatenate(out)


def boot_group_means(per_pair: list[dict], n: int = BOOT, seed: int = 0) -> np.ndarray:
    """The mean rot_deg of `n` resamples of evaluate()'s `per_pair` rows, drawn by group (their `key`,
    corpus and group): the pairs of one group share a face and a scene, so the groups, not the pairs, are
    the independent draws. Seeded; empty without rows."""
    groups: dict[str, list[float]] = {}
    for p in per_pair:
        groups.setdefault(p["key"], []).append(p["rot_deg"])
    if not groups:
        return np.zeros(0)
    sums = np.array([sum(v) for v in groups.values()])
    counts = np.array([len(v) for v in groups.values()])
    pick = np.random.default_rng(seed).integers(len(sums), size=(n, len(sums)))
    return sums[pick].sum(1) / counts[pick].sum(1)


def interval(samples: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """The central `level`% percentile interval of bootstrap samples; None without samples."""
    if not len(samples):
        return None
    lo, hi = np.percentile(samples, [(100 - level) / 2, (100 + level) / 2])
    return [float(lo), float(hi)]


def summarise(images: list[dict], angles=ANGLES) -> dict:
    """Medians and means over every roll pair of `images` (each roll_rows' output), by |roll|, with the
    identity's and the label-free checks; `median_ci`: the median's LEVEL% bootstrap interval
    (boot_medians)."""
    rows = [r for im in images for r in im["pairs"]]
    swaps = [s["swap_deg"] for im in images for s in im["swap"]]
    cycles = [c["cycle_deg"] for im in images for c in im["cycle"]]

    def stats(sel):
        e = np.array([r["rot_deg"] for r in sel])
        return {"n": len(sel), "median": float(np.median(e)) if len(e) else None,
                "mean": float(e.mean()) if len(e) else None,
                "identity": float(np.median([r["identity_deg"] for r in sel])) if sel else None}

    gains = [r["pred_roll_deg"] / r["roll"] for r in rows if r["roll"]]
    out = {"images": len(images), **stats(rows), "median_ci": interval(boot_medians(images)),
           "roll_gain": float(np.median(gains)) if gains else None,
           "by_roll": {f"{a:g}": stats([r for r in rows if abs(abs(r["roll"]) - a) < 1e-9]) for a in angles},
           "swap_median": float(np.median(swaps)) if swaps else None,
           "cycle_median": float(np.median(cycles)) if cycles else None}
    return out


def measure_photos(model, cfg, device, bf16, photos=PHOTOS, angles=ANGLES, detector=None) -> list[dict]:
    """The roll test on each photo: detected with MTCNN and cropped as `relhead predict` crops."""
    from relhead.train.detect import detect_face_box

    out = []
    for p in photos:
        rgb = load_photo(p)
        found = detect_face_box(rgb, detector)
        rec = {"name": p.name, "package": p.package, "path": p.path, "licence": p.licence, "subject": p.subject,
               "size": list(rgb.shape[:2]), "detected": found is not None}
        if found is not None:
            box, face = found
            frames, scale = roll_frames(rgb, box, cfg.data.crop, cfg.size, angles)
            rec.update(box=[round(v, 2) for v in box], mtcnn_prob=face.prob, scale=scale,
                       **roll_rows(model, cfg, device, bf16, frames, angles))
        out.append(rec)
    return out


def measure_renders(model, cfg, device, bf16, corpora, angles=ANGLES, detector=None, max_views: int = 0,
                    box: str = "mtcnn") -> dict:
    """The same roll test on the views of the held-out groups of `corpora` (every group of a corpus
    whose held_out_only is off), each cropped around MTCNN's box like a photo (views where MTCNN finds
    no face are counted and left out), or with `box="true"` around the view's own face box."""
    from relhead.datasets.shards import iter_groups
    from relhead.train.data import held_out
    from relhead.train.detect import detect_face_box

    images, views, missed = [], 0, 0
    for c in corpora:
        for g in iter_groups(c.shards):
            if c.held_out_only and not held_out(int(g.meta["group"]), cfg.data.holdout_every):
                continue
            for i in range(len(g.views)):
                if max_views and views >= max_views:
                    break
                views += 1
                rgb = g.image(i)
                found = detect_face_box(rgb, detector) if box == "mtcnn" else (g.views[i]["face_box"], None)
                if found is None:
                    missed += 1
                    continue
                frames, scale = roll_frames(rgb, found[0], cfg.data.crop, cfg.size, angles)
                images.append({"key": f"{c.name}/{g.key}", "view": i, "yaw": g.views[i]["euler_deg"]["yaw"],
                               "scale": scale, **roll_rows(model, cfg, device, bf16, frames, angles)})
    return {"views": views, "undetected": missed, "images": images}


def ratio(real: dict, synth: dict, real_images=(), synth_images=()) -> dict:
    """real / synthetic of every summary number both have; `median_ci`: the LEVEL% interval of the
    medians' ratio over independent bootstrap resamples of the two sides' images (boot_medians)."""
    def div(a, b):
        return None if a is None or b in (None, 0) else a / b

    out = {k: div(real[k], synth[k]) for k in ("median", "mean", "swap_median", "cycle_median")}
    out["by_roll"] = {k: div(v["median"], synth["by_roll"][k]["median"]) for k, v in real["by_roll"].items()}
    r, s = boot_medians(list(real_images)), boot_medians(list(synth_images), seed=1)
    out["median_ci"] = interval(r / s) if len(r) and len(s) and (s > 0).all() else None
    return out


def measure(run, corpora=None, angles=ANGLES, photos=PHOTOS, max_views: int = 0, held_out_limit: int = 0,
            device: str = "cpu", render_box: str = "mtcnn", test_time=None) -> dict:
    """Everything bench/real.py reports for a trained run: the photos' roll test, the renders' roll
    test and held-out relative error (when `corpora`, else the corpora the run trained on), summaries
    and real / synthetic ratios. `test_time`: replaces the run's TrainConfig.test_time (None: the run's)."""
    import dataclasses

    from relhead.train.data import open_corpora
    from relhead.train.detect import load_mtcnn
    from relhead.train.eval import evaluate
    from relhead.train.runs import load_run, read_run_config, resolve_device

    _, trained_on = read_run_config(run)
    seen = {Path(p).resolve() for p in trained_on}
    cs = [dataclasses.replace(c, held_out_only=c.path.resolve() in seen) for c in open_corpora(corpora or trained_on)]
    from relhead.train.eval import TEST_TIME

    unknown = sorted(set(test_time or ()) - set(TEST_TIME))
    if unknown:
        raise ConfigError(f"test_time: unknown variant {unknown[0]!r}; allowed: {', '.join(TEST_TIME)}")
    cfg, model = load_run(run, "cpu")
    cfg = cfg.model_copy(update={"device": device, **({} if test_time is None else {"test_time": list(test_time)})})
    dev, bf16 = resolve_device(cfg)
    model.to(dev).eval()
    detector = load_mtcnn()
    with torch.no_grad():
        real_images = measure_photos(model, cfg, dev, bf16, photos, angles, detector)
        renders = measure_renders(model, cfg, dev, bf16, cs, angles, detector, max_views, render_box)
        held = evaluate(model, cfg, cs, dev, bf16, limit=held_out_limit or None)
    found = [p for p in real_images if p["detected"]]
    real = summarise(found, angles)
    synth = summarise(renders["images"], angles)
    ov, ident = held["relative"]["overall"], held["identity"]["overall"]
    return {"kind": "relhead-real/1", "run": str(run), "data": [str(c.path) for c in cs], "size": cfg.size,
            "test_time": list(cfg.test_time),
            "angles": list(angles), "definitions": __doc__.strip(),
            "real": {"summary": real, "photos": real_images},
            "synthetic": {"summary": synth, "box": render_box, "views": renders["views"], "undetected": renders["undetected"],
                          "images": renders["images"]},
            "held_out": {"pairs": held["pairs"], "groups": held["groups"], "rot_deg": ov["rot_deg"],
                         "rot_ci": interval(boot_group_means(held["per_pair"])), "rot_med_deg": ov["rot_med_deg"],
                         "identity_rot_deg": ident["rot_deg"], "identity_rot_med_deg": ident["rot_med_deg"]},
            "ratio": ratio(real, synth, found, renders["images"])}


def _f(v, d=1) -> str:
    return "-" if v is None else f"{v:.{d}f}"


def interval_text(v, d=1) -> str:
    """An interval as 'lo-hi'; '-' where there is none (real.json written before intervals were)."""
    return "-" if not v else f"{v[0]:.{d}f}-{v[1]:.{d}f}"


def table_rows(res: dict) -> tuple[list[str], list[list[str]]]:
    """The summary table: real photos, held-out renders, their ratio; columns overall and by |roll|."""
    angles = [f"{a:g}" for a in res["angles"]]
    head = ["roll test", "images", "pairs", "median", f"median's {LEVEL:g}% interval", "mean",
            *(f"roll ±{a}" for a in angles), "identity median",
            "roll gain", "swap", "cycle"]
    rows = []
    for name, s in (("real photos", res["real"]["summary"]), ("held-out renders", res["synthetic"]["summary"])):
        rows.append([name, str(s["images"]), str(s["n"]), _f(s["median"]), interval_text(s.get("median_ci")), _f(s["mean"]),
                     *(_f(s["by_roll"][a]["median"]) for a in angles), _f(s["identity"]), _f(s.get("roll_gain"), 2),
                     _f(s["swap_median"]),
                     _f(s["cycle_median"])])
    r = res["ratio"]
    rows.append(["real / synthetic", "", "", _f(r["median"], 2), interval_text(r.get("median_ci"), 2), _f(r["mean"], 2),
                 *(_f(r["by_roll"][a], 2) for a in angles), "", "", _f(r["swap_median"], 2), _f(r["cycle_median"], 2)])
    return head, rows


def markdown(res: dict) -> str:
    head, rows = table_rows(res)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    h = res["held_out"]
    per_photo = "; ".join(f"{p['name']}: " + (f"median {_f(float(np.median([r['rot_deg'] for r in p['pairs']])))}"
                                              if p["detected"] else "no face found") for p in res["real"]["photos"])
    return ("\n".join(lines) + f"\n\nerrors in degrees (geodesic, medians unless marked); pairs (0, theta) and "
            f"(theta, 0) for theta = +-{', +-'.join(f'{a:g}' for a in res['angles'])}; roll gain: the median of the "
            f"predicted roll (relhead.frames' Euler roll of R_pred) over the true one; intervals: {BOOT} bootstrap "
            f"resamples of the images, then of each image's pairs by crop (a pair and its swap one draw); renders: "
            f"{res['synthetic']['views']} held-out views, {res['synthetic']['undetected']} without an MTCNN face\n"
            f"per photo: {per_photo}\n"
            f"held-out relative error on the renders' ordinary pairs: mean {_f(h['rot_deg'], 2)}"
            + (f" ({LEVEL:g}% interval {interval_text(h['rot_ci'], 2)}, {BOOT} resamples of its {h['groups']} groups)"
               if h.get("rot_ci") else "")
            + f", median {_f(h['rot_med_deg'], 2)} (identity mean {_f(h['identity_rot_deg'], 2)}) over {h['pairs']} pairs")
