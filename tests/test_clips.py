"""Temporal clips (config `clip:`): the sampled motion (smooth, bounded, spanning a real range, inside
the pose ranges), blinks and expression changes, the fixed camera and the frames' times in the
samples, determinism, bad config, training on clips, and the anchor policies of `relhead eval`
(relhead.train.clips) on injected predictions and end to end."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import configs
from relhead.assets.hdri import hdri_pool
from relhead.cli import main
from relhead.config import resolve
from relhead.datasets.shards import iter_groups
from relhead.datasets.verify import verify_corpus
from relhead.frames import euler_to_matrix, geodesic_deg
from relhead.render.clip import sample_clip
from relhead.render.sampling import sample_group
from relhead.render.spec import CameraSpec
from relhead.train import clips as C
from synthetic import synthetic_corpus

# The fake head as clips of 30 frames at 15 fps (sampling only).
CLIP = ["head.model=fake", "clip.frames=30", "clip.fps=15"]
# A synthetic clip corpus: 6 clips x 12 frames at 64 px; clips 2 and 5 held out (data.holdout_every=3).
CORPUS = ["head.model=fake", "shards=2", "groups_per_shard=3", "image.width=64", "image.height=64",
          "clip.frames=12", "clip.fps=10"]


def clip_specs(sets, model, groups=range(12)):
    cfg = resolve("test", sets)
    refs = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs
    return cfg, [sample_group(cfg, g, model, refs) for g in groups]


def rotations(spec) -> np.ndarray:
    return np.stack([euler_to_matrix(v.euler_deg.yaw, v.euler_deg.pitch, v.euler_deg.roll) for v in spec.views])


# ------------------------------------------------------------------------------------- config
def test_clips_are_off_by_default_and_absent_from_the_config_and_specs(spec_cfg, fake_model):
    """Without `clip:` neither the config's dict (its hash) nor a spec mentions clips."""
    assert spec_cfg.clip is None and "clip" not in spec_cfg.portable_dict()
    refs = hdri_pool(spec_cfg.lighting.hdris, spec_cfg.lighting.hdri_dir).refs
    assert '"clip"' not in sample_group(spec_cfg, 0, fake_model, refs).model_dump_json()


def test_clip_frames_are_the_groups_views():
    cfg = resolve("test", CLIP)
    assert cfg.views == 30 and cfg.clip.fps == 15 and cfg.portable_dict()["clip"]["frames"] == 30
    named = resolve("clips")
    assert named.views == named.clip.frames == 30 and named.num_groups == 20 and named.image.width == 128


@pytest.mark.parametrize("bad, key", [("clip.frames=1", "clip.frames"), ("clip.fps=0", "clip.fps"),
                                      ("clip.frequency_hz=[0.5,0.1]", "clip.frequency_hz"),
                                      ("clip.speed=3", "clip.speed")])
