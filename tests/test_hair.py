"""Strand hair: grown bpy-free from the spec's seed on the head model's scalp, kept off the skin and
out of the face, drawn as Cycles curves; sampled on its own stream, off unless a pipeline asks."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from relhead.assets.base import SCALP
from relhead.render.parts.hair import POINTS, occluder_ribbons, scalp_triangles
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
    from relhead.render.group import posed_heads
    from relhead.render.parts.hair import group_strands

    _, (spec,) = sampled_specs(FAKE + ["hair.strands=1", f"hair.styles=[{style}]"], fake_model, [group])
    return spec, group_strands(spec, fake_model, posed_heads(spec, fake_model)[0])


def _head_frame(fake_model, spec):
    """The first view's vertices and landmarks in its head frame (where the strands are grown)."""
    from relhead.render.group import posed_heads

    p = posed_heads(spec, fake_model)[0]
    T = p.T_world_head
    return (p.vertices.astype(float) - T[:3, 3]) @ T[:3, :3], (p.landmarks - T[:3, 3]) @ T[:3, :3]


@pytest.mark.parametrize("style", ["short", "medium", "long", "curly", "ponytail", "bun"])
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


def test_tied_hair_lies_on_the_scalp_meets_at_the_back_and_hangs_or_winds_there(fake_model):
    from relhead.render.parts.hair import TIED

    for style in TIED:
        spec, s = _grown(fake_model, style)
        X, lm = _head_frame(fake_model, spec)
        p = s.points.astype(float)
        half = POINTS // 2
        # Up to the tie each strand lies on the scalp (pressed within the style's volume, plus clumping).
        from relhead.render.parts.surface import Skin

        depth, _ = Skin.of(fake_model, X).depth(p[:, 1:half - 1].reshape(-1, 3))
        assert np.percentile(depth, 2) > 0.0 and np.percentile(depth, 98) < 0.001 + spec.materials.hair.strands.volume_mm / 1000 + 0.004
        # Every strand reaches the tie: a bundle a few cm across, behind the ears.
        tie = p[:, half - 1]
        assert np.percentile(np.linalg.norm(tie - np.median(tie, 0), axis=1), 95) < 0.02
        assert np.median(tie[:, 2]) > lm[[0, 16], 2].mean() + 0.03 and abs(np.median(tie[:, 0]) - lm[27:31, 0].mean()) < 0.01
        tips = p[:, -1]
        if style == "ponytail":  # the tail falls below the tie, behind the head
            assert np.median(tips[:, 1] - tie[:, 1]) > 0.1 and (tips[:, 2] > lm[[0, 16], 2].mean()).mean() > 0.95
        else:  # the bun is a ball behind the tie
            centre = p[:, half:].reshape(-1, 3).mean(0)
            assert np.linalg.norm(p[:, half:] - centre, axis=2).max() < 0.05 and centre[2] > np.median(tie[:, 2])
    # Heights vary with tie_height: a high ponytail's tie sits higher than a low one's.
    ties = []
    for g in range(12):
        spec, s = _grown(fake_model, "ponytail", g)
        ties.append((spec.materials.hair.strands.tie_height, np.median(s.points[:, POINTS // 2 - 1, 1])))
    h, y = np.array(ties).T
    assert np.corrcoef(h, y)[0, 1] < -0.8  # y points down


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


FACIAL = ["head.model=fake", "views=2", "hair.facial_hair=1"]


def _facial(fake_model, style, group=0, sets=()):
    from relhead.render.group import posed_heads
    from relhead.render.parts.hair import group_facial_hair

    _, (spec,) = sampled_specs(FACIAL + [f"hair.facial_styles=[{style}]", *sets], fake_model, [group])
    posed = posed_heads(spec, fake_model)
    return spec, posed, group_facial_hair(spec, fake_model, posed[0])


def test_facial_hair_is_off_by_default_changes_nothing_else_and_only_for_who_grows_it(fake_model):
    from relhead.assets.anny_head import AnnyIdentity

    _, plain = sampled_specs(["head.model=fake", "views=2"], fake_model, range(12))
    _, bearded = sampled_specs(FACIAL, fake_model, range(12))
    styles = set()
    for a, b in zip(plain, bearded):
        f = b.materials.hair.facial
        styles.add(f.style)
        assert a.materials.hair is None or a.materials.hair.facial is None
        if a.materials.hair is not None:
            assert b.materials.hair.model_copy(update={"facial": None}) == a.materials.hair
        assert b.model_copy(update={"materials": a.materials}) == a
    assert styles == {"stubble", "moustache", "goatee", "beard"}
    # Anny's identities: adult men only (its gender phenotype's anchors: 0 male .. 1 female).
    man = AnnyIdentity(age_years=30.0, phenotypes={"gender": 0.1}, local_changes={})
    assert man.grows_facial_hair()
    assert not man.model_copy(update={"phenotypes": {"gender": 0.9}}).grows_facial_hair()
    assert not man.model_copy(update={"age_years": 12.0}).grows_facial_hair()


@pytest.mark.parametrize("style", ["stubble", "moustache", "goatee", "beard"])
def test_facial_hair_grows_on_the_lower_face_off_the_skin_and_the_lips(fake_model, style):
    from fake_head import AXES, CENTRE

    spec, posed, fh = _facial(fake_model, style)
    X, lm = _head_frame(fake_model, spec)
    p = fh.strands.points
    assert p.shape == (spec.materials.hair.facial.count, POINTS, 3) and np.isfinite(p).all()
    roots = p[:, 0]
    # Rooted below the eyes, below the nose's base in the middle, in front of the ears, not on the lips.
    assert (roots[:, 1] > lm[36:48, 1].max() + 0.01).all() and (roots[:, 2] < lm[[0, 16], 2].mean()).all()
    assert (roots[np.abs(roots[:, 0] - lm[27:31, 0].mean()) < 0.01, 1] > lm[33, 1] - 0.003).all()
    mouth, half = lm[48:60, :2].mean(0), np.ptp(lm[48:60, :2], 0) / 2
    assert ((((roots[:, :2] - mouth) / half) ** 2).sum(1) > 1.0).all()
    # A real beard's cheek line: beside the mouth no hair above the nose's base (the upper cheeks stay bare).
    beside = np.abs(roots[:, 0] - lm[27:31, 0].mean()) < half[0] + 0.004
    assert (roots[beside, 1] > lm[33, 1] - 0.003).all()
    if style == "moustache":  # between the nose and the upper lip, and trimmed to the lip
        assert (roots[:, 1] < lm[[50, 51, 52], 1].mean() + 0.003).all()
        assert (p[:, -1, 1] < lm[[50, 51, 52], 1].mean() + 0.0045).all()
    if style == "stubble":  # short; on the face (under the chin the fake head's neck meets its skull in a seam)
        face = roots[:, 1] < lm[8, 1] - 0.025
        assert face.sum() > 1000 and np.linalg.norm(p[face, -1] - p[face, 0], axis=1).max() < 0.004
    # Off the skin: outside the skull's ellipsoid above the jaw's hinge.
    q = p[:, 1:].reshape(-1, 3).astype(float)
    axes = AXES * [spec.head.identity.width_scale, 1.0, 1.0]
    r = np.linalg.norm((q - CENTRE) / axes, axis=1)
    assert (r > 1.0)[q[:, 1] < 0.04].all()


def test_facial_hair_follows_the_jaw_and_is_deterministic(fake_model):
    spec, posed, fh = _facial(fake_model, "beard")
    _, _, again = _facial(fake_model, "beard")
    assert np.array_equal(fh.strands.points, again.strands.points)
    from relhead.frames import head_frame

    X0 = head_frame(posed[0].vertices, posed[0])
    assert np.allclose(fh.at(X0).points, fh.strands.points, atol=1e-6)  # the first view: as grown
    X1 = X0.copy()  # the lower half of the mesh drops 1 cm
    jaw = X0[:, 1] > X0[:, 1].min() + 0.5 * np.ptp(X0[:, 1])
    X1[jaw, 1] += 0.01
    moved = fh.at(X1).points
    down = jaw[fh.root_vertices].all(1)
    assert down.any() and (~down).any()
    assert np.allclose(moved[down] - fh.strands.points[down], [0.0, 0.01, 0.0], atol=1e-6)  # each strand with its root
    still = ~jaw[fh.root_vertices].any(1)
    assert np.allclose(moved[still], fh.strands.points[still], atol=1e-6)


@pytest.mark.slow
def test_a_beard_renders_where_it_grows_and_follows_an_opening_jaw(head_model):
    from relhead.assets.hdri import hdri_pool
    from relhead.config import resolve
    from relhead.frames import head_frame, project
    from relhead.render.group import posed_heads, render_group
    from relhead.render.parts.hair import group_facial_hair
    from relhead.render.sampling import sample_group

    sets = ["views=2", "image.width=160", "image.height=160", "camera.face_fill=[0.6,0.6]", "pose.yaw_deg=[-25,25]",
            "pose.pitch_deg=[-10,10]", "lighting.background=color", "hair.facial_styles=[beard]",
            "head.expression.per_view=true", "render.samples=16", "render.denoise=true"]
    cfg = resolve("test", sets + ["hair.facial_hair=1"])
    pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    spec = next(s for s in (sample_group(cfg, g, head_model, pool.refs) for g in range(40))
                if s.materials.hair is not None and s.materials.hair.facial is not None)
    # The second view opens the jaw: the beard must go with it.
    views = [spec.views[0].model_copy(update={"expression": {}}),
             spec.views[1].model_copy(update={"expression": {"jawOpen": 0.8}})]
    spec = spec.model_copy(update={"views": views})
    shaved = spec.model_copy(update={"materials": spec.materials.model_copy(
        update={"hair": spec.materials.hair.model_copy(update={"facial": None})})})
    bearded, bare = (render_group(cfg, s, head_model, pool).views for s in (spec, shaved))
    posed = posed_heads(spec, head_model)
    fh = group_facial_hair(spec, head_model, posed[0])
    for v, (b, a) in enumerate(zip(bearded, bare)):
        assert np.array_equal(b.labels.landmarks, a.labels.landmarks)
        assert not (b.labels.landmarks_visible & ~a.labels.landmarks_visible).any()  # a beard only hides
        assert b.labels.landmarks_visible[36:48].all() == a.labels.landmarks_visible[36:48].all()  # never the eyes
        # The beard is drawn where the view's strands project, and the upper face is unchanged.
        pts = fh.at(head_frame(posed[v].vertices, posed[v])).points[:, -1]
        uv, _ = project(a.labels.K, a.labels.R, a.labels.t, pts[::20])
        px = np.clip(np.round(uv).astype(int), 0, 159)
        diff = np.abs(b.rgb.astype(float) - a.rgb.astype(float)).sum(2)
        assert (diff[px[:, 1], px[:, 0]] > 30).mean() > 0.5
        top = int(a.labels.landmarks[36:48, 1].max()) - 2
        assert diff[:top][a.mask[:top] > 128].mean() < 12


def test_eyelashes_line_the_lids_point_out_of_the_face_and_follow_the_lids(fake_model):
    from relhead.render.group import posed_heads
    from relhead.render.parts.hair import group_facial_hair

    _, (spec,) = sampled_specs(["head.model=fake", "views=2", "hair.lashes=[1,1]"], fake_model, [0])
    assert spec.materials.hair.facial is None and spec.materials.hair.lash_density == 1.0
    posed = posed_heads(spec, fake_model)
    fh = group_facial_hair(spec, fake_model, posed[0])
    X, lm = _head_frame(fake_model, spec)
    p = fh.strands.points.astype(float)
    assert len(p) == 2 * (100 + 40) and fh.lash_mask().all()
    # Rooted on the eye contours: each root within 3 mm of its eye's landmark polygon's span, lashes
    # 2-12 mm long, pointing out of the face (toward -z) more than into it.
    for eye in (lm[36:42], lm[42:48]):
        mine = np.linalg.norm(p[:, 0, None, :2] - eye[None, :, :2], axis=2).min(1) < 0.01
        assert mine.sum() == 140
    length = np.linalg.norm(np.diff(p, axis=1), axis=2).sum(1)
    assert (length > 0.002).all() and (length < 0.012).all()
    assert (p[:, -1, 2] < p[:, 0, 2]).mean() > 0.9
    # Upper lashes end above their roots, lower ones below.
    up = p[:, -1, 1] < p[:, 0, 1]
    assert up.sum() == 200
    # They follow the lids: moving the head's vertices moves each lash with its root.
    moved = fh.at(X + [0.0, 0.002, 0.0]).points
    assert np.allclose(moved - fh.strands.points, [0.0, 0.002, 0.0], atol=1e-6)
    # Lashes change nothing else of the subject (new draws at the end of the hair stream).
    _, (browed,) = sampled_specs(["head.model=fake", "views=2", "hair.brows=[1,1]", "hair.lashes=[1,1]"], fake_model, [0])
    _, (plain,) = sampled_specs(["head.model=fake", "views=2", "hair.brows=[1,1]"], fake_model, [0])
    lashless = browed.materials.hair.model_copy(update={"lash_density": 0.0, "lash_length_mm": 0.0, "face_seed": 0})
    assert plain.materials.hair is not None and lashless == plain.materials.hair
    assert browed.model_copy(update={"materials": plain.materials}) == plain
    # Without facial hair or lashes there is nothing to grow.
    _, (bare,) = sampled_specs(["head.model=fake", "views=2"], fake_model, [0])
    assert group_facial_hair(bare, fake_model, posed_heads(bare, fake_model)[0]) is None


@pytest.mark.parametrize("group", [0, 1, 2])
def test_eyelashes_grow_from_the_lids_front_where_a_camera_sees_them(head_model, group):
    """Anny's eye-contour landmarks lie where the lids meet the eyeball, several mm behind the lids' front;
    lashes once rooted there grew inside the lids and no view showed them. Seen from in front of the face
    (the head frame's -z), no skin and no eyeball may lie in front of a lash (beyond its root)."""
    from relhead.assets.base import PART_EYE, PART_SKIN
    from relhead.render.group import posed_heads
    from relhead.render.parts.hair import front_of, group_facial_hair

    anny = head_model
    _, (spec,) = sampled_specs(["views=2", "hair.lashes=[1,1]"], anny, [group])
    posed = posed_heads(spec, anny)
    fh = group_facial_hair(spec, anny, posed[0])
    X, _ = _head_frame(anny, spec)
    p = fh.strands.points[:, 1:].reshape(-1, 3).astype(float)
    first = np.fmin(front_of(anny, X, p[:, :2], PART_SKIN)[0], front_of(anny, X, p[:, :2], PART_EYE)[0])
    seen = ~(first < p[:, 2] - 2e-4)  # nothing more than 0.2 mm in front of the lash (NaN: nothing there)
    assert seen.mean() > 0.97, seen.mean()
    # The roots lie on the lids' skin (a triangle's point), not inside it.
    roots = fh.strands.points[:, 0].astype(float)
    z = front_of(anny, X, roots[:, :2], PART_SKIN)[0]
    assert np.nanmedian(np.abs(z - roots[:, 2])) < 1e-4


def test_hair_greys_with_age_where_the_backend_models_age(fake_model):
    from relhead.assets.anny_head import AnnyIdentity
    from relhead.config import resolve
    from relhead.render.sampling import grey_share, sample_hair
    from relhead.render.spec import SkinSpec

    cfg = resolve("test", ["hair.brows=[1,1]", "hair.greying=1"]).hair
    skin = SkinSpec(tone=0.5, base_color=(0.4, 0.3, 0.2), roughness=0.5, subsurface=0.2, blotch_strength=0.1,
                    noise_seed=1.0)
    ages = np.linspace(18, 80, 200)
    greys = np.array([sample_hair(np.random.default_rng(k), cfg, skin, age=a).grey for k, a in enumerate(ages)])
    assert (greys[ages < 30] == 0).all() and greys[ages > 65].mean() > 0.5 and np.corrcoef(ages, greys)[0, 1] > 0.7
    # Greying off (the default), or a backend without ages: the same draws, no grey, the same colour.
    off = resolve("test", ["hair.brows=[1,1]"]).hair
    for k, a in ((0, 70.0), (1, 50.0)):
        grey = sample_hair(np.random.default_rng(k), cfg, skin, age=a)
        plain = sample_hair(np.random.default_rng(k), off, skin, age=a)
        assert plain.grey == 0 and sample_hair(np.random.default_rng(k), cfg, skin, age=None) == plain
        assert grey.model_copy(update={"grey": 0.0, "color": plain.color}) == plain
        assert np.mean(grey.color) > np.mean(plain.color) or plain.melanin < 0.2  # painted hair greys too
    assert grey_share(np.random.default_rng(0), 1.0, None) == 0.0
    assert AnnyIdentity(age_years=44.0, phenotypes={}, local_changes={}).age() == 44.0
    _, specs = sampled_specs(["head.model=fake", "hair.brows=[1,1]", "hair.greying=1"], fake_model, range(4))
    assert all(s.materials.hair.grey == 0 for s in specs)  # the fake head has no age


def test_brow_strands_lie_on_the_brows_and_are_off_by_default(fake_model):
    from relhead.assets.anny_head import brow_coordinates
    from relhead.assets.base import BROWS
    from relhead.render.group import posed_heads
    from relhead.render.parts.hair import group_facial_hair

    sets = ["head.model=fake", "views=2", "hair.brows=[1,1]"]
    with pytest.raises(ValueError, match="no BROWS attribute"):  # the fake head has no brows of its own
        sampled_specs(sets + ["hair.brow_strands=1"], fake_model, range(1))

    _, (first,) = sampled_specs(sets, fake_model, range(1))
    X0, lm0 = _head_frame(fake_model, first)

    class WithBrows:  # the fake head with brows where Anny's backend would put them
        name = fake_model.name
        vertex_attributes = dict(fake_model.vertex_attributes, **{BROWS: brow_coordinates(X0, lm0)})

        def __getattr__(self, key):
            return getattr(fake_model, key)

    model = WithBrows()
    _, plain = sampled_specs(sets, model, range(6))
    _, stranded = sampled_specs(sets + ["hair.brow_strands=1"], model, range(6))
    for a, b in zip(plain, stranded):
        assert not a.materials.hair.brow_strands and b.materials.hair.brow_strands
        same = {"brow_strands": False, "face_seed": a.materials.hair.face_seed}
        assert b.materials.hair.model_copy(update=same) == a.materials.hair
    spec = stranded[0]
    fh = group_facial_hair(spec, model, posed_heads(spec, model)[0])
    X, lm = _head_frame(model, spec)
    p = fh.strands.points.astype(float)
    brows = model.vertex_attributes[BROWS]
    w = fh.root_weights
    assert len(p) == round(900 * spec.materials.hair.brow_density)
    assert (np.abs(np.einsum("sk,sk->s", w, brows[fh.root_vertices, 0])) < spec.materials.hair.brow_thickness).all()
    from fake_head import AXES, CENTRE

    r = np.linalg.norm((p.reshape(-1, 3) - CENTRE) / (AXES * [spec.head.identity.width_scale, 1.0, 1.0]), axis=1)
    assert (r > 0.99).all() and (r < 1.06).all()  # lying along the skin of the fake's skull
    assert (np.abs(p[:, 0, 1] - lm[17:27, 1].mean()) < 0.02).all()  # at the brows' height


def test_push_out_moves_only_what_lies_too_close_as_three_full_rounds_would():
    """Skin.push_out looks again only at the points its last round moved; the result must be the one
    of three rounds over every point, bit for bit, with the points already clear left as they were."""
    from relhead.render.parts.surface import Skin

    rng = np.random.default_rng(0)
    n = rng.normal(size=(4000, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    skin = Skin.over(0.1 * n * rng.uniform(0.97, 1.03, (4000, 1)), n)  # a bumpy sphere, 10 cm
    p = rng.normal(size=(5000, 3))
    p = 0.1 * p / np.linalg.norm(p, axis=1, keepdims=True) * rng.uniform(0.8, 1.2, (5000, 1))
    clearance = rng.uniform(0.0, 0.01, 5000)

    def full_rounds(p, clearance, most=None):
        for _ in range(3):
            depth, i = skin.depth(p)
            need = np.maximum(np.asarray(clearance) - depth, 0.0)
            need = need if most is None else np.minimum(need, most)
            p = p + need[:, None] * skin.normals[i]
        return p

    for c, most in ((clearance, None), (0.004, None), (clearance, 0.002)):
        out = skin.push_out(p, c, most)
        assert np.array_equal(out, full_rounds(p, c, most))
        clear = skin.depth(p)[0] >= c
        assert clear.any() and (~clear).any() and np.array_equal(out[clear], p[clear])
        assert (skin.depth(out)[0] > np.minimum(c, skin.depth(p)[0]) - 1e-12).mean() > 0.99
