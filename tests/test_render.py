"""End to end on tiny corpora rendered by Cycles (slow tier): the stored ground truth must explain
the pixels, for Anny and for the analytic fake backend, and the bytes must not depend on where the
assets live."""

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from relhead.assets.hdri import bundled_hdri_dir, hdri_pool
from relhead.config import resolve
from relhead.datasets.generate import CorpusMismatch, generate
from relhead.datasets.manifest import read_manifest, sha256_file
from relhead.datasets.sample import pack
from relhead.datasets.shards import iter_pairs
from relhead.datasets.verify import verify_corpus
from relhead.frames import project
from relhead.render.group import posed_heads, render_group
from relhead.render.sampling import sample_group

pytestmark = pytest.mark.slow


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


def mask_ious(groups, hm):
    """IoU of each rendered mask with the posed mesh projected by the stored K, R, t."""
    ious = []
    for g in groups:
        for i, (v, p) in enumerate(zip(g.views, posed_heads(g.spec(), hm))):
            T = p.T_world_head
            X = (p.vertices.astype(float) - T[:3, 3]) @ T[:3, :3]
            proj = silhouette(np.asarray(v["K"]), np.asarray(v["R"]), np.asarray(v["t"]), X, hm.faces, v["W"], v["H"])
            mask = g.mask(i) >= 128
            ious.append((mask & proj).sum() / (mask | proj).sum())
    return ious


def test_corpus_layout(rendered, test_cfg):
    out, groups = rendered
    assert len(groups) == test_cfg.num_groups
    g = groups[0]
    assert g.key == "000000000" and g.meta["format"] == "relhead-sample/2"
    assert len(g.views) == test_cfg.views
    for i, v in enumerate(g.views):
        for key in ("K", "R", "t", "W", "H", "euler_deg", "landmarks", "landmarks_visible", "face_box"):
            assert key in v, key
        assert np.asarray(v["landmarks"]).shape == (68, 2) and len(v["landmarks_visible"]) == 68
        assert g.image(i).shape == (test_cfg.image.height, test_cfg.image.width, 3)
        assert g.mask(i).shape == (test_cfg.image.height, test_cfg.image.width)
    spec = g.spec()
    assert spec.head.model == "anny" and spec.head.identity.phenotypes and len(spec.views) == test_cfg.views


def test_mask_is_the_projected_mesh(rendered, head_model):
    assert min(mask_ious(rendered[1], head_model)) >= 0.98


def test_fake_backend_renders_through_the_real_pipeline(fake_rendered, fake_model):
    """A backend registered from outside the package, with barycentric landmarks, renders a corpus
    that verifies and whose masks are its projected mesh."""
    out, groups = fake_rendered
    assert verify_corpus(out, progress=False) == ([], [])
    assert min(mask_ious(groups, fake_model)) >= 0.98
    assert groups[0].spec().head.model == "fake"


@pytest.mark.parametrize("which", ["rendered", "fake_rendered"])
def test_visible_landmarks_fall_inside_the_mask(which, request):
    _, groups = request.getfixturevalue(which)
    n_visible = 0
    for g in groups:
        for i, v in enumerate(g.views):
            # 1-pixel tolerance: a landmark on the silhouette edge may round to a background pixel.
            grown = np.asarray(Image.fromarray(g.mask(i)).filter(ImageFilter.MaxFilter(3)))
            for (x, y), vis in zip(v["landmarks"], v["landmarks_visible"]):
                if vis:
                    n_visible += 1
                    assert grown[int(y), int(x)] >= 128, (x, y)
    assert n_visible > 0


def test_pairs_carry_anchor_to_query(rendered, test_cfg):
    _, groups = rendered
    n = test_cfg.views
    for g in groups:
        assert g.pairs["policy"]["policy"] == "all" and len(g.pairs["pairs"]) == n * (n - 1)
        for p in g.pairs["pairs"]:
            Ra, ta = np.asarray(g.views[p["anchor"]]["R"]), np.asarray(g.views[p["anchor"]]["t"])
            Rq, tq = np.asarray(g.views[p["query"]]["R"]), np.asarray(g.views[p["query"]]["t"])
            Rr, tr = np.asarray(p["R_rel"]), np.asarray(p["t_rel"])
            assert np.abs(Rr @ Ra - Rq).max() < 1e-6
            assert np.abs(Rr @ ta + tr - tq).max() < 1e-6
            assert ("easy" in p["tags"]) == (p["angle_deg"] <= test_cfg.pairs.easy_max_deg)


