"""Corpus generation: plan the shards still to make, run them as independent tasks, keep the manifest.

Shard i of a corpus holds groups [i*G, (i+1)*G); each group's content depends only on (config,
seed, group), so shards are tasks that can run in any order, anywhere:
- in this process (`workers=1`), with a progress bar per group;
- in `workers` joblib (loky) processes on this machine, Cycles threads divided between them;
- on a `dask.distributed` cluster through joblib's Dask backend (`scheduler="tcp://host:8786"`);
- as separate processes, e.g. a Slurm array, each with its own `shards` range.
Each task writes its shard atomically and a shard record; the parent rebuilds the manifest.
A shard that is recorded as done and still hashes to its sha256 is skipped, so re-running resumes.
"""

from __future__ import annotations

import errno
import os
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from tqdm import tqdm

from relhead.assets.backgrounds import background_pool
from relhead.assets.skin_textures import skin_texture_pool
from relhead.assets.hdri import hdri_pool
from relhead.assets.refs import AssetPool, file_ref, image_problem
from relhead.configbase import ConfigError
from relhead.files import write_problem
from relhead.datasets.lease import (LEASE_TIMEOUT_S, LeaseLost, acquire, holder_of, is_stale, lease_path, leased_shards,
                                    release, renew)
from relhead.datasets.manifest import (LOCK_FILE, MANIFEST, CorpusMismatch, corpus_lock, done_entry, open_corpus, read_record,
                                       record_path, refresh_manifest, shard_groups, shard_is_done,
                                       shard_name, temp_files, versions, write_record)
from relhead.datasets.shards import ShardWriter, group_key, partials, remove_partials

__all__ = ["CorpusMismatch", "DiskFull", "Pools", "ShardTask", "check_assets", "check_out_dir", "write_problem", "generate", "make_shard", "plan", "pools"]

_BPY_LOCK = threading.Lock()  # bpy is one global scene: one shard at a time per process
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(RuntimeError):
    """The disk under a corpus filled up while it was made; the message says where and what was kept."""


@dataclass(frozen=True)
class ShardTask:
    cfg: object  # PipelineConfig (picklable)
    out_dir: Path
    index: int
    assets: dict  # corpus_assets(): every host resolves them to its own files and checks the hashes
    lease_timeout_s: float = LEASE_TIMEOUT_S


class Pools(NamedTuple):
    """This host's asset pools of a corpus, in the fixed order its specs sample from: the HDRIs, the
    background photos and the skin albedo textures (each empty unless the config asks for it)."""

    hdris: AssetPool
    photos: AssetPool
    skins: AssetPool

    @property
    def files(self) -> AssetPool:
        """Every file a spec of the corpus can name, in one pool (the renderer's)."""
        return AssetPool(self.hdris.refs + self.photos.refs + self.skins.refs,
                         self.hdris.files + self.photos.files + self.skins.files)

    def spec(self, cfg, group: int, head_model):
        """Group `group`'s scene spec (relhead.render.sampling.sample_group), drawn from these pools."""
        from relhead.render.sampling import sample_group

        return sample_group(cfg, group, head_model, self.hdris.refs, self.photos.refs, self.skins.refs)


def pools(cfg) -> Pools:
    """The asset pools of the corpus of `cfg` on this host. FileNotFoundError naming the config key
    when files are missing."""
    photos = (background_pool(cfg.lighting.background_dir) if cfg.lighting.image_background_fraction > 0
              else AssetPool((), ()))
    hdris = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)  # photos, HDRIs, skins: the order missing files were named in
    skins = skin_texture_pool(cfg.skin.albedo_dir) if cfg.skin.albedo_fraction > 0 else AssetPool((), ())
    return Pools(hdris, photos, skins)


def corpus_assets(cfg) -> dict:
    """The files a corpus' data depend on, by name and content: {"hdris": [AssetRef JSON],
    "backgrounds": [...] when photo backgrounds are on, "skin_textures": [...] when albedo textures
    are, and "head": {key: AssetRef JSON} for a backend that reads files}. FileNotFoundError when one
    is missing."""
    pool, photos, skins = pools(cfg)
    out = {"hdris": [r.model_dump(mode="json") for r in pool.refs]}
    if photos.refs:
        out["backgrounds"] = [r.model_dump(mode="json") for r in photos.refs]
    if skins.refs:
        out["skin_textures"] = [r.model_dump(mode="json") for r in skins.refs]
    files = cfg.head.files()
    missing = [f"head.{k}" for k, p in files.items() if not p]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: head.model {cfg.head.model} needs this file (a path on this host)")
    for key, path in files.items():
        try:
            out.setdefault("head", {})[key] = file_ref(path).model_dump(mode="json")
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"head.{key}: {exc}") from None
    return out


