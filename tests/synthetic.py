"""Corpora made without bpy: the fake head's exact labels, written by the project's own sample
packer, shard writer and manifest, so reader, verify and trainer tests run in the fast tier.

Images carry the pose: each view splats the posed head's vertices with a z-buffer, coloured by
their head-frame coordinates (eyes dark), over a flat background, so a model can learn from them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relhead.assets.hdri import hdri_pool
from relhead.assets.registry import get_head_model
from relhead.datasets.generate import corpus_assets
from relhead.datasets.manifest import (done_entry, open_corpus, refresh_manifest, shard_groups, shard_name, versions,
                                       write_record)
from relhead.datasets.sample import pack
from relhead.datasets.shards import ShardWriter, group_key
from relhead.frames import project
from relhead.render.group import posed_heads
from relhead.render.labels import RenderedGroup, RenderedView, label_views
from relhead.render.sampling import sample_group

# head-frame extent mapped to [0, 1] per colour channel (x, y, z -> r, g, b)
_LO, _HI = np.array([-0.09, -0.12, -0.03]), np.array([0.09, 0.2, 0.17])
_OFFSETS = np.array([(dx, dy) for dy in range(-2, 3) for dx in range(-2, 3) if dx * dx + dy * dy <= 5])


def sampled_specs(sets: list[str], model, groups=range(12)):
    """(config, specs of `groups`) of the `test` pipeline with `sets`, sampled for `model`."""
    from relhead.config import resolve

    cfg = resolve("test", sets)
    refs = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs
    return cfg, [sample_group(cfg, g, model, refs) for g in groups]


def render_setup(sets: list[str], model, group: int = 0):
    """(config, HDRI pool, spec of `group`) of the `test` pipeline with `sets`, ready for render_group."""
    from relhead.config import resolve

    cfg = resolve("test", sets)
    pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    return cfg, pool, sample_group(cfg, group, model, pool.refs)


def splat(K, R, t, X_head, colours, bg, W: int, H: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (H, W) uint8 mask of points X_head (N, 3) posed by (R, t): each
    point a small disc of its colour, the nearest point winning each pixel."""
    uv, depth = project(K, R, t, X_head)
    keep = depth > 0
    uv, depth, colours = uv[keep], depth[keep], colours[keep]
    px = np.floor(uv).astype(int)[:, None, :] + _OFFSETS[None]  # (N, k, 2)
    px = px.reshape(-1, 2)
    d = np.repeat(depth, len(_OFFSETS))
    c = np.repeat(colours, len(_OFFSETS), axis=0)
    inside = (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H)
    lin, d, c = px[inside, 1] * W + px[inside, 0], d[inside], c[inside]
    order = np.lexsort((d, lin))  # by pixel, nearest first
    lin, c = lin[order], c[order]
    first = np.unique(lin, return_index=True)[1]
    rgb = np.empty((H * W, 3), np.uint8)
    rgb[:] = bg
    rgb[lin[first]] = c[first]
    mask = np.zeros(H * W, np.uint8)
    mask[lin[first]] = 255
    return rgb.reshape(H, W, 3), mask.reshape(H, W)


def synthetic_group(cfg, group: int) -> RenderedGroup:
    hm = get_head_model(cfg.head)
    return splat_group(cfg, sample_group(cfg, group, hm, hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs), hm)


def splat_group(cfg, spec, hm) -> RenderedGroup:
    """The group `spec` drawn by splatting instead of Blender; called like relhead.render.group.render_group."""
    group = spec.group
    W, H = cfg.image.width, cfg.image.height
    width = hm.head_width(spec.head.identity)
    eyes = np.concatenate(getattr(hm, "eye_vertices", [np.zeros(0, int)]))
    views = []
    posed = posed_heads(spec, hm)
    for i, (p, lab) in enumerate(zip(posed, label_views(spec, posed, width, W, H))):
        T = p.T_world_head
        X_head = (p.vertices - T[:3, 3]) @ T[:3, :3]
        colours = (255 * np.clip((X_head - _LO) / (_HI - _LO), 0, 1)).astype(np.uint8)
        colours[eyes] = 20
        rgb, mask = splat(lab.K, lab.R, lab.t, X_head, colours, (group * 37 + i * 11) % 256, W, H)
        views.append(RenderedView(rgb=rgb, mask=mask, labels=lab))
    return RenderedGroup(spec=spec, head_width_m=width, views=views)


def synthetic_corpus(cfg, out: Path) -> Path:
    out = Path(out)
    open_corpus(cfg, out, corpus_assets(cfg))
    for i in range(cfg.shards):
        path = out / shard_name(i)
        with ShardWriter(path) as w:
            for g in shard_groups(cfg, i):
                w.write(group_key(g), pack(synthetic_group(cfg, g), cfg))
        write_record(out, done_entry(cfg, path, i), {"seconds": 0.0, "host": "synthetic", "pid": 0,
                                                      "threads": 0, "versions": versions()})
    refresh_manifest(out)
    return out
