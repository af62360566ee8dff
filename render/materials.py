"""Materials of the scene parts (skin, eyes, mouth), built from the sampled material parameters.

Each function returns a bpy material; the part labels of the head model choose which face gets
which (material slot = part label). Hair and clothing will be separate scene parts with their own.
"""

from __future__ import annotations

import math

import bpy

from relhead.render.spec import EyeSpec, MouthSpec, SkinSpec


def _principled(name: str):
    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF") or nt.nodes.new("ShaderNodeBsdfPrincipled")
    out = nt.nodes.get("Material Output") or nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat, nt, bsdf


def skin(p: SkinSpec):
    mat, nt, bsdf = _principled("skin")
    # Low-frequency blotches modulate the base colour; fine noise drives a subtle bump.
    coords = nt.nodes.new("ShaderNodeTexCoord")
    blotch = nt.nodes.new("ShaderNodeTexNoise")
    blotch.noise_dimensions = "4D"
    blotch.inputs["W"].default_value = p.noise_seed
    blotch.inputs["Scale"].default_value = 25.0
    nt.links.new(coords.outputs["Object"], blotch.inputs["Vector"])
    mix = nt.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.blend_type = "MULTIPLY"
    mix.inputs["Factor"].default_value = p.blotch_strength
    mix.inputs["A"].default_value = (*p.base_color, 1.0)
    nt.links.new(blotch.outputs["Color"], mix.inputs["B"])
    nt.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    pores = nt.nodes.new("ShaderNodeTexNoise")
    pores.inputs["Scale"].default_value = 900.0
    nt.links.new(coords.outputs["Object"], pores.inputs["Vector"])
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = 0.08
    bump.inputs["Distance"].default_value = 0.0005
    nt.links.new(pores.outputs["Fac"], bump.inputs["Height"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    bsdf.inputs["Roughness"].default_value = p.roughness
    bsdf.inputs["Subsurface Weight"].default_value = p.subsurface
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.004
    return mat


def eye(p: EyeSpec, attribute: str = "eye_coords"):
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
    def ring(deg):  # 1 inside the cone of half-angle deg around +z, with a soft edge
        m = nt.nodes.new("ShaderNodeMapRange")
        lo, hi = math.cos(math.radians(deg + 1.5)), math.cos(math.radians(deg - 1.5))
        m.inputs["From Min"].default_value, m.inputs["From Max"].default_value = lo, hi
        nt.links.new(sep.outputs["Z"], m.inputs["Value"])
        return m.outputs["Result"]

    iris_mix = nt.nodes.new("ShaderNodeMix")
    iris_mix.data_type = "RGBA"
    iris_mix.inputs["A"].default_value = (0.75, 0.72, 0.68, 1.0)  # sclera
    iris_mix.inputs["B"].default_value = (*p.iris_color, 1.0)
    nt.links.new(ring(p.iris_deg), iris_mix.inputs["Factor"])
    pupil_mix = nt.nodes.new("ShaderNodeMix")
    pupil_mix.data_type = "RGBA"
    nt.links.new(iris_mix.outputs["Result"], pupil_mix.inputs["A"])
    pupil_mix.inputs["B"].default_value = (0.01, 0.01, 0.01, 1.0)
    nt.links.new(ring(p.pupil_deg), pupil_mix.inputs["Factor"])
    nt.links.new(pupil_mix.outputs["Result"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.35
    bsdf.inputs["Coat Weight"].default_value = 1.0
    bsdf.inputs["Coat Roughness"].default_value = 0.03
    return mat


def mouth(p: MouthSpec):
    mat, _, bsdf = _principled("mouth")
    bsdf.inputs["Base Color"].default_value = (*p.base_color, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.4
    return mat
