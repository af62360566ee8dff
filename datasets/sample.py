"""The sample format: the one module that packs a rendered group into a shard sample and unpacks it.

One webdataset sample is one group, files `<key>.<name>` in a tar:
- `view{i}.png|jpg|webp`: RGB; `view{i}.mask.png`: subject alpha (8-bit);
- `meta.json`: `format` (SAMPLE_FORMAT), `group`, `seed`, `head_frame`, `head_width_m`, `spec` (the
  whole typed scene spec, enough to re-render the group) and `views`: per view `index`, `file`,
  `mask_file`, `W`, `H`, `K`, `R`, `t`, `euler_deg`, `landmarks`, `landmarks_visible`, `face_box`,
  `camera_world`; a temporal clip (config `clip:`) adds `clip` {`frames`, `fps`} and per view
  `time_s`, its views being the frames in time order under one fixed camera;
- `pairs.json`: the pair policy's pairs with their relative transforms (relhead.datasets.pairs).
The shard writer, the reader, verify, preview and the trainer all go through here.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image

from relhead.datasets.pairs import choose_pairs
from relhead.frames import matrix_to_euler
from relhead.render.labels import RenderedGroup
from relhead.render.spec import GroupSpec

SAMPLE_FORMAT = "relhead-sample/2"
HEAD_FRAME = "skull-rigid; origin at the midpoint of the eyeball centres; x image-right, y down, z into the head at R=I"
META, PAIRS = "meta.json", "pairs.json"


def view_file(i: int, fmt: str) -> str:
    return f"view{i}.{fmt}"


def mask_file(i: int) -> str:
    return f"view{i}.mask.png"


def encode_image(arr: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(arr)
    if fmt == "png":
        img.save(buf, format="PNG", optimize=False)
    elif fmt == "jpg":
        img.save(buf, format="JPEG", quality=quality)
    else:
        img.save(buf, format="WEBP", quality=quality)
    return buf.getvalue()


def decode_image(data: bytes, mode: str = "RGB") -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert(mode))


def pack(rendered: RenderedGroup, cfg) -> dict[str, bytes]:
    """A rendered group -> the files of its shard sample (name -> bytes)."""
    files: dict[str, bytes] = {}
    views = []
    for i, v in enumerate(rendered.views):
        lab = v.labels
        H, W = v.mask.shape
        yaw, pitch, roll = matrix_to_euler(lab.R)
        views.append({
            "index": i, "file": view_file(i, cfg.image.format), "mask_file": mask_file(i), "W": W, "H": H,
            "K": lab.K.tolist(), "R": lab.R.tolist(), "t": lab.t.tolist(),
            "euler_deg": {"yaw": yaw, "pitch": pitch, "roll": roll},
            "landmarks": lab.landmarks.tolist(), "landmarks_visible": lab.landmarks_visible.tolist(),
            "face_box": lab.face_box.tolist(),
            "camera_world": {"R_w2c": lab.R_w2c.tolist(), "t_w2c": lab.t_w2c.tolist()},
        })
        files[views[-1]["file"]] = encode_image(v.rgb, cfg.image.format, cfg.image.quality)
        files[views[-1]["mask_file"]] = encode_image(v.mask, "png")
    spec = rendered.spec
    if spec.clip is not None:  # frames in time order; written only for clips, so other groups stay as they were
        for v in views:
            v["time_s"] = v["index"] / spec.clip.fps
    meta = {"format": SAMPLE_FORMAT, "group": spec.group, "seed": spec.seed, "head_frame": HEAD_FRAME,
            "head_width_m": rendered.head_width_m, "spec": spec.model_dump(mode="json"), "views": views}
    if spec.clip is not None:
        meta["clip"] = {"frames": len(views), "fps": spec.clip.fps}
    files[META] = json.dumps(meta).encode()
    files[PAIRS] = json.dumps(choose_pairs(views, cfg.pairs, spec.seed)).encode()
    return files


@dataclass
class Group:
    """One unpacked sample: parsed `meta` and `pairs`, image files still encoded (decode on use)."""

    key: str
    url: str
    meta: dict
    pairs: dict
    files: dict[str, bytes]

    @property
    def views(self) -> list[dict]:
        return self.meta["views"]

    @property
    def clip(self) -> dict | None:
        """{`frames`, `fps`} when the group is a temporal clip (views = frames in time order), else None."""
        return self.meta.get("clip")

    def image(self, i: int) -> np.ndarray:
        """View i as (H, W, 3) uint8 RGB."""
        return decode_image(self.files[self.views[i]["file"]], "RGB")

    def mask(self, i: int) -> np.ndarray:
        """View i's subject alpha as (H, W) uint8."""
        return decode_image(self.files[self.views[i]["mask_file"]], "L")

    def spec(self) -> GroupSpec:
        return GroupSpec.model_validate(self.meta["spec"])

    def iter_pairs(self, tags: set[str] | None = None) -> Iterator[dict]:
        """The recorded pairs (optionally only those with one of `tags`), each with both views'
        metadata and encoded images."""
        for p in self.pairs["pairs"]:
            if tags and not tags & set(p["tags"]):
                continue
            a, q = self.views[p["anchor"]], self.views[p["query"]]
            yield {**p, "key": self.key, "anchor_meta": a, "query_meta": q,
                   "anchor_image": self.files[a["file"]], "query_image": self.files[q["file"]]}


def unpack(key: str, files: dict[str, bytes], url: str = "") -> Group:
    """A sample's files -> a Group; ValueError naming what is wrong when it is not a relhead sample
    of this format."""
    if META not in files or PAIRS not in files:
        raise ValueError(f"group {key} lacks {META} or {PAIRS}")
    meta, pairs = json.loads(files[META]), json.loads(files[PAIRS])
    if meta.get("format") != SAMPLE_FORMAT:
        raise ValueError(f"group {key}: sample format {meta.get('format', 'relhead-sample/1')!r}, this relhead reads "
                         f"{SAMPLE_FORMAT!r}; re-render the corpus")
    rest = {k: v for k, v in files.items() if k not in (META, PAIRS)}
    missing = [n for v in meta.get("views", []) for n in (v["file"], v["mask_file"]) if n not in rest]
    if missing:
        raise ValueError(f"group {key} lacks {missing[0]}")
    return Group(key=key, url=url, meta=meta, pairs=pairs, files=rest)
