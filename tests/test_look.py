"""The look parts of issue 26 (detailed eyes and skin, the camera model, procedural backdrops): each off by
default and then changing nothing (config dict and hash, spec bytes), each on changing what it should,
deterministic, their config errors naming the key. Fast tier on the fake head and plain arrays; renders
in the slow tier."""

import json

import numpy as np
import pytest

from relhead.config import ConfigError, resolve
from relhead.render.backdrop import backdrop_image, value_noise
from relhead.render.photo import develop, jpeg, linear_to_srgb, srgb_to_linear
from relhead.render.spec import BackdropSpec, GroupSpec, PhotoSpec
from synthetic import sampled_specs

FAKE = ["head.model=fake", "views=3"]
LOOK_ON = ["eyes.detail=1", "skin.detail=1", "effects.photo_fraction=1", "lighting.backdrop_fraction=1"]
NEW_KEYS = ("detail", "freckles", "makeup", "photo_fraction", "exposure_ev", "jpeg_quality", "backdrop_fraction",
            "backdrop_clutter", "eyes", "key_light_fraction", "key_light_share")

# Config hashes of the shipped pipelines that leave the look parts off, as they were before the parts
# existed (main at 6022be5): switching a part off must give these exactly. The default preset's denoiser
# prefilter (none -> fast) and world map (2048 -> 1024) have changed since, data changes of their own, so the
# pins are taken with them as they were.
AS_IT_WAS = ["render.denoiser_prefilter=none", "render.env_map_resolution=2048"]
PINNED = {"quickstart": "cf39a8140dfa1af6", "paper": "5f84356554a8b1cc", "relative-vs-absolute": "bc530eac632b11a1",
          "clips": "e513f6626549ef8b", "test": "0a564e724ed85ca0"}
REALISTIC_BEFORE = "da27ff0552104419"


def _keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(k)
        if isinstance(v, dict):
            out |= _keys(v, prefix + k + ".")
    return out


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pipelines_without_the_look_parts_keep_their_config_hash(name):
    cfg = resolve(name, AS_IT_WAS)
    assert cfg.hash() == PINNED[name]
    assert not _keys(cfg.to_dict()) & set(NEW_KEYS)


def test_the_realistic_pipeline_with_its_look_parts_off_is_as_it_was():
    off = ["eyes.detail=0", "skin.detail=0", "lighting.backdrop_fraction=0", "effects.chroma_noise=0.5",
           "head.local_change_offsets={}", "lighting.key_light_fraction=0", *AS_IT_WAS]  # the camera model ships off
    assert resolve("realistic", off).hash() == REALISTIC_BEFORE
    # a sub-key of a part that is off changes no data, so neither the dict nor the hash
    assert resolve("realistic", off + ["skin.freckles=0.9", "effects.jpeg_quality=[80,81]"]).hash() == REALISTIC_BEFORE


def test_a_part_switched_on_enters_the_dict_and_hash_with_its_keys():
    base = resolve("test")
    for on, section, keys in (("skin.detail=0.5", "skin", ("detail", "freckles", "makeup")),
                              ("effects.photo_fraction=0.5", "effects", ("photo_fraction", "jpeg_quality")),
                              ("lighting.backdrop_fraction=0.5", "lighting", ("backdrop_fraction", "backdrop_clutter")),
                              ("lighting.key_light_fraction=0.5", "lighting", ("key_light_fraction", "key_light_share")),
                              ("eyes.detail=0.5", "eyes", ("detail", "veins"))):
        cfg = resolve("test", [on])
        assert cfg.hash() != base.hash() and all(k in cfg.to_dict()[section] for k in keys)


