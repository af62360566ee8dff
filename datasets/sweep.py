"""Sweeps: one corpus per combination of a sweep's axes, made as one pool of shard tasks, plus
`sweep.json` listing every combination, its axis values, config hash, folder and progress."""

from __future__ import annotations

from pathlib import Path

from relhead.datasets.generate import check_out_dir, generate_many
from relhead.datasets.manifest import write_json_atomic


def sweep_manifest(name: str, combos, manifests: list[dict] | None = None) -> dict:
    rows = []
    for n, c in enumerate(combos):
        row = {"name": c.name, "values": c.values, "config_hash": c.config.hash(), "dir": c.name,
               "shards": c.config.shards, "views": c.config.num_groups * c.config.views}
        if manifests:
            row["shards_done"] = sum(e["status"] == "done" for e in manifests[n]["shards"].values())
        rows.append(row)
    return {"format": "relhead-sweep/1", "sweep": name, "combinations": rows}


def write_sweep_manifest(root: Path, doc: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "sweep.json", doc)
    return root / "sweep.json"


def run_sweep(name: str, combos, out: Path, workers: int = 1, scheduler: str | None = None, log=print,
              lease_timeout_s: float = 600.0) -> dict:
    """Render every combination into OUT/NAME/<combination>/ and write OUT/NAME/sweep.json."""
    root = Path(out) / name
    check_out_dir(root)
    write_sweep_manifest(root, sweep_manifest(name, combos))
    manifests = generate_many([(c.config, root / c.name) for c in combos], workers=workers,
                              scheduler=scheduler, log=log, lease_timeout_s=lease_timeout_s)
    doc = sweep_manifest(name, combos, manifests)
    log(f"sweep manifest: {write_sweep_manifest(root, doc)}")
    return doc
