"""Training in two processes on the CPU (torchrun, gloo; slow tier): the shards are split by rank, the
gradients averaged (both processes end with the same weights), one process writes the run folder, and
--resume across a restart continues exactly where an uninterrupted run would."""

import json
import os
import subprocess
import sys

import pytest

import configs
from relhead.train import data as D
from training import tiny

pytestmark = pytest.mark.slow


def torchrun(*args, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "relhead.cli", "train", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def losses(run):
    return [(r["step"], r["loss"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "loss" in r]


def test_each_rank_reads_its_own_share_of_the_groups(train_corpus):
    corpora = D.open_corpora([train_corpus])
    ds = D.TrainPairs(corpora, tiny().data, 48, "relative", seed=0)
    mine = [{d.group.meta["group"] for d, _ in zip(ds.draws(slot, 2), range(2))} for slot in (0, 1)]
    assert mine[0].isdisjoint(mine[1]) and mine[0] | mine[1] == {0, 1, 3, 4}


def test_two_processes_train_one_model_and_resume_across_a_restart(train_corpus, tmp_path):
    sets = sum((["--set", s] for s in configs.TINY_TRAINING + ["steps=4", "checkpoint_every=2"]), [])
    straight = tmp_path / "straight"
    torchrun("--data", str(train_corpus), "--out", str(straight), *sets)
    log = (straight / "log.txt").read_text()
    assert log.count("done: step 4") == 1 and "batch 4x1 x 2 processes" in log
    assert "weights identical in all 2 processes" in log
    assert [s for s, _ in losses(straight)] == [1, 2, 3, 4]  # one writer: each step logged once
    assert json.loads((straight / "config.json").read_text())["processes"] == 2
    import torch

    assert len(torch.load(straight / "checkpoint" / "state.pt", weights_only=True)["rng"]) == 2

    cut = tmp_path / "cut"
    torchrun("--data", str(train_corpus), "--out", str(cut), "--until", "2", *sets)
    assert [s for s, _ in losses(cut)] == [1, 2]
    torchrun("--out", str(cut), "--resume")
    assert "resumed at step 2" in (cut / "log.txt").read_text()
    assert losses(cut) == losses(straight)  # the same batches on every rank, the same averaged gradients
