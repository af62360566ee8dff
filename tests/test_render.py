"""End to end on a tiny corpus rendered by Cycles: the stored ground truth must explain the pixels."""

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from relhead.datasets.generate import CorpusMismatch, generate
from relhead.datasets.manifest import read_manifest, sha256_file
from relhead.datasets.shards import iter_groups, iter_pairs
from relhead.frames import project
from relhead.render.sampling import sample_group
from relhead.render.views import neck_rotation


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, test_cfg, head_model):
    out = tmp_path_factory.mktemp("corpus") / "test"
    generate(test_cfg, out)
    groups = list(iter_groups(sorted(out.glob("shard-*.tar"))))
    return out, groups


def silhouette(K, R, t, X_head, faces, W, H, ss=4):
    """Area coverage of the projected mesh, rasterised at ss x ss supersampling, thresholded at 1/2."""
    uv, depth = project(K, R, t, X_head)
    assert (depth > 0).all()
    img = Image.new("L", (W * ss, H * ss), 0)
    d = ImageDraw.Draw(img)
    for tri in (uv[faces] * ss):
        d.polygon([tuple(p) for p in tri], fill=255)
    cov = np.asarray(img, float).reshape(H, ss, W, ss).mean((1, 3)) / 255.0
    return cov >= 0.5


def posed_in_head_frame(cfg, head_model, group):
    spec = sample_group(cfg, group, head_model)
    views = spec["views"]
    posed = head_model.pose(spec["head"]["identity"], [v["expression"] for v in views],
                            [v["gaze_deg"] for v in views], [neck_rotation(v) for v in views])
    return [(p.vertices.astype(float) - p.T_world_head[:3, 3]) @ p.T_world_head[:3, :3] for p in posed]


def test_corpus_layout(corpus, test_cfg):
    out, groups = corpus
    assert len(groups) == test_cfg.num_groups
    g = groups[0]
    assert g["__key__"] == "000000000"
    meta = g["meta"]
    assert len(meta["views"]) == test_cfg.views
    for i, v in enumerate(meta["views"]):
        for key in ("K", "R", "t", "W", "H", "euler_deg", "landmarks", "landmarks_visible", "face_box"):
            assert key in v, key
        assert set(v["euler_deg"]) == {"yaw", "pitch", "roll"}
        assert np.asarray(v["landmarks"]).shape == (68, 2) and len(v["landmarks_visible"]) == 68
        rgb = Image.open(io.BytesIO(g[f"view{i}.png"]))
        mask = Image.open(io.BytesIO(g[f"view{i}.mask.png"]))
        assert rgb.size == mask.size == (test_cfg.image.width, test_cfg.image.height)
        assert rgb.mode == "RGB" and mask.mode == "L"
    for key in ("head", "materials", "lighting"):
        assert key in meta["params"]
    assert meta["params"]["head"]["identity"]["phenotypes"]


def test_mask_is_the_projected_mesh(corpus, test_cfg, head_model):
    """Projecting the posed mesh with the stored K, R, t reproduces the rendered mask."""
    _, groups = corpus
    ious = []
    for g in groups:
        group = int(g["__key__"])
        for v, X in zip(g["meta"]["views"], posed_in_head_frame(test_cfg, head_model, group)):
            mask = np.asarray(Image.open(io.BytesIO(g[v["mask_file"]]))) >= 128
            proj = silhouette(np.asarray(v["K"]), np.asarray(v["R"]), np.asarray(v["t"]), X,
                              head_model.faces, v["W"], v["H"])
            ious.append((mask & proj).sum() / (mask | proj).sum())
    assert min(ious) >= 0.98, ious


def test_visible_landmarks_fall_inside_the_mask(corpus):
    _, groups = corpus
    n_visible = 0
    for g in groups:
        for v in g["meta"]["views"]:
            mask = np.asarray(Image.open(io.BytesIO(g[v["mask_file"]])))
            # 1-pixel tolerance: a landmark on the silhouette edge may round to a background pixel.
            grown = np.asarray(Image.fromarray(mask).filter(ImageFilter.MaxFilter(3)))
            for (x, y), vis in zip(v["landmarks"], v["landmarks_visible"]):
                if vis:
                    n_visible += 1
                    assert grown[int(y), int(x)] >= 128, (x, y)
    assert n_visible > 0


