"""A scene part in Blender: its objects and materials in the process' scene, made per group from
the part's bpy-free geometry (relhead.render.parts), placed view by view, and what of it hides
landmarks from the camera.

relhead.render.blender.scene lists the parts (PARTS) and drives them: a new part is a spec field
and its sampling, its geometry in relhead.render.parts, and one Part subclass listed there.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from relhead.assets.base import PosedHead
from relhead.render.spec import GroupSpec

NO_OCCLUDER = (np.zeros((0, 3)), np.zeros((0, 3), int))


class Part:
    """One scene part. `geometry` computes its bpy-free geometry of a group (None: the group has
    none); `set_group` makes the part's objects from it (removing the last group's), `set_view`
    places them for a view, and `occluder` is what of it hides landmarks (world frame)."""

    name = "part"  # its key in the group's geometry
    # Its mesh cuts through the skin: rendered as part of the head's geometry (Head.join), from `self.object`.
    on_skin = False

    @staticmethod
    def geometry(spec: GroupSpec, head_model, first: PosedHead):
        return None

    def __init__(self, scene, world) -> None:
        """`scene`: the bpy scene; `world`: the scene's World (relhead.render.blender.world)."""
        self.scene, self.world = scene, world

    def set_group(self, spec: GroupSpec, geometry, first: PosedHead) -> None:
        raise NotImplementedError

    def set_view(self, posed: PosedHead) -> None:
        pass

    def occluder(self, T_world_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return NO_OCCLUDER

    def add(self, name: str, data):
        """A new object of `data` (a mesh or curves) in the scene."""
        ob = bpy.data.objects.new(name, data)
        self.scene.collection.objects.link(ob)
        return ob


class RigidPart(Part):
    """A part fixed in the head frame, made once per group on the first view's head (hair, glasses,
    hats): its object (`self.object`) turns with the skull view by view; `self.hides` is what of
    it hides landmarks, (vertices, triangles) in the head frame."""

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.object = None
        self.hides = NO_OCCLUDER

    def drop(self) -> None:
        """Remove the last group's object and its occluder."""
        if self.object is not None:
            remove(self.object)
            self.object = None
            self.hides = NO_OCCLUDER

    def set_view(self, posed: PosedHead) -> None:
        if self.object is not None:
            self.object.matrix_world = Matrix(posed.T_world_head.tolist())

    def occluder(self, T_world_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v, f = self.hides
        T = T_world_head
        return v @ T[:3, :3].T + T[:3, 3], f


def remove(ob) -> None:
    """A scene object and its data (mesh or curves), gone."""
    data = ob.data
    bpy.data.objects.remove(ob)
    (bpy.data.hair_curves if isinstance(data, bpy.types.Curves) else bpy.data.meshes).remove(data)
