"""Skin albedo textures from a user folder: named by path and content like user HDRIs, drawn per
subject on their own random stream, recorded in the manifest's assets, and mapped onto the head
model's UVs (checked by reading each face's stripe of a striped texture back from the pixels)."""

import json

import numpy as np
import pytest
from PIL import Image

from relhead.cli import main
from relhead.config import resolve
from relhead.datasets.generate import corpus_assets, pools
from synthetic import sampled_specs


STRIPE = 0.05  # the texture's stripes in u


def textures(folder):
    """Two textures: stripes across u, red and green in turn, and a plain grey."""
    folder.mkdir(parents=True, exist_ok=True)
    u = (np.arange(512) + 0.5) / 512
    red = (np.floor(u / STRIPE) % 2 == 0)[None, :].repeat(512, 0)
    img = np.stack([np.where(red, 220, 20), np.where(red, 20, 220), np.full(red.shape, 40)], -1)
    Image.fromarray(img.astype(np.uint8)).save(folder / "u_stripes.png")
    (folder / "more").mkdir(exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), 180, np.uint8)).save(folder / "more" / "grey.jpg")
    (folder / "readme.txt").write_text("not a texture")
    return folder


@pytest.fixture
def uv_model(fake_model):
    """The fake head with (flat) UVs: what sampling needs to know of a backend that can take textures."""

    class WithUVs:
        name = fake_model.name
        face_uvs = np.zeros((len(fake_model.faces), 3, 2), np.float32)

        def __getattr__(self, key):
            return getattr(fake_model, key)

    return WithUVs()


def test_textures_are_drawn_per_subject_and_change_nothing_else(tmp_path, uv_model):
    d = textures(tmp_path / "skins")
    sets = ["skin.albedo_fraction=0.5", f"skin.albedo_dir={d}"]
    cfg = resolve("test", ["head.model=fake"] + sets)
    skins = pools(cfg).skins
    assert [r.name for r in skins.refs] == ["more/grey.jpg", "u_stripes.png"]
    from relhead.assets.hdri import hdri_pool
    from relhead.render.sampling import sample_group

    refs = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs
    plain = [sample_group(resolve("test", ["head.model=fake"]), g, uv_model, refs) for g in range(20)]
    mixed = [sample_group(cfg, g, uv_model, refs, (), skins.refs) for g in range(20)]
    drawn = [s.materials.skin.albedo for s in mixed]
    assert 4 <= sum(a is not None for a in drawn) <= 16 and {a.name for a in drawn if a} == {"more/grey.jpg", "u_stripes.png"}
    for a, b in zip(plain, mixed):
        skin = b.materials.skin.model_copy(update={"albedo": None})
        assert b.model_copy(update={"materials": b.materials.model_copy(update={"skin": skin})}) == a
    assets = corpus_assets(cfg)
    assert [a["name"] for a in assets["skin_textures"]] == ["more/grey.jpg", "u_stripes.png"]
    assert str(d) not in json.dumps(cfg.portable_dict())  # a host path, not data
    elsewhere = textures(tmp_path / "elsewhere")
    assert resolve("test", ["head.model=fake", sets[0], f"skin.albedo_dir={elsewhere}"]).hash() == cfg.hash()


def test_a_head_model_without_uvs_cannot_take_a_texture(tmp_path, fake_model):
    d = textures(tmp_path / "skins")
    with pytest.raises(ValueError, match="no albedo textures were given"):  # sampling without the corpus' pool
        sampled_specs(["head.model=fake", "skin.albedo_fraction=1", f"skin.albedo_dir={d}"], fake_model, range(1))

    cfg = resolve("test", ["head.model=fake", "skin.albedo_fraction=1", f"skin.albedo_dir={d}"])
    with pytest.raises(ValueError, match="has no UVs"):
        pools(cfg).spec(cfg, 0, fake_model)


@pytest.mark.parametrize("extra, message", [
    ([], "skin.albedo_dir: skin.albedo_fraction > 0 needs a folder of albedo textures"),
    (["skin.albedo_dir=/nowhere/at/all"], "skin.albedo_dir: /nowhere/at/all is not a folder"),
])
def test_textures_without_a_folder_are_one_line_exit_2(tmp_path, capsys, extra, message):
    args = ["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--set", "head.model=fake",
            "--set", "skin.albedo_fraction=0.3"] + [a for kv in extra for a in ("--set", kv)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_texture_lands_on_the_uvs(tmp_path, head_model):
    from relhead.frames import project
    from relhead.render.group import posed_heads, render_group

    d = textures(tmp_path / "skins")
    (d / "more" / "grey.jpg").unlink()
    cfg = resolve("test", ["views=2", "image.width=160", "image.height=160", "camera.face_fill=[0.6,0.6]",
                           "pose.yaw_deg=[-30,30]", "lighting.background=color", "render.samples=16",
                           "render.denoise=true", "skin.albedo_fraction=1", f"skin.albedo_dir={d}",
                           "render.view_transform=Standard"])
    here = pools(cfg)
    spec = here.spec(cfg, 0, head_model)
    views = render_group(cfg, spec, head_model, here.files).views
    posed = posed_heads(spec, head_model)
    uv, faces = head_model.face_uvs, head_model.faces
    skin = (head_model.face_parts == 0) & (np.ptp(uv[..., 0], 1) < 0.01)  # away from the atlas' seams
    for v, p in zip(views, posed):
        a = v.labels
        T = p.T_world_head
        centre = ((p.vertices[faces[skin]].mean(1) - T[:3, 3]) @ T[:3, :3]).astype(float)
        normal = np.cross(*(p.vertices[faces[skin][:, k]] - p.vertices[faces[skin][:, 0]] for k in (1, 2)))
        cam = -a.R_w2c.T @ a.t_w2c
        facing = (normal * (cam - p.vertices[faces[skin]].mean(1))).sum(1) > 0
        px, depth = project(a.K, a.R, a.t, centre)
        ok = facing & (px[:, 0] >= 0) & (px[:, 0] < 160) & (px[:, 1] >= 0) & (px[:, 1] < 160)
        ij = np.round(px[ok]).astype(int).clip(0, 159)
        rgb = v.rgb[ij[:, 1], ij[:, 0]].astype(float)
        u = uv[skin][ok][..., 0].mean(1)
        inside = np.abs(u / STRIPE - np.round(u / STRIPE)) > 0.25  # a quarter stripe or more from an edge
        expected_red = np.floor(u / STRIPE) % 2 == 0
        seen_red = rgb[:, 0] > rgb[:, 1]
        assert inside.sum() > 200 and (seen_red == expected_red)[inside].mean() > 0.85
