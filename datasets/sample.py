"""The sample format: the one module that packs a rendered group into a shard sample and unpacks it.

One webdataset sample is one group, files `<key>.<name>` in a tar:
- `view{i}.png|jpg|webp`: RGB; `view{i}.mask.png`: subject alpha (8-bit);
- `meta.json`: `format` (SAMPLE_FORMAT), `group`, `seed`, `head_frame`, `head_width_m`, `spec` (the
  whole typed scene spec, enough to re-render the group) and `views`: per view `index`, `file`,
  `mask_file`, `W`, `H`, `K`, `R`, `t`, `euler_deg`, `landmarks`, `landmarks_visible`, `face_box`,
  `camera_world`; a temporal clip (config `clip:`) adds `clip` {`frames`, `fps`} and per view
  `time_s`, its views being the frames in time order under one fixed camera;
- with config `labels:` switches on (all off: none of these, the bytes as before), per view
  `view{i}.depth.png` (uint16, z along the optical axis in DEPTH_UNIT_M = 0.1 mm, 0: no surface),
  `view{i}.normals.npy` (H, W, 3 float16, unit, OpenCV camera frame, 0: none), `view{i}.seg.png`
  (uint8 classes, meta `segmentation_classes`), `view{i}.mesh.ply` (the posed head in the head
  frame, binary PLY, trimesh), and in meta.json's view `landmarks_3d` (68 x 3, camera frame, metres),
  `gaze` {`right`, `left`} (camera-frame unit vectors), `dense` {`uv`, `xyz`, `visible`} of the
  vertices meta `dense_indices` lists, and the file names `depth_file`, `normals_file`, `seg_file`,
  `mesh_file`;
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
DEPTH_UNIT_M = 1e-4  # depth PNG units: 0.1 mm, so 16 bits reach 6.5535 m
LABEL_FILES = {"depth": "depth_file", "normals": "normals_file", "segmentation": "seg_file", "mesh": "mesh_file"}


def label_file(i: int, label: str) -> str:
    return {"depth": f"view{i}.depth.png", "normals": f"view{i}.normals.npy", "segmentation": f"view{i}.seg.png",
            "mesh": f"view{i}.mesh.ply"}[label]


def encode_depth(z_m: np.ndarray) -> bytes:
    """(H, W) metres (0: none) -> 16-bit PNG in DEPTH_UNIT_M, rounded; 0 stays 0."""
    q = np.clip(np.rint(np.asarray(z_m, float) / DEPTH_UNIT_M), 0, 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(q).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def encode_npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def encode_mesh(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    import trimesh

    return trimesh.Trimesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int64), process=False).export(
        file_type="ply", encoding="binary")


def _pack_extra(i: int, x: dict, view: dict, files: dict, faces) -> None:
    """A view's `labels:` extras (RenderedView.extra) into its meta and files."""
    if "landmarks_3d" in x:
        view["landmarks_3d"] = x["landmarks_3d"].tolist()
    if "gaze" in x:
        view["gaze"] = {"right": x["gaze"][0].tolist(), "left": x["gaze"][1].tolist()}
    if "dense_uv" in x:
        view["dense"] = {"uv": x["dense_uv"].tolist(), "xyz": x["dense_3d"].tolist(),
                         "visible": x["dense_visible"].tolist()}
    if "depth" in x:
        files[label_file(i, "depth")] = encode_depth(x["depth"])
    if "normals" in x:
        files[label_file(i, "normals")] = encode_npy(x["normals"].astype(np.float16))
    if "segmentation" in x:
        files[label_file(i, "segmentation")] = encode_image(x["segmentation"].astype(np.uint8), "png")
    if "mesh_vertices" in x:
        files[label_file(i, "mesh")] = encode_mesh(x["mesh_vertices"], faces)
    for label, key in LABEL_FILES.items():
        if label_file(i, label) in files:
            view[key] = label_file(i, label)


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
        if v.extra:
            _pack_extra(i, v.extra, views[-1], files, rendered.mesh_faces)
    spec = rendered.spec
    if spec.clip is not None:  # frames in time order; written only for clips, so other groups stay as they were
        for v in views:
            v["time_s"] = v["index"] / spec.clip.fps
    meta = {"format": SAMPLE_FORMAT, "group": spec.group, "seed": spec.seed, "head_frame": HEAD_FRAME,
            "head_width_m": rendered.head_width_m, "spec": spec.model_dump(mode="json"), "views": views}
    if spec.clip is not None:
        meta["clip"] = {"frames": len(views), "fps": spec.clip.fps}
    if rendered.dense_indices is not None:
        meta["dense_indices"] = np.asarray(rendered.dense_indices).tolist()
    if any("seg_file" in v for v in views):
        from relhead.render.extra_labels import SEG_CLASSES

        meta["segmentation_classes"] = {str(k): n for k, n in SEG_CLASSES.items()}
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

    def depth(self, i: int) -> np.ndarray | None:
        """View i's depth, (H, W) float64 metres along the optical axis, 0 where no surface; None
        when the corpus has no depth (config labels.depth)."""
        name = self.views[i].get("depth_file")
        return None if name is None else decode_image(self.files[name], "I;16").astype(float) * DEPTH_UNIT_M

    def normals(self, i: int) -> np.ndarray | None:
        """View i's (H, W, 3) float32 unit normals in the OpenCV camera frame (0 where none), or None."""
        name = self.views[i].get("normals_file")
        return None if name is None else np.load(io.BytesIO(self.files[name]), allow_pickle=False).astype(np.float32)

    def segmentation(self, i: int) -> np.ndarray | None:
        """View i's (H, W) uint8 face-part classes (meta `segmentation_classes`), or None."""
        name = self.views[i].get("seg_file")
        return None if name is None else decode_image(self.files[name], "L")

    def mesh(self, i: int):
        """View i's posed head mesh in the head frame (a trimesh.Trimesh), or None."""
        name = self.views[i].get("mesh_file")
        if name is None:
            return None
        import trimesh

        return trimesh.load(io.BytesIO(self.files[name]), file_type="ply", process=False)

    def labels(self, i: int) -> dict[str, np.ndarray]:
        """View i's extra labels as arrays, for a loss: whichever of `landmarks_3d` (68, 3), `gaze`
        (2, 3: right, left eye), `dense_uv` (D, 2), `dense_3d` (D, 3), `dense_visible` (D,), `depth`,
        `normals`, `segmentation` the corpus has."""
        v, out = self.views[i], {}
        if "landmarks_3d" in v:
            out["landmarks_3d"] = np.asarray(v["landmarks_3d"], np.float32)
        if "gaze" in v:
            out["gaze"] = np.asarray([v["gaze"]["right"], v["gaze"]["left"]], np.float32)
        if "dense" in v:
            out["dense_uv"] = np.asarray(v["dense"]["uv"], np.float32)
            out["dense_3d"] = np.asarray(v["dense"]["xyz"], np.float32)
            out["dense_visible"] = np.asarray(v["dense"]["visible"], bool)
        for name, get in (("depth", self.depth), ("normals", self.normals), ("segmentation", self.segmentation)):
            a = get(i)
            if a is not None:
                out[name] = a
        return out

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
    missing = [n for v in meta.get("views", [])
               for n in (v["file"], v["mask_file"], *(v[k] for k in LABEL_FILES.values() if k in v)) if n not in rest]
    if missing:
        raise ValueError(f"group {key} lacks {missing[0]}")
    return Group(key=key, url=url, meta=meta, pairs=pairs, files=rest)