def test_each_part_off_by_default_and_on_changes_only_its_own_fields(fake_model):
    cfg0, plain = sampled_specs(FAKE, fake_model, range(16))
    text = "".join(s.model_dump_json() for s in plain)
    for word in ('"detail"', '"photo"', '"backdrop"'):
        assert word not in text
    for on in LOOK_ON:
        _, specs = sampled_specs(FAKE + [on], fake_model, range(16))
        for a, b in zip(plain, specs):
            # undo the part: the spec is the plain one again
            m = b.materials
            undone = b.model_copy(update={
                "materials": m.model_copy(update={"skin": m.skin.model_copy(update={"detail": None}),
                                                  "eye": a.materials.eye if on.startswith("eyes") else m.eye}),
                "views": [v.model_copy(update={"photo": None}) for v in b.views],
                "lighting": a.lighting})
            assert undone == a
            if on.startswith("lighting"):
                assert b.lighting.background.type == "backdrop" and b.lighting.background.backdrop is not None
            if on.startswith("eyes"):
                assert b.materials.eye.detail is not None
                assert (b.materials.eye.iris_deg, b.materials.eye.pupil_deg) == (a.materials.eye.iris_deg,
                                                                                  a.materials.eye.pupil_deg)
            if on.startswith("skin"):
                assert b.materials.skin.detail is not None
            if on.startswith("effects"):
                assert all(v.photo is not None for v in b.views)
        again = sampled_specs(FAKE + [on], fake_model, range(16))[1]
        assert [s.model_dump_json() for s in again] == [s.model_dump_json() for s in specs]
        for s in specs:  # exact JSON round trip with the new fields
            assert GroupSpec.model_validate_json(s.model_dump_json()) == s


def test_fractions_draw_per_subject_view_and_group(fake_model):
    cfg, specs = sampled_specs(FAKE + ["eyes.detail=0.5", "skin.detail=0.5", "effects.photo_fraction=0.5",
                                       "lighting.backdrop_fraction=0.5"], fake_model, range(40))
    eyes = sum(s.materials.eye.detail is not None for s in specs)
    skins = sum(s.materials.skin.detail is not None for s in specs)
    photos = sum(v.photo is not None for s in specs for v in s.views)
    drops = sum(s.lighting.background.type == "backdrop" for s in specs)
    assert 10 <= eyes <= 30 and 10 <= skins <= 30 and 35 <= photos <= 85 and 10 <= drops <= 30


def test_detailed_eyes_have_varied_irises_and_a_sclera_that_is_not_paper_white(fake_model):
    _, specs = sampled_specs(FAKE + ["eyes.detail=1", "eyes.veins=[0.2,0.5]"], fake_model, range(40))
    irises = np.array([s.materials.eye.iris_color for s in specs])
    assert len({tuple(i) for i in irises.round(3)}) == 40 and np.ptp(irises[:, 2]) > 0.1  # blue to brown
    for s in specs:
        d = s.materials.eye.detail
        sclera = linear_to_srgb(np.asarray(d.sclera))
        assert sclera.max() < 0.9 and sclera[0] >= sclera[2]  # grey-white, warm
        assert 0.2 <= d.veins <= 0.5 and 0 < d.limbal < 1 and 0 < d.collarette_size < 1
    # darker skin, darker irises (on average)
    light = np.mean([np.mean(s.materials.eye.iris_color) for s in specs if s.materials.skin.tone < 0.4])
    dark = np.mean([np.mean(s.materials.eye.iris_color) for s in specs if s.materials.skin.tone > 0.6])
    assert dark < light


def test_detailed_skin_shares_of_freckles_and_makeup_and_a_duller_sheen(fake_model):
    _, specs = sampled_specs(FAKE + ["skin.detail=1", "skin.freckles=0.5", "skin.makeup=0.25"], fake_model, range(60))
    details = [s.materials.skin.detail for s in specs]
    freckled = sum(d.freckles > 0 for d in details)
    made_up = sum(d.makeup is not None for d in details)
    assert 18 <= freckled <= 42 and 6 <= made_up <= 26
    assert all(0 < d.sheen < 1 and d.variation > 0 and 0 <= d.age <= 1 for d in details)
    none = sampled_specs(FAKE + ["skin.detail=1", "skin.freckles=0", "skin.makeup=0"], fake_model, range(20))[1]
    assert all(s.materials.skin.detail.freckles == 0 and s.materials.skin.detail.makeup is None for s in none)


