"""Per-shard leases (fast tier): a live holder on another host keeps its shard; a dead one on this
host, or a silent one anywhere, loses it."""

import json
import os
import platform
import subprocess
import sys
import time

import pytest

from relhead.datasets.lease import LeaseLost, acquire, held, lease_path, release, renew


def write_holder(shard, host, pid, age_s=0.0):
    path = lease_path(shard)
    path.write_text(json.dumps({"host": host, "pid": pid, "started": time.time() - age_s}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_acquire_renew_release(tmp_path):
    shard = tmp_path / "shard-000000.tar"
    lease = acquire(shard)
    assert held(lease) and json.loads(lease_path(shard).read_text())["pid"] == os.getpid()
    assert f"pid {os.getpid()}" in acquire(shard)  # held by a live process: this one
    renew(lease)
    release(lease)
    assert not lease_path(shard).exists()


def test_a_live_run_on_another_host_keeps_its_shard(tmp_path):
    shard = tmp_path / "shard-000003.tar"
    write_holder(shard, "render-node-7", 4242, age_s=30)
    busy = acquire(shard, timeout_s=600)
    assert isinstance(busy, str) and "render-node-7 pid 4242" in busy and "30 s ago" in busy


def test_a_silent_run_loses_its_shard_after_the_timeout(tmp_path):
    shard = tmp_path / "shard-000003.tar"
    write_holder(shard, "render-node-7", 4242, age_s=900)
    lease = acquire(shard, timeout_s=600)
    assert not isinstance(lease, str) and held(lease)


def test_a_dead_run_on_this_host_loses_its_shard_at_once(tmp_path):
    shard = tmp_path / "shard-000001.tar"
    write_holder(shard, platform.node(), dead_pid(), age_s=1)
    assert not isinstance(acquire(shard, timeout_s=600), str)


def test_a_run_whose_lease_was_taken_over_stops(tmp_path):
    shard = tmp_path / "shard-000002.tar"
    lease = acquire(shard)
    write_holder(shard, "render-node-9", 77)
    with pytest.raises(LeaseLost, match="taken over"):
        renew(lease)
    release(lease)  # not ours any more: left in place
    assert json.loads(lease_path(shard).read_text())["host"] == "render-node-9"


def test_a_run_refused_at_once_forgets_its_corpus_unless_a_shard_is_done_or_held(tmp_path):
    """What a run stopped by a config the head model cannot render leaves (datasets.generate.forget_unstarted):
    its manifest, and its stopped workers' stale leases and partial files, all go, and so does the folder; a
    finished shard or a live run's lease keeps everything."""
    from relhead.datasets.generate import forget_unstarted

    def corpus(name, *files):
        d = tmp_path / name
        d.mkdir()
        for f in ("manifest.json", ".manifest.lock", *files):
            (d / f).write_text("{}")
        return d

    stale = corpus("stale", ".shard-000001.tar.partial-vm-1")
    write_holder(stale / "shard-000001.tar", platform.node(), dead_pid())
    assert forget_unstarted(stale) and not stale.exists()
    done = corpus("done", "shard-000000.tar", "shard-000000.json")
    assert not forget_unstarted(done) and (done / "manifest.json").exists()
    live = corpus("live", ".shard-000001.tar.partial-vm-2")
    write_holder(live / "shard-000001.tar", platform.node(), os.getpid())
    assert not forget_unstarted(live) and sorted(p.name for p in live.iterdir()) == sorted(
        ["manifest.json", ".manifest.lock", ".shard-000001.tar.partial-vm-2", ".shard-000001.tar.lease"])
