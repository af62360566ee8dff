"""Glasses in Blender: the mesh relhead.render.parts.glasses builds (head frame), placed rigidly with
the skull, with three material slots: the frame (metal or glossy acetate), tinted lenses (thin
tinted glass), and clear lenses (transparent, reflecting the group's HDRI). The frame and tinted
lenses hide landmarks; clear lenses let the eyes be seen.
"""

from __future__ import annotations

import bpy
import numpy as np

from relhead.assets.base import PosedHead
from relhead.render.blender.nodes import empty_material, math_node, named_node, principled
from relhead.render.blender.part import RigidPart
from relhead.render.parts.glasses import GlassesMesh, group_glasses
from relhead.render.spec import GlassesSpec, GroupSpec


class GlassesPart(RigidPart):
    name = "glasses"
    geometry = staticmethod(group_glasses)

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.materials = build_glasses_materials()

    def set_group(self, spec: GroupSpec, mesh: GlassesMesh | None, first: PosedHead) -> None:
        for lens in self.materials[1:]:  # tinted and clear
            set_lens(lens, self.world.env_image, self.world.rotation, spec.lighting.strength)
        self.drop()
        if mesh is None:
            return
        me = bpy.data.meshes.new("glasses")
        me.from_pydata(mesh.vertices.tolist(), [], mesh.faces.tolist())
        slot = np.where(mesh.lens, 1 if spec.glasses.tinted else 2, 0)  # 0 frame, 1 tinted lens, 2 clear lens
        me.polygons.foreach_set("material_index", slot.astype(np.int32))
        me.polygons.foreach_set("use_smooth", ~mesh.lens)
        for mat in self.materials:
            me.materials.append(mat)
        set_glasses_materials(*self.materials, spec.glasses)
        self.object = self.add("glasses", me)
        # Clear lenses let the eyes be seen; tinted ones hide them.
        self.hides = (mesh.vertices, mesh.faces if spec.glasses.tinted else mesh.faces[~mesh.lens])
        # which of those triangles are lenses (the segmentation's `lenses` class, apart from the frame)
        self.hides_lens = mesh.lens if spec.glasses.tinted else np.zeros(int((~mesh.lens).sum()), bool)


def build_glasses_materials() -> tuple:
    """The frame (metal or glossy acetate) and the two lenses, tinted and clear (:func:`_lens`)."""
    frame, _, _ = principled("glasses_frame")
    return frame, _lens("glasses_lens"), _lens("glasses_clear_lens")


LENS_COATING = 0.35  # most lenses are anti-reflection coated: a share of bare glass' Fresnel reflection


def _lens(name: str):
    """A lens: transparent in its tint (light crosses both faces of the slab relhead.render.parts.glasses
    builds, shadows too), plus, for camera rays, the environment's reflection weighted by Fresnel as an
    emission: the HDRI that lights the group (its image, rotation and strength are copied from the world
    per group, :func:`set_lens`) looked up along the reflected ray. Deterministic, so no noise: a
    reflecting BSDF mixed into a transparent one is sampled stochastically and leaves the lens blotched
    and the skin behind it grainy at these sample counts. It reflects the world only (not the face or the
    extra lights), and every other ray passes it untouched, so it lights nothing."""
    mat, nt = empty_material(name)
    mat.cycles.emission_sampling = "NONE"  # not a light: only camera rays see the emission
    fresnel = nt.nodes.new("ShaderNodeFresnel")
    fresnel.inputs["IOR"].default_value = 1.5
    path = nt.nodes.new("ShaderNodeLightPath")
    coords = nt.nodes.new("ShaderNodeTexCoord")
    mapping = named_node(nt, "ShaderNodeMapping", "lens_mapping")
    nt.links.new(coords.outputs["Reflection"], mapping.inputs["Vector"])
    env = named_node(nt, "ShaderNodeTexEnvironment", "lens_env")
    nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    strength = named_node(nt, "ShaderNodeValue", "lens_strength").outputs[0]
    # The outer surface only: seen from inside the slab, Blender's Fresnel takes the glass-to-air ratio and
    # totally reflects beyond 42 degrees, which a ray that entered through the parallel front face never does.
    front = math_node(nt, "SUBTRACT", 1.0, nt.nodes.new("ShaderNodeNewGeometry").outputs["Backfacing"])
    weight = math_node(nt, "MULTIPLY", math_node(nt, "MULTIPLY", fresnel.outputs["Fac"], path.outputs["Is Camera Ray"]),
                       math_node(nt, "MULTIPLY", strength, front))
    scale = nt.nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    nt.links.new(env.outputs["Color"], scale.inputs["Vector"])
    nt.links.new(weight, scale.inputs["Scale"])
    glow = nt.nodes.new("ShaderNodeEmission")
    nt.links.new(scale.outputs["Vector"], glow.inputs["Color"])
    add = nt.nodes.new("ShaderNodeAddShader")
    nt.links.new(named_node(nt, "ShaderNodeBsdfTransparent", "lens_transmittance").outputs["BSDF"], add.inputs[0])
    nt.links.new(glow.outputs["Emission"], add.inputs[1])
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(add.outputs["Shader"], out.inputs["Surface"])
    return mat


def set_lens(mat, image, rotation, strength: float) -> None:
    """The world's HDRI, rotation and strength (times LENS_COATING), for the lens' reflection."""
    nodes = mat.node_tree.nodes
    nodes["lens_env"].image = image
    nodes["lens_mapping"].inputs["Rotation"].default_value = rotation
    nodes["lens_strength"].outputs[0].default_value = strength * LENS_COATING


def set_glasses_materials(frame, lens, clear_lens, p: GlassesSpec) -> None:
    bsdf = frame.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*p.frame_color, 1.0)
    bsdf.inputs["Metallic"].default_value = 1.0 if p.metal else 0.0
    bsdf.inputs["Roughness"].default_value = p.frame_roughness
    # Light crosses two faces: each takes the square root of the lens' transmittance.
    lens.node_tree.nodes["lens_transmittance"].inputs["Color"].default_value = (*(c ** 0.5 for c in p.lens_color), 1.0)