@pytest.mark.parametrize("sets, message", [
    (["eyes.detail=2"], "eyes.detail: "),
    (["eyes.veins=[0.5,0.2]"], "eyes.veins: [min, max] needs min <= max"),
    (["eyes.colour=1"], "eyes.colour: unknown key"),
    (["skin.detail=-0.1"], "skin.detail: "),
    (["skin.freckles=1.5"], "skin.freckles: "),
    (["effects.photo_fraction=2"], "effects.photo_fraction: "),
    (["effects.jpeg_quality=[60.5,90]"], "effects.jpeg_quality: "),
    (["effects.jpeg_quality=[0,90]"], "effects.jpeg_quality.0: "),
    (["effects.exposure_ev=[-9,0]"], "effects.exposure_ev.0: "),
    (["lighting.backdrop_fraction=1.1"], "lighting.backdrop_fraction: "),
    (["lighting.backdrop_clutter=[2.5,4]"], "lighting.backdrop_clutter: "),
])
def test_look_config_errors_are_one_line_naming_the_key(sets, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as e:
        resolve("test", sets)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------ the camera model
def _photo(**kw) -> PhotoSpec:
    base = dict(softness_px=0.0, exposure_ev=0.0, white_balance=(1.0, 1.0, 1.0), shot_noise=0.0, read_noise=0.0,
                contrast=0.0, saturation=1.0, jpeg_quality=100, seed=1)
    return PhotoSpec(**{**base, **kw})


FLAT = np.full((64, 64, 3), 128, np.uint8)


def test_sensor_noise_raises_the_variance_of_a_flat_image_and_is_seeded():
    quiet = develop(FLAT, _photo())
    assert quiet.astype(float).std() < 0.6  # JPEG 100 of a flat image: flat
    noisy = develop(FLAT, _photo(shot_noise=0.01, read_noise=0.005))
    assert noisy.astype(float).std() > 5 * max(quiet.astype(float).std(), 0.5)
    assert np.array_equal(noisy, develop(FLAT, _photo(shot_noise=0.01, read_noise=0.005)))  # same spec, same bytes
    assert not np.array_equal(noisy, develop(FLAT, _photo(shot_noise=0.01, read_noise=0.005, seed=2)))
    # shot noise grows with the signal: brighter flat patches are noisier in linear terms
    dark = develop(np.full((64, 64, 3), 40, np.uint8), _photo(shot_noise=0.02))
    bright = develop(np.full((64, 64, 3), 200, np.uint8), _photo(shot_noise=0.02))
    assert srgb_to_linear(bright / 255.0).std() > srgb_to_linear(dark / 255.0).std()


def test_exposure_white_balance_and_softness():
    lin = srgb_to_linear(np.float64(128) / 255)
    up = develop(FLAT, _photo(exposure_ev=1.0))
    assert abs(srgb_to_linear(up.mean() / 255) - 2 * lin) < 0.01
    warm = develop(FLAT, _photo(white_balance=(1.2, 1.0, 0.8))).reshape(-1, 3).mean(0)
    assert warm[0] > warm[1] > warm[2]
    edge = np.zeros((64, 64, 3), np.uint8)
    edge[:, 32:] = 255
    soft = develop(edge, _photo(softness_px=1.5))
    assert np.abs(np.diff(soft[..., 0].astype(float), axis=1)).max() < 0.5 * 255
    assert np.array_equal(develop(edge, _photo()), jpeg(edge, 100))  # nothing else happens at zero
    ramp = np.repeat(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], 3, axis=2).repeat(8, 0)
    steep = develop(ramp, _photo(contrast=1.0)).astype(float)[..., 0].mean(0)
    assert steep[8] < ramp[0, 8, 0] and steep[56] > ramp[0, 56, 0] and abs(steep[32] - 128) < 4  # an S about mid grey
    colour = np.zeros((8, 8, 3), np.uint8) + np.array([180, 120, 90], np.uint8)
    vivid = develop(colour, _photo(saturation=1.5)).reshape(-1, 3).mean(0)
    assert np.ptp(vivid) > 1.3 * np.ptp(colour.reshape(-1, 3).mean(0))


