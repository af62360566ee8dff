"""Hats in Blender: the mesh relhead.render.parts.hats builds (head frame), in the garments' fabric,
placed rigidly with the skull; the whole hat hides landmarks behind it."""

from __future__ import annotations

from relhead.assets.base import PosedHead
from relhead.render.blender.garment import build_fabric, fabric_mesh, set_fabric
from relhead.render.blender.part import RigidPart
from relhead.render.parts.hats import HatMesh, group_hat
from relhead.render.spec import GroupSpec


class HatPart(RigidPart):
    name = "hat"
    geometry = staticmethod(group_hat)

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.material = build_fabric("hat")

    def set_group(self, spec: GroupSpec, mesh: HatMesh | None, first: PosedHead) -> None:
        self.drop()
        if mesh is None:
            return
        me = fabric_mesh("hat", mesh.vertices, mesh.faces, mesh.fabric, self.material)
        set_fabric(self.material, spec.hat)
        self.object = self.add("hat", me)
        self.hides = (mesh.vertices, mesh.faces)
