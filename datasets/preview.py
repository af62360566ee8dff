"""Contact sheet of a corpus: views with landmarks, face box and head axes drawn from the ground
truth, so a person can check the labels at a glance. One row per group, one column per view; or a
grid of first views to see a corpus' variety; or, for a sweep, one row per corpus (the same
subjects, differing along the sweep's axes)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from relhead.files import replacing
from relhead.datasets.shards import iter_groups
from relhead.frames import project

AXIS_COLOURS = [(255, 40, 40), (40, 220, 40), (60, 120, 255)]  # x, y, z of the head frame


def annotate(img: Image.Image, view: dict, axis_len: float = 0.08) -> Image.Image:
    img = img.convert("RGB")
    d = ImageDraw.Draw(img)
    K, R, t = (np.asarray(view[k]) for k in ("K", "R", "t"))
    d.rectangle(view["face_box"], outline=(255, 220, 0), width=1)
    for (x, y), vis in zip(view["landmarks"], view["landmarks_visible"]):
        c = (0, 255, 120) if vis else (255, 60, 60)
        d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=c)
    draw_axes(d, K, R, t, axis_len)
    e = view["euler_deg"]
    d.text((3, 2), f"y{e['yaw']:.0f} p{e['pitch']:.0f} r{e['roll']:.0f}", fill=(255, 255, 255))
    return img


def draw_axes(d: ImageDraw.ImageDraw, K, R, t, axis_len: float = 0.08, width: int = 2, dash: float = 0.0) -> None:
    """The head frame's x, y, z axes (red, green, blue; `axis_len` metres from its origin) posed by
    (R, t) and projected with K; `dash` > 0 draws them dashed (dash and gap of that many pixels)."""
    pts, _ = project(K, R, t, np.vstack([np.zeros(3), np.eye(3) * axis_len]))
    for k in range(3):
        a, b = pts[0], pts[k + 1]
        n = max(int(np.linalg.norm(b - a) / dash), 1) if dash else 1
        cuts = [a + (b - a) * i / n for i in range(n + 1)]
        for i in range(0, n, 2 if dash else 1):
            d.line([tuple(cuts[i]), tuple(cuts[i + 1])], fill=AXIS_COLOURS[k], width=width)


# Segmentation colours, one per class of relhead.render.extra_labels.SEG_CLASSES (0: black background).
SEG_PALETTE = np.array([
    (0, 0, 0), (230, 180, 150), (255, 120, 0), (0, 120, 255), (0, 220, 255), (120, 60, 0), (170, 100, 30),
    (200, 0, 200), (255, 80, 255), (120, 0, 0), (255, 0, 60), (200, 0, 120), (150, 150, 110), (90, 50, 20),
    (60, 30, 10), (0, 160, 60), (255, 255, 0), (0, 90, 160), (120, 120, 255), (255, 255, 255), (255, 150, 160),
    (40, 40, 40), (200, 255, 255), (0, 60, 120)] + [(128, 128, 128)] * 232, np.uint8)


def _dense_points(img: Image.Image, view: dict) -> Image.Image:
    """The dense landmarks: cyan where visible, dark blue where hidden."""
    d = ImageDraw.Draw(img)
    for (x, y), vis in zip(view["dense"]["uv"], view["dense"]["visible"]):
        d.point((x, y), fill=(0, 255, 255) if vis else (0, 0, 140))
    return img


def label_tiles(group, i: int, tile: int) -> list[np.ndarray]:
    """View `i`'s per-pixel labels as `tile`-pixel squares, those the corpus has: depth (near bright,
    far dark, over the subject's range; background black), normals ((n + 1) / 2 as RGB, OpenCV camera
    frame) and segmentation (SEG_PALETTE)."""
    out = []
    depth = group.depth(i)
    if depth is not None:
        on = depth > 0
        img = np.zeros(depth.shape, np.uint8)
        if on.any():
            lo, hi = depth[on].min(), depth[on].max()
            img[on] = (255 - 215 * (depth[on] - lo) / max(hi - lo, 1e-9)).astype(np.uint8)
        out.append(np.stack([img] * 3, -1))
    normals = group.normals(i)
    if normals is not None:
        on = np.linalg.norm(normals, axis=2) > 0
        out.append(np.where(on[..., None], np.clip((normals + 1) * 127.5, 0, 255), 0).astype(np.uint8))
    seg = group.segmentation(i)
    if seg is not None:
        out.append(SEG_PALETTE[seg])
    return [np.asarray(Image.fromarray(a).resize((tile, tile), Image.NEAREST)) for a in out]


def _tile(group, i: int, tile: int, labels: bool) -> np.ndarray:
    """View `i` of a group as a `tile`-pixel square, with its ground truth drawn if `labels`; with
    `labels`, a corpus' per-pixel labels (config `labels:`) go below it, one tile each."""
    img = Image.fromarray(group.image(i))
    img = annotate(img, group.views[i]) if labels else img.convert("RGB")
    if labels and "dense" in group.views[i]:
        img = _dense_points(img, group.views[i])
    rgb = np.asarray(img.resize((tile, tile), Image.BILINEAR))
    return np.concatenate([rgb] + label_tiles(group, i, tile), 0) if labels else rgb


