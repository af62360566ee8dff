"""Resident memory of one rendering process over many views: it must stay flat (the process' scene is
reused, HDRIs are evicted least recently used first, nothing accumulates per group).

    python bench/memory.py [--views 1000] [--size 64] [--every 100]

Renders the quickstart distribution (Anny, all HDRIs, 4 views per group) at --size px with 1 sample
and no denoising, so a thousand views take minutes; prints RSS at the start (after the first
group: bpy, Anny and the scene are loaded), every --every views, and at the end. Not part of the tests.
"""

from __future__ import annotations

import argparse
import time

from relhead.assets.hdri import hdri_pool
from relhead.assets.registry import get_head_model
from relhead.config import resolve
from relhead.datasets.sample import pack
from relhead.render.group import render_group
from relhead.render.sampling import sample_group


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", type=int, default=1000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--every", type=int, default=100)
    a = ap.parse_args()
    cfg = resolve("quickstart", [f"image.width={a.size}", f"image.height={a.size}", "render.samples=1",
                                 "render.denoise=false", "views=4"])
    hm = get_head_model(cfg.head)
    pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    render = lambda g: pack(render_group(cfg, sample_group(cfg, g, hm, pool.refs), hm, pool), cfg)  # noqa: E731
    render(0)
    start, t0, views, g = rss_mb(), time.perf_counter(), 0, 1
    print(f"RSS after the first group: {start:.0f} MB ({len(pool.refs)} HDRIs in the pool)")
    next_report = a.every
    while views < a.views:
        render(g)
        g, views = g + 1, views + cfg.views
        if views >= next_report:
            print(f"{views:6d} views  RSS {rss_mb():7.0f} MB  ({(time.perf_counter() - t0) / views:.3f} s/view)", flush=True)
            next_report += a.every
    end = rss_mb()
    print(f"RSS start {start:.0f} MB, end {end:.0f} MB over {views} views: {end - start:+.0f} MB "
          f"({(end - start) / start * 100:+.1f}%)")


if __name__ == "__main__":
    main()