def test_pairs_carry_anchor_to_query(corpus, test_cfg):
    _, groups = corpus
    n = test_cfg.views
    for g in groups:
        views = g["meta"]["views"]
        assert g["pairs"]["policy"]["policy"] == "all" and len(g["pairs"]["pairs"]) == n * (n - 1)
        for p in g["pairs"]["pairs"]:
            Ra, ta = np.asarray(views[p["anchor"]]["R"]), np.asarray(views[p["anchor"]]["t"])
            Rq, tq = np.asarray(views[p["query"]]["R"]), np.asarray(views[p["query"]]["t"])
            Rr, tr = np.asarray(p["R_rel"]), np.asarray(p["t_rel"])
            assert np.abs(Rr @ Ra - Rq).max() < 1e-6
            assert np.abs(Rr @ ta + tr - tq).max() < 1e-6
            assert ("easy" in p["tags"]) == (p["angle_deg"] <= test_cfg.pairs.easy_max_deg)


def test_same_seed_same_meta(corpus, test_cfg, head_model):
    from relhead.render.group import render_group

    _, groups = corpus
    again = render_group(test_cfg, 1, head_model)
    assert json.loads(again["meta.json"]) == groups[1]["meta"]
    assert json.loads(again["pairs.json"]) == groups[1]["pairs"]
    other = sample_group(test_cfg.model_copy(update={"seed": test_cfg.seed + 1}), 1, head_model)
    assert other != sample_group(test_cfg, 1, head_model)


def test_manifest_resume_and_mismatch(corpus, test_cfg, head_model):
    out, _ = corpus
    m = read_manifest(out)
    assert m["config_hash"] == test_cfg.hash() and m["seed"] == test_cfg.seed
    assert {"relhead", "bpy", "anny", "torch"} <= set(m["versions"])
    entry = m["shards"]["0"]
    assert entry["status"] == "done" and entry["sha256"] == sha256_file(out / entry["file"])
    assert not list(out.glob(".*partial*"))
    logs = []
    generate(test_cfg, out, log=logs.append)  # nothing left to do
    assert any("skipping" in line for line in logs)
    with pytest.raises(CorpusMismatch, match="another config"):
        generate(test_cfg.model_copy(update={"seed": 99}), out)


def test_reader_expands_groups_to_pairs(corpus, test_cfg):
    out, _ = corpus
    pairs = list(iter_pairs(sorted(out.glob("shard-*.tar"))))
    assert len(pairs) == test_cfg.num_groups * test_cfg.views * (test_cfg.views - 1)
    p = pairs[0]
    assert Image.open(io.BytesIO(p["anchor_image"])).size == (test_cfg.image.width, test_cfg.image.height)
    assert (p["anchor_meta"]["index"], p["query_meta"]["index"]) == (p["anchor"], p["query"])
    assert np.asarray(p["R_rel"]).shape == (3, 3)


def test_preview_contact_sheet(corpus, tmp_path):
    from relhead.cli import main

    out, _ = corpus
    png = tmp_path / "sheet.png"
    assert main(["preview", str(out), "--out", str(png)]) == 0
    img = Image.open(png)
    assert img.size[1] > 0 and np.asarray(img).std() > 10


def test_landmark_visibility_follows_the_pose(head_model):
    """Frontal neutral faces show their inner face (brows, nose, eyes, mouth); at yaw 70 the
    subject's right side (jaw 0-4, brow 17-19, eye 36-41) turns away and is hidden."""
    from relhead.config import resolve
    from relhead.render.group import render_group

    fixed = ["views=2", "pose.pitch_deg=[0,0]", "pose.roll_deg=[0,0]", "head.expression.neutral_fraction=1",
             "head.gaze_yaw_deg=[0,0]", "head.gaze_pitch_deg=[0,0]"]
    frontal = json.loads(render_group(resolve("test", fixed + ["pose.yaw_deg=[0,0]"]), 0, head_model)["meta.json"])
    for v in frontal["views"]:
        vis = np.asarray(v["landmarks_visible"])
        assert vis[17:36].all() and vis.sum() >= 60, np.flatnonzero(~vis)
        x0, y0, x1, y1 = v["face_box"]
        assert 0 <= x0 < x1 <= v["W"] and 0 <= y0 < y1 <= v["H"]
    turned = json.loads(render_group(resolve("test", fixed + ["pose.yaw_deg=[70,70]"]), 0, head_model)["meta.json"])
    for v in turned["views"]:
        vis = np.asarray(v["landmarks_visible"])
        assert not vis[[0, 1, 2, 3, 4, 17, 18, 19, 36, 37, 38, 39, 40, 41]].any(), np.flatnonzero(vis)
        assert vis[[12, 13, 14, 15, 16, 24, 25, 26, 45]].all(), np.flatnonzero(~vis)
