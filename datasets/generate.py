"""Corpus generation: render every group of a pipeline into shards and keep the manifest current.

Shard i holds groups [i*G, (i+1)*G); each group's content depends only on (config, seed, group),
so shards can be (re)made in any order. A shard already listed as done whose file still hashes to
the recorded sha256 is skipped, so re-running a command resumes it.
"""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tqdm import tqdm

from relhead import __version__
from relhead.datasets.shards import ShardWriter, group_key, read_manifest, sha256_file, shard_name, write_manifest


class CorpusMismatch(RuntimeError):
    pass


def _versions() -> dict:
    out = {"relhead": __version__, "python": platform.python_version()}
    for pkg in ("bpy", "anny", "torch", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def new_manifest(cfg) -> dict:
    return {
        "format": "relhead-corpus/1",
        "pipeline": cfg.name,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "seed": cfg.seed,
        "versions": _versions(),
        "groups_per_shard": cfg.groups_per_shard,
        "views_per_group": cfg.views,
        "shards": {},
    }


def open_corpus(cfg, out_dir: Path) -> dict:
    """The manifest of the corpus in out_dir, refusing a corpus made with another config."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out_dir)
    if manifest is None:
        manifest = new_manifest(cfg)
        write_manifest(out_dir, manifest)
    elif manifest.get("config_hash") != cfg.hash():
        raise CorpusMismatch(
            f"{out_dir} holds a corpus of another config (hash {manifest.get('config_hash')}, "
            f"this one {cfg.hash()}); choose another --out or remove it"
        )
    return manifest


def shard_is_done(out_dir: Path, entry: dict | None) -> bool:
    path = out_dir / shard_name(entry["index"]) if entry else None
    return bool(entry and entry.get("status") == "done" and path.exists() and sha256_file(path) == entry["sha256"])


def generate(cfg, out_dir: str | Path, head_model=None, shards: range | None = None, log=print) -> dict:
    """Render the shards of `cfg` into out_dir (all of them, or the `shards` range)."""
    from relhead.assets.base import get_head_model
    from relhead.render.group import render_group

    out_dir = Path(out_dir)
    manifest = open_corpus(cfg, out_dir)
    todo = [i for i in (shards or range(cfg.shards)) if not shard_is_done(out_dir, manifest["shards"].get(str(i)))]
    skipped = len(shards or range(cfg.shards)) - len(todo)
    if skipped:
        log(f"{skipped} shard(s) already done and verified; skipping them")
    if not todo:
        return manifest
    head_model = head_model or get_head_model(cfg.head.model)
    G = cfg.groups_per_shard
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo) * G, unit="group", desc=cfg.name, dynamic_ncols=True)
    for i in todo:
        path = out_dir / shard_name(i)
        t_shard = time.perf_counter()
        with ShardWriter(path) as w:
            for g in range(i * G, (i + 1) * G):
                w.write(group_key(g), render_group(cfg, g, head_model))
                bar.update(1)
        entry = {"index": i, "file": path.name, "groups": [i * G, (i + 1) * G], "views": G * cfg.views,
                 "bytes": path.stat().st_size, "sha256": sha256_file(path), "status": "done",
                 "seconds": round(time.perf_counter() - t_shard, 2)}
        manifest["shards"][str(i)] = entry
        write_manifest(out_dir, manifest)
        bar.write(f"{path.name}: {G} groups, {entry['views']} views, {entry['bytes'] / 1e6:.1f} MB, {entry['seconds']:.1f} s")
    bar.close()
    secs = time.perf_counter() - t0
    views = len(todo) * G * cfg.views
    log(f"done: {len(todo)} shard(s), {len(todo) * G} groups, {views} views in {secs:.1f} s "
        f"({secs / views:.2f} s/view) -> {out_dir}")
    return manifest
