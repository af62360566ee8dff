"""Camera effects (sensor noise, vignette, chromatic aberration, depth of field): sampled per view
on their own random stream, and rendered on the image only (the mask and the ground truth stay)."""

import numpy as np
import pytest

from relhead.assets.hdri import hdri_pool
from relhead.config import ConfigError, resolve
from relhead.render.sampling import sample_group
from relhead.render.spec import EffectsSpec, GroupSpec
from synthetic import render_setup, sampled_specs

FAKE = ["head.model=fake", "views=4"]


def specs(sets, fake_model):
    return sampled_specs(FAKE + sets, fake_model, range(12))


def test_off_by_default(fake_model):
    _, out = specs([], fake_model)
    assert all(v.effects is None for s in out for v in s.views)


def test_switching_effects_on_changes_nothing_else(fake_model):
    _, off = specs([], fake_model)
    cfg, on = specs(["effects.fraction=0.5", "effects.defocus_fraction=0.5"], fake_model)
    fx = [v.effects for s in on for v in s.views]
    assert any(e is None for e in fx) and any(e is not None and e.sensor_noise > 0 for e in fx)
    assert any(e is not None and e.f_number > 0 for e in fx)
    for a, b in zip(off, on):
        stripped = b.model_copy(update={"views": [v.model_copy(update={"effects": None}) for v in b.views]})
        assert stripped == a
        assert GroupSpec.model_validate_json(b.model_dump_json()) == b  # exact round trip with effects
    for e in fx:
        if e is not None and e.sensor_noise:
            assert cfg.effects.sensor_noise[0] <= e.sensor_noise <= cfg.effects.sensor_noise[1]
            assert cfg.effects.vignette[0] <= e.vignette <= cfg.effects.vignette[1]
            assert 1 <= e.noise_seed < 2**20  # a Blender frame number
        if e is not None and e.f_number:
            assert cfg.effects.f_number[0] <= e.f_number <= cfg.effects.f_number[1]
    assert on == specs(["effects.fraction=0.5", "effects.defocus_fraction=0.5"], fake_model)[1]


def test_motion_blur_is_its_own_stream_and_changes_nothing_else(fake_model):
    _, base = specs(["effects.fraction=0.5", "effects.defocus_fraction=0.5"], fake_model)
    cfg, on = specs(["effects.fraction=0.5", "effects.defocus_fraction=0.5", "effects.motion_blur_fraction=0.5"], fake_model)
    blurred = 0
    for a, b in zip(base, on):
        for va, vb in zip(a.views, b.views):
            e = vb.effects
            if e is not None and e.motion_blur_px:
                blurred += 1
                assert cfg.effects.motion_blur_px[0] <= e.motion_blur_px <= cfg.effects.motion_blur_px[1]
                assert 0 <= e.motion_blur_deg <= 180
                e = e.model_copy(update={"motion_blur_px": 0.0, "motion_blur_deg": 0.0})
                e = None if e == EffectsSpec() else e
            assert e == va.effects and vb.model_copy(update={"effects": None}) == va.model_copy(update={"effects": None})
    assert 10 < blurred < 38  # about half of 48 views


def test_chroma_noise_changes_only_the_chroma_and_leaves_older_specs_and_hashes_alone(fake_model):
    _, base = specs(["effects.fraction=0.5"], fake_model)
    assert '"chroma_noise"' not in "".join(s.model_dump_json() for s in base)  # at the share it always was
    _, grey = specs(["effects.fraction=0.5", "effects.chroma_noise=0"], fake_model)
    noisy = 0
    for a, b in zip(base, grey):
        assert GroupSpec.model_validate_json(b.model_dump_json()) == b
        for va, vb in zip(a.views, b.views):
            if va.effects is not None and va.effects.sensor_noise:
                noisy += 1
                assert vb.effects.chroma_noise == 0.0
                vb = vb.model_copy(update={"effects": vb.effects.model_copy(update={"chroma_noise": None})})
            assert vb == va
    assert noisy > 5
    assert resolve("test", ["effects.chroma_noise=0.5"]).hash() == resolve("test").hash()
    assert resolve("test", ["effects.chroma_noise=0"]).hash() != resolve("test").hash()


