"""What each extra label (config `labels:`) costs: seconds and bytes per view beside the plain render,
in one run on the same scenes.

    python bench/labels.py [--groups 2] [--views 2] [--size 160] [--pipeline test]

Each row renders the same one-shard corpus (Anny unless --set head.model=...) with one label switched
on (and one with all of them), after a warm-up corpus that builds the head model and the Blender
scene; s/view is the shard record's, bytes/view the members and meta.json the label adds."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from relhead.config import resolve
from relhead.datasets.generate import generate
from relhead.datasets.manifest import read_record
from relhead.datasets.shards import read_shard

LABELS = ("landmarks_3d", "gaze", "dense_landmarks", "mesh", "depth", "normals", "segmentation")


def run(base: list[str], extra: list[str], root: Path, name: str) -> tuple[float, dict[str, int], int]:
    out = root / name
    cfg = resolve(args.pipeline, base + extra)
    generate(cfg, out, log=lambda *_: None)
    rec = read_record(out, 0)
    groups = read_shard(out / "shard-000000.tar")
    sizes: dict[str, int] = {}
    views = 0
    for g in groups:
        views += len(g.views)
        for n, b in g.files.items():
            kind = n.split(".", 1)[1]
            sizes[kind] = sizes.get(kind, 0) + len(b)
        sizes["meta.json"] = sizes.get("meta.json", 0) + len(json.dumps(g.meta))
    return rec["stats"]["seconds"] / views, sizes, views


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--pipeline", default="test")
    p.add_argument("--groups", type=int, default=2)
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--set", action="append", default=[])
    args = p.parse_args()
    base = ["shards=1", f"groups_per_shard={args.groups}", f"views={args.views}", f"image.width={args.size}",
            f"image.height={args.size}", *args.set]
    root = Path(tempfile.mkdtemp(prefix="relhead-bench-labels-"))
    try:
        run(base, [], root, "warmup")
        s0, plain, n = run(base, [], root, "plain")
        rows = [("plain render", s0, 0)]
        for label in LABELS + ("all",):
            sets = [f"labels.{k}=true" for k in LABELS] if label == "all" else [f"labels.{label}=true"]
            s, sizes, _ = run(base, sets, root, label)
            added = sum(sizes.values()) - sum(plain.values())
            rows.append((label, s, added / n))
        print(f"{args.pipeline}, {args.groups} groups x {args.views} views at {args.size} px ({', '.join(args.set) or 'as shipped'})")
        print("| label | s/view | vs plain | bytes/view |")
        print("|---|---|---|---|")
        for label, s, b in rows:
            print(f"| {label} | {s:.3f} | {s - s0:+.3f} | {'-' if label == 'plain render' else f'{b:,.0f}'} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
