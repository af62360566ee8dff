"""Training module, slow tier: exact resume through DataLoader worker processes, a run where bpy cannot
be imported, overfitting one batch, and a small model that learns relative pose from the synthetic
corpus' pose-carrying images well enough to beat the no-rotation baseline on held-out groups."""

import json

import numpy as np
import pytest
import torch

import configs
from relhead.config import resolve
from relhead.train import data as D
from relhead.train.train import resolve_training, train
from relhead.train.losses import pose_loss
from training import metrics, take

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", [1, 2])
def test_loader_workers_skip_exactly_and_resume_bit_exact(train_slow_corpus, tmp_path, workers):
    cfg = resolve_training("small-cpu", configs.TINY_TRAINING + [f"data.workers={workers}", "steps=6",
                                                                 "optim.warmup=0.5"])
    corpora = D.open_corpora([train_slow_corpus])
    full = take(iter(D.train_loader(corpora, cfg.data, cfg.data.size, "relative", seed=1)), 5)
    resumed = take(iter(D.train_loader(corpora, cfg.data, cfg.data.size, "relative", seed=1, skip_batches=3)), 2)
    for a, b in zip(full[3:], resumed):
        assert torch.equal(a["images"], b["images"]) and [m["key"] for m in a["meta"]] == [m["key"] for m in b["meta"]]
    train(cfg, [str(train_slow_corpus)], tmp_path / "straight")
    train(cfg, [str(train_slow_corpus)], tmp_path / "cut", until=4)
    train(cfg, [str(train_slow_corpus)], tmp_path / "cut", resume=True)
    losses = [[r["loss"] for r in metrics(tmp_path / run) if "loss" in r] for run in ("straight", "cut")]
    assert len(losses[0]) == 6 and losses[0] == losses[1]


def test_small_model_learns_relative_pose_from_the_images(train_slow_corpus, tmp_path):
    cfg = resolve_training("small-cpu", [
        "data.size=64", "data.batch=16", "data.workers=1", "data.holdout_every=6", "steps=250", "optim.lr=1e-3",
        "optim.warmup=0.05", "log_every=50", "checkpoint_every=0", "eval_max_pairs=0", "plot=false",
        "model.overrides={embed_dim: 96, depth: 3, num_heads: 4, head_depth: 1, head_heads: 4}"])
    result = train(cfg, [str(train_slow_corpus)], tmp_path / "run")
    pairs = list(D.eval_items(D.open_corpora([train_slow_corpus]), cfg.data, 64))
    baseline = np.mean([p["meta"]["angle_deg"] for p in pairs])  # error of predicting no rotation
    learned = result["eval"]["rot_deg"]
    print(json.dumps({"held_out_pairs": len(pairs), "identity_baseline_deg": baseline, "model_deg": learned}))
    assert learned < 0.7 * baseline, (learned, baseline)


def test_training_runs_where_bpy_cannot_be_imported(train_slow_corpus, tmp_path):
    """`relhead train`, `eval` and `predict` in a process where any import of bpy fails."""
    import subprocess
    import sys
    from pathlib import Path

    from relhead.datasets.shards import iter_groups
    from PIL import Image

    g = next(iter_groups([train_slow_corpus / "shard-000000.tar"]))
    Image.fromarray(g.image(0)).save(tmp_path / "a.png")
    Image.fromarray(g.image(1)).save(tmp_path / "q.png")
    run = tmp_path / "run"
    sets = [f"--set={s}" for s in configs.TINY_TRAINING + ["steps=2"]]
    script = f"""
import sys
for name in ("bpy", "mathutils", "bmesh", "_bpy"):
    sys.modules[name] = None
from relhead.cli import main
assert main(["train", "--data", {str(train_slow_corpus)!r}, "--out", {str(run)!r}, *{sets!r}]) == 0
assert main(["eval", "--checkpoint", {str(run)!r}, "--out", {str(tmp_path / "e.json")!r}]) == 0
assert main(["predict", "--checkpoint", {str(run)!r}, "--anchor", {str(tmp_path / "a.png")!r},
             "--query", {str(tmp_path / "q.png")!r}, "--anchor-box", "full", "--query-box", "full"]) == 0
print("ok", sorted(m for m in sys.modules if m.split(".")[0] in ("bpy", "mathutils", "bmesh") and sys.modules[m]))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "ok []"
    assert Path(tmp_path / "e.json").is_file()


def test_overfitting_one_batch_drives_the_loss_near_zero(train_slow_corpus):
    """Our loss on a real batch of pose-carrying crops (test_model.py overfits random targets)."""
    from relhead.train.runs import build_model

    cfg = resolve_training("small-cpu", configs.TINY_TRAINING + ["data.augment.enabled=false"])
    pairs = D.TrainPairs(D.open_corpora([train_slow_corpus]), cfg.data, cfg.data.size, "relative", seed=0)
    batch = take(iter(pairs), 1)[0]
    torch.manual_seed(0)
    model = build_model(cfg, log=lambda m: None).train()
    # 3e-3: at 1e-2 the trajectory is chaotic (on one thread it reached 0.08 and climbed back to 0.23 in 300
    # steps, on two it passed), at 3e-3 it passes in 116 steps on one thread and two alike
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(300):
        loss, _ = pose_loss(model(batch["images"]), batch["targets"])
        first = first or loss.item()
        if loss.item() < 0.05 * first:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first, (first, loss.item())


def test_annys_landmarks_are_their_own_mirror_image_under_the_mirror_map(head_model, test_cfg):
    """Mirrored training pairs relabel landmark i as IBUG68_MIRROR[i]: on Anny's neutral face, mirrored
    through the head frame's x = 0 plane, each landmark lands on its partner."""
    from relhead.assets.hdri import hdri_pool
    from relhead.frames import IBUG68_MIRROR
    from relhead.render.group import posed_heads
    from relhead.render.sampling import sample_group

    cfg = resolve("test", ["head.expression.neutral_fraction=1", "head.gaze_yaw_deg=[0,0]",
                           "head.gaze_pitch_deg=[0,0]"])
    head = posed_heads(sample_group(cfg, 0, head_model, hdri_pool("all").refs), head_model)[0]
    T = head.T_world_head
    L = (head.landmarks - T[:3, 3]) @ T[:3, :3]
    err = np.linalg.norm(L[list(IBUG68_MIRROR)] * [-1, 1, 1] - L, axis=1)
    # metres: a sampled identity is not exactly symmetric (up to 4 mm on the jaw); a wrong partner is cm off
    assert err.max() < 1e-2 and np.median(err) < 1e-3, err
