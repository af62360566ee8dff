"""Training module on synthetic corpora (fake head splatted with its pose, no Blender): crops and K,
pose targets, the held-out split, the loader's determinism, the loss, `relhead train/eval/predict`
end to end, exact resume, corrupt shards and bad configs."""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import configs
from relhead.cli import main
from relhead.config import resolve
from relhead.configbase import ConfigError
from relhead.datasets.shards import CorruptShard, iter_groups
from relhead.frames import encoding_to_pose, mirror_pose, project, relative_transform
from relhead.train import data as D
from relhead.train.losses import LossCfg, pose_loss
from relhead.train.train import resolve_training, train
from synthetic import synthetic_corpus, synthetic_group
from training import metrics, take, tiny

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------- crops and targets
def test_crop_intrinsics_put_projected_landmarks_where_the_crop_put_them(train_cfg, fake_model):
    from relhead.render.group import posed_heads
    from relhead.render.sampling import sample_group
    from relhead.assets.hdri import hdri_pool

    g = synthetic_group(train_cfg, 1)
    spec = sample_group(train_cfg, 1, fake_model, hdri_pool("all").refs)
    rng = np.random.default_rng(0)
    for v, p in zip(g.views, posed_heads(spec, fake_model)):
        lab = v.labels
        T = p.T_world_head
        lm_head = (p.landmarks - T[:3, 3]) @ T[:3, :3]
        x0, y0, side = D.square_crop(lab.face_box, 64, 64, rng.uniform(0.4, 0.6), rng.uniform(-0.01, 0.01, 2),
                                     rng.uniform(0.9, 1.1))
        assert 0 <= x0 and 0 <= y0 and x0 + side <= 64 + 1e-9 and y0 + side <= 64 + 1e-9
        size = 42
        K = D.crop_intrinsics(lab.K, x0, y0, side, size)
        uv, _ = project(K, lab.R, lab.t, lm_head)
        np.testing.assert_allclose(uv, (lab.landmarks - [x0, y0]) * size / side, atol=1e-9)
        # the pixels agree: a bright dot painted at a landmark lands at its projection in the crop
        img = np.zeros((64, 64, 3), np.uint8)
        u, w = lab.landmarks[30]
        img[int(w), int(u)] = 255
        crop = D.crop_image(img, x0, y0, side, size)[0].numpy()
        peak = np.unravel_index(crop.argmax(), crop.shape)
        expect = ((np.floor([u, w]) + 0.5 - [x0, y0]) * size / side)  # the painted pixel's centre
        assert np.abs(np.array(peak[::-1]) + 0.5 - expect).max() <= 1.0


def test_square_crop_is_clamped_to_the_image():
    x0, y0, side = D.square_crop([0, 0, 30, 20], 64, 48, margin=0.5)
    assert (x0, y0, side) == (0, 0, 48)  # side clamped to min(W, H), the square moved inside
    x0, y0, side = D.square_crop([50, 10, 60, 20], 64, 64, margin=0.5)
    assert side == 20 and x0 == 44 and y0 == 5