def check_assets(cfg) -> dict:
    """Every file the corpus of `cfg` renders from is there and readable as what it is, before
    anything is written: the user's HDRIs, background photos and skin textures (relhead.assets.refs.
    image_problem), and the files of a backend that reads some (FLAME: loaded here, so a refused or
    malformed file is found now, not once shards render). Returns corpus_assets(cfg); a ConfigError
    naming the key, the file and the problem."""
    try:
        assets = corpus_assets(cfg)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    pool, photos, skins = pools(cfg)
    for key, p in ([("lighting.hdri_dir", p) for r, p in zip(pool.refs, pool.files) if r.source == "user"]
                   + [("lighting.background_dir", p) for p in photos.files]
                   + [("skin.albedo_dir", p) for p in skins.files]):
        problem = image_problem(p)
        if problem:
            raise ConfigError(f"{key}: {p}: {problem}")
    if cfg.head.files():
        from relhead.assets.registry import get_head_model

        get_head_model(cfg.head)  # built once per process: the render here reuses it
    return assets


def check_out_dir(path: Path) -> None:
    """Create `path` (and parents) and make sure files can be written there; a ConfigError naming
    the folder and the reason when not, with nothing written."""
    problem = write_problem(path)
    if problem:
        raise ConfigError(f"--out {path}: cannot create or write there ({problem})")


def make_shard(task: ShardTask, threads: int = 0, on_group: Callable[[], None] | None = None) -> dict:
    """Render one shard into place and write its record; returns the record, or {'skipped': why}
    when another live run holds the shard's lease. Runs in any process."""
    from relhead.assets.registry import get_head_model
    from relhead.datasets.sample import pack
    from relhead.render.group import render_group

    cfg, out_dir = task.cfg, Path(task.out_dir)
    if threads and not cfg.render.threads:  # an execution detail: not part of the config hash
        cfg = cfg.model_copy(update={"render": cfg.render.model_copy(update={"threads": threads})})
    path = out_dir / shard_name(task.index)
    skipped = {"out_dir": str(out_dir), "index": task.index, "groups": len(shard_groups(cfg, task.index))}
    with _BPY_LOCK:
        here = pools(cfg)
        files = here.files
        if corpus_assets(cfg) != task.assets:
            raise CorpusMismatch(f"{platform.node()}: the asset files here (HDRIs, backgrounds, skin textures, head model) "
                                 "differ from the corpus'")
        with corpus_lock(out_dir):
            if shard_is_done(out_dir, task.index):
                return {**skipped, "skipped": "done by another run"}
            lease = acquire(path, task.lease_timeout_s)
        if isinstance(lease, str):
            return {**skipped, "skipped": f"being rendered by {lease}"}
        try:
            head_model = get_head_model(cfg.head)
            # Left by a dead or failed holder of this lease: every file of a shard (its partial
            # tar, its record) is written by the lease's holder only.
            remove_partials(path)
            for p in temp_files(record_path(out_dir, task.index)):
                p.unlink(missing_ok=True)
            t0 = time.perf_counter()
            # PNG encoding and the tar write of group g overlap the rendering of group g + 1.
            with ShardWriter(path) as w, ThreadPoolExecutor(1) as writer:
                pending = None
                for g in shard_groups(cfg, task.index):
                    spec = here.spec(cfg, g, head_model)
                    rendered = render_group(cfg, spec, head_model, files)
                    if pending:
                        pending.result()
                    pending = writer.submit(lambda g=g, r=rendered: w.write(group_key(g), pack(r, cfg)))
                    renew(lease)
                    if on_group:
                        on_group()
                pending.result()
            seconds = time.perf_counter() - t0
            entry = done_entry(cfg, path, task.index)
            stats = {"seconds": round(seconds, 3), "host": platform.node(), "pid": os.getpid(),
                     "threads": cfg.render.threads or os.cpu_count(), "versions": versions()}
            renew(lease)  # still ours: nobody took the shard over while it was written
            write_record(out_dir, entry, stats)
        except LeaseLost as exc:
            return {**skipped, "skipped": str(exc)}
        finally:
            release(lease)
    return {"entry": entry, "stats": stats, "out_dir": str(out_dir)}


def plan(cfg, out_dir: Path, shards: range | None = None,
         lease_timeout_s: float = LEASE_TIMEOUT_S, log: Callable[[str], None] = print) -> tuple[list[ShardTask], int]:
    """Open (or create) the corpus and list the shards still to make; also returns how many are done."""
    out_dir = Path(out_dir)
    assets = corpus_assets(cfg)
    open_corpus(cfg, out_dir, assets, log=log)
    wanted = shards or range(cfg.shards)
    todo = [ShardTask(cfg, out_dir, i, assets, lease_timeout_s) for i in wanted if not shard_is_done(out_dir, i)]
    return todo, len(wanted) - len(todo)