def test_same_seed_same_sample(rendered, test_cfg, head_model):
    """Re-rendering group 1 from its stored spec gives the same sample bytes."""
    _, groups = rendered
    pool = hdri_pool(test_cfg.lighting.hdris, test_cfg.lighting.hdri_dir)
    spec = groups[1].spec()
    assert spec == sample_group(test_cfg, 1, head_model, pool.refs)
    again = pack(render_group(test_cfg, spec, head_model, pool), test_cfg)
    assert json.loads(again["meta.json"]) == groups[1].meta and json.loads(again["pairs.json"]) == groups[1].pairs
    assert again["view0.png"] == groups[1].files["view0.png"]


def test_manifest_resume_and_mismatch(rendered, test_cfg):
    out, _ = rendered
    m = read_manifest(out)
    assert m["config_hash"] == test_cfg.hash() and m["seed"] == test_cfg.seed
    assert {"relhead", "bpy", "anny", "torch"} <= set(m["versions"])
    entry = m["shards"]["0"]
    assert entry["status"] == "done" and entry["sha256"] == sha256_file(out / entry["file"])
    assert not list(out.glob(".*partial*")) and not list(out.glob(".*lease"))
    logs = []
    generate(test_cfg, out, log=logs.append)  # nothing left to do
    assert any("skipping" in line for line in logs)
    with pytest.raises(CorpusMismatch, match="another config"):
        generate(test_cfg.model_copy(update={"seed": 99}), out)


def test_reader_expands_groups_to_pairs(rendered, test_cfg):
    out, _ = rendered
    pairs = list(iter_pairs(sorted(out.glob("shard-*.tar"))))
    assert len(pairs) == test_cfg.num_groups * test_cfg.views * (test_cfg.views - 1)
    p = pairs[0]
    assert Image.open(io.BytesIO(p["anchor_image"])).size == (test_cfg.image.width, test_cfg.image.height)
    assert (p["anchor_meta"]["index"], p["query_meta"]["index"]) == (p["anchor"], p["query"])
    assert np.asarray(p["R_rel"]).shape == (3, 3)


def test_preview_contact_sheet(rendered, tmp_path):
    from relhead.cli import main

    out, _ = rendered
    png = tmp_path / "sheet.png"
    assert main(["preview", str(out), "--out", str(png)]) == 0
    img = Image.open(png)
    assert img.size[1] > 0 and np.asarray(img).std() > 10


def test_bytes_do_not_depend_on_where_the_hdris_live(tmp_path):
    """bpy's HDRIs copied into a user folder at two paths (two hosts' mounts): identical shards and
    manifest; a third copy with one file changed is refused as another corpus."""
    outs = []
    for d in ("host_a", "host_b"):
        shutil.copytree(bundled_hdri_dir(), tmp_path / d / "skies")
        cfg = resolve("test", ["head.model=fake", "views=2", "image.width=64", "image.height=64",
                               "lighting.hdris=user", f"lighting.hdri_dir={tmp_path / d}",
                               "lighting.background=hdri"])
        outs.append(tmp_path / d / "corpus")
        generate(cfg, outs[-1], log=lambda *_: None)
    a, b = outs
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    assert (a / "shard-000000.tar").read_bytes() == (b / "shard-000000.tar").read_bytes()
    assert str(tmp_path) not in (a / "manifest.json").read_text()
    shutil.copytree(tmp_path / "host_a" / "skies", tmp_path / "host_c" / "skies")
    sky = tmp_path / "host_c" / "skies" / "forest.exr"
    sky.write_bytes(sky.read_bytes() + b"\0")  # still an OpenEXR file, not the same bytes
    other = cfg.model_copy(update={"lighting": cfg.lighting.model_copy(update={"hdri_dir": str(tmp_path / "host_c")})})
    with pytest.raises(CorpusMismatch, match="other asset files.*user:skies/forest.exr"):
        generate(other, a, log=lambda *_: None)