def test_pose_targets_round_trip(train_cfg):
    g = synthetic_group(train_cfg, 0)
    a, q = g.views[0].labels, g.views[2].labels
    K_a, K_q = D.crop_intrinsics(a.K, 3, 4, 50, 56), D.crop_intrinsics(q.K, 5, 2, 44, 56)
    meta = {"R_a": a.R, "t_a": a.t, "R_q": q.R, "t_q": q.t, "K_a": K_a, "K_q": K_q}
    enc = D.targets(meta, 56, "relative")
    R, t, K = encoding_to_pose(enc, 56, 56)
    R_rel, t_rel = relative_transform(a.R, a.t, q.R, q.t)
    np.testing.assert_allclose(R[0], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(t[0], 0, atol=1e-12)
    np.testing.assert_allclose(R[1], R_rel, atol=1e-9)
    np.testing.assert_allclose(t[1], t_rel, atol=1e-12)
    np.testing.assert_allclose(R[1] @ a.R, q.R, atol=1e-9)  # R_q = R_rel R_a
    np.testing.assert_allclose([K[0][0, 0], K[1][1, 1]], [K_a[0, 0], K_q[1, 1]], rtol=1e-9)  # fov kept focal
    R1, t1, _ = encoding_to_pose(D.targets(meta, 56, "absolute")[0], 56, 56)
    np.testing.assert_allclose(R1, q.R, atol=1e-9)
    np.testing.assert_allclose(t1, q.t, atol=1e-12)


def test_evaluation_crops_lie_at_the_centre_of_the_training_crops(train_corpus):
    """One crop rule: an evaluation (and prediction) crop is the centre of the training crops' distribution,
    inside their range of scales and at their mean side, centred on the face box."""
    crop = resolve_training("small-cpu").data.crop
    rng = np.random.default_rng(0)
    box = [400.0, 500.0, 460.0, 580.0]  # larger side 80
    sides = np.array([D.square_crop(box, 4000, 4000, *crop.draw(rng))[2] for _ in range(4000)])
    x0, y0, side = D.square_crop(box, 4000, 4000, *crop.centre())
    assert sides.min() < side < sides.max() and side == pytest.approx(sides.mean(), rel=0.01)
    assert (x0 + side / 2, y0 + side / 2) == pytest.approx((430.0, 540.0))
    # the same on a corpus: per view, the evaluation crop's focal length (size / side) among the training ones'
    corpora = D.open_corpora([train_corpus])
    cfg = tiny("data.augment.enabled=false").data
    ds = D.TrainPairs(corpora, cfg, 48, "relative", seed=0)
    evals = {(it["meta"]["group"], it["meta"]["anchor"]): it["meta"]["K_a"][0, 0] for it in D.eval_items(corpora, cfg, 48)}
    groups = {int(g.meta["group"]): g for g in iter_groups(corpora[0].shards)}
    for (gid, view), f_eval in evals.items():
        f_train = [ds.item(D.PairDraw(0, groups[gid], view, (view + 1) % 3, (j,)))["meta"]["K_a"][0, 0]
                   for j in range(50)]
        assert min(f_train) <= f_eval <= max(f_train)  # (64 px images: some crops reach the image size)
        assert f_eval == pytest.approx(np.median(f_train), rel=0.05)


def test_a_mirrored_training_pair_is_the_flipped_images_with_mirrored_poses(train_corpus):
    corpora = D.open_corpora([train_corpus])
    g = next(iter_groups(corpora[0].shards))
    plain = tiny("data.augment.enabled=false", "data.flip=0").data
    flipped = tiny("data.augment.enabled=false", "data.flip=1.0").data
    d = D.PairDraw(0, g, 0, 2, (7,))
    for mode in ("relative", "absolute"):
        a = D.TrainPairs(corpora, plain, 48, mode, seed=0).item(d)
        b = D.TrainPairs(corpora, flipped, 48, mode, seed=0).item(d)
        assert torch.equal(b["images"], a["images"].flip(-1)) and b["meta"]["mirrored"]
        for f in ("a", "q"):
            R, t = mirror_pose(a["meta"][f"R_{f}"], a["meta"][f"t_{f}"])
            np.testing.assert_allclose(b["meta"][f"R_{f}"], R)
            np.testing.assert_allclose(b["meta"][f"t_{f}"], t)
        R_b, t_b, _ = encoding_to_pose(b["targets"], 48, 48)
        R_a, t_a, _ = encoding_to_pose(a["targets"], 48, 48)
        for i in range(len(R_a)):  # the targets are the mirrored targets
            R, t = mirror_pose(R_a[i], t_a[i])
            np.testing.assert_allclose(R_b[i], R, atol=1e-9)
            np.testing.assert_allclose(t_b[i], t, atol=1e-9)


def test_landmark_targets_sit_at_the_landmarks_projections_mirrored_or_not(train_cfg, train_corpus, fake_model):
    from relhead.assets.hdri import hdri_pool
    from relhead.frames import IBUG68_MIRROR
    from relhead.render.group import posed_heads
    from relhead.render.sampling import sample_group

    corpora = D.open_corpora([train_corpus])
    g = next(iter_groups(corpora[0].shards))
    spec = sample_group(train_cfg, int(g.meta["group"]), fake_model, hdri_pool("all").refs)
    heads = posed_heads(spec, fake_model)
    F = np.array([-1.0, 1.0, 1.0])
    for flip in (0.0, 1.0):
        cfg = tiny("data.augment.enabled=false", f"data.flip={flip}").data
        for seed in range(3):
            item = D.TrainPairs(corpora, cfg, 48, "relative", seed=0).item(D.PairDraw(0, g, 1, 2, (seed,)))
            m = item["meta"]
            for frame, (view, f) in enumerate(((1, "a"), (2, "q"))):
                T = heads[view].T_world_head
                L = (heads[view].landmarks - T[:3, 3]) @ T[:3, :3]  # head-frame landmarks
                if flip:  # the mirror image's landmark i is the mirrored head's landmark IBUG68_MIRROR[i]
                    L = (L * F)[list(IBUG68_MIRROR)]
                uv, _ = project(m[f"K_{f}"], m[f"R_{f}"], m[f"t_{f}"], L)
                np.testing.assert_allclose(item["landmarks"][frame].numpy() * 48, uv, atol=1e-3)


def test_the_mirror_map_pairs_each_landmark_with_its_mirror_image(fake_model, test_cfg):
    from relhead.assets.hdri import hdri_pool
    from relhead.frames import IBUG68_MIRROR
    from relhead.render.group import posed_heads
    from relhead.render.sampling import sample_group

    M = np.array(IBUG68_MIRROR)
    assert sorted(M) == list(range(68)) and (M[M] == np.arange(68)).all()  # a permutation, its own inverse
    cfg = resolve("test", ["head.model=fake", "pose.yaw_deg=[0,0]", "pose.pitch_deg=[0,0]", "pose.roll_deg=[0,0]"])
    head = posed_heads(sample_group(cfg, 0, fake_model, hdri_pool("all").refs), fake_model)[0]
    T = head.T_world_head
    L = (head.landmarks - T[:3, 3]) @ T[:3, :3]
    np.testing.assert_allclose(L[M] * [-1, 1, 1], L, atol=2e-3)  # the fake face is symmetric


# --------------------------------------------------------------------------------- split and loader
def test_held_out_split_is_by_id_and_disjoint(train_corpus):
    corpora = D.open_corpora([train_corpus])
    cfg = tiny().data
    assert D.split_counts(corpora, 3) == (4, 2)
    ds = D.TrainPairs(corpora, cfg, 42, "relative", seed=0)
    train_ids = {d.group.meta["group"] for d in take(ds.draws(0, 1), 40)}
    items = list(D.eval_items(corpora, cfg, 42))
    eval_ids = [it["meta"]["group"] for it in items]
    assert train_ids == {0, 1, 3, 4} and set(eval_ids) == {2, 5}
    assert len(items) == 2 * 3 * 2  # every ordered pair of each held-out group
    again = list(D.eval_items(corpora, cfg, 42))
    assert all(torch.equal(x["images"], y["images"]) and x["meta"]["key"] == y["meta"]["key"]
               for x, y in zip(items, again))
    for it in items:
        m = it["meta"]
        assert it["images"].shape == (2, 3, 42, 42) and 0 <= it["images"].min() and it["images"].max() <= 1
        assert set(m["tags"]) <= {"easy", "hard", "neutral-anchor"}
        assert ("easy" in m["tags"]) == (m["angle_deg"] <= 30) and ("hard" in m["tags"]) == (m["angle_deg"] >= 45)


def test_loader_is_deterministic_and_skips_exactly(train_corpus):
    corpora = D.open_corpora([train_corpus])
    cfg = tiny().data
    full = take(iter(D.TrainPairs(corpora, cfg, 42, "relative", seed=5)), 5)
    resumed = take(iter(D.TrainPairs(corpora, cfg, 42, "relative", seed=5, skip_batches=3)), 2)
    for a, b in zip(full[3:], resumed):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["targets"], b["targets"])
        assert [m["key"] for m in a["meta"]] == [m["key"] for m in b["meta"]]
    other = take(iter(D.TrainPairs(corpora, cfg, 42, "relative", seed=6)), 1)
    assert not torch.equal(full[0]["images"], other[0]["images"])
    b = full[0]
    assert b["images"].shape == (4, 2, 3, 42, 42) and b["targets"].shape == (4, 2, 9)
    for m in b["meta"]:
        assert m["anchor"] != m["query"] and m["group"] % 3 != 2
    absolute = take(iter(D.TrainPairs(corpora, cfg, 42, "absolute", seed=5)), 1)[0]
    assert absolute["images"].shape == (4, 1, 3, 42, 42)
    assert [m["key"] for m in absolute["meta"]] == [m["key"] for m in b["meta"]]  # the same draws