def test_bad_clip_config_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, bad, key):
    out = tmp_path / "out"
    assert main(["render", "--pipeline", "clips", "--out", str(out), "--set", bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"config error: {key}:" in err, err
    assert not out.exists()


# ------------------------------------------------------------------------------------- motion
@pytest.mark.parametrize("speed", [60.0, 10.0, 200.0])
def test_motion_is_smooth_bounded_and_inside_the_pose_ranges(fake_model, speed):
    """Consecutive frames' head rotations differ by at most max_speed / fps; the angles stay in the
    pose ranges; the neck does the whole rotation (the camera is fixed)."""
    cfg, specs = clip_specs(CLIP + [f"clip.max_speed_deg_s={speed}"], fake_model)
    bound = speed / 15
    for s in specs:
        R = rotations(s)
        steps = [geodesic_deg(R[i], R[i + 1]) for i in range(len(R) - 1)]
        assert max(steps) <= bound + 1e-9, (s.group, max(steps), bound)
        for v in s.views:
            e = v.euler_deg
            assert cfg.pose.yaw_deg[0] <= e.yaw <= cfg.pose.yaw_deg[1]
            assert cfg.pose.pitch_deg[0] <= e.pitch <= cfg.pose.pitch_deg[1]
            assert cfg.pose.roll_deg[0] <= e.roll <= cfg.pose.roll_deg[1]
            assert v.neck_share == 1.0 and v.camera == s.views[0].camera
    if speed == 60.0:  # curves, not a still head or a jitter: every clip spans a real range
        spans = [max(geodesic_deg(a, b) for a in rotations(s) for b in rotations(s)) for s in specs]
        assert min(spans) >= 10.0, spans


class Blinker:
    """A head model with blink parameters and a few named expressions (sampling only)."""

    blink_actions = ("eyeBlinkLeft", "eyeBlinkRight")

    def sample_expression(self, rng, cfg):
        return {str(n): float(rng.uniform(0.2, 0.9)) for n in rng.choice(["jawOpen", "mouthSmile", "browUp"], 2, False)}


def test_blinks_and_expression_changes():
    """Over 12.8 s at 5 fps with 30 blinks a minute: the lids close fully at least once and open again,
    in several separate blinks; the expression changes (several distinct faces), smoothly (each weight
    moves by less than it would in one jump)."""
    cfg = resolve("test", ["head.model=fake", "clip.frames=64", "clip.fps=5", "clip.blinks_per_min=30",
                           "clip.blink_s=[0.3,0.6]"])
    camera = CameraSpec(focal_mm=50, sensor_mm=36, face_fill=0.4, principal_offset=(0, 0), lookat_offset=(0, 0))
    _, views = sample_clip(np.random.default_rng(3), cfg, camera, Blinker())
    lids = np.array([v.expression.get("eyeBlinkLeft", 0.0) for v in views])
    assert np.array_equal(lids, [v.expression.get("eyeBlinkRight", 0.0) for v in views])
    assert lids.max() > 0.5 and (lids == 0).sum() > len(lids) / 2
    assert ((lids[1:] > 0) & (lids[:-1] == 0)).sum() >= 3  # separate blinks
    # expression changes at 30 fps over a 0.5 s blend: no weight jumps by its whole value between frames
    cfg = resolve("test", ["head.model=fake", "clip.frames=64", "clip.fps=30", "clip.blinks_per_min=0",
                           "clip.expression_hold_s=[0.4,0.6]"])
    _, views = sample_clip(np.random.default_rng(4), cfg, camera, Blinker())
    faces = [v.expression for v in views]
    assert len({json.dumps(f, sort_keys=True) for f in faces}) > 10
    names = {k for f in faces for k in f}
    jumps = max(abs(a.get(n, 0.0) - b.get(n, 0.0)) for a, b in zip(faces, faces[1:]) for n in names)
    assert 0 < jumps < 0.2, jumps


def test_sampling_is_deterministic_and_leaves_the_subject_as_the_still_corpus_has_it(fake_model):
    cfg, a = clip_specs(CLIP, fake_model, range(3))
    _, b = clip_specs(CLIP, fake_model, range(3))
    assert [s.model_dump_json() for s in a] == [s.model_dump_json() for s in b]
    _, still = clip_specs(["head.model=fake", "views=30"], fake_model, range(3))
    for c, s in zip(a, still):  # the same subject, lighting and camera as the still group's first view
        assert c.head == s.head and c.materials == s.materials and c.lighting == s.lighting
        assert c.views[0].camera == s.views[0].camera and c.clip.fps == 15 and s.clip is None


# ------------------------------------------------------------------------------------- samples
@pytest.fixture(scope="module")
def clip_corpus(tmp_path_factory):
    return synthetic_corpus(resolve("test", CORPUS), tmp_path_factory.mktemp("clips") / "test")


def test_clip_samples_have_one_fixed_camera_and_their_frame_times(clip_corpus):
    """Every frame of a clip has the same K and world->camera extrinsics; R is the sampled pose; the
    head moves in the image (t changes as it turns about the neck); frames carry their times; the
    corpus verifies."""
    groups = list(iter_groups(sorted(clip_corpus.glob("shard-*.tar"))))
    assert len(groups) == 6
    for g in groups:
        assert g.clip == {"frames": 12, "fps": 10.0}
        spec, views = g.spec(), g.views
        assert [v["time_s"] for v in views] == [i / 10.0 for i in range(12)]
        for v, s in zip(views, spec.views):
            assert v["K"] == views[0]["K"] and v["camera_world"] == views[0]["camera_world"]
            assert np.allclose(v["R"], euler_to_matrix(s.euler_deg.yaw, s.euler_deg.pitch, s.euler_deg.roll), atol=1e-9)
        assert np.ptp([v["t"] for v in views], axis=0).max() > 1e-3
    problems, _ = verify_corpus(clip_corpus, progress=False)
    assert problems == []


def test_a_clip_corpus_is_the_same_bytes_twice(clip_corpus, tmp_path):
    again = synthetic_corpus(resolve("test", CORPUS), tmp_path / "test")
    for a in sorted(clip_corpus.glob("shard-*.tar")):
        assert a.read_bytes() == (again / a.name).read_bytes()


# ------------------------------------------------------------------------------------- policies
def yaw_clip(n=20, step=3.0) -> np.ndarray:
    return np.stack([euler_to_matrix(-30 + step * i, 0.0, 0.0) for i in range(n)])  # about one axis


def predictions(R, policies=C.POLICIES, every=5, error=lambda a, q: np.eye(3)):
    """{(a, q): R_rel} for every pair the policies need: the truth, times `error(a, q)` on the left."""
    pairs = {pq for p in policies for pq in C.policy_pairs(p, len(R), every)}
    return {(a, q): error(a, q) @ R[q] @ R[a].T for a, q in pairs}


@pytest.mark.parametrize("policy", C.POLICIES)
def test_perfect_predictions_score_zero(policy):
    rng = np.random.default_rng(0)
    R = Rotation.random(17, random_state=rng).as_matrix()
    rows = C.clip_rows(policy, R, predictions(R, [policy]), every=5)
    s = C.summarise(rows)
    assert s["n"] == (16 if policy in ("first", "previous") else 17 - 4)
    for k in ("rot_deg", "yaw_deg", "pitch_deg", "roll_deg"):
        assert s[k] < 1e-5, (k, s[k])


def test_previous_drifts_linearly_while_first_stays_constant():
    """A constant 1 degree yaw error on every relative prediction of a head turning about the same
    axis: `previous` is off by q degrees at frame q, `first` and `nearest` by 1 degree everywhere."""
    R = yaw_clip()
    err = euler_to_matrix(1.0, 0.0, 0.0)
    rel = predictions(yaw_clip(), error=lambda a, q: err if q > a else err.T)
    prev = C.clip_rows("previous", R, rel, every=5)
    assert np.allclose([r["rot_deg"] for r in prev], [r["frame"] for r in prev], atol=1e-6)
    assert np.allclose([r["yaw_deg"] for r in prev], [r["frame"] for r in prev], atol=1e-6)
    for policy in ("first", "nearest"):
        assert np.allclose([r["rot_deg"] for r in C.clip_rows(policy, R, rel, every=5)], 1.0, atol=1e-6)


def test_fused_averages_the_anchors_predictions():
    """Known frames 0, 10, 20. Anchors before the query err by +2 degrees of yaw, anchors after it by
    -2: with equal weights frame 5 (anchors +2, -2, -2) is off by the mean, 2/3 degree, where
    `nearest` keeps its anchor's 2. Predictions 10% too large (an error growing with the relative
    angle, as a model's does): the angle weights, which trust near anchors more, beat equal weights."""
    R = yaw_clip(21, 2.0)
    plus, minus = euler_to_matrix(2.0, 0, 0), euler_to_matrix(-2.0, 0, 0)
    rel = predictions(R, every=10, error=lambda a, q: plus if a < q else minus)
    even = {r["frame"]: r["rot_deg"] for r in C.clip_rows("fused", R, rel, every=10, weighted=False)}
    assert np.isclose(even[5], 2 / 3, atol=1e-3), even[5]
    near = {r["frame"]: r["rot_deg"] for r in C.clip_rows("nearest", R, rel, every=10)}
    assert np.allclose(list(near.values()), 2.0)

    def too_large(a, q):  # R_rel^1.1 = (R_rel^0.1) R_rel
        return (Rotation.from_matrix(R[q] @ R[a].T) ** 0.1).as_matrix()

    rel = predictions(R, every=10, error=too_large)
    even = C.summarise(C.clip_rows("fused", R, rel, every=10, weighted=False))
    weighted = C.summarise(C.clip_rows("fused", R, rel, every=10))
    assert weighted["rot_deg"] < 0.5 * even["rot_deg"], (weighted["rot_deg"], even["rot_deg"])


def test_bad_policy_name():
    with pytest.raises(ValueError, match="unknown anchor policy 'last'"):
        C.policy_pairs("last", 10, 5)


# ------------------------------------------------------------------------------------- training and eval
def test_a_clip_corpus_trains_and_eval_reports_the_policies(clip_corpus, tmp_path, capsys):
    """2 training steps on clips (pairs drawn within a clip), then `relhead eval` adds a `clips`
    section per anchor policy over the held-out clips 2 and 5; every other section is as for stills."""
    run = tmp_path / "run"
    sets = sum((["--set", s] for s in configs.TINY_TRAINING), [])
    assert main(["train", "--data", str(clip_corpus), "--out", str(run), "--set", "steps=2", *sets]) == 0
    assert main(["eval", "--checkpoint", str(run), "--known-every", "4", "--batch", "16"]) == 0
    res = json.loads((run / "eval.json").read_text())
    assert res["groups"] == 2 and res["pairs"] == 2 * 12 * 11 and {"relative", "query"} <= set(res)
    clips = res["clips"]
    assert clips["clips"] == 2 and clips["frames"] == 24 and clips["known_every"] == 4
    n = {p: s["n"] for p, s in clips["policies"].items()}
    assert n == {"first": 22, "previous": 22, "nearest": 18, "fused": 18}
    assert set(clips["policies"]["previous"]["by_frame"]) == {str(i) for i in range(1, 12)}
    assert "previous drift" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", str(run), "--known-every", "0"]) == 2


# ------------------------------------------------------------------------------------- rendered
@pytest.mark.slow
def test_a_rendered_clip_keeps_one_camera_its_labels_explain_the_pixels_and_it_repeats(tmp_path, fake_model):
    """The fake head rendered as a 6-frame clip by Workbench, twice: the same bytes; one camera for
    every frame; the mask is the mesh projected by each frame's stored K, R, t; the head moves."""
    from relhead.datasets.generate import generate
    from test_render import mask_ious

    cfg = resolve("test", ["head.model=fake", "groups_per_shard=1", "image.width=160", "image.height=160",
                           "render.engine=workbench", "clip.frames=6", "clip.fps=5"])
    for d in ("a", "b"):
        generate(cfg, tmp_path / d, log=lambda *_: None)
    assert (tmp_path / "a" / "shard-000000.tar").read_bytes() == (tmp_path / "b" / "shard-000000.tar").read_bytes()
    (g,) = iter_groups([tmp_path / "a" / "shard-000000.tar"])
    assert g.clip == {"frames": 6, "fps": 5.0}
    assert all(v["K"] == g.views[0]["K"] and v["camera_world"] == g.views[0]["camera_world"] for v in g.views)
    assert min(mask_ious([g], fake_model)) >= 0.98
    assert max(geodesic_deg(np.asarray(v["R"]), np.asarray(g.views[0]["R"])) for v in g.views) > 5.0