def test_landmark_visibility_follows_the_pose(head_model):
    """Frontal neutral faces show their inner face (brows, nose, eyes, mouth); at yaw 70 the
    subject's right side (jaw 0-4, brow 17-19, eye 36-41) turns away and is hidden."""
    fixed = ["views=2", "pose.pitch_deg=[0,0]", "pose.roll_deg=[0,0]", "head.expression.neutral_fraction=1",
             "head.gaze_yaw_deg=[0,0]", "head.gaze_pitch_deg=[0,0]"]

    def labels(yaw):
        cfg = resolve("test", fixed + [f"pose.yaw_deg=[{yaw},{yaw}]"])
        pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
        return [v.labels for v in render_group(cfg, sample_group(cfg, 0, head_model, pool.refs), head_model, pool).views]

    for lab in labels(0):
        vis = lab.landmarks_visible
        assert vis[17:36].all() and vis.sum() >= 60, np.flatnonzero(~vis)
        x0, y0, x1, y1 = lab.face_box
        assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 160
    for lab in labels(70):
        vis = lab.landmarks_visible
        assert not vis[[0, 1, 2, 3, 4, 17, 18, 19, 36, 37, 38, 39, 40, 41]].any(), np.flatnonzero(vis)
        assert vis[[12, 13, 14, 15, 16, 24, 25, 26, 45]].all(), np.flatnonzero(~vis)


def test_a_corpus_does_not_depend_on_what_the_process_rendered_before(tmp_path):
    """The process' scene is reused: corpus B rendered after corpus A (other samples, denoiser,
    subsurface method and backgrounds) in one process has the bytes of B made by a fresh process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    b_sets = ["head.model=fake", "views=2", "image.width=64", "image.height=64", "render.samples=3",
              "render.subsurface=burley", "lighting.background=hdri"]
    generate(resolve("test", ["head.model=fake", "views=2", "image.width=64", "image.height=64", "render.samples=2",
                              "render.denoise=true", "lighting.background=color"]), tmp_path / "a", log=lambda *_: None)
    generate(resolve("test", b_sets), tmp_path / "b", log=lambda *_: None)
    script = ("import fake_head; fake_head.register()\n"
              "from relhead.config import resolve; from relhead.datasets.generate import generate\n"
              f"generate(resolve('test', {b_sets!r}), {str(tmp_path / 'fresh')!r}, log=lambda *_: None)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # fake_head, as pytest finds it
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, env=env)
    assert (tmp_path / "b" / "shard-000000.tar").read_bytes() == (tmp_path / "fresh" / "shard-000000.tar").read_bytes()


def test_the_head_models_numbers_do_not_depend_on_the_callers_thread_count(head_model):
    """Anny caches an identity's rest pose: computed first for a caller on 2 threads (a test, a tool),
    it must hold the bits a renderer on its fixed thread count computes, or a re-render differs from
    the corpus in the labels' last bits."""
    import torch

    from relhead.assets.base import fixed_threads
    from relhead.assets.registry import backend

    cfg = backend(head_model.name).config()
    a, b = (head_model.sample_identity(np.random.default_rng(s), cfg) for s in (11, 12))
    args = ([{}], [(0.0, 0.0)], [np.eye(3)])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        free = head_model.head_width(a), head_model.pose(a, *args)[0].vertices
    finally:
        torch.set_num_threads(before)
    with fixed_threads():
        head_model.head_width(b)  # the cache now holds another identity
        fixed = head_model.head_width(a), head_model.pose(a, *args)[0].vertices
    assert free[0] == fixed[0] and np.array_equal(free[1], fixed[1])


