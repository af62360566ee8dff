"""Corpus machinery end to end on tiny corpora: the same corpus from 1 process, 2 worker processes,
a Dask cluster, and a run killed with SIGKILL then resumed; verify and the reader on damaged shards."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from relhead.cli import main
from relhead.config import resolve
from relhead.datasets.generate import generate
from relhead.datasets.manifest import read_manifest, read_record, refresh_manifest, sha256_file
from relhead.datasets.shards import CorruptShard, iter_groups, partials
from relhead.datasets.verify import verify_corpus

# 2 shards x 2 groups x 2 views at 160 px, Cycles 4 samples: about 10 s per corpus.
SMALL = ["shards=2", "groups_per_shard=2", "views=2"]


@pytest.fixture(scope="module")
def small_cfg():
    return resolve("test", SMALL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_cfg):
    """The corpus made by one process, uninterrupted."""
    out = tmp_path_factory.mktemp("ref") / "test"
    generate(small_cfg, out)
    return out


def corpus_files(out: Path) -> dict:
    """What must be identical between two makings of a corpus: manifest bytes, shard and record
    entries (bytes, sha256), and the shard list."""
    return {
        "manifest": (out / "manifest.json").read_bytes(),
        "shards": sorted(p.name for p in out.glob("shard-*.tar")),
        "records": {p.name: json.loads(p.read_text())["entry"] for p in out.glob("shard-*.json")},
    }


def test_reference_verifies(reference, small_cfg):
    problems, warns = verify_corpus(reference, progress=False)
    assert problems == [] and warns == []
    m = read_manifest(reference)
    assert [e["status"] for e in m["shards"].values()] == ["done", "done"]
    assert m["shards"]["1"]["groups"] == [2, 4] and m["shards"]["1"]["views"] == 4


def test_two_workers_make_the_same_corpus(reference, small_cfg, tmp_path):
    out = tmp_path / "test"
    generate(small_cfg, out, workers=2)
    assert corpus_files(out) == corpus_files(reference)
    pids = {read_record(out, i)["stats"]["pid"] for i in range(2)}
    assert os.getpid() not in pids  # the shards really were made in worker processes


def test_dask_cluster_makes_the_same_corpus(reference, small_cfg, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "test"
        generate(small_cfg, out, scheduler=cluster.scheduler_address)
    assert corpus_files(out) == corpus_files(reference)


def test_sigkill_mid_shard_then_resume(reference, small_cfg, tmp_path):
    """Kill `relhead render` while shard 1 is half written; re-running the same command finishes
    the corpus, equal to the uninterrupted one, with no partial file left."""
    cmd = [sys.executable, "-m", "relhead.cli", "render", "--pipeline", "test", "--out", str(tmp_path)]
    cmd += [a for s in SMALL for a in ("--set", s)]
    out = tmp_path / "test"
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
    assert corpus_files(out) == corpus_files(reference)


def _damaged_copy(reference: Path, tmp_path: Path) -> Path:
    out = tmp_path / "test"
    shutil.copytree(reference, out)
    return out


def test_verify_names_a_truncated_shard_and_the_reader_fails_the_same_way(reference, tmp_path, capsys):
    out = _damaged_copy(reference, tmp_path)
    shard = out / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shard-000001.tar: size" in err and "truncated" in err and "shard-000000.tar" not in err
    with pytest.raises(CorruptShard, match=r"shard-000001\.tar: size .*truncated"):
        list(iter_groups(sorted(out.glob("shard-*.tar"))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = [g["__key__"] for g in iter_groups(sorted(out.glob("shard-*.tar")), on_corrupt="skip")]
    assert keys == ["000000000", "000000001"] and "shard-000001.tar" in str(caught[0].message)


def test_verify_names_an_altered_shard(reference, tmp_path, capsys):
    out = _damaged_copy(reference, tmp_path)
    shard = out / "shard-000000.tar"
    data = bytearray(shard.read_bytes())
    data[5000] ^= 0xFF  # same size, one byte changed
    shard.write_bytes(bytes(data))
    assert main(["verify", str(out), "--quick"]) == 1
    assert "shard-000000.tar: sha256" in capsys.readouterr().err


def test_reader_without_manifest_names_a_broken_tar(reference, tmp_path):
    shard = tmp_path / "shard-000000.tar"
    src = (reference / "shard-000000.tar").read_bytes()
    shard.write_bytes(src[: len(src) // 3])
    with pytest.raises(CorruptShard, match=r"shard-000000\.tar: unreadable"):
        list(iter_groups([shard]))


def test_verify_checks_the_ground_truth_not_just_hashes(reference, tmp_path, capsys):
    """A shard whose hash is re-recorded after its metadata was broken still fails: R not a
    rotation, and a pair whose R_rel no longer matches the views."""
    out = _damaged_copy(reference, tmp_path)
    shard = out / "shard-000000.tar"
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tar:
        for m, data in members:
            if m.name == "000000001.meta.json":
                meta = json.loads(data)
                meta["views"][1]["R"] = (2 * np.asarray(meta["views"][1]["R"])).tolist()
                data = json.dumps(meta).encode()
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    rec_path = out / "shard-000000.json"
    rec = json.loads(rec_path.read_text())
    rec["entry"].update(bytes=shard.stat().st_size, sha256=sha256_file(shard))
    rec_path.write_text(json.dumps(rec))
    refresh_manifest(out)
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shard-000000.tar: group 000000001: view 1: R is not a rotation" in err
    assert "do not carry the anchor pose to the query pose" in err


def test_verify_refuses_a_folder_without_manifest(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 1
    assert "manifest.json: missing" in capsys.readouterr().err


def test_bad_parallel_options_are_config_errors(tmp_path, capsys):
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--workers 0" in err and "exclude each other" in err
    assert not list(tmp_path.iterdir())
