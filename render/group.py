"""Render one group: sample its spec, pose the head per view, render, and label every view.

Returns a webdataset sample (a dict of file name -> bytes) with the views, masks, meta.json and
pairs.json described in DESIGN.md ("A sample in a shard").
"""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from relhead import __version__
from relhead.datasets.pairs import choose_pairs
from relhead.frames import matrix_to_euler, project
from relhead.render.sampling import sample_group
from relhead.render.views import camera_intrinsics, head_to_camera, neck_rotation, world_to_camera


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


def face_box(landmarks: np.ndarray, W: int, H: int) -> list[float]:
    """Tight box [x0, y0, x1, y1] around the 68 landmarks, clipped to the image."""
    lo = np.clip(landmarks.min(0), 0, [W, H])
    hi = np.clip(landmarks.max(0), 0, [W, H])
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]


def label_view(spec_view: dict, posed, K, R_h2c, t_h2c, R_w2c, t_w2c, lm_idx, W, H) -> dict:
    """The ground truth of one view (everything except visibility, which needs the renderer)."""
    X_head = (posed.vertices[lm_idx].astype(float) - posed.T_world_head[:3, 3]) @ posed.T_world_head[:3, :3]
    uv, depth = project(K, R_h2c, t_h2c, X_head)
    yaw, pitch, roll = matrix_to_euler(R_h2c)
    return {
        "W": W, "H": H, "K": K.tolist(), "R": R_h2c.tolist(), "t": t_h2c.tolist(),
        "euler_deg": {"yaw": yaw, "pitch": pitch, "roll": roll},
        "landmarks": uv.tolist(),
        "face_box": face_box(uv, W, H),
        "camera_world": {"R_w2c": R_w2c.tolist(), "t_w2c": t_w2c.tolist()},
        "params": spec_view,
    }


def render_group(cfg, group: int, head_model) -> dict:
    from relhead.render.scene import GroupScene  # bpy only here

    spec = sample_group(cfg, group, head_model)
    W, H = cfg.image.width, cfg.image.height
    identity = spec["head"]["identity"]
    head_width = head_model.head_width(identity)
    views = spec["views"]
    posed = head_model.pose(identity, [v["expression"] for v in views], [v["gaze_deg"] for v in views],
                            [neck_rotation(v) for v in views])
    scene = GroupScene(spec, head_model, cfg, posed[0].vertices)
    sample: dict[str, bytes] = {}
    metas = []
    lm_idx = head_model.landmark_indices
    ext = cfg.image.format
    try:
        for i, (v, p) in enumerate(zip(views, posed)):
            K = camera_intrinsics(v["camera"], W, H)
            R_h2c, t_h2c = head_to_camera(v, K, head_width, W)
            R_w2c, t_w2c = world_to_camera(R_h2c, t_h2c, p.T_world_head)
            meta = label_view(v, p, K, R_h2c, t_h2c, R_w2c, t_w2c, lm_idx, W, H)
            scene.set_view(p.vertices, K, R_w2c, t_w2c)
            rgb, mask = scene.render()
            uv = np.asarray(meta["landmarks"])
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
            vis = scene.visible(p.vertices[lm_idx].astype(float), -R_w2c.T @ t_w2c) & inside
            meta["landmarks_visible"] = vis.tolist()
            meta["index"] = i
            meta["file"] = f"view{i}.{ext}"
            meta["mask_file"] = f"view{i}.mask.png"
            sample[meta["file"]] = encode_image(rgb, ext, cfg.image.quality)
            sample[meta["mask_file"]] = encode_image(mask, "png")
            metas.append(meta)
    finally:
        scene.close()
    group_meta = {
        "group": group,
        "seed": spec["seed"],
        "relhead_version": __version__,
        "head_frame": "skull-rigid; origin at the midpoint of the eyeball centres; x image-right, y down, z into the head at R=I",
        "params": {k: spec[k] for k in ("head", "materials", "lighting", "render_seed")},
        "views": metas,
    }
    group_meta["params"]["head"]["width_m"] = head_width
    sample["meta.json"] = json.dumps(group_meta).encode()
    sample["pairs.json"] = json.dumps(choose_pairs(metas, cfg.pairs, spec["seed"])).encode()
    return sample
