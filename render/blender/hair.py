"""Scalp hair and facial hair in Blender: Cycles hair curves of the strands relhead.render.parts.hair
grows, in Principled Hair BSDF materials coloured by the subject's melanin and redness.

Scalp hair turns with the skull; facial hair (beard, lashes, brow strands) also moves its points
with the jaw and the lids view by view. Each hides landmarks through a ribbon proxy of its strands
(relhead.render.parts.hair.occluder_ribbons); eyelashes hide none.
"""

from __future__ import annotations

import bpy
import numpy as np

from relhead.assets.base import PosedHead
from relhead.frames import head_frame
from relhead.render.blender.nodes import empty_material, math_node, named_node
from relhead.render.blender.part import RigidPart
from relhead.render.parts.hair import FacialHair, Strands, group_facial_hair, group_strands, occluder_ribbons
from relhead.render.spec import GroupSpec, HairSpec


class ScalpHairPart(RigidPart):
    """The group's strand hair (head frame), placed rigidly with the skull."""

    name = "hair"
    geometry = staticmethod(group_strands)

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.material = build_strand_hair()

    def set_group(self, spec: GroupSpec, strands: Strands | None, first: PosedHead) -> None:
        self.drop()
        if strands is None:
            return
        c = curves("hair", strands, [self.material])
        set_strand_hair(self.material, spec.materials.hair)
        self.object = self.add("hair", c)
        self.hides = occluder_ribbons(strands)


class FacialHairPart(RigidPart):
    """The group's facial hair, eyelashes and brow strands (head frame): the strands of the first
    view, whose points follow the jaw and the lids view by view (FacialHair.at). Eyelashes have
    their own dark material, and hide no landmark."""

    name = "facial"
    geometry = staticmethod(group_facial_hair)
    moves_points = True  # the jaw's and the lids' (set_view)

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.material, self.lash_material = build_strand_hair("facial_hair"), build_strand_hair("eyelashes")
        self.hair: FacialHair | None = None

    def set_group(self, spec: GroupSpec, facial: FacialHair | None, first: PosedHead) -> None:
        self.hair = facial
        self.drop()
        if facial is None:
            return
        self.lashes = facial.lash_mask()
        c = curves("facial_hair", facial.strands, [self.material, self.lash_material])
        m = c.attributes.new("material_index", "INT", "CURVE")
        m.data.foreach_set("value", self.lashes.astype(np.int32))  # slot 1: the lashes
        set_facial_hair(self.material, spec.materials.hair, self.lash_material)
        self.object = self.add("facial_hair", c)  # its occluder comes with each view (set_view)

    def set_view(self, posed: PosedHead) -> None:
        if self.object is None:
            return
        strands = self.hair.at(head_frame(posed.vertices, posed))
        c = self.object.data
        c.attributes["position"].data.foreach_set("vector", strands.points.astype(np.float32).ravel())
        c.update_tag()
        keep = ~self.lashes  # lashes hide no landmark
        self.hides = occluder_ribbons(Strands(points=strands.points[keep], radii=strands.radii[keep]))
        super().set_view(posed)


def curves(name: str, strands: Strands, mats: list):
    """Hair curves of `strands` (positions and radii) with material slots `mats`."""
    S, P, _ = strands.points.shape
    c = bpy.data.hair_curves.new(name)
    c.add_curves([P] * S)
    c.attributes["position"].data.foreach_set("vector", strands.points.astype(np.float32).ravel())
    r = c.attributes.new("radius", "FLOAT", "POINT")
    r.data.foreach_set("value", strands.radii.astype(np.float32).ravel())
    for m in mats:
        c.materials.append(m)
    return c


GREY_MELANIN = 0.03  # a white hair


def build_strand_hair(name: str = "strand_hair"):
    """Strands: Cycles' Principled Hair BSDF (Chiang) coloured by melanin and redness; a share of
    them (`grey_share`, picked by each strand's random value) white."""
    mat, nt = empty_material(name)
    bsdfs = []
    for node_name in ("hair_bsdf", "grey_bsdf"):
        bsdf = named_node(nt, "ShaderNodeBsdfHairPrincipled", node_name)
        bsdf.parametrization = "MELANIN"
        bsdf.inputs["Radial Roughness"].default_value = 0.3
        bsdf.inputs["Coat"].default_value = 0.0
        bsdf.inputs["Random Color"].default_value = 0.1
        bsdf.inputs["Random Roughness"].default_value = 0.1
        bsdfs.append(bsdf)
    bsdfs[1].inputs["Melanin"].default_value = GREY_MELANIN
    bsdfs[1].inputs["Melanin Redness"].default_value = 0.0
    info = nt.nodes.new("ShaderNodeHairInfo")
    share = named_node(nt, "ShaderNodeValue", "grey_share")
    mix = nt.nodes.new("ShaderNodeMixShader")
    nt.links.new(math_node(nt, "LESS_THAN", info.outputs["Random"], share.outputs[0]), mix.inputs["Fac"])
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
