"""Clothing: a garment shell cut at a neckline level set on the head model's TORSO attribute, a few
mm off the skin, with a skirt that carries the bust's cut edge out of the frame; sampled on its own
stream, off unless a pipeline asks."""

from typing import get_args

import numpy as np
import pytest

from relhead.assets.base import TORSO
from relhead.config import GarmentStyle
from relhead.render.parts.garment import BODY_MIN, SKIRT_M, build_garment, garment_field, neckline_cm
from relhead.render.parts.surface import vertex_normals
from synthetic import sampled_specs

FAKE = ["head.model=fake", "views=2"]
STYLES = get_args(GarmentStyle)


def test_clothing_is_off_by_default_and_changes_nothing_else(fake_model):
    _, plain = sampled_specs(FAKE, fake_model, range(16))
    _, dressed = sampled_specs(FAKE + ["clothing.fraction=1"], fake_model, range(16))
    styles = set()
    for a, b in zip(plain, dressed):
        assert a.garment is None and b.garment is not None
        styles.add(b.garment.style)
        assert b.model_copy(update={"garment": None}) == a
    assert len(styles) >= 3
    _, some = sampled_specs(FAKE + ["clothing.fraction=0.5", "clothing.styles=[scoop]", "clothing.pattern_fraction=0"],
                            fake_model, range(40))
    worn = [s.garment for s in some if s.garment]
    assert 8 < len(worn) < 32 and {g.style for g in worn} == {"scoop"} and {g.pattern for g in worn} == {"solid"}


def test_a_head_model_without_a_torso_cannot_be_dressed(fake_model):
    class Bare:
        name = "bare"

        def __getattr__(self, key):
            return getattr(fake_model, key)

    bare = Bare()
    bare.vertex_attributes = {k: v for k, v in fake_model.vertex_attributes.items() if k != TORSO}
    with pytest.raises(ValueError, match="no TORSO attribute"):
        sampled_specs(FAKE + ["clothing.fraction=1"], bare, range(1))


@pytest.mark.parametrize("style", STYLES)
def test_the_shell_is_cut_at_the_neckline_and_stands_off_the_skin(fake_model, style):
    g = build_garment(fake_model, style, thickness_mm=4.0)
    torso = fake_model.vertex_attributes[TORSO].astype(float)
    f = garment_field(torso, style)
    # The field is the neckline's depth below the neck's base, but never within 1.5 cm of the bust's
    # cut in front, and never on the head.
    front = (np.abs(torso[:, 1]) < 15 / 180) & (torso[:, 2] > BODY_MIN)
    wanted = np.minimum(neckline_cm(style, torso[:, 1] * 180.0), torso[front, 0].max() - 1.5)
    assert np.allclose(f, np.minimum(torso[:, 0] - wanted, 10.0 * (torso[:, 2] - BODY_MIN)))
    level = g.blend @ f  # the level set at each shell point: on or above the neckline, never the head
    assert level.min() > -1e-9
    # Points made by the cut lie exactly on it, and the cut runs all the way round (a closed loop).
    cut = np.diff(g.blend.indptr) == 2
    assert cut.sum() >= 8 and np.abs(level[cut]).max() < 1e-9
    V = fake_model.rest
    skin = g.blend @ V
    n = vertex_normals(V, fake_model.faces)
    P = g.vertices(V)
    gap = np.einsum("ij,ij->i", P[:len(skin)] - skin, g.blend @ n)
    assert np.allclose(np.linalg.norm(P[:len(skin)] - skin, axis=1), 0.004, atol=1e-6) and gap.min() > 0.0035
    from fake_head import CENTRE  # the fake neck is a cylinder of radius 5 cm: the shell is outside it

    neck = P[:len(skin)][P[:len(skin), 1] > 0.09]
    assert (np.hypot(neck[:, 0], neck[:, 2] - CENTRE[2]) > 0.0535).all()


def test_the_skirt_continues_the_cut_edge_downward_and_the_mesh_has_no_other_border(fake_model):
    g = build_garment(fake_model, "crew", thickness_mm=3.0)
    V = fake_model.rest  # head frame: y points down
    P = g.vertices(V)
    S, B = g.blend.shape[0], len(g.edge)
    assert B > 0 and len(P) == S + len(SKIRT_M) * B
    base, last = P[g.edge], P[S + (len(SKIRT_M) - 1) * B:]
    assert np.allclose(last[:, 1] - base[:, 1], SKIRT_M[-1] * np.cos(np.arctan(0.25)), atol=0.02)
    assert (last[:, 1] > base[:, 1] + 0.25).all()
    # Only two borders remain: the neckline and the skirt's hem.
    e = np.sort(np.concatenate([g.faces[:, [0, 1]], g.faces[:, [1, 2]], g.faces[:, [2, 0]]]), 1)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    border = uniq[count == 1]
    assert (count <= 2).all()
    hem = np.isin(border, np.arange(S + (len(SKIRT_M) - 1) * B, len(P))).all(1)
    neck = np.isin(border, np.flatnonzero(np.diff(g.blend.indptr) == 2)).all(1)
    assert (hem | neck).all() and hem.any() and neck.any()


