"""Extra lights (point and area, colour temperature) around the head: sampled per group on their own
random stream; they light the subject and change neither the mask nor the ground truth."""

import numpy as np
import pytest

from relhead.assets.hdri import hdri_pool
from relhead.config import ConfigError, resolve
from relhead.render.sampling import sample_group
from relhead.render.spec import GroupSpec, LightSpec
from synthetic import sampled_specs

FAKE = ["head.model=fake", "views=3"]


def specs(sets, fake_model):
    return sampled_specs(FAKE + sets, fake_model, range(16))


def test_lights_are_sampled_in_range_and_change_nothing_else(fake_model):
    _, none = specs(["lighting.light_count=[0,0]"], fake_model)
    assert all(s.lighting.lights == [] for s in none)
    cfg, some = specs(["lighting.light_count=[1,3]", "lighting.area_fraction=0.5"], fake_model)
    counts = [len(s.lighting.lights) for s in some]
    assert min(counts) >= 1 and max(counts) <= 3 and len(set(counts)) > 1
    kinds = {light.kind for s in some for light in s.lighting.lights}
    assert kinds == {"point", "area"}
    for s in some:
        for light in s.lighting.lights:
            assert cfg.lighting.light_kelvin[0] <= light.kelvin <= cfg.lighting.light_kelvin[1]
            assert cfg.lighting.light_elevation_deg[0] <= light.elevation_deg <= cfg.lighting.light_elevation_deg[1]
        assert GroupSpec.model_validate_json(s.model_dump_json()) == s
    for a, b in zip(none, some):
        assert b.model_copy(update={"lighting": b.lighting.model_copy(update={"lights": []})}) == a


def test_key_light_is_above_the_front_of_the_body_and_dims_the_hdri(fake_model):
    from relhead.render.group import posed_heads
    from relhead.render.views import neck_rotation

    sets = ["lighting.light_count=[0,1]", "pose.pitch_deg=[-40,30]", "pose.roll_deg=[-30,30]"]
    _, before = specs(sets, fake_model)
    cfg, keyed = specs(sets + ["lighting.key_light_fraction=0.5"], fake_model)
    lit = 0
    for a, b in zip(before, keyed):
        if len(b.lighting.lights) == len(a.lighting.lights):  # no key: the group as it was
            assert b == a
            continue
        lit += 1
        *others, key = b.lighting.lights
        assert others == a.lighting.lights and key.kind == "area"
        share = key.strength / (1.0 + key.strength)  # strength = share / (1 - share) of the dimmed world
        assert b.lighting.strength == pytest.approx(a.lighting.strength * (1.0 - share))
        assert cfg.lighting.key_light_share[0] <= share <= cfg.lighting.key_light_share[1]
        assert b.model_copy(update={"lighting": a.lighting}) == a
        # In the world the key stands where it was drawn in the body's frame (R_world_head = R_world_body N),
        # whichever view's head frame it is read from; so above the horizon and before the face at rest.
        posed = posed_heads(b, fake_model)
        world = posed[0].T_world_head[:3, :3] @ np.array(key.direction())
        for view, head in zip(b.views, posed):
            body = (head.T_world_head[:3, :3] @ neck_rotation(view).T).T @ world
            elevation = np.degrees(np.arcsin(-body[1]))
            azimuth = np.degrees(np.arctan2(body[0], -body[2]))
            (e0, e1), (a0, a1) = cfg.lighting.key_light_elevation_deg, cfg.lighting.key_light_azimuth_deg
            assert e0 - 1e-6 <= elevation <= e1 + 1e-6 and a0 - 1e-6 <= azimuth <= a1 + 1e-6
    assert 3 <= lit <= 13  # about half of 16 groups


def test_key_light_off_keeps_the_config_hash():
    assert resolve("test", ["lighting.key_light_share=[0.5,0.6]"]).hash() == resolve("test").hash()
    assert resolve("test", ["lighting.key_light_fraction=0.5"]).hash() != resolve("test").hash()