def test_augmentation_is_seeded_and_leaves_the_global_stream_alone():
    aug = D.Augmenter(D.AugmentCfg(color_p=1.0, same_color_p=0.0, noise_p=1.0))
    x = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(123)
    y1 = aug(x.clone(), 7)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after)
    assert torch.equal(aug(x.clone(), 7), y1) and not torch.equal(aug(x.clone(), 8), y1)
    assert not torch.equal(y1, x) and 0 <= y1.min() and y1.max() <= 1


# ------------------------------------------------------------------------------------------- loss
def test_loss_weights_parts_iterations_and_ignores_the_anchor_by_default():
    target = torch.zeros(1, 2, 9)
    pred = torch.zeros(1, 2, 9)
    pred[0, 1, :3], pred[0, 1, 3:7], pred[0, 1, 7:] = 0.3, 0.2, 0.4  # query errors: t 0.3, q 0.2, fov 0.4
    preds = [pred * 2, pred]  # iteration 0 has twice the error
    total, parts = pose_loss(preds, target)
    per_iter = 1.0 * 0.3 + 1.0 * 0.2 + 0.5 * 0.4
    assert total.item() == pytest.approx((0.6 * 2 * per_iter + per_iter) / 2)
    assert parts == pytest.approx({"t": 0.3, "q": 0.2, "fov": 0.4})
    moved = [p.clone() for p in preds]
    for p in moved:
        p[0, 0] += 5.0  # the anchor frame: unsupervised by default
    assert pose_loss(moved, target)[0].item() == pytest.approx(total.item())
    assert pose_loss(moved, target, LossCfg(anchor=1.0))[0].item() > total.item()


