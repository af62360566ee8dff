"""Export a corpus to other tools' formats: `relhead export --format coco CORPUS OUT`.

COCO (one folder OUT): `annotations.json` and `images/` (each view's encoded image as stored, named
`<group key>_view<i>.<ext>`). Per image one "face" annotation (category 1): `bbox` the face box
[x, y, w, h], the 68 iBUG landmarks as `keypoints` with COCO visibility (2 visible, 1 in the image
but hidden, 0 outside it, with x = y = 0), and, when the corpus has segmentation, `segmentation` the
union of the face-part classes as an uncompressed RLE; and per face-part class present in the view
one annotation (category 100 + class, relhead.render.extra_labels.SEG_CLASSES) with its RLE mask.
Pure numpy: reading it needs pycocotools or any COCO reader.

OUT is written whole or not at all: into a temporary sibling folder, renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from relhead.configbase import ConfigError
from relhead.datasets.manifest import read_manifest
from relhead.datasets.shards import iter_groups

FACE_CATEGORY = 1
PART_CATEGORY_OFFSET = 100
# The face-part classes a "face" annotation's mask takes (all but clothing, headwear and glasses).
FACE_CLASSES = ("skin", "nose", "right_eye", "left_eye", "right_brow", "left_brow", "right_ear", "left_ear",
                "mouth_interior", "top_lip", "bottom_lip", "teeth", "tongue", "lashes", "beard")


def rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE of a boolean (H, W) mask: run lengths in column-major order, starting
    with a run of zeros."""
    flat = np.asarray(mask, bool).ravel(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.r_[0, change, flat.size]
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _check(corpus: Path, out: Path, segmentation: bool) -> dict:
    """The corpus' manifest, after checking the export can be made; a ConfigError (one line) when not."""
    manifest = read_manifest(corpus)  # a ConfigError naming the file when it is not a manifest
    if manifest is None:
        raise ConfigError(f"{corpus}: no manifest.json (is this a corpus folder?)")
    labels = manifest.get("config", {}).get("labels", {})
    if segmentation and not labels.get("segmentation"):
        raise ConfigError(f"{corpus}: the corpus has no segmentation (its config's labels.segmentation is off); "
                          "render it with labels.segmentation=true, or export with --no-segmentation")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"OUT {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"OUT {out}: folder exists and is not empty")
    parent = out.parent if out.parent != Path("") else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"OUT {out}: its folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (out.is_dir() and not os.access(out, os.W_OK)):
        raise ConfigError(f"OUT {out}: cannot write there (read-only)")
    return manifest


def export_coco(corpus: str | Path, out: str | Path, segmentation: bool = True) -> dict:
    """Write the COCO export of `corpus` to the folder `out` (new or empty); returns its summary."""
    from relhead.render.extra_labels import SEG, SEG_CLASSES

    corpus, out = Path(corpus), Path(out)
    manifest = _check(corpus, out, segmentation)
    shards = [corpus / e["file"] for _, e in sorted(manifest["shards"].items(), key=lambda kv: int(kv[0]))
              if e.get("status") == "done"]
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    face_ids = [SEG[n] for n in FACE_CLASSES if n in SEG]
    images, annotations = [], []
    try:
        (tmp / "images").mkdir(parents=True)
        for g in iter_groups(shards):
            for i, v in enumerate(g.views):
                image_id = len(images) + 1
                name = f"images/{g.key}_view{i}{Path(v['file']).suffix}"
                (tmp / name).write_bytes(g.files[v["file"]])
                W, H = v["W"], v["H"]
                images.append({"id": image_id, "file_name": name, "width": W, "height": H,
                               "relhead": {"group": g.key, "view": i}})
                lm, vis = np.asarray(v["landmarks"], float), np.asarray(v["landmarks_visible"], bool)
                inside = (lm[:, 0] >= 0) & (lm[:, 0] < W) & (lm[:, 1] >= 0) & (lm[:, 1] < H)
                flag = np.where(inside, np.where(vis, 2, 1), 0)
                kp = np.c_[np.where(inside[:, None], lm, 0.0), flag].ravel().tolist()
                x0, y0, x1, y1 = v["face_box"]
                face = {"id": len(annotations) + 1, "image_id": image_id, "category_id": FACE_CATEGORY,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0)), "iscrowd": 0,
                        "keypoints": kp, "num_keypoints": int((flag > 0).sum())}
                seg = g.segmentation(i) if segmentation else None
                if seg is not None:
                    m = np.isin(seg, face_ids)
                    face["segmentation"], face["area"] = rle(m), float(m.sum())
                annotations.append(face)
                if seg is not None:
                    for k in np.unique(seg):
                        if k == 0:
                            continue
                        m = seg == k
                        ys, xs = np.nonzero(m)
                        annotations.append({
                            "id": len(annotations) + 1, "image_id": image_id,
                            "category_id": PART_CATEGORY_OFFSET + int(k), "segmentation": rle(m),
                            "area": float(m.sum()), "iscrowd": 0,
                            "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                     float(ys.max() - ys.min() + 1)]})
        categories = [{"id": FACE_CATEGORY, "name": "face", "supercategory": "face",
                       "keypoints": [f"ibug{j}" for j in range(68)], "skeleton": []}]
        if segmentation:
            categories += [{"id": PART_CATEGORY_OFFSET + k, "name": n, "supercategory": "face_part"}
                           for k, n in SEG_CLASSES.items() if k]
        doc = {"info": {"description": f"relhead corpus {manifest.get('pipeline', '')} ({manifest.get('config_hash')})",
                        "version": "1"},
               "images": images, "annotations": annotations, "categories": categories}
        (tmp / "annotations.json").write_text(json.dumps(doc))
        if out.is_dir():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"images": len(images), "annotations": len(annotations)}