def test_the_garment_follows_the_posed_body(fake_model):
    from relhead.render.group import posed_heads
    from relhead.render.parts.garment import garment_mesh

    _, (spec,) = sampled_specs(FAKE + ["clothing.fraction=1", "clothing.styles=[turtleneck]"], fake_model, [3])
    g = garment_mesh(spec, fake_model)
    for p in posed_heads(spec, fake_model):
        skin = g.blend @ p.vertices.astype(float)
        P = g.vertices(p.vertices)[:len(skin)]
        assert np.allclose(np.linalg.norm(P - skin, axis=1), spec.garment.thickness_mm / 1000, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("style", ["crew", "turtleneck", "collared", "hoodie"])
def test_a_garment_renders_below_the_chin_and_leaves_the_face_and_labels_alone(head_model, style):
    from relhead.assets.hdri import hdri_pool
    from relhead.config import resolve
    from relhead.render.group import render_group
    from relhead.render.sampling import sample_group

    sets = ["views=2", "image.width=128", "image.height=128", "camera.face_fill=[0.35,0.35]", "pose.yaw_deg=[-20,20]",
            "pose.pitch_deg=[-10,10]", "pose.roll_deg=[-5,5]", "head.expression.neutral_fraction=1",
            "lighting.background=color", f"clothing.styles=[{style}]"]
    renders = []
    for fraction in (0, 1):
        cfg = resolve("test", sets + [f"clothing.fraction={fraction}"])
        pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
        spec = sample_group(cfg, 1, head_model, pool.refs)
        renders.append(render_group(cfg, spec, head_model, pool).views)
    for bare, dressed in zip(*renders):
        a, b = bare.labels, dressed.labels
        assert np.array_equal(a.landmarks, b.landmarks) and np.array_equal(a.R, b.R) and np.array_equal(a.t, b.t)
        assert np.array_equal(a.landmarks_visible, b.landmarks_visible)  # nothing covers the jaw or chin
        d = np.abs(dressed.rgb.astype(float) - bare.rgb.astype(float)).mean(2)
        chin = int(a.landmarks[8, 1])
        brows = int(a.landmarks[17:27, 1].min())
        assert d[:brows].mean() < 2.0 and d[chin + 8:].mean() > 10 * max(d[:brows].mean(), 0.5)
        # The skirt carries the subject to the bottom of the frame: no cut edge above it.
        assert dressed.mask[-1].mean() > 100 and (dressed.mask[chin + 8:] > 128).mean() > (bare.mask[chin + 8:] > 128).mean()


@pytest.mark.parametrize("style", ["collared", "hoodie"])
def test_a_collar_or_hood_stands_up_the_neck_and_folds_over_off_the_garment(fake_model, style):
    from relhead.render.parts.garment import FALL_ROWS, FLAPS
    from relhead.render.parts.surface import Skin

    g = build_garment(fake_model, style, thickness_mm=3.0)
    V = fake_model.rest  # head frame: y points down
    P = g.vertices(V)
    S, B = g.blend.shape[0], len(g.edge)
    rows = P[S + len(SKIRT_M) * B:].reshape(4 + FALL_ROWS, -1, 3).astype(float)
    assert len(P) == g.num_vertices and g.faces.max() < len(P) and rows.shape[1] > 20
    # Nothing of it inside the body, or the garment under it.
    depth, _ = Skin.of(fake_model, V).depth(rows.reshape(-1, 3))
    assert depth.min() > 0.002
    # It stands up the neck: the standing leaf's top is 1-3 cm above where it starts, on the neckline.
    rise = rows[0, :, 1] - rows[2, :, 1]
    assert 0.009 < rise.min() and rise.max() < 0.031
    neckline = np.flatnonzero(np.diff(g.blend.indptr) == 2)
    assert np.linalg.norm(rows[0][:, None] - P[neckline][None], axis=2).min(1).max() < 1e-6
    # Then it lies back down, away from the neck, outside the garment.
    gap = depth.reshape(rows.shape[:2])[-3]  # mid-fall, off the skin
    mid = gap[np.argsort(np.abs(rows[-3, :, 0]))[: len(gap) // 4]]  # in the middle: the back (and for a collar the front)
    neck = P[neckline].mean(0)
    away = np.linalg.norm(rows[-1] - neck, axis=1) - np.linalg.norm(rows[0] - neck, axis=1)
    assert (away > 0.01).all()
    throat = P[neckline][np.argmin(P[neckline][:, 2])]
    if style == "collared":  # a collar lies flat, and is open at the throat
        assert gap.max() < 0.003 + 0.01
        assert np.linalg.norm(rows - throat, axis=2).min() > 0.005
    else:  # a hood is a roll, thickest at the back, and leaves the front open
        assert mid.min() > 0.015
        assert np.linalg.norm(rows - throat, axis=2).min() > 0.02
    assert set(FLAPS) <= set(STYLES)
