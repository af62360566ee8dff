"""Corpus machinery end to end on tiny rendered corpora (slow tier): the same corpus from 1 process
(3 numpy/torch threads), 2 worker processes and a Dask cluster (1 thread each), and a run killed with
SIGKILL then resumed; shard leases."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import configs
from relhead.config import resolve
from relhead.datasets.generate import generate
from relhead.datasets.manifest import read_manifest, read_record
from relhead.datasets.shards import partials
from relhead.datasets.verify import verify_corpus

pytestmark = pytest.mark.slow


def corpus_files(out: Path) -> dict:
    """What must be identical between two makings of a corpus: manifest bytes, shard and record
    entries (bytes, sha256), and the shard list."""
    return {
        "manifest": (out / "manifest.json").read_bytes(),
        "shards": sorted(p.name for p in out.glob("shard-*.tar")),
        "records": {p.name: json.loads(p.read_text())["entry"] for p in out.glob("shard-*.json")},
    }


def test_reference_verifies(small_corpus, small_cfg):
    problems, warns = verify_corpus(small_corpus, progress=False)
    assert problems == [] and warns == []
    m = read_manifest(small_corpus)
    assert [e["status"] for e in m["shards"].values()] == ["done", "done"]
    assert m["shards"]["1"]["groups"] == [2, 4] and m["shards"]["1"]["views"] == 4


def test_two_workers_make_the_same_corpus(small_corpus, small_cfg, tmp_path):
    out = tmp_path / "test"
    generate(small_cfg, out, workers=2)
    assert corpus_files(out) == corpus_files(small_corpus)
    pids = {read_record(out, i)["stats"]["pid"] for i in range(2)}
    assert os.getpid() not in pids  # the shards really were made in worker processes


def test_dask_cluster_makes_the_same_corpus(small_corpus, small_cfg, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "test"
        generate(small_cfg, out, scheduler=cluster.scheduler_address)
    assert corpus_files(out) == corpus_files(small_corpus)


def test_sigkill_mid_shard_then_resume(small_corpus, small_cfg, tmp_path):
    """Kill `relhead render` while shard 1 is half written; re-running the same command finishes
    the corpus, equal to the uninterrupted one, with no partial file left."""
    cmd = [sys.executable, "-m", "relhead.cli", "render", "--pipeline", configs.SMALL_PIPELINE, "--out", str(tmp_path)]
    cmd += [a for s in configs.SMALL for a in ("--set", s)]
    out = tmp_path / configs.SMALL_PIPELINE
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            # shard 0 finished and shard 1's first group written: kill in the middle of shard 1
            if (out / "shard-000000.tar").exists() and any(p.stat().st_size > 0 for p in partials(out / "shard-000001.tar")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    assert not (out / "shard-000001.tar").exists() and partials(out / "shard-000001.tar")
    assert read_manifest(out)["shards"]["1"]["status"] == "todo"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert not list(out.glob(".*partial*"))
    assert corpus_files(out) == corpus_files(small_corpus)


def test_a_shard_leased_by_a_live_run_elsewhere_is_left_alone(tmp_path):
    """Shard 1 is being rendered by a live run on another host: this run makes shard 0 only and
    leaves the other run's lease and partial file; once that lease goes stale, a re-run takes the
    shard over and finishes the corpus."""
    from relhead.datasets.lease import lease_path

    cfg = resolve("test", ["head.model=fake", "shards=2", "groups_per_shard=1", "views=2",
                           "image.width=64", "image.height=64"])
    out = tmp_path / "test"
    out.mkdir()
    shard1 = out / "shard-000001.tar"
    lease_path(shard1).write_text(json.dumps({"host": "render-node-7", "pid": 4242, "started": time.time()}))
    theirs = out / ".shard-000001.tar.partial-render-node-7-4242"
    theirs.write_bytes(b"half a shard")
    logs = []
    generate(cfg, out, log=logs.append)
    m = read_manifest(out)
    assert [m["shards"][i]["status"] for i in "01"] == ["done", "todo"]
    assert theirs.exists() and lease_path(shard1).exists()
    assert any("left to other runs" in line for line in logs)
    old = time.time() - 3600
    os.utime(lease_path(shard1), (old, old))  # the other host died an hour ago
    generate(cfg, out, log=lambda *_: None)
    assert read_manifest(out)["shards"]["1"]["status"] == "done"
    assert not theirs.exists() and not lease_path(shard1).exists()
    assert verify_corpus(out, progress=False) == ([], [])


def test_groups_read_from_a_list_of_shards_one_shard_or_the_corpus_folder(synthetic_dir, tmp_path):
    from relhead.datasets.shards import iter_groups

    shards = sorted(synthetic_dir.glob("shard-*.tar"))
    keys = [g.key for g in iter_groups(shards)]
    assert len(shards) >= 1 and keys
    assert [g.key for g in iter_groups(synthetic_dir)] == keys == [g.key for g in iter_groups(str(synthetic_dir))]
    assert [g.key for g in iter_groups(str(shards[0]))] == [g.key for g in iter_groups(shards[:1])]
    with pytest.raises(FileNotFoundError, match="no shard-"):
        list(iter_groups(tmp_path))
