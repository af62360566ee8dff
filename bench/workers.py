"""Seconds per view of one corpus made by 1 process, N joblib workers and a local Dask cluster of
N workers, side by side in one run, as ratios; also checks the three corpora are identical.

    python bench/workers.py [--pipeline quickstart ...] [--workers 2] [--shards 4] [--groups 2] [--views 4]
                            [--size PX] [--set KEY=VALUE ...]

Wall time includes each mode's start-up (worker processes import bpy and load Anny), as a user
would see it; views per hour is the throughput that wall time gives. Each pipeline's corpus is resized
by the flags (--size: the pipeline's own image size when not given). Not part of the tests.
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
    ap.add_argument("--pipeline", nargs="+", default=["quickstart"])
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every corpus (repeatable)")
    a = ap.parse_args()
    size = [f"image.width={a.size}", f"image.height={a.size}"] if a.size else []
    for name in a.pipeline:
        cfg = resolve(name, [f"shards={a.shards}", f"groups_per_shard={a.groups}", f"views={a.views}", *size, *a.set])
        throughput(cfg, a.workers)


def throughput(cfg, workers: int) -> None:
    n_views = cfg.num_groups * cfg.views
    tmp = Path(tempfile.mkdtemp(prefix="relhead-bench-"))
    quiet = lambda *_: None  # noqa: E731

    def dask_run(out):
        from dask.distributed import LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            generate(cfg, out, scheduler=c.scheduler_address, log=quiet)

    modes = {
        "1 process": lambda out: generate(cfg, out, log=quiet),
        f"{workers} joblib workers": lambda out: generate(cfg, out, workers=workers, log=quiet),
        f"Dask, {workers} workers": dask_run,
    }
    results, manifests = {}, {}
    for name, run in modes.items():
        out = tmp / name.replace(" ", "_").replace(",", "")
        t = time.perf_counter()
        run(out)
        results[name] = (time.perf_counter() - t) / n_views
        manifests[name] = (out / "manifest.json").read_bytes()
    ref = results["1 process"]
    print(f"\n{cfg.name}: {n_views} views, {cfg.image.width}px, render preset {cfg.render.preset} (Cycles "
          f"{cfg.render.samples} samples{' + denoise' if cfg.render.denoise else ''})")
    print("| mode | s/view (wall) | views/hour | time vs 1 process |\n|---|---|---|---|")
    for name, s in results.items():
        print(f"| {name} | {s:.2f} | {3600 / s:.0f} | {s / ref:.2f} |")
    same = len(set(manifests.values())) == 1
    print(f"manifests (config, sha256 of every shard) identical across modes: {same}")
    print(f"corpora left in {tmp}")


if __name__ == "__main__":
    main()
