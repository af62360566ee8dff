"""The head in Blender: the head model's mesh with a material slot per part label (skin, eyes,
mouth, teeth, tongue: relhead.render.blender.materials), its per-vertex attributes and UVs; per
group its materials take the spec's values, per view its vertices move to the posed head."""

from __future__ import annotations

import bpy
import numpy as np

from relhead.assets.base import PART_EYE, PART_SKIN, PosedHead, fixed_threads
from relhead.frames import head_frame
from relhead.render.blender import materials
from relhead.render.blender.part import remove
from relhead.render.parts.face_areas import FACE_AREAS, FACE_LINES, face_areas
from relhead.render.spec import MaterialsSpec


class Head:
    """The mesh of one head model in `scene`; `subsurface` and `skin_shader` as in config `render:`."""

    def __init__(self, scene, hm, subsurface: str, skin_shader: str, skin_detail: bool = False,
                 eye_detail: bool = False) -> None:
        self.model_name = hm.name
        me = bpy.data.meshes.new("head")
        me.from_pydata(np.zeros((int(hm.faces.max()) + 1, 3)).tolist(), [], hm.faces.tolist())
        me.polygons.foreach_set("material_index", hm.face_parts.astype(np.int32))
        me.polygons.foreach_set("use_smooth", np.ones(len(hm.faces), bool))
        for name, values in hm.vertex_attributes.items():
            a = me.attributes.new(name, "FLOAT_VECTOR", "POINT")
            a.data.foreach_set("vector", values.astype(np.float32).ravel())
        me.attributes.new(materials.SKIN_COORDS, "FLOAT_VECTOR", "POINT")
        if skin_detail:  # where on the face the detail varies, per group (set_areas)
            for name in (FACE_AREAS, FACE_LINES):
                me.attributes.new(name, "FLOAT_VECTOR", "POINT")
        uvs = getattr(hm, "face_uvs", None)
        if uvs is not None:  # per face corner, in the order from_pydata made the loops
            me.uv_layers.new(name="UVMap").data.foreach_set("uv", uvs.astype(np.float32).ravel())
        for mat in materials.build_head_materials(subsurface, skin_shader, skin_detail, eye_detail):
            me.materials.append(mat)  # slot index == part label
        self.object = bpy.data.objects.new("head", me)
        scene.collection.objects.link(self.object)
        self._joined = None  # the Geometry Nodes tree that joins parts to the head (join)
        # Occluders for landmark visibility: everything but the eyeballs, which poke slightly
        # through the eyelid rims where the eye landmarks sit.
        self._occluder_faces = hm.faces[hm.face_parts != PART_EYE]

    def remove(self) -> None:
        remove(self.object)
        if self._joined is not None:
            bpy.data.node_groups.remove(self._joined)

    def join(self, objects) -> None:
        """Render the mesh objects `objects` (the group's parts that cut through the skin, Part.on_skin)
        as part of the head's one Cycles geometry: a Geometry Nodes modifier joins their meshes, as
        placed, with their materials, to the head's, and the objects themselves are hidden from the
        render (they still move view by view; the modifier follows them). Where two objects' surfaces
        cross, which of two coincident hits a ray takes depends on Embree's top-level tree, which a kept
        Cycles session builds differently run to run; joined into one geometry, kept sessions gave the
        fresh sessions' bytes (bench/README.md, "What makes a kept session flip"). No objects: no modifier."""
        mod = self.object.modifiers.get("join")
        if not objects:
            if mod is not None:
                self.object.modifiers.remove(mod)
            return
        if self._joined is None:
            self._joined = ng = bpy.data.node_groups.new("join", "GeometryNodeTree")
            ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
            ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
            join = ng.nodes.new("GeometryNodeJoinGeometry")
            ng.links.new(ng.nodes.new("NodeGroupInput").outputs[0], join.inputs[0])
            ng.links.new(join.outputs[0], ng.nodes.new("NodeGroupOutput").inputs[0])
        ng = self._joined
        for node in [n for n in ng.nodes if n.bl_idname == "GeometryNodeObjectInfo"]:
            ng.nodes.remove(node)
        join = next(n for n in ng.nodes if n.bl_idname == "GeometryNodeJoinGeometry")
        for ob in objects:
            info = ng.nodes.new("GeometryNodeObjectInfo")
            info.transform_space = "RELATIVE"  # in the head object's frame
            info.inputs["Object"].default_value = ob
            ng.links.new(info.outputs["Geometry"], join.inputs[0])
            ob.hide_render = True
        if mod is None:
            mod = self.object.modifiers.new("join", "NODES")
            mod.node_group = ng

    def set_group(self, p: MaterialsSpec, albedo=None) -> None:
        """The group's materials; `albedo` the loaded image of its skin texture, if it has one."""
        mats = list(self.object.data.materials)
        materials.set_head_materials(mats, p)
        if albedo is not None:
            if not self.object.data.uv_layers:
                raise RuntimeError(f"a skin texture on head model '{self.model_name}', which has no UVs")
            mats[PART_SKIN].node_tree.nodes["albedo"].image = albedo

    def set_areas(self, first: PosedHead) -> None:
        """A detailed skin's face areas (relhead.render.parts.face_areas), laid out on the group's first posed head."""
        with fixed_threads():
            weights = face_areas(first)
        for name, w in zip((FACE_AREAS, FACE_LINES), weights):
            self.object.data.attributes[name].data.foreach_set("vector", w.ravel())

    def set_view(self, posed: PosedHead) -> None:
        """The posed head's vertices, and their head-frame coordinates, which keep textures on the skin."""
        me = self.object.data
        me.vertices.foreach_set("co", posed.vertices.astype(np.float32).ravel())
        me.attributes[materials.SKIN_COORDS].data.foreach_set(
            "vector", head_frame(posed.vertices, posed).astype(np.float32).ravel())
        me.update()
        self._vertices = posed.vertices

    def occluder(self) -> tuple[np.ndarray, np.ndarray]:
        """What of the head hides landmarks (world frame, the current view)."""
        return self._vertices, self._occluder_faces
