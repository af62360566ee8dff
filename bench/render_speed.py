"""Seconds per view of render presets, measured side by side in one process, printed as ratios.

    python bench/render_speed.py [--groups 2] [--views 3] [--size 256]

The first preset is the reference (quickstart's Cycles 16 samples + denoise). Not part of the tests.
"""

from __future__ import annotations

import argparse
import time

from relhead.assets.hdri import hdri_pool
from relhead.assets.registry import get_head_model
from relhead.config import resolve
from relhead.render.group import render_group
from relhead.render.sampling import sample_group

PRESETS = {
    "cycles16+denoise": ["render.samples=16", "render.denoise=true"],
    "cycles64-adaptive (paper)": ["render.samples=64", "render.adaptive_threshold=0.01", "render.denoise=false"],
    "cycles4 (tests)": ["render.samples=4", "render.denoise=false"],
    "workbench": ["render.engine=workbench"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    hm = get_head_model()
    base = [f"views={a.views}", f"image.width={a.size}", f"image.height={a.size}"]
    results = {}
    for name, sets in PRESETS.items():
        cfg = resolve("quickstart", base + sets)
        pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
        render_group(cfg, sample_group(cfg, 0, hm, pool.refs), hm, pool)  # warm-up: kernels, image loads
        t = time.perf_counter()
        for g in range(a.groups):
            render_group(cfg, sample_group(cfg, g, hm, pool.refs), hm, pool)
        results[name] = (time.perf_counter() - t) / (a.groups * a.views)
    ref = next(iter(results.values()))
    print(f"{'preset':28s} {'s/view':>8s} {'ratio':>7s}   ({a.size}px, {a.groups}x{a.views} views each)")
    for name, s in results.items():
        print(f"{name:28s} {s:8.2f} {s / ref:7.2f}")


if __name__ == "__main__":
    main()