def test_the_geodesic_rotation_loss_is_the_angle_between_the_rotations():
    from scipy.spatial.transform import Rotation

    from relhead.train.losses import quat_angle

    rng = np.random.default_rng(0)
    p, q = Rotation.random(50, random_state=rng), Rotation.random(50, random_state=rng)
    scale = rng.uniform(0.2, 3.0, (50, 1))  # a network's quaternion need not be unit, nor w >= 0
    sign = rng.choice([-1.0, 1.0], (50, 1))
    got = quat_angle(torch.tensor(p.as_quat() * scale * sign), torch.tensor(q.as_quat()))
    np.testing.assert_allclose(got.numpy(), (p * q.inv()).magnitude(), atol=1e-9)
    same = torch.tensor(q.as_quat()[:3] * 2.0, requires_grad=True)  # equal rotations: zero, finite gradient
    angle = quat_angle(same, torch.tensor(q.as_quat()[:3]))
    angle.sum().backward()
    assert angle.abs().max() < 1e-6 and torch.isfinite(same.grad).all()
    # in the loss: the rotation part is that angle, and translation errors do not enter it
    target = torch.zeros(2, 2, 9)
    target[..., 6] = 1.0
    pred = target.clone()
    pred[:, 1, 3:7] = torch.tensor(Rotation.from_euler("y", 30, degrees=True).as_quat())
    pred[:, 1, :3] = 5.0
    _, parts = pose_loss([pred], target, LossCfg(rot="geodesic"))
    assert parts["q"] == pytest.approx(np.radians(30)) and parts["t"] == pytest.approx(5.0)