def drawable_shards(folder: Path) -> tuple[list[Path], list[str]]:
    """(the shards of the corpus in `folder` a sheet may show, what was left out and why). With a manifest:
    the shards it lists as done that are there; a listed shard that is missing, a shard file it does not
    record as done (unverified) and one it does not list are left out, and the shards not made yet are
    counted. Without one (bare shards): every shard-*.tar."""
    from relhead.datasets.manifest import read_manifest

    folder = Path(folder)
    found = sorted(folder.glob("shard-*.tar"))
    manifest = read_manifest(folder)
    if manifest is None or not isinstance(manifest.get("shards"), dict):
        return found, []
    entries = {e.get("file"): e for e in manifest["shards"].values() if isinstance(e, dict)}
    keep, skipped, todo = [], [], 0
    for name, e in sorted(entries.items(), key=lambda kv: str(kv[0])):
        path = folder / str(name)
        if e.get("status") == "done":
            keep.append(path) if path.is_file() else skipped.append(f"{path} (missing; the manifest lists it as done)")
        elif path.exists():
            skipped.append(f"{path} (not recorded as done in the manifest: unverified)")
        else:
            todo += 1
    skipped += [f"{p} (not listed in the manifest)" for p in found if p.name not in entries]
    return keep, skipped + ([f"{todo} shard(s) of {folder} (not made yet)"] if todo else [])


def contact_sheet(shards: list[Path], out_png: Path, max_groups: int = 8, tile: int = 192, grid: bool = False,
                  labels: bool = True) -> Path:
    """One row per group and one column per view; or, with `grid`, the first view of each group in a
    square grid (a look at the variety of a corpus). `labels` draws the ground truth on each view."""
    tiles = [np.concatenate([_tile(g, i, tile, labels) for i in range(1 if grid else len(g.views))], 1)
             for g in islice(iter_groups(shards), max_groups)]
    if not tiles:
        raise ValueError("no groups found in the shards")
    if grid:
        cols = int(np.ceil(np.sqrt(len(tiles))))
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
        rows = [np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)]
    else:
        width = max(r.shape[1] for r in tiles)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in tiles]
    save_image(np.concatenate(rows, 0), out_png)
    return out_png


def save_image(pixels: np.ndarray, path: Path) -> None:
    """Write an image whole or not at all: under a temporary name (removed on failure), then renamed."""
    path = Path(path)
    with replacing(path) as tmp:
        Image.fromarray(pixels).save(tmp, format=Image.registered_extensions()[path.suffix.lower()])


def sweep_sheet(corpora: list[tuple[str, list[Path]]], out_png: Path, max_groups: int = 6, tile: int = 160) -> Path:
    """One row per corpus of a sweep, labelled with its name: the first view of its first
    `max_groups` groups. A sweep's corpora share the base's seed, so each column is one subject."""
    rows = []
    for name, shards in corpora:
        row = [_tile(g, 0, tile, labels=False) for g in islice(iter_groups(shards), max_groups)]
        if not row:
            raise ValueError(f"{name}: no groups found in its shards")
        row += [np.zeros_like(row[0])] * (max_groups - len(row))
        strip = Image.fromarray(np.concatenate(row, 1))
        ImageDraw.Draw(strip).text((4, 3), name, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
        rows.append(np.asarray(strip))
    if not rows:
        raise ValueError("no corpora given")
    save_image(np.concatenate(rows, 0), out_png)
    return out_png