@pytest.mark.parametrize("sets, message", [
    (["effects.vignette=[0.5,0.2]"], "effects.vignette: [min, max] needs min <= max"),
    (["effects.fraction=1.5"], "effects.fraction: "),
    (["effects.f_number=[0.1,2]"], "effects.f_number"),
    (["effects.blur=1"], "effects.blur: unknown key; allowed here: chroma_noise, chromatic_aberration, defocus_fraction"),
])
def test_bad_effects_config_is_one_line(sets, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as e:
        resolve("test", sets)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------ rendered (slow)
@pytest.mark.slow
def test_effects_touch_the_image_only(fake_model):
    from relhead.render.group import render_group

    cfg = resolve("test", FAKE + ["views=3", "image.width=96", "image.height=96", "effects.fraction=1",
                                  "lighting.background=color"])
    pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    spec = sample_group(cfg, 0, fake_model, pool.refs)

    def render(*effects):
        views = [v.model_copy(update={"effects": e}) for v, e in zip(spec.views, effects)]
        return render_group(cfg, spec.model_copy(update={"views": views}), fake_model, pool).views

    plain_cfg = cfg.model_copy(update={"effects": cfg.effects.model_copy(update={"fraction": 0.0})})
    plain = render_group(plain_cfg, spec.model_copy(update={"views": [v.model_copy(update={"effects": None})
                                                                      for v in spec.views]}),
                         fake_model, pool).views
    muted = render(None, None, None)
    noisy = render(*(EffectsSpec(sensor_noise=0.2, noise_seed=s) for s in (5, 6, 5)))
    grain = render(*(EffectsSpec(sensor_noise=0.2, chroma_noise=0.0, noise_seed=s) for s in (5, 6, 5)))
    lens = render(*(EffectsSpec(vignette=0.8, chromatic_aberration=0.5) for _ in range(3)))
    dof = render(*(EffectsSpec(f_number=0.5) for _ in range(3)))
    for i in range(3):
        # A view without effects in a scene built for them is the plain render, byte for byte.
        assert np.array_equal(muted[i].rgb, plain[i].rgb) and np.array_equal(muted[i].mask, plain[i].mask)
        for other in (noisy, lens):
            assert np.array_equal(other[i].mask, plain[i].mask)
            assert np.abs(other[i].rgb.astype(int) - plain[i].rgb).mean() > 0.5
            assert np.array_equal(other[i].labels.landmarks, plain[i].labels.landmarks)
    # The noise is seeded by the spec: the same seed gives the same pattern, another seed another one.
    residual = [n.rgb.astype(float).mean(2) - p.rgb.astype(float).mean(2) for n, p in zip(noisy, plain)]
    background = (plain[0].mask == 0) & (plain[1].mask == 0) & (plain[2].mask == 0)
    corr = lambda a, b: np.corrcoef(a[background], b[background])[0, 1]  # noqa: E731
    assert corr(residual[0], residual[2]) > 0.9 and abs(corr(residual[0], residual[1])) < 0.2
    # Chroma noise 0 leaves the grain in brightness only: the subject's colours (chromaticity) move far less.
    def chroma_shift(a, b, m):
        ca, cb = (x.rgb.astype(float)[m] / np.maximum(x.rgb.astype(float)[m].sum(1, keepdims=True), 1) for x in (a, b))
        return np.abs(ca - cb).mean()
    subject = plain[0].mask > 250
    assert chroma_shift(grain[0], plain[0], subject) < 0.5 * chroma_shift(noisy[0], plain[0], subject)
    assert np.abs(grain[0].rgb.astype(int) - plain[0].rgb).mean() > 0.5  # still grainy
    # The vignette darkens the corners more than the centre.
    d = plain[0].rgb.astype(float).mean(2) - lens[0].rgb.astype(float).mean(2)
    assert d[:8, :8].mean() > d[40:56, 40:56].mean() + 2
    # Depth of field focused on the head blurs the mask's edge, and leaves it where it was.
    for p, b in zip(plain, dof):
        soft = lambda m: ((m > 20) & (m < 235)).sum()  # noqa: E731
        assert soft(b.mask) > soft(p.mask)
        assert abs(int((b.mask >= 128).sum()) - int((p.mask >= 128).sum())) < 0.1 * (p.mask >= 128).sum()


@pytest.mark.slow
def test_motion_blur_smears_along_its_direction_and_keeps_the_ground_truth(head_model):
    from relhead.render.group import render_group

    cfg, pool, spec = render_setup(["views=2", "image.width=128", "image.height=128", "camera.face_fill=[0.6,0.6]",
                                    "lighting.background=color", "render.samples=8", "render.denoise=true"], head_model)

    def render(px, deg):
        views = [v.model_copy(update={"effects": EffectsSpec(motion_blur_px=px, motion_blur_deg=deg) if px else None})
                 for v in spec.views]
        return render_group(cfg, spec.model_copy(update={"views": views}), head_model, pool).views

    def energy(img, axis):  # mean squared difference of neighbours along x (axis 1) or y (axis 0)
        y = img.astype(float).mean(2)
        return (np.diff(y, axis=axis) ** 2).mean()

    sharp, across, down = render(0, 0), render(12, 0), render(12, 90)
    for s, h, v in zip(sharp, across, down):
        assert np.array_equal(s.labels.landmarks, h.labels.landmarks) and np.array_equal(s.labels.R, v.labels.R)
        # Blur along x takes away detail along x far more than along y; blur along y the other way.
        assert energy(h.rgb, 1) / energy(s.rgb, 1) < 0.75 * energy(h.rgb, 0) / energy(s.rgb, 0)
        assert energy(v.rgb, 0) / energy(s.rgb, 0) < 0.75 * energy(v.rgb, 1) / energy(s.rgb, 1)
        # Centred on the pose of the labels: the mask's centroid stays put.
        c = lambda m: np.argwhere(m >= 128).mean(0)  # noqa: E731
        assert np.abs(c(h.mask) - c(s.mask)).max() < 1.5 and np.abs(c(v.mask) - c(s.mask)).max() < 1.5
    # The camera is left without keys for the next view without blur: the sharp render repeats.
    again = render(0, 0)
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(again, sharp))