# -------------------------------------------------------------------------------- runs and the CLI
def test_train_eval_predict_end_to_end(train_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(train_corpus), "--out", str(run), "--set", "steps=25", "--set", "optim.lr=3e-3",
            "--set", "optim.warmup=0", "--set", "data.augment.enabled=false"]
    assert main(args + sum((["--set", s] for s in configs.TINY_TRAINING), []) + ["--set", "plot=true"]) == 0
    rows = [r for r in metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 26))
    # the loss fell: step 1 logged the initial model's loss on the first batch; the trained model's on it
    from relhead.train.runs import load_run

    cfg, model = load_run(run)
    first_batch = next(iter(D.train_loader(D.open_corpora([train_corpus]), cfg.data, cfg.size, cfg.mode, cfg.seed)))
    with torch.no_grad():
        final = pose_loss(model(first_batch["images"]), first_batch["targets"])[0].item()
    assert final < 0.8 * rows[0]["loss"], (rows[0]["loss"], final)
    assert {"t", "q", "fov", "lr", "grad_norm"} <= set(rows[0])
    assert (run / "curve.png").stat().st_size > 0 and (run / "checkpoint" / "model.safetensors").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["steps"] == 25 and cfg["data"] == [str(train_corpus.resolve())]
    state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    assert state["step"] == 25 and state["data"]["batches"] == 25

    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--out", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr().out
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["pairs"] == 12 and res["groups"] == 2 and "hard" in printed
    overall = res["relative"]["overall"]
    assert overall["n"] == 12 and 0 <= overall["rot_deg"] <= 180 and overall["t_m"] >= 0
    assert sum(b["n"] for b in res["relative"]["query_angle"].values()) == 12
    assert res["relative"]["easy"]["n"] + res["relative"]["hard"]["n"] <= 12
    assert res["query"]["overall"]["rot_deg"] == pytest.approx(overall["rot_deg"])  # R_rel R_a: same geodesic
    # in-run evaluations: the network alone at every one; the last step also with the test-time variants,
    # which are what `relhead eval` applies (the same pairs, the same model)
    evals = [r for r in metrics(run) if "eval" in r]
    assert cfg["config"]["test_time"] and all(r["eval"]["test_time"] == [] for r in evals)
    assert [r["step"] for r in evals if "eval_test_time" in r] == [25]
    assert evals[-1]["eval_test_time"]["test_time"] == cfg["config"]["test_time"]
    assert evals[-1]["eval_test_time"]["rot_deg"] == pytest.approx(overall["rot_deg"], abs=1e-9)
    from relhead.train.eval import evaluate

    run_cfg, model = load_run(run)
    plain = evaluate(model, run_cfg.model_copy(update={"test_time": []}), D.open_corpora([train_corpus]),
                     torch.device("cpu"), False)["relative"]["overall"]["rot_deg"]
    assert evals[-1]["eval"]["rot_deg"] == pytest.approx(plain, abs=1e-9) != pytest.approx(overall["rot_deg"])

    g = next(iter_groups([train_corpus / "shard-000000.tar"]))
    Image.fromarray(g.image(0)).save(tmp_path / "a.png")
    Image.fromarray(g.image(1)).save(tmp_path / "q.png")
    box = ",".join(f"{v:.2f}" for v in g.views[0]["face_box"])
    base = ["predict", "--checkpoint", str(run), "--anchor", str(tmp_path / "a.png"),
            "--query", str(tmp_path / "q.png"), "--anchor-box", "full", "--query-box", "full"]  # no MTCNN here
    assert main(base + ["--anchor-box", box, "--anchor-pose", "10,-5,2"]) == 0
    out = json.loads(capsys.readouterr().out)
    R_rel = np.array(out["R_rel"])
    np.testing.assert_allclose(R_rel @ R_rel.T, np.eye(3), atol=1e-6)
    from relhead.frames import euler_to_matrix

    np.testing.assert_allclose(np.array(out["query"]["R"]), R_rel @ euler_to_matrix(10, -5, 2), atol=1e-9)
    assert set(out["relative_euler_deg"]) == {"yaw", "pitch", "roll"}

    from relhead.train.predict import Predictor

    p = Predictor.from_checkpoint(run)
    api = p.predict(g.image(0), g.image(1), anchor_box=g.views[0]["face_box"])
    np.testing.assert_allclose(api["R_rel"], out["R_rel"], atol=1e-4)  # PNG round trip, same crop

    for bad in (["--anchor-box", "1,2,3"], ["--anchor-box", "10,10,5,50"], ["--query-box", "0,0,99,40"],
                ["--anchor-pose", "1,2"]):
        assert main(base + bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("relhead: config error: --") and "\n" not in err, err
    assert main(base[:3] + ["--anchor", str(tmp_path / "none.png"), "--query", str(tmp_path / "q.png")]) == 2
    assert "--anchor" in capsys.readouterr().err


def test_resume_gives_the_same_next_losses_bit_exact(train_corpus, tmp_path):
    cfg = tiny("steps=6", "optim.warmup=0.5")  # augmentation on: its seeds must resume too
    train(cfg, [str(train_corpus)], tmp_path / "straight")
    train(cfg, [str(train_corpus)], tmp_path / "cut", until=3)
    assert [r["step"] for r in metrics(tmp_path / "cut") if "loss" in r] == [1, 2, 3]
    train(cfg, [str(train_corpus)], tmp_path / "cut", resume=True)
    straight = [r["loss"] for r in metrics(tmp_path / "straight") if "loss" in r]
    resumed = [r["loss"] for r in metrics(tmp_path / "cut") if "loss" in r]
    assert len(straight) == 6 and resumed == straight  # exactly equal floats


def test_lora_from_init_and_the_absolute_twin(train_corpus, tmp_path, capsys):
    from safetensors.torch import save_file

    from relhead.train.model import RelPoseModel

    torch.manual_seed(0)
    base = RelPoseModel(tiny().net_config())
    extra = {"depth_head.w": torch.zeros(2)}
    save_file({**base.state_dict(), **extra}, str(tmp_path / "base.safetensors"))
    run = tmp_path / "lora"
    args = ["train", "--data", str(train_corpus), "--out", str(run), "--init", str(tmp_path / "base.safetensors"),
            "--mode", "absolute", "--set", "finetune=lora", "--set", "lora.rank=2", "--set", "steps=3"]
    assert main(args + sum((["--set", s] for s in configs.TINY_TRAINING), [])) == 0
    assert "1 tensors not in the model ignored: depth_head.w" in (run / "log.txt").read_text()
    assert (run / "checkpoint" / "adapter.safetensors").is_file()
    assert not (run / "checkpoint" / "model.safetensors").exists()
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--out", str(tmp_path / "e.json")]) == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["mode"] == "absolute" and res["pairs"] == 12
    # the absolute twin's query error is its own prediction, not the relative one re-based
    assert res["query"]["overall"]["rot_deg"] != pytest.approx(res["relative"]["overall"]["rot_deg"])


def test_the_cnn_baseline_trains_and_a_run_evaluates_corpora_it_never_saw(train_corpus, tmp_path, capsys):
    """`relhead eval --data OTHER` scores every group of a corpus the run did not train on (the held-out
    rule is the training corpora's); `--split held-out` keeps the rule, and says so when it finds none."""
    other = synthetic_corpus(resolve("test", configs.TRAIN[:1] + ["shards=1", "groups_per_shard=2", "views=3",
                                                          "image.width=64", "image.height=64", "seed=99"]),
                             tmp_path / "other")
    run = tmp_path / "cnn"
    tiny_cnn = ([s for s in configs.TINY_TRAINING if not s.startswith("model.overrides")]
                + ["model.overrides={cnn_width: 8, embed_dim: 32}"])
    assert main(["train", "--data", str(train_corpus), "--out", str(run), "--training", "cnn-cpu", "--set", "steps=3",
                 *sum((["--set", s] for s in tiny_cnn), [])]) == 0
    assert "cnn relative scratch" in (run / "log.txt").read_text()
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--data", str(other), "--out", str(tmp_path / "o.json")]) == 0
    res = json.loads((tmp_path / "o.json").read_text())
    assert res["groups"] == 2 and res["pairs"] == 2 * 3 * 2 and res["groups_evaluated"] == {"other": "all"}
    assert "other: all" in capsys.readouterr().out
    both = ["eval", "--checkpoint", str(run), "--data", str(train_corpus), "--data", str(other),
            "--out", str(tmp_path / "b.json")]
    assert main(both) == 0  # the trained-on corpus: its held-out groups 2 and 5; the other: all of it
    res = json.loads((tmp_path / "b.json").read_text())
    assert res["groups"] == 4 and res["groups_evaluated"] == {"fake": "held-out", "other": "all"}
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--data", str(other), "--split", "held-out",
                 "--out", str(tmp_path / "h.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no held-out groups in other" in err and "--split all" in err and "\n" not in err
    assert not (tmp_path / "h.json").exists()


# ------------------------------------------------------------------------------------------ errors
def test_a_corrupt_shard_fails_or_is_skipped_as_configured(train_corpus, tmp_path, capsys):
    bad = tmp_path / "fake"
    shutil.copytree(train_corpus, bad)
    shard = bad / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    args = ["train", "--data", str(bad), "--set", "steps=2", *sum((["--set", s] for s in configs.TINY_TRAINING), [])]
    assert main(args + ["--out", str(tmp_path / "r1")]) == 2
    err = capsys.readouterr().err.strip()
    assert "shard-000001.tar: size" in err and "\n" not in err, err
    with pytest.raises(CorruptShard):
        train(tiny("steps=1"), [str(bad)], tmp_path / "r2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(args + ["--out", str(tmp_path / "r3"), "--set", "data.on_corrupt=skip"]) == 0
    assert any("skipping corrupt shard" in str(w.message) for w in caught)


@pytest.mark.parametrize("args, expect", [
    (["--set", "optim.lr=-1"], "optim.lr: Input should be greater than 0"),
    (["--set", "data.sise=3"], "data.sise: unknown key; allowed here: augment, batch"),
    (["--set", "finetune=lora"], "init: finetune 'lora' needs a checkpoint"),
    (["--set", "data.size=50"], "data.size: must be a multiple of the patch size 16"),
    (["--set", "model.overrides={depht: 2}"], "model.overrides: unknown model field 'depht'"),
    (["--set", "data.crop.margin=[0.6,0.4]"], "data.crop.margin: [min, max] needs min <= max"),
    (["--training", "nope"], "training 'nope' not found; known: cnn-cpu, small-cpu, small-cpu-bridge, vggt-1b-lora"),
    (["--init", "/no/such.pt"], "--init /no/such.pt: no such file"),
    (["--resume"], "--resume:"),
    (["--set", "data.workers=9"], "data.workers: 9 loader workers in 1 process(es) need at least"),
    (["--set", "data.holdout_every=2", "--data", "/nope"], "--data /nope: not a corpus folder"),
])
def test_bad_training_configs_are_one_line_exit_2_nothing_written(train_corpus, tmp_path, capsys, args, expect):
    out = tmp_path / "run"
    assert main(["train", "--data", str(train_corpus), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"relhead: config error: {expect}") and "\n" not in err, err
    assert not out.exists()


def test_an_existing_run_is_not_overwritten(train_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep").write_text("x")
    assert main(["train", "--data", str(train_corpus), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["keep"]


def test_named_trainings_resolve():
    small, big = resolve_training("small-cpu"), resolve_training("vggt-1b-lora", values={"init": "/x.pt"})
    assert small.size == 96 and small.finetune == "scratch" and small.optim.lr == 1e-3
    assert small.loss.rot == "geodesic" and small.loss.landmarks > 0 and small.data.flip == 0.5
    cnn = resolve_training("cnn-cpu")
    assert cnn.model.preset == "cnn" and cnn.loss.landmarks == 0 and cnn.optim == small.optim and cnn.data == small.data
    assert big.size == 518 and big.finetune == "lora" and big.lora.rank == 8 and big.lora.alpha == 16
    assert big.precision == "bf16" and big.data.crop.margin == (0.4, 0.6) and big.loss.fov == 0.5
    with pytest.raises(ConfigError, match="init: finetune 'lora' needs"):
        resolve_training("vggt-1b-lora")


def test_a_resumed_stream_skips_by_the_shards_headers_and_then_matches_the_straight_one(train_corpus, tmp_path,
                                                                                     monkeypatch):
    """Skipping 40 batches (several epochs of this corpus, far past the shuffle buffer) reads no group;
    the batches after it are the straight stream's, image for image. The headers give each shard's
    groups as the reader does, and a changed shard is refused as the reader refuses it."""
    from relhead.datasets import shards as shards_mod
    from relhead.datasets.shards import CorruptShard, iter_groups, shard_index
    from relhead.train.data import TrainPairs, open_corpora

    cfg = tiny()
    corpora = open_corpora([train_corpus])
    reads = []
    real_read = shards_mod.read_shard
    monkeypatch.setattr(shards_mod, "read_shard", lambda s: reads.append(s) or real_read(s))
    straight = iter(TrainPairs(corpora, cfg.data, cfg.size, cfg.mode, cfg.seed))  # batches
    for _ in range(40):
        next(straight)
    straight_reads = len(reads)
    reads.clear()
    resumed = iter(TrainPairs(corpora, cfg.data, cfg.size, cfg.mode, cfg.seed, skip_batches=40))
    first = next(resumed)
    kept = len(reads)
    for a, b in zip([first, next(resumed)], [next(straight), next(straight)]):
        assert [(m["key"], m["anchor"], m["query"]) for m in a["meta"]] == \
            [(m["key"], m["anchor"], m["query"]) for m in b["meta"]]
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["targets"], b["targets"])
    # read: the shards of the draws the shuffle buffer still held, and the next one; not the 40 batches'
    assert kept <= len(corpora[0].shards) + 1 and straight_reads >= 10 * kept, (kept, straight_reads)

    for s in corpora[0].shards:
        assert shard_index(s) == [(int(g.meta["group"]), len(g.views)) for g in iter_groups([s])]
    bad = tmp_path / "bad"
    shutil.copytree(train_corpus, bad)
    shard = sorted(bad.glob("shard-*.tar"))[0]
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptShard) as by_reader:
        list(iter_groups([shard]))
    with pytest.raises(CorruptShard) as by_headers:
        shard_index(shard)
    assert str(by_headers.value) == str(by_reader.value)
    with pytest.warns(UserWarning, match="skipping corrupt shard"):
        assert shard_index(shard, on_corrupt="skip") == []