def _dask_client(address: str, timeout: str = "30s"):
    from relhead.config import ConfigError

    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs dask.distributed: pip install 'relhead[dask]'") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--scheduler {address}: cannot reach a Dask scheduler there ({exc})") from None


def run_tasks(tasks: list[ShardTask], workers: int = 1, client=None,
              on_group: Callable[[], None] | None = None) -> Iterator[dict]:
    """Run shard tasks here, in `workers` processes, or on a Dask `client`'s cluster; yield each
    record as its shard finishes (in completion order)."""
    if client is None and workers <= 1:
        for t in tasks:
            yield make_shard(t, on_group=on_group)
        return
    from joblib import Parallel, delayed, parallel_config

    if client is not None:
        # Dask workers decide their own cores: start them with `--nthreads 1` (bpy is one scene
        # per process), Cycles then uses all cores of the worker (or render.threads).
        with parallel_config(backend="dask", wait_for_workers_timeout=60):
            n = max(1, sum(client.nthreads().values()))
            yield from Parallel(n_jobs=n, return_as="generator_unordered")(delayed(make_shard)(t) for t in tasks)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    yield from Parallel(n_jobs=workers, return_as="generator_unordered")(
        delayed(make_shard)(t, threads) for t in tasks)


def generate_many(jobs: list[tuple[object, Path]], shards: range | None = None, workers: int = 1,
                  scheduler: str | None = None, log: Callable[[str], None] = print,
                  lease_timeout_s: float = LEASE_TIMEOUT_S) -> list[dict]:
    """Make the shards of several corpora [(cfg, out_dir), ...] as one pool of tasks; returns their manifests."""
    with _dask_client(scheduler) if scheduler else nullcontext() as client:
        return _generate_many(jobs, shards, workers, client, scheduler, log, lease_timeout_s)


def _generate_many(jobs, shards, workers, client, scheduler, log, lease_timeout_s) -> list[dict]:
    for cfg, _ in jobs:  # nothing is written before every corpus' files are known to be usable
        check_assets(cfg)
    for _, out_dir in jobs:
        check_out_dir(out_dir)
    started = [Path(out_dir) for _, out_dir in jobs if not (Path(out_dir) / MANIFEST).exists()]  # by this run
    tasks, skipped = [], 0
    for cfg, out_dir in jobs:  # every corpus is checked (config mismatch) before anything renders
        t, s = plan(cfg, out_dir, shards, lease_timeout_s, log)
        tasks += t
        skipped += s
    if skipped:
        log(f"{skipped} shard(s) already done and verified; skipping them")
    n_groups = sum(len(shard_groups(t.cfg, t.index)) for t in tasks)
    n_views = sum(len(shard_groups(t.cfg, t.index)) * t.cfg.views for t in tasks)
    where = f"Dask scheduler {scheduler}" if client else f"{workers} worker process(es)" if workers > 1 else "this process"
    if tasks:
        log(f"rendering {len(tasks)} shard(s), {n_groups} groups, {n_views} views in {where}")
    t0 = time.perf_counter()
    done_bytes, made, n_made_views, left = 0, 0, 0, []
    serial = client is None and workers <= 1
    bar = tqdm(total=n_groups, unit="group", desc=jobs[0][0].name if len(jobs) == 1 else "sweep",
               dynamic_ncols=True, disable=not tasks)
    full = None  # the OSError of a full disk, if one stopped the run
    stopped = None  # the KeyboardInterrupt (Ctrl-C), if one stopped the run
    refused = None  # a ConfigError a group's sampling raised: a config the head model cannot render
    try:
        for rec in run_tasks(tasks, workers, client, on_group=(lambda: bar.update(1)) if serial else None):
            if "skipped" in rec:
                left.append(rec)
                bar.update(rec["groups"])
                bar.write(f"{Path(rec['out_dir']).name}/{shard_name(rec['index'])}: skipped, {rec['skipped']}")
                continue
            e, st = rec["entry"], rec["stats"]
            if not serial:
                bar.update(e["groups"][1] - e["groups"][0])
            done_bytes += e["bytes"]
            made += 1
            n_made_views += e["views"]
            refresh_manifest(Path(rec["out_dir"]))
            bar.write(f"{Path(rec['out_dir']).name}/{e['file']}: {e['groups'][1] - e['groups'][0]} groups, "
                      f"{e['views']} views, {e['bytes'] / 1e6:.1f} MB, {st['seconds']:.1f} s "
                      f"({st['seconds'] / e['views']:.2f} s/view in its worker, {st['threads']} threads, {st['host']})")
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        full = exc
    except KeyboardInterrupt as exc:  # every shard task removes its unfinished files on the way out
        stopped = exc
    except ConfigError as exc:
        refused = exc
    finally:
        bar.close()
        try:  # the records are the truth: a manifest that cannot be rewritten now is rebuilt on resume
            manifests = [refresh_manifest(Path(out_dir)) for _, out_dir in jobs]
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                raise
            full = full or exc
    if refused is not None:  # the corrected command must not find a corpus of this config in its way
        for out_dir in started:
            forget_unstarted(out_dir, lease_timeout_s)
        raise refused
    if stopped is not None:
        raise KeyboardInterrupt(_stopped_message(stopped, jobs)) from None
    if full:
        raise DiskFull(_disk_full_message(full, jobs)) from None
    if made:
        secs = time.perf_counter() - t0
        log(f"done: {made} shard(s), {n_made_views} views, {done_bytes / 1e6:.1f} MB "
            f"in {secs:.1f} s = {secs / n_made_views:.2f} s/view wall ({n_made_views / secs:.2f} views/s)")
    if left:
        log(f"{len(left)} shard(s) left to other runs that hold them; re-run this command once they finish "
            f"or their leases go stale ({lease_timeout_s:.0f} s without a heartbeat)")
    return manifests