@pytest.mark.parametrize("session", ["view", "group"])
def test_a_quickstart_group_renders_to_the_same_pixels_every_time(head_model, session):
    """Group 0 of the quickstart pipeline (hair, beard, brow strands, lashes, a garment), 4 views, rendered
    five times in one process, every view in a fresh Cycles session or (render.session: group) the
    group's views in one kept session. Every render must have the bytes of the fresh sessions' first:
    kept sessions used to come out one of two ways, a few pixels where the garment cuts the neck. The
    strand hair turns with the head as an instance of geometry that keeps its BVH (RigidPart's keeper)."""
    from relhead.datasets.generate import pools

    sets = ["views=4", "image.width=96", "image.height=96"]
    cfg, fresh = (resolve("quickstart", sets + [f"render.session={s}"]) for s in (session, "view"))
    here = pools(cfg)
    files = here.files
    spec = here.spec(cfg, 0, head_model)
    assert spec.garment is not None and spec.materials.hair.facial is not None and spec.materials.hair.strands is not None
    first = render_group(fresh, spec, head_model, files).views
    for _ in range(5):
        for a, b in zip(first, render_group(cfg, spec, head_model, files).views):
            assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.mask, b.mask)


def test_texture_images_are_decoded_once_and_give_the_files_pixels(tmp_path):
    """relhead.render.blender.nodes.load_image: a texture's file is packed and decoded once, Cycles reads
    it from memory and leaves it there after a render, and the render has the bytes of the same image
    read from its file."""
    import bpy

    from relhead.render.blender import scene as process
    from relhead.render.blender.nodes import load_image

    if process._SCENE is not None:  # the factory reset below ends the process' scene: the next render makes a new one
        process._SCENE[1].close()
        process._SCENE = None
    rng = np.random.default_rng(0)
    png = tmp_path / "tex.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)).save(png)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.engine, sc.cycles.device, sc.cycles.samples, sc.cycles.use_denoising = "CYCLES", "CPU", 2, False
    sc.render.resolution_x = sc.render.resolution_y = 24
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    sc.collection.objects.link(cam)
    sc.camera, cam.location, cam.rotation_euler = cam, (0.0, -3.0, 0.0), (np.pi / 2, 0.0, 0.0)
    sc.world = bpy.data.worlds.new("w")
    bpy.ops.mesh.primitive_plane_add(rotation=(np.pi / 2, 0.0, 0.0))
    mat = bpy.data.materials.new("m")
    bpy.context.object.data.materials.append(mat)
    tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
    mat.node_tree.links.new(tex.outputs["Color"], mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"])

    def render(name):
        sc.render.filepath = str(tmp_path / name)
        bpy.ops.render.render(write_still=True)
        return np.asarray(Image.open(tmp_path / name))

    tex.image = bpy.data.images.load(str(png), check_existing=False)
    from_file = render("file.png")
    tex.image = img = load_image(png)
    assert img.packed_file is not None and img.has_data
    assert (render("memory.png") == from_file).all() and img.has_data
    assert (render("again.png") == from_file).all() and img.has_data
    assert from_file.std() > 0


def test_the_pixel_filter_width_sets_how_sharp_a_render_is(head_model):
    """`render.filter_width`, Cycles' pixel filter: the same view through a narrow filter has more contrast
    between neighbouring pixels than through a wide one, and the labels (geometry) do not change."""
    from synthetic import render_setup

    base = ["views=2", "image.width=96", "image.height=96", "camera.face_fill=[0.6,0.6]", "render.samples=32"]
    views = {}
    for width in (0.5, 3.0):
        cfg, pool, spec = render_setup(base + [f"render.filter_width={width}"], head_model)
        views[width] = render_group(cfg, spec, head_model, pool).views[0]

    def edges(v):  # mean squared difference of neighbouring pixels: a blur spreads an edge's step, and lowers it
        x = v.rgb.astype(float).mean(2)
        return (np.diff(x, axis=0) ** 2).mean() + (np.diff(x, axis=1) ** 2).mean()

    assert edges(views[0.5]) > 1.3 * edges(views[3.0])  # 1.55 when written
    assert np.array_equal(views[0.5].labels.landmarks, views[3.0].labels.landmarks)
