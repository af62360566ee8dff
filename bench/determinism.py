"""Are a group's pixels the same bytes every time it renders in one process, under each way of
keeping (or not) Cycles' session between renders? Also the time per render, interleaved.

    python bench/determinism.py --pipeline quickstart --groups 0 1 --reps 8 --modes fresh group
        [--views 2] [--size 96] [--threads 1] [--set key=value ...]
    python bench/determinism.py --count --pipeline realistic --groups 0 1 2 --views 6 --reps 2   # many groups


Modes (each applied on top of the shipped settings, then all modes take turns, group by group):
- `fresh`: no persistent data (every view in a fresh Cycles session);
- `persist`: persistent data, one session for everything the process renders;
- `static`: persistent data with a static BVH (`cycles.debug_bvh_type = "STATIC_BVH"`);
- `group`: persistent data, freed when a group starts (its first view builds a fresh session,
  its other views reuse it);
- `group-static`: `group` with a static BVH.
Prints, per mode and group, the sha256 (8 hex) of every view per rep and whether all reps agree.
With --count: each group rendered once in fresh sessions, then --reps times in the `group` mode; prints every
later view whose bytes differ from the fresh render's (its pixels that differ) and the count.
Not part of the tests; results go into bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

import bpy
import numpy as np

import relhead.render.blender.scene as sc
from relhead.assets.registry import get_head_model
from relhead.config import resolve
from relhead.datasets.generate import pools
from relhead.render.blender import settings
from relhead.render.group import render_group

MODES = ("fresh", "persist", "static", "group", "group-static")


def set_mode(mode: str) -> None:
    """Switch the process' scene to `mode` (module docstring) for the next render_group call."""
    original = getattr(sc.ProcessScene, "_bench_set_group", None) or sc.ProcessScene.set_group
    sc.ProcessScene._bench_set_group = original

    def set_group(self, *a, **k):
        original(self, *a, **k)
        r, c = self.scene.render, self.scene.cycles
        c.debug_bvh_type = "STATIC_BVH" if mode.endswith("static") else "DYNAMIC_BVH"
        if mode == "fresh":
            r.use_persistent_data = False
        elif mode in ("persist", "static"):
            r.use_persistent_data = True
        else:  # group: what render.session: group does, a session kept for the group and freed at the next
            r.use_persistent_data = True
            settings.new_group(self.scene)

    sc.ProcessScene.set_group = set_group


def _hash(view) -> str:
    return hashlib.sha256(view.rgb.tobytes() + view.mask.tobytes()).hexdigest()[:8]


def count(cfg, specs, hm, files, reps: int) -> None:
    """Each group fresh once, then `reps` times in a kept session: the later views that differ."""
    n = differ = 0
    for g, spec in specs.items():
        set_mode("fresh")
        fresh = render_group(cfg, spec, hm, files).views
        fresh_hashes = [_hash(v) for v in fresh]
        for rep in range(reps):
            set_mode("group")
            for i, v in enumerate(render_group(cfg, spec, hm, files).views[1:], start=1):
                n += 1
                if _hash(v) != fresh_hashes[i]:
                    differ += 1
                    px = np.argwhere((v.rgb != fresh[i].rgb).any(-1))
                    print(f"group {g} rep {rep} view {i} differs: {len(px)} px, e.g. {px[:3].tolist()}, at most "
                          f"{int(np.abs(v.rgb.astype(int) - fresh[i].rgb).max())} levels", flush=True)
        print(f"group {g}: {n} kept-session later views so far, {differ} differing", flush=True)
    print(f"kept-session later views: {n}; differing from the fresh render: {differ}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", default="quickstart")
    ap.add_argument("--groups", type=int, nargs="+", default=[0])
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--modes", nargs="+", default=["fresh", "group"], choices=MODES)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--count", action="store_true", help="count kept-session views differing from fresh ones")
    a = ap.parse_args()
    cfg = resolve(a.pipeline, a.set + [f"views={a.views}", f"image.width={a.size}", f"image.height={a.size}",
                                       f"render.threads={a.threads}"])
    hm = get_head_model(cfg.head)
    here = pools(cfg)
    files = here.files
    specs = {g: here.spec(cfg, g, hm) for g in a.groups}
    if a.count:
        return count(cfg, specs, hm, files, a.reps)
    hashes = {(m, g): [] for m in a.modes for g in a.groups}
    secs = {m: [] for m in a.modes}
    print(f"bpy {bpy.app.version_string}; {a.pipeline} {a.set} views={a.views} {a.size}px threads={a.threads}",
          flush=True)
    for rep in range(a.reps):
        order = a.modes if rep % 2 == 0 else a.modes[::-1]  # alternate which mode goes first
        for g in a.groups:
            for m in order:
                set_mode(m)
                t = time.perf_counter()
                r = render_group(cfg, specs[g], hm, files)
                secs[m].append(time.perf_counter() - t)
                h = tuple(_hash(v) for v in r.views)
                hashes[(m, g)].append(h)
                print(f"rep {rep} group {g} {m:13s} {secs[m][-1]:6.2f}s {' '.join(h)}", flush=True)
    print("\nmode          group  distinct renders of each view (of reps)   same bytes")
    for (m, g), hs in hashes.items():
        distinct = [len(set(h[i] for h in hs)) for i in range(a.views)]
        print(f"{m:13s} {g:5d}  {distinct} of {len(hs)}  {'yes' if max(distinct) == 1 else 'NO'}")
    base = a.modes[0]
    for m in a.modes[1:]:
        ratios = [b / x for b, x in zip(secs[base], secs[m])]
        print(f"{base}/{m} group time: median {statistics.median(ratios):.2f}x "
              f"(range {min(ratios):.2f}-{max(ratios):.2f}, n={len(ratios)})")
    for m in a.modes:
        if m != base:
            same = all(hashes[(m, g)][0] == hashes[(base, g)][0] for g in a.groups)
            print(f"{m} renders the same bytes as {base}: {same}")


if __name__ == "__main__":
    main()