def forget_unstarted(out_dir: Path, lease_timeout_s: float = LEASE_TIMEOUT_S) -> bool:
    """Remove the manifest of the corpus in `out_dir` when no shard of it is done or being made: what a run that
    stopped at once (a config the head model cannot render) left, which would refuse the corrected config as
    another config's corpus. Stale leases (their holders gone: this run's workers, which joblib stops when one
    fails) go with the partial files they left. Under the corpus lock; then the folder goes too when only the
    lock's file is left in it. Best effort: whether the manifest was removed."""
    out_dir = Path(out_dir)
    try:
        if not (out_dir / MANIFEST).exists():
            return False
        with corpus_lock(out_dir):
            if any(out_dir.glob("shard-*")):  # a record or a finished tar
                return False
            leased = leased_shards(out_dir)
            holders = [holder_of(lease_path(s)) for s in leased]
            if any(h is not None and not is_stale(h, lease_timeout_s) for h in holders):
                return False  # a live run is making a shard here
            for shard in leased:
                remove_partials(shard)
                lease_path(shard).unlink(missing_ok=True)
            (out_dir / MANIFEST).unlink()
    except OSError:
        return False
    try:  # then the folder, when nothing but the lock's file is left in it
        if [p.name for p in out_dir.iterdir()] == [LOCK_FILE]:
            (out_dir / LOCK_FILE).unlink()
            out_dir.rmdir()
    except OSError:
        pass
    return True


def _kept(jobs) -> tuple[Path, int, int]:
    """(the folder the corpora of `jobs` lie under, shards done, shards in all)."""
    dirs = [Path(out_dir) for _, out_dir in jobs]
    where = Path(os.path.commonpath(dirs)) if len(dirs) > 1 else dirs[0]
    total = sum(cfg.shards for cfg, _ in jobs)
    kept = sum(1 for cfg, d in jobs for i in range(cfg.shards)
               if (rec := read_record(d, i)) and rec["entry"].get("status") == "done")
    return where, kept, total


def _disk_full_message(exc: OSError, jobs) -> str:
    """One line: the disk filled up, under which folder, which shards are kept, how to go on."""
    where, kept, total = _kept(jobs)
    return (f"disk full ({exc.strerror or exc}) writing {where}: {kept} of {total} shard(s) are done and kept, "
            f"unfinished shards were removed; free space and run the same command again to resume")


def _stopped_message(exc: KeyboardInterrupt, jobs) -> str:
    """One line: Ctrl-C stopped the render (and what it was doing, when the interrupted step said), which
    shards are kept, how to go on."""
    where, kept, total = _kept(jobs)
    said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""  # what the stopped step was doing
    doing = f"{said};" if said else "stopped by Ctrl-C (SIGINT)"
    # worker processes stopped mid-write (joblib ends them) leave hidden partial files the next run removes
    left = any(partials(Path(d) / shard_name(i)) for cfg, d in jobs for i in range(cfg.shards))
    return (f"{doing} rendering {where}: {kept} of {total} shard(s) are done and kept, "
            f"unfinished shards {'are removed by the next run' if left else 'were removed'}; run the same command "
            "again to resume")


def generate(cfg, out_dir: str | Path, shards: range | None = None, workers: int = 1,
             scheduler: str | None = None, log: Callable[[str], None] = print,
             lease_timeout_s: float = LEASE_TIMEOUT_S) -> dict:
    """Render the shards of `cfg` (all, or the `shards` range) into out_dir; returns the manifest."""
    return generate_many([(cfg, Path(out_dir))], shards, workers, scheduler, log, lease_timeout_s)[0]
