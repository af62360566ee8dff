"""The typed scene spec and the head-model registry, without bpy or Anny (fast tier)."""

import json
import shutil

import numpy as np
import pytest

import configs
from relhead.assets import registry
from relhead.assets.hdri import bundled_hdri_dir, hdri_pool
from relhead.config import ConfigError, resolve
from relhead.render.sampling import sample_group
from relhead.render.spec import GroupSpec

def refs(cfg):
    return hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs


def test_spec_json_round_trip_is_exact(spec_cfg, fake_model):
    for g in range(5):
        spec = sample_group(spec_cfg, g, fake_model, refs(spec_cfg))
        text = spec.model_dump_json()
        again = GroupSpec.model_validate_json(text)
        assert again == spec and again.model_dump_json() == text
        assert type(again.head.identity).__name__ == "FakeIdentity"


def test_spec_is_deterministic_and_seeded_per_group(spec_cfg, fake_model):
    a = sample_group(spec_cfg, 2, fake_model, refs(spec_cfg))
    assert a == sample_group(spec_cfg, 2, fake_model, refs(spec_cfg))
    assert a != sample_group(spec_cfg, 3, fake_model, refs(spec_cfg))
    assert a != sample_group(spec_cfg.model_copy(update={"seed": spec_cfg.seed + 1}), 2, fake_model, refs(spec_cfg))
    assert len({json.dumps(v.expression) for v in a.views}) > 1  # per_view expressions


def test_the_part_streams_keep_their_numbers():
    """A part's stream number is in every corpus' bytes (default_rng([group seed, number])): renumbering one
    changes every corpus that uses the part, so the table may only grow (docs/design.md quotes it)."""
    from relhead.render.sampling import STREAMS, part_stream

    assert STREAMS == {"effects": 1, "lights": 2, "photo": 3, "skin_regions": 4, "hair": 5, "garment": 6, "strands": 7,
                       "glasses": 8, "facial_hair": 9, "hat": 10, "albedo": 11, "mouth": 12, "motion_blur": 13,
                       "clip": 14, "eye_detail": 15, "skin_detail": 16, "photo_model": 17, "backdrop": 18,
                       "key_light": 19}
    assert part_stream(7, "clip").random() == np.random.default_rng([7, 14]).random()


def test_user_hdris_at_two_paths_give_the_same_spec(tmp_path, fake_model):
    """A user folder copied to two places (two hosts' mounts): same refs, same spec bytes."""
    for d in ("a", "b"):
        shutil.copytree(bundled_hdri_dir(), tmp_path / d / "skies")
    specs = []
    for d in ("a", "b"):
        c = resolve("test", configs.SPEC + ["lighting.hdris=user", f"lighting.hdri_dir={tmp_path / d}"])
        specs.append(sample_group(c, 0, fake_model, refs(c)).model_dump_json())
    assert specs[0] == specs[1]
    assert '"source":"user","name":"skies/' in specs[0] and str(tmp_path) not in specs[0]
    ca = resolve("test", configs.SPEC + [f"lighting.hdri_dir={tmp_path / 'a'}"])
    cb = resolve("test", configs.SPEC + [f"lighting.hdri_dir={tmp_path / 'b'}"])
    assert ca.hash() == cb.hash() and ca.portable_dict() == cb.portable_dict()


def test_a_user_hdri_is_named_by_its_content(tmp_path):
    (tmp_path / "sky.hdr").write_bytes(b"one")
    first = hdri_pool("user", str(tmp_path)).refs
    hdri_pool.cache_clear()
    (tmp_path / "sky.hdr").write_bytes(b"two")
    second = hdri_pool("user", str(tmp_path)).refs
    assert first[0].name == second[0].name == "sky.hdr" and first[0].sha256 != second[0].sha256


def test_hdri_names_not_host_paths():
    with pytest.raises(ConfigError, match="lighting.hdris: '/data/sky.exr': name an HDRI by its bundled name"):
        resolve("test", ["lighting.hdris=[/data/sky.exr]"])
    assert [r.name for r in hdri_pool(("forest", "studio.exr")).refs] == ["forest.exr", "studio.exr"]
    with pytest.raises(FileNotFoundError, match="'nowhere' not found; known: city, courtyard"):
        hdri_pool(("nowhere",))


def test_backends_own_their_config_section():
    assert resolve("test", ["head.model=fake", "head.segments=12"]).head.segments == 12
    with pytest.raises(ConfigError, match="head.segments: unknown key; allowed here: age_years, expression"):
        resolve("test", ["head.segments=12"])  # an Anny key set, not a fake one
    with pytest.raises(ConfigError, match="head.age_years: unknown key; allowed here: expression, gaze_pitch_deg"):
        resolve("test", ["head.model=fake", "head.age_years=[20,30]"])
    with pytest.raises(ConfigError, match="head.model: unknown head-model backend 'bfm'; known: anny, fake, flame"):
        resolve("test", ["head.model=bfm"])


def test_registry_caches_per_build_settings():
    a = registry.get_head_model(resolve("test", ["head.model=fake", "head.segments=10"]).head)
    b = registry.get_head_model(resolve("test", ["head.model=fake", "head.segments=10", "head.width_scale=[1,1]"]).head)
    c = registry.get_head_model(resolve("test", ["head.model=fake", "head.segments=16"]).head)
    assert a is b and a is not c and len(c.faces) > len(a.faces)


def test_a_spec_of_an_unknown_backend_is_refused(spec_cfg, fake_model):
    d = sample_group(spec_cfg, 0, fake_model, refs(spec_cfg)).model_dump(mode="json")
    d["head"]["model"] = "nobody"
    with pytest.raises(ValueError, match="unknown head-model backend 'nobody'"):
        GroupSpec.model_validate(d)
    d["head"]["model"] = "fake"
    d["head"]["identity"]["width_scale"] = "wide"
    with pytest.raises(ValueError, match="width_scale"):
        GroupSpec.model_validate(d)


def test_fake_landmarks_are_barycentric_on_the_posed_surface(spec_cfg, fake_model):
    """Landmarks follow the surface under expression and pose (the FLAME-style path)."""
    import numpy as np

    from relhead.render.group import posed_heads

    spec = sample_group(spec_cfg, 1, fake_model, refs(spec_cfg))
    for p in posed_heads(spec, fake_model):
        tri = p.vertices[fake_model.faces[fake_model.landmark_faces]].astype(float)
        assert np.allclose(np.einsum("lk,lkd->ld", fake_model.landmark_bary, tri), p.landmarks)
        T = p.T_world_head
        assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3))
