"""Shader-node helpers shared by the scene's materials: a material with a Principled BSDF or with
no nodes, Math, Map Range, Mix and attribute nodes wired to sockets or set to values, and the image
files their textures read (load_image)."""

from __future__ import annotations

import bpy


def load_image(path, check_existing: bool = False, colorspace: str | None = None):
    """The image file at `path` for a texture node (its pixels in `colorspace`, if given), packed into
    the scene and decoded once. A file image is read from disk and decoded by Cycles in every new
    session (every view by default, render.session); a packed image whose pixels Blender already holds
    is taken from memory, and Cycles leaves them there (a 2048-px PNG: about 0.12 s a render saved;
    bench/README.md, "Texture images decoded once"). The same pixels either way."""
    img = bpy.data.images.load(str(path), check_existing=check_existing)
    if colorspace is not None and img.colorspace_settings.name != colorspace:
        img.colorspace_settings.name = colorspace  # before decoding: changing it frees the pixels
    if img.packed_file is None:
        img.pack()
    if not img.has_data:
        img.update()  # decodes the image into Blender's buffer
    return img


def principled(name: str):
    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF") or nt.nodes.new("ShaderNodeBsdfPrincipled")
    out = nt.nodes.get("Material Output") or nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat, nt, bsdf


def empty_material(name: str):
    """A new material without nodes, and its node tree (for shaders the Principled BSDF is not)."""
    mat = bpy.data.materials.new(name)
    for n in list(mat.node_tree.nodes):
        mat.node_tree.nodes.remove(n)
    return mat, mat.node_tree


def named_node(nt, kind: str, name: str):
    node = nt.nodes.new(kind)
    node.name = name
    return node


def math_node(nt, op: str, a, b=None, c=None, clamp: bool = False):
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


def ramp_node(nt, value, lo: float, hi: float, name: str | None = None):
    """0 at `lo`, 1 at `hi`, clamped (smoothstep between)."""
    m = nt.nodes.new("ShaderNodeMapRange")
    if name:
        m.name = name
    m.interpolation_type = "SMOOTHSTEP"
    m.inputs["From Min"].default_value, m.inputs["From Max"].default_value = lo, hi
    nt.links.new(value, m.inputs["Value"])
    return m.outputs["Result"]


def mix_node(nt, factor, a=None, b=None, name: str | None = None, data_type: str = "RGBA", blend: str = "MIX"):
    """A Mix node from `a` toward `b` by `factor`; `a` and `b` are sockets, values, or None for a
    setter to fill in per group."""
    m = named_node(nt, "ShaderNodeMix", name) if name else nt.nodes.new("ShaderNodeMix")
    m.data_type, m.blend_type = data_type, blend
    nt.links.new(factor, m.inputs["Factor"])
    for key, x in (("A", a), ("B", b)):
        if isinstance(x, (int, float, tuple)):
            m.inputs[key].default_value = x
        elif x is not None:
            nt.links.new(x, m.inputs[key])
    return m.outputs["Result"]


def attribute_xyz(nt, name: str):
    """The x, y, z sockets of a per-vertex vector attribute (all 0 where the mesh has none)."""
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = name
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(attr.outputs["Vector"], sep.inputs["Vector"])
    return sep.outputs["X"], sep.outputs["Y"], sep.outputs["Z"]


def noise_bump(nt, vector, normal_input, scale: float, strength: float, distance: float = 0.0005) -> None:
    """Fine surface relief (skin pores, a fabric's weave): noise at `scale` over `vector` as a bump map
    into a shader's Normal input."""
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = scale
    nt.links.new(vector, noise.inputs["Vector"])
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = strength
    bump.inputs["Distance"].default_value = distance
    nt.links.new(noise.outputs["Fac"], bump.inputs["Height"])
    nt.links.new(bump.outputs["Normal"], normal_input)