@pytest.mark.parametrize("sets, message", [
    (["lighting.light_count=[0.5,2]"], "lighting.light_count: light counts are whole numbers"),
    (["lighting.light_count=[0,9]"], "lighting.light_count"),
    (["lighting.light_kelvin=[8000,3000]"], r"lighting.light_kelvin: \[min, max\] needs min <= max"),
    (["lighting.area_fraction=-1"], "lighting.area_fraction"),
    (["lighting.key_light_fraction=2"], "lighting.key_light_fraction"),
    (["lighting.key_light_share=[0.5,1.0]"], "lighting.key_light_share"),
])
def test_bad_light_config_is_one_line(sets, message):
    with pytest.raises(ConfigError, match=message) as e:
        resolve("test", sets)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------ rendered (slow)
@pytest.mark.slow
def test_a_light_lights_the_face_and_leaves_no_trace(fake_model):
    from relhead.render.group import render_group

    cfg = resolve("test", FAKE + ["image.width=96", "image.height=96", "lighting.light_count=[0,0]",
                                  "pose.yaw_deg=[0,0]", "pose.pitch_deg=[0,0]", "pose.roll_deg=[0,0]"])
    pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    spec = sample_group(cfg, 0, fake_model, pool.refs)

    def render(*lights):
        lighting = spec.lighting.model_copy(update={"lights": list(lights)})
        return render_group(cfg, spec.model_copy(update={"lighting": lighting}), fake_model, pool).views

    def light(**kw):
        return LightSpec(**{"kind": "area", "azimuth_deg": 0.0, "elevation_deg": 0.0, "distance_m": 1.5,
                            "strength": 2.0, "kelvin": 6500.0, "size_m": 0.5, **kw})

    plain = render()
    front = render(light(), light(kind="point", azimuth_deg=30.0, size_m=0.1))
    warm = render(light(kelvin=2000.0))
    behind = render(light(azimuth_deg=180.0))
    after = render()  # a scene that held lights renders as if it never had
    for i in range(3):
        face = plain[i].mask >= 128
        assert np.array_equal(after[i].rgb, plain[i].rgb)
        for other in (front, warm, behind):
            assert np.array_equal(other[i].mask, plain[i].mask)
            assert np.array_equal(other[i].labels.landmarks_visible, plain[i].labels.landmarks_visible)
        gain = front[i].rgb[face].astype(float).mean() - plain[i].rgb[face].astype(float).mean()
        back = behind[i].rgb[face].astype(float).mean() - plain[i].rgb[face].astype(float).mean()
        assert gain > 10 and gain > 3 * back
        r, _, b = (warm[i].rgb[face].astype(float) - plain[i].rgb[face]).mean(0)
        assert r > b + 3  # 2000 K is red, not blue


@pytest.mark.slow
def test_a_key_light_shades_the_face_from_above_at_about_the_same_brightness(fake_model):
    from relhead.render.group import render_group

    sets = FAKE + ["image.width=96", "image.height=96", "lighting.light_count=[0,0]", "lighting.background=hdri",
                   "lighting.hdris=[studio]", "pose.yaw_deg=[0,0]", "pose.pitch_deg=[0,0]", "pose.roll_deg=[0,0]"]
    cfg = resolve("test", sets)
    key = resolve("test", sets + ["lighting.key_light_fraction=1", "lighting.key_light_elevation_deg=[50,55]",
                                  "lighting.key_light_azimuth_deg=[-5,5]", "lighting.key_light_share=[0.7,0.75]"])
    pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    plain = render_group(cfg, sample_group(cfg, 0, fake_model, pool.refs), fake_model, pool).views
    lit = render_group(key, sample_group(key, 0, fake_model, pool.refs), fake_model, pool).views
    for a, b in zip(plain, lit):
        assert np.array_equal(a.mask, b.mask)
        face = a.mask >= 128
        rows = np.nonzero(face.any(1))[0]
        top, bottom = face.copy(), face.copy()
        top[rows[0] + len(rows) // 2:] = False
        bottom[:rows[0] + len(rows) // 2] = False
        def ratio(v):
            y = v.rgb.astype(float).mean(2)
            return y[top].mean() / y[bottom].mean()
        assert ratio(b) > 1.1 * ratio(a)  # lit from above: the top of the head brighter against the bottom
        assert 0.6 < b.rgb[face].mean() / a.rgb[face].mean() < 1.6  # the HDRI dimmed for it
