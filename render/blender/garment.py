"""Garments in Blender: a smooth mesh in a fabric material (a colour and a pattern toward a second
colour: stripes, checks or heather, on the part's fabric coordinates; a weave bump and sheen), whose
vertices follow the body view by view. Hats wear the same fabric (relhead.render.blender.hat).
"""

from __future__ import annotations

import math
from typing import get_args

import bpy
import numpy as np

from relhead.assets.base import PosedHead
from relhead.config import Pattern
from relhead.render.blender.nodes import (attribute_xyz, math_node, mix_node, named_node, noise_bump, principled,
                                         ramp_node)
from relhead.render.blender.part import Part, remove
from relhead.render.parts.garment import GarmentMesh, group_garment
from relhead.render.spec import GarmentSpec, GroupSpec, HatSpec


class GarmentPart(Part):
    """The group's garment: its mesh is made per group (the neckline changes its topology) and
    views move its vertices with the body; it hides landmarks behind it (world frame)."""

    name = "garment"
    geometry = staticmethod(group_garment)
    on_skin = True  # the shell and the neck and shoulders cut through each other

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.material = build_fabric()
        self.object, self.mesh = None, None
        self.faces = np.zeros((0, 3), int)
        self.vertices = np.zeros((0, 3))

    def set_group(self, spec: GroupSpec, garment: tuple[GarmentMesh, np.ndarray] | None, first: PosedHead) -> None:
        """`garment`: its mesh and fabric coordinates (relhead.render.parts.garment.group_garment), or None."""
        if self.object is not None:
            remove(self.object)
            self.object, self.faces = None, np.zeros((0, 3), int)
        self.vertices = np.zeros((0, 3))
        if garment is None:
            return
        self.mesh, pattern = garment
        me = fabric_mesh("garment", np.zeros((len(pattern), 3)), self.mesh.faces, pattern, self.material)
        set_fabric(self.material, spec.garment)
        self.object = self.add("garment", me)
        self.faces = np.asarray(self.mesh.faces)

    def set_view(self, posed: PosedHead) -> None:
        if self.object is None:
            return
        vertices = self.mesh.vertices(posed.vertices)
        self.object.data.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
        self.object.data.update()
        self.vertices = vertices

    def occluder(self, T_world_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices, self.faces


def fabric_mesh(name: str, vertices: np.ndarray, faces: np.ndarray, fabric: np.ndarray, material):
    """A smooth-shaded mesh in `material` with fabric coordinates per vertex (garments and hats)."""
    me = bpy.data.meshes.new(name)
    me.from_pydata(np.asarray(vertices).tolist(), [], np.asarray(faces).tolist())
    me.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    a = me.attributes.new(CLOTH_COORDS, "FLOAT_VECTOR", "POINT")
    a.data.foreach_set("vector", fabric.astype(np.float32).ravel())
    me.materials.append(material)
    return me


PATTERNS = get_args(Pattern)[1:]  # stripes, checks, heather: each a weight in the fabric (solid: none)
CLOTH_COORDS = "cloth_co"  # per-vertex attribute of a garment: fabric coordinates (relhead.render.parts.garment)


def build_fabric(name: str = "garment"):
    """Fabric: the garment's colour, and a pattern (stripes round the body, checks, or a heather
    grain) toward its second colour, chosen per group by weights; a fine weave bump and sheen."""
    mat, nt, bsdf = principled(name)
    depth, across, _ = attribute_xyz(nt, CLOTH_COORDS)
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = CLOTH_COORDS
    scale = named_node(nt, "ShaderNodeValue", "cycles_per_m")  # 1 / pattern period
    stripes = ramp_node(nt, math_node(nt, "SINE", math_node(nt, "MULTIPLY", depth, scale.outputs[0])), -0.2, 0.2)
    checker = nt.nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 1.0
    cell = nt.nodes.new("ShaderNodeVectorMath")
    cell.operation = "SCALE"
    nt.links.new(attr.outputs["Vector"], cell.inputs[0])
    nt.links.new(math_node(nt, "MULTIPLY", scale.outputs[0], 1.0 / math.pi), cell.inputs["Scale"])
    nt.links.new(cell.outputs["Vector"], checker.inputs["Vector"])
    grain = nt.nodes.new("ShaderNodeTexNoise")
    grain.inputs["Detail"].default_value = 6.0
    nt.links.new(cell.outputs["Vector"], grain.inputs["Vector"])
    grain.inputs["Scale"].default_value = 12.0
    heather = ramp_node(nt, grain.outputs["Fac"], 0.4, 0.6)
    w = [named_node(nt, "ShaderNodeValue", f"pattern_{n}").outputs[0] for n in PATTERNS]
    fac = math_node(nt, "MULTIPLY_ADD", stripes, w[0],
                    math_node(nt, "MULTIPLY_ADD", checker.outputs["Fac"], w[1], math_node(nt, "MULTIPLY", heather, w[2])))
    nt.links.new(mix_node(nt, fac, name="fabric"), bsdf.inputs["Base Color"])  # A, B: set_fabric
    noise_bump(nt, attr.outputs["Vector"], bsdf.inputs["Normal"], scale=1500.0, strength=0.15)  # the weave
    return mat


def set_fabric(mat, p: GarmentSpec | HatSpec) -> None:
    nodes = mat.node_tree.nodes
    nodes["fabric"].inputs["A"].default_value = (*p.color, 1.0)
    nodes["fabric"].inputs["B"].default_value = (*p.pattern_color, 1.0)
    nodes["cycles_per_m"].outputs[0].default_value = 2.0 * math.pi / (p.pattern_scale_cm / 100.0)
    for name in PATTERNS:
        nodes[f"pattern_{name}"].outputs[0].default_value = float(p.pattern == name)
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = p.roughness
    bsdf.inputs["Sheen Weight"].default_value = p.sheen
