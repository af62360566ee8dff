"""Corpora made without bpy: the fake head's exact labels, flat images, written by the project's own
sample packer, shard writer and manifest, so reader, verify and trainer tests run in the fast tier."""

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
from relhead.render.group import RenderedGroup, RenderedView, label_view, posed_heads
from relhead.render.sampling import sample_group


def synthetic_group(cfg, group: int) -> RenderedGroup:
    hm = get_head_model(cfg.head)
    spec = sample_group(cfg, group, hm, hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs)
    W, H = cfg.image.width, cfg.image.height
    width = hm.head_width(spec.head.identity)
    views = []
    for i, (v, p) in enumerate(zip(spec.views, posed_heads(spec, hm))):
        rgb = np.full((H, W, 3), (group * 37 + i * 11) % 256, np.uint8)
        views.append(RenderedView(rgb=rgb, mask=np.zeros((H, W), np.uint8), labels=label_view(v, p, width, W, H)))
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
