"""Shard files: an atomic tar writer, a streaming group reader, and the corpus manifest.

A shard is a plain tar (webdataset layout: files `<key>.<name>`) written under a temporary name
and renamed when complete, so a crash never leaves a shard that looks finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Iterator

SHARD_PATTERN = "shard-{:06d}.tar"
MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    return SHARD_PATTERN.format(index)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ShardWriter:
    """Write groups into one tar shard; `close()` renames it into place. Use as a context manager:
    on an exception the partial file is removed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self._tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)
        self.groups = 0

    def write(self, key: str, files: dict[str, bytes]) -> None:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{key}.{name}")
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644  # byte-reproducible
            self._tar.addfile(info, io.BytesIO(files[name]))
        self.groups += 1

    def close(self) -> None:
        self._tar.close()
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._tar.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.abort() if exc_type else self.close()


def group_key(group: int) -> str:
    return f"{group:09d}"


def iter_groups(shards: list[str | Path]) -> Iterator[dict]:
    """Stream groups from tar shards with webdataset: dicts with '__key__', 'meta' (parsed),
    'pairs' (parsed) and the raw bytes of every other file (view images, masks)."""
    import webdataset as wds

    urls = [str(s) for s in shards]
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        out = {"__key__": sample["__key__"], "__url__": sample.get("__url__")}
        for k, v in sample.items():
            if k.startswith("__"):
                continue
            out[k] = json.loads(v) if k in ("meta.json", "pairs.json") else v
        out["meta"], out["pairs"] = out.pop("meta.json"), out.pop("pairs.json")
        yield out


def iter_pairs(shards: list[str | Path], tags: set[str] | None = None) -> Iterator[dict]:
    """Expand groups to anchor/query pairs (images stay bytes; decode where you train)."""
    for g in iter_groups(shards):
        views = g["meta"]["views"]
        for p in g["pairs"]:
            if tags and not tags & set(p["tags"]):
                continue
            a, q = views[p["anchor"]], views[p["query"]]
            yield {**p, "key": g["__key__"], "anchor_image": g[a["file"]], "query_image": g[q["file"]],
                   "anchor_meta": a, "query_meta": q}


def read_manifest(out_dir: Path) -> dict | None:
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def write_manifest(out_dir: Path, manifest: dict) -> None:
    path = Path(out_dir) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
