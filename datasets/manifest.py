"""The corpus manifest: config, hash, versions and the status of every shard.

Each finished shard gets a record `shard-NNNNNN.json` beside its tar, written atomically by
whichever process made the shard (a joblib worker, a Dask worker, a Slurm array task). The record
is the truth; `manifest.json` is the corpus-wide view rebuilt from the records under a file lock,
so processes that finish shards at the same time never lose each other's entries.

A shard entry holds only what the data determines (groups, views, bytes, sha256, status), so the
manifest of a corpus is byte-identical whether 1 worker, N workers or a cluster made it; timings
and host names go into the record's `stats`.
"""

from __future__ import annotations

import fcntl
import json
import platform
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from relhead import __version__
from relhead.configbase import ConfigError
from relhead.files import sha256_file, temp_files, temp_path, write_json_atomic  # noqa: F401  (named here too)

MANIFEST = "manifest.json"
FORMAT = "relhead-corpus/2"
SHARD_PATTERN = "shard-{:06d}.tar"


class CorpusMismatch(RuntimeError):
    """The output folder holds a corpus made with another config."""


def shard_name(index: int) -> str:
    return SHARD_PATTERN.format(index)


def record_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / shard_name(index).replace(".tar", ".json")


def versions() -> dict:
    out = {"relhead": __version__, "python": platform.python_version()}
    for pkg in ("bpy", "anny", "torch", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def shard_groups(cfg, index: int) -> range:
    G = cfg.groups_per_shard
    return range(index * G, (index + 1) * G)


def todo_entry(cfg, index: int) -> dict:
    g = shard_groups(cfg, index)
    return {"index": index, "file": shard_name(index), "groups": [g.start, g.stop], "status": "todo"}


def done_entry(cfg, path: Path, index: int) -> dict:
    return {**todo_entry(cfg, index), "views": len(shard_groups(cfg, index)) * cfg.views,
            "bytes": path.stat().st_size, "sha256": sha256_file(path), "status": "done"}


def _load_manifest(out_dir: Path) -> tuple[dict | None, str | None]:
    """(the manifest in out_dir or None, why manifest.json is not one or None)."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return None, None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # not JSON, or not text
        return None, f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    return (doc, None) if isinstance(doc, dict) else (None, f"a JSON {type(doc).__name__}, not a mapping")


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest in out_dir, None when there is none; a ConfigError naming the file when it is not
    a JSON mapping (cut short, not JSON, not text)."""
    doc, why = _load_manifest(out_dir)
    if why:
        raise ConfigError(f"{Path(out_dir) / MANIFEST}: not a manifest ({why}); rendering into the folder again "
                          "with its pipeline rebuilds it from the shard records")
    return doc


def read_record(out_dir: Path, index: int) -> dict | None:
    path = record_path(out_dir, index)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None  # absent, or a record cut short by a crash: the shard is redone


def write_record(out_dir: Path, entry: dict, stats: dict) -> None:
    write_json_atomic(record_path(out_dir, entry["index"]), {"entry": entry, "stats": stats})


def file_problem(path: Path, entry: dict) -> str | None:
    """Why the shard file `path` does not match its done entry (size, then sha256), or None."""
    path = Path(path)
    if not path.exists():
        return "missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"size {size} bytes, manifest says {entry['bytes']} (truncated or altered)"
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        return f"sha256 {digest[:12]}... differs from the manifest's {entry['sha256'][:12]}... (altered)"
    return None


def shard_is_done(out_dir: Path, index: int) -> bool:
    """Done = recorded as done, and the file on disk still has the recorded size and sha256."""
    rec = read_record(out_dir, index)
    return bool(rec and rec["entry"].get("status") == "done"
                and file_problem(Path(out_dir) / shard_name(index), rec["entry"]) is None)


def new_manifest(cfg, assets: dict) -> dict:
    return {
        "format": FORMAT,
        "pipeline": cfg.name,
        "config": cfg.portable_dict(),
        "config_hash": cfg.hash(),
        "assets": assets,
        "seed": cfg.seed,
        "versions": versions(),
        "groups_per_shard": cfg.groups_per_shard,
        "views_per_group": cfg.views,
        "shards": {str(i): todo_entry(cfg, i) for i in range(cfg.shards)},
    }


LOCK_FILE = ".manifest.lock"


@contextmanager
def corpus_lock(out_dir: Path):
    """An exclusive flock on the corpus folder (across processes and, where flock works, hosts): on LOCK_FILE."""
    with open(Path(out_dir) / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _rebuild_problem(cfg, out_dir: Path) -> tuple[str | None, int]:
    """(why the shard records in `out_dir` cannot be this config's, or None; how many there are): a
    record's index, file, groups and views must be the ones `cfg` gives that shard."""
    n = 0
    for path in sorted(Path(out_dir).glob("shard-*.json")):
        try:
            index = int(path.stem.split("-")[1])
        except ValueError:
            continue
        rec = read_record(out_dir, index)
        if rec is None:
            continue  # cut short by a crash: the shard is redone
        entry = rec.get("entry") if isinstance(rec.get("entry"), dict) else {}
        if index >= cfg.shards:
            return f"{path.name}: this config has {cfg.shards} shard(s)", n
        want = {**todo_entry(cfg, index), "views": len(shard_groups(cfg, index)) * cfg.views}
        if any(entry.get(k) != v for k, v in want.items() if k != "status"):
            return (f"{path.name}: groups {entry.get('groups')}, {entry.get('views')} views; this config's shard "
                    f"{index}: groups {want['groups']}, {want['views']} views"), n
        n += 1
    return None, n


def open_corpus(cfg, out_dir: Path, assets: dict, log=lambda msg: None) -> dict:
    """The manifest of the corpus in out_dir (created if new), refusing a corpus of another config
    or other assets. `assets` names the files the data depend on (relhead.datasets.generate.corpus_assets).
    A manifest.json that is not a manifest (cut short, not JSON) is rebuilt from the shard records,
    which are the truth, when they fit this config; `log` says so."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with corpus_lock(out_dir):
        # The manifest's and the leases' temporary files are written under this lock only: any
        # there now were left by a run that died or failed (a full disk) between write and rename.
        for p in temp_files(out_dir / MANIFEST) + sorted(out_dir.glob(".shard-*.lease.tmp-*")):
            p.unlink(missing_ok=True)
        manifest, broken = _load_manifest(out_dir)
        if broken:  # cut short, not JSON, not a mapping: the records are the truth
            problem, n = _rebuild_problem(cfg, out_dir)
            if problem:
                raise CorpusMismatch(f"{out_dir / MANIFEST} is not a manifest ({broken}) and the shard records beside "
                                     f"it are of another config ({problem}); choose another --out or remove it")
            log(f"{out_dir / MANIFEST} was not a manifest ({broken}); rebuilt it from the {n} shard record(s) beside it")
            manifest = None
        if manifest is None:
            manifest = new_manifest(cfg, assets)
            write_json_atomic(out_dir / MANIFEST, manifest)
    if manifest.get("format") != FORMAT:
        raise CorpusMismatch(f"{out_dir} holds a corpus of format {manifest.get('format', 'relhead-corpus/1')!r}, "
                             f"this relhead makes {FORMAT!r}; choose another --out or remove it")
    if manifest.get("config_hash") != cfg.hash():
        raise CorpusMismatch(
            f"{out_dir} holds a corpus of another config (hash {manifest.get('config_hash')}, "
            f"this one {cfg.hash()}); choose another --out or remove it"
        )
    if manifest.get("assets") != assets:
        diff = sorted(set(_asset_names(manifest.get("assets", {}))) ^ set(_asset_names(assets)))
        raise CorpusMismatch(f"{out_dir} holds a corpus made from other asset files (differ: "
                             f"{', '.join(sorted({n for n, _ in diff})[:4])}); choose another --out or remove it")
    return manifest


def _asset_names(assets: dict) -> list[tuple[str, str]]:
    """(name, sha256) of every file in a manifest's `assets`."""
    refs = (list(assets.get("hdris", [])) + list(assets.get("backgrounds", [])) + list(assets.get("skin_textures", []))
            + list(assets.get("head", {}).values()))
    return [(f"{a['source']}:{a['name']}", a["sha256"]) for a in refs]


def refresh_manifest(out_dir: Path) -> dict:
    """Rebuild manifest.json's shard list from the shard records on disk."""
    out_dir = Path(out_dir)
    with corpus_lock(out_dir):
        manifest = read_manifest(out_dir)
        from relhead.config import PipelineConfig

        cfg = PipelineConfig.model_validate(manifest["config"])
        shards = {}
        for i in range(cfg.shards):
            rec = read_record(out_dir, i)
            shards[str(i)] = rec["entry"] if rec else todo_entry(cfg, i)
        manifest["shards"] = shards
        write_json_atomic(out_dir / MANIFEST, manifest)
    return manifest
