"""Strand hair: grown bpy-free from the spec's seed on the head model's scalp, kept off the skin and
out of the face, drawn as Cycles curves; sampled on its own stream, off unless a pipeline asks."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from relhead.assets.base import SCALP
from relhead.render.hair import POINTS, grow, occluder_ribbons, scalp_triangles
from synthetic import sampled_specs

FAKE = ["head.model=fake", "views=2", "hair.strand_count=[2000,2000]"]


def test_strands_are_off_by_default_and_change_nothing_else(fake_model):
    _, plain = sampled_specs(FAKE, fake_model, range(16))
    _, haired = sampled_specs(FAKE + ["hair.strands=1"], fake_model, range(16))
    styles = set()
    for a, b in zip(plain, haired):
        assert a.materials.hair is None or a.materials.hair.strands is None
        h = b.materials.hair
        styles.add(h.strands.style)
        assert h.scalp_density == 1.0 and h.hairline_cm == h.strands.hairline_cm  # the scalp under it is painted
        if a.materials.hair is not None:
            assert (h.melanin, h.redness, h.brow_density) == (a.materials.hair.melanin, a.materials.hair.redness,
                                                              a.materials.hair.brow_density)
        assert b.model_copy(update={"materials": a.materials}) == a
    assert len(styles) >= 3


def test_a_head_model_without_a_scalp_cannot_grow_hair(fake_model):
    class Bald:
        name = "bald"

        def __getattr__(self, key):
            return getattr(fake_model, key)

    bald = Bald()
    bald.vertex_attributes = {k: v for k, v in fake_model.vertex_attributes.items() if k != SCALP}
    with pytest.raises(ValueError, match="no SCALP attribute"):
        sampled_specs(FAKE + ["hair.strands=1"], bald, range(1))


def _grown(fake_model, style, group=0):
    from relhead.render.group import posed_heads, strands

    _, (spec,) = sampled_specs(FAKE + ["hair.strands=1", f"hair.styles=[{style}]"], fake_model, [group])
    return spec, strands(spec, fake_model, posed_heads(spec, fake_model)[0])


def _head_frame(fake_model, spec):
    """The first view's vertices and landmarks in its head frame (where the strands are grown)."""
    from relhead.render.group import posed_heads

    p = posed_heads(spec, fake_model)[0]
    T = p.T_world_head
    return (p.vertices.astype(float) - T[:3, 3]) @ T[:3, :3], (p.landmarks - T[:3, 3]) @ T[:3, :3]


@pytest.mark.parametrize("style", ["short", "medium", "long", "curly"])
def test_strands_root_on_the_scalp_stay_off_the_skin_and_out_of_the_face(fake_model, style):
    spec, s = _grown(fake_model, style)
    X, lm = _head_frame(fake_model, spec)
    faces = fake_model.faces
    assert s.points.shape == (2000, POINTS, 3) and np.isfinite(s.points).all()
    # Roots on scalp triangles (above the hairline), exactly on the skin.
    scalp = fake_model.vertex_attributes[SCALP]
    tri = faces[scalp_triangles(fake_model, spec.materials.hair.strands.hairline_cm)]
    assert (scalp[tri, 0] > spec.materials.hair.strands.hairline_cm).all()
    _, nearest = cKDTree(X).query(s.points[:, 0])
    assert (scalp[nearest, 0] > spec.materials.hair.strands.hairline_cm - 1.5).all()
    # No point inside the skull (the fake head's ellipsoid, widened by the identity) above the jaw
    # (lower, its neck's top ring sits inside the skull, a seam a single-surface model has not), or
    # inside the neck below the skull.
    from fake_head import AXES, CENTRE

    p = s.points[:, 1:].reshape(-1, 3).astype(float)
    axes = AXES * [spec.head.identity.width_scale, 1.0, 1.0]
    r = np.linalg.norm((p - CENTRE) / axes, axis=1)
    assert (r > 1.0 + 0.0009 / AXES.max())[p[:, 1] < 0.05].all()
    assert (np.hypot(p[:, 0], p[:, 2] - CENTRE[2]) > 0.0509)[p[:, 1] > 0.12].all()
    # The face (below the brows, in front of the ears, inside the jaw line) stays clear.
    brow = lm[17:27, 1].min() + 0.005
    inside = (p[:, 1] > brow) & (p[:, 2] < lm[[0, 16], 2].mean()) & (np.abs(p[:, 0]) < np.abs(lm[:17, 0]).max() + 0.0099)
    assert not inside.any()


def test_styles_differ_as_named_and_growth_is_deterministic(fake_model):
    _, short = _grown(fake_model, "short")
    _, long = _grown(fake_model, "long")
    _, again = _grown(fake_model, "long")
    assert np.array_equal(long.points, again.points)
    assert long.points[:, -1, 1].mean() > short.points[:, -1, 1].mean() + 0.05  # long hair falls lower (y down)
    _, curly = _grown(fake_model, "curly")

    def wiggle(p):  # mean distance of the middle points from their strand's chord
        a, b = p[:, :1], p[:, -1:]
        t = np.linspace(0, 1, POINTS)[None, :, None]
        return np.linalg.norm(p - (a + t * (b - a)), axis=2)[:, 1:-1].mean()

    assert wiggle(curly.points) > wiggle(short.points)
    v, t = occluder_ribbons(long, every=10)
    assert t.max() < len(v) and len(t) == 2 * 2 * (POINTS - 1) * len(long.points[::10])


@pytest.mark.slow
def test_strand_hair_renders_on_the_head_and_only_hides_landmarks(head_model):
    from relhead.assets.hdri import hdri_pool
    from relhead.config import resolve
    from relhead.render.group import render_group
    from relhead.render.sampling import sample_group

    sets = ["views=2", "image.width=128", "image.height=128", "camera.face_fill=[0.4,0.4]", "pose.yaw_deg=[-40,40]",
            "pose.pitch_deg=[-10,10]", "head.expression.neutral_fraction=1", "lighting.background=color",
            "hair.styles=[long]", "hair.strand_count=[6000,6000]"]
    renders = []
    for share in (0, 1):
        cfg = resolve("test", sets + [f"hair.strands={share}"])
        pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
        renders.append(render_group(cfg, sample_group(cfg, 2, head_model, pool.refs), head_model, pool).views)
    for bald, haired in zip(*renders):
        a, b = bald.labels, haired.labels
        assert np.array_equal(a.landmarks, b.landmarks) and np.array_equal(a.R, b.R)
        assert not (b.landmarks_visible & ~a.landmarks_visible).any()  # hair can only hide landmarks
        assert b.landmarks_visible[36:48].all()  # never the eyes
        top = int(a.landmarks[17:27, 1].min()) - 10
        # Hair adds to the silhouette above the brows, and the face below them is still skin.
        assert (haired.mask[:top] > 128).sum() > 1.1 * (bald.mask[:top] > 128).sum()
        y0, y1 = int(a.landmarks[36:48, 1].min()), int(a.landmarks[48:68, 1].max())
        x0, x1 = int(a.landmarks[36:48, 0].min()), int(a.landmarks[36:48, 0].max())
        d = np.abs(haired.rgb[y0:y1, x0:x1].astype(float) - bald.rgb[y0:y1, x0:x1].astype(float)).mean()
        assert d < 12
