"""Photo backgrounds from a user folder: named by path and content like user HDRIs, drawn per group
on their own random stream, recorded in the manifest's assets, composited behind the subject."""

import json

import numpy as np
import pytest
from PIL import Image

from relhead.cli import main
from relhead.config import resolve
from relhead.datasets.generate import corpus_assets, pools
from synthetic import sampled_specs

FAKE = ["head.model=fake", "views=2"]


def photos(folder):
    folder.mkdir(parents=True, exist_ok=True)
    x = np.linspace(0, 255, 120).astype(np.uint8)
    ramp = np.stack([np.full((80, 120), 230, np.uint8), np.tile(x, (80, 1)), np.full((80, 120), 30, np.uint8)], -1)
    Image.fromarray(ramp).save(folder / "ramp.png")  # red to yellow, left to right
    (folder / "sub").mkdir(exist_ok=True)
    Image.fromarray(np.full((40, 30, 3), (20, 40, 220), np.uint8)).save(folder / "sub" / "blue.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_photos_are_drawn_per_group_and_change_nothing_else(tmp_path, fake_model):
    d = photos(tmp_path / "bg")
    sets = ["lighting.image_background_fraction=0.5", f"lighting.background_dir={d}"]
    cfg = resolve("test", FAKE + sets)
    pool, backgrounds, _ = pools(cfg)
    assert [r.name for r in backgrounds.refs] == ["ramp.png", "sub/blue.jpg"]
    _, plain = sampled_specs(FAKE, fake_model, range(20))
    from relhead.render.sampling import sample_group

    mixed = [sample_group(cfg, g, fake_model, pool.refs, backgrounds.refs) for g in range(20)]
    kinds = [s.lighting.background.type for s in mixed]
    assert 4 <= kinds.count("image") <= 16 and {s.lighting.background.image.name for s in mixed
                                                if s.lighting.background.image} == {"ramp.png", "sub/blue.jpg"}
    for a, b in zip(plain, mixed):
        if b.lighting.background.type != "image":
            assert a == b
        else:
            assert a.model_copy(update={"lighting": a.lighting.model_copy(update={"background": None})}) == \
                b.model_copy(update={"lighting": b.lighting.model_copy(update={"background": None})})
    assets = corpus_assets(cfg)
    assert [a["name"] for a in assets["backgrounds"]] == ["ramp.png", "sub/blue.jpg"]
    assert str(d) not in json.dumps(cfg.portable_dict())  # a host path, not data
    copy = photos(tmp_path / "elsewhere")
    assert resolve("test", FAKE + [sets[0], f"lighting.background_dir={copy}"]).hash() == cfg.hash()


@pytest.mark.parametrize("extra, message", [
    ([], "lighting.background_dir: lighting.image_background_fraction > 0 needs a folder"),
    (["lighting.background_dir=/nowhere/at/all"], "lighting.background_dir: /nowhere/at/all is not a folder"),
])
def test_photo_backgrounds_without_photos_are_one_line_exit_2(tmp_path, capsys, extra, message):
    args = ["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--set", "head.model=fake",
            "--set", "lighting.image_background_fraction=0.3"] + [a for kv in extra for a in ("--set", kv)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_empty_folder_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args = ["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--set", "head.model=fake",
            "--set", "lighting.image_background_fraction=1", "--set", f"lighting.background_dir={tmp_path / 'empty'}"]
    assert main(args) == 2
    assert "lighting.background_dir: no .jpg/.jpeg/.png/.webp files under" in capsys.readouterr().err


@pytest.mark.slow
def test_the_photo_is_behind_the_subject_and_the_mask_is_unchanged(tmp_path, fake_model):
    from relhead.render.group import render_group

    d = photos(tmp_path / "bg")
    (d / "sub" / "blue.jpg").unlink()
    cfg = resolve("test", FAKE + ["image.width=96", "image.height=64", "lighting.image_background_fraction=1",
                                  f"lighting.background_dir={d}", "render.view_transform=Standard"])
    here = pools(cfg)
    files = here.files
    spec = here.spec(cfg, 0, fake_model)
    photo = render_group(cfg, spec, fake_model, files).views
    plain_spec = spec.model_copy(update={"lighting": spec.lighting.model_copy(
        update={"background": spec.lighting.background.model_copy(update={"type": "hdri", "image": None})})})
    plain = render_group(cfg, plain_spec, fake_model, files).views  # same scene, switch off
    for p, q in zip(photo, plain):
        assert np.array_equal(p.mask, q.mask)
        bg = p.mask == 0
        rgb = p.rgb.astype(float)
        assert rgb[..., 0][bg].mean() > 200 and rgb[..., 2][bg].mean() < 60  # the photo's red and blue
        cols = np.where(bg.all(0))[0]  # columns of pure background
        assert rgb[:, cols[-1], 1].mean() > rgb[:, cols[0], 1].mean() + 60  # its ramp runs left to right
        assert not np.array_equal(p.rgb, q.rgb)