def test_jpeg_quality_is_within_its_range_and_lower_quality_loses_more(fake_model):
    _, specs = sampled_specs(FAKE + ["effects.photo_fraction=1", "effects.jpeg_quality=[60,95]"], fake_model, range(20))
    q = [v.photo.jpeg_quality for s in specs for v in s.views]
    assert min(q) >= 60 and max(q) <= 95 and len(set(q)) > 10 and all(isinstance(x, int) for x in q)
    img = (value_noise(np.random.default_rng(0), 64, 64, 8.0)[..., None] * np.array([255, 200, 120])).astype(np.uint8)
    err = [np.abs(develop(img, _photo(jpeg_quality=k)).astype(float) - img).mean() for k in (95, 60, 20)]
    assert 0 < err[0] < err[1] < err[2]


# ------------------------------------------------------------------ backdrops
def test_a_backdrop_is_deterministic_varied_and_not_a_plain_colour():
    p = BackdropSpec(seed=5, shapes=12, blur=0.005)
    a = backdrop_image(p, 96, 80)
    assert a.shape == (80, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, backdrop_image(p, 96, 80))
    others = [backdrop_image(BackdropSpec(seed=s, shapes=12, blur=0.005), 96, 80) for s in range(6, 12)]
    assert all(not np.array_equal(a, b) for b in others)
    for img in [a] + others:
        # far from a plain colour: spread over the image, and many distinct colours
        assert img.reshape(-1, 3).std(0).mean() > 8
        assert len(np.unique(img.reshape(-1, 3) // 16, axis=0)) > 20
    bare = backdrop_image(BackdropSpec(seed=5, shapes=0, blur=0.0), 96, 80)
    assert bare.reshape(-1, 3).std(0).mean() > 1  # even a bare wall is lit unevenly and textured
    blurred = backdrop_image(BackdropSpec(seed=5, shapes=12, blur=0.03), 96, 80).astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(a.astype(float), axis=1)).mean()


def test_face_areas_sit_where_the_landmarks_say(fake_model):
    from relhead.render.group import posed_heads
    from relhead.render.parts.face_areas import face_areas
    from relhead.frames import head_frame

    _, (spec,) = sampled_specs(FAKE + ["skin.detail=1"], fake_model, [0])
    first = posed_heads(spec, fake_model)[0]
    areas, lines = face_areas(first)
    n = len(first.vertices)
    assert areas.shape == lines.shape == (n, 3) and areas.dtype == np.float32
    assert 0 <= areas.min() and areas.max() <= 1 and 0 <= lines.min() and lines.max() <= 1
    v = head_frame(first.vertices, first)
    lm = head_frame(first.landmarks, first)
    # the back of the head (z far into it) has no face areas; the forehead is above the brows
    back = v[:, 2] > lm[:, 2].mean() + 0.08
    assert back.any() and areas[back].max() == 0 and lines[back].max() == 0
    tz = areas[:, 1] > 0.8
    assert tz.any() and np.median(v[tz, 1]) < lm[17:27, 1].mean()
    again = face_areas(first)
    assert np.array_equal(again[0], areas) and np.array_equal(again[1], lines)


def test_the_spec_of_a_view_with_a_camera_model_reads_back_from_json(fake_model):
    _, (spec,) = sampled_specs(FAKE + LOOK_ON, fake_model, [3])
    d = json.loads(spec.model_dump_json())
    assert all("photo" in v for v in d["views"]) and d["lighting"]["background"]["type"] == "backdrop"
    assert "detail" in d["materials"]["skin"] and "detail" in d["materials"]["eye"]


# ------------------------------------------------------------------ rendered (slow)
@pytest.mark.slow
def test_a_look_corpus_is_the_same_from_one_process_and_two_workers(tmp_path, head_model):
    """Every look part on (Anny with MPFB's skin, Cycles): one process with 3 numpy threads and 2 worker
    processes with 1 each make the same bytes. Torch runs on one thread in the one process, as in each
    worker: Anny's own metadata depends on torch's thread count on this host (test_labels says why),
    which is not what this compares."""
    import torch
    from threadpoolctl import threadpool_limits

    from relhead.datasets.generate import generate
    from relhead.datasets.shards import iter_groups

    cfg = resolve("test", ["shards=2", "groups_per_shard=1", "views=2", "image.width=64", "image.height=64",
                           "render.skin_shader=mpfb", "skin.freckles=1", "skin.makeup=1"] + LOOK_ON)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=3):
            generate(cfg, tmp_path / "one" / "test", log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    generate(cfg, tmp_path / "two" / "test", workers=2, log=lambda *_: None)
    for tar in sorted((tmp_path / "one" / "test").glob("shard-*.tar")):
        assert (tmp_path / "two" / "test" / tar.name).read_bytes() == tar.read_bytes()
    specs = [g.spec() for g in iter_groups(sorted((tmp_path / "one" / "test").glob("shard-*.tar")))]
    assert len(specs) == 2 and all(s.lighting.background.type == "backdrop" and s.materials.eye.detail
                                   and s.materials.skin.detail.makeup and all(v.photo for v in s.views)
                                   for s in specs)


@pytest.mark.slow
def test_each_look_part_renders_where_it_should_on_anny(head_model):
    """Anny close-ups (realistic's MPFB skin), one part on at a time against the same views with it off:
    the mask never changes; a backdrop changes only the background (the subject's opaque pixels stay);
    the camera model is exactly relhead.render.photo.develop of the plain render; detailed eyes change the
    eyes far more than anything else; detailed skin varies over the face (not a uniform shift)."""
    from scipy.ndimage import binary_erosion

    from relhead.render.group import render_group
    from synthetic import render_setup

    base = ["views=2", "image.width=128", "image.height=128", "camera.face_fill=[0.8,0.8]", "camera.lookat_jitter=0",
            "pose.yaw_deg=[-15,15]", "pose.pitch_deg=[-5,5]", "pose.roll_deg=[-5,5]", "render.skin_shader=mpfb",
            "head.expression.neutral_fraction=1", "lighting.background=hdri"]

    def render(sets):
        cfg, pool, spec = render_setup(base + sets, head_model, group=1)
        return spec, render_group(cfg, spec, head_model, pool).views

    _, plain = render([])
    for on in LOOK_ON:
        spec, views = render([on])
        for i, (a, b) in enumerate(zip(plain, views)):
            assert np.array_equal(a.mask, b.mask), on
            d = np.abs(b.rgb.astype(float) - a.rgb.astype(float)).mean(-1)
            if on.startswith("lighting"):
                inside = binary_erosion(a.mask == 255, iterations=2)
                assert d[inside].mean() < 0.5 and d[a.mask == 0].mean() > 10
                assert b.rgb[a.mask == 0].std(0).mean() > 8  # not a plain colour
            elif on.startswith("effects"):
                assert np.array_equal(b.rgb, develop(a.rgb, spec.views[i].photo))
            elif on.startswith("eyes"):
                lm = a.labels.landmarks
                box = np.zeros(d.shape, bool)
                for eye in (lm[36:42], lm[42:48]):
                    (x0, y0), (x1, y1) = eye.min(0).astype(int) - 1, eye.max(0).astype(int) + 2
                    box[y0:y1, x0:x1] = True
                assert d[box].mean() > 4 and d[box].mean() > 5 * d[~box].mean()
            else:
                lm = a.labels.landmarks
                (x0, y0), (x1, y1) = lm.min(0).astype(int), lm.max(0).astype(int)
                face = d[y0:y1, x0:x1]
                signed = (b.rgb.astype(float) - a.rgb.astype(float))[y0:y1, x0:x1].mean(-1)
                assert face.mean() > 2 and signed.std() > 2
