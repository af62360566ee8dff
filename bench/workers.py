"""Seconds per view of one corpus made by 1 process, N joblib workers and a local Dask cluster of
N workers, side by side in one run, as ratios; also checks the three corpora are identical.

    python bench/workers.py [--workers 2] [--shards 4] [--groups 2] [--views 4]

Wall time includes each mode's start-up (worker processes import bpy and load Anny), as a user
would see it. The corpus is the quickstart pipeline resized by the flags. Not part of the tests.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from relhead.config import resolve
from relhead.datasets.generate import generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--views", type=int, default=4)
    a = ap.parse_args()
    cfg = resolve("quickstart", [f"shards={a.shards}", f"groups_per_shard={a.groups}", f"views={a.views}"])
    n_views = cfg.num_groups * cfg.views
    tmp = Path(tempfile.mkdtemp(prefix="relhead-bench-"))
    quiet = lambda *_: None  # noqa: E731

    def dask_run(out):
        from dask.distributed import LocalCluster

        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            generate(cfg, out, scheduler=c.scheduler_address, log=quiet)

    modes = {
        "1 process": lambda out: generate(cfg, out, log=quiet),
        f"{a.workers} joblib workers": lambda out: generate(cfg, out, workers=a.workers, log=quiet),
        f"Dask, {a.workers} workers": dask_run,
    }
    results, manifests = {}, {}
    for name, run in modes.items():
        out = tmp / name.replace(" ", "_").replace(",", "")
        t = time.perf_counter()
        run(out)
        results[name] = (time.perf_counter() - t) / n_views
        manifests[name] = (out / "manifest.json").read_bytes()
    ref = results["1 process"]
    print(f"{'mode':22s} {'s/view':>8s} {'ratio':>7s}   ({n_views} views, {cfg.image.width}px, "
          f"Cycles {cfg.render.samples} samples{' + denoise' if cfg.render.denoise else ''})")
    for name, s in results.items():
        print(f"{name:22s} {s:8.2f} {s / ref:7.2f}")
    same = len(set(manifests.values())) == 1
    print(f"manifests (config, sha256 of every shard) identical across modes: {same}")
    print(f"corpora left in {tmp}")


if __name__ == "__main__":
    main()
