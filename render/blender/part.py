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
from relhead.exact import mm
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
    it hides landmarks, (vertices, triangles) in the head frame.

    Its data also gets a second user, `self.keeper`, which no ray sees. A background render builds a
    static BVH, into which Cycles bakes the transform of every object whose geometry has one user: in
    a kept Cycles session (render.session: group), turning the object view by view then rebuilds that
    geometry's BVH every view (strand hair: about 0.12 s a view at 256 px). Geometry with two users is
    instanced instead: its BVH is built once, in the group's first view, and later views only move the
    instance (bench/README.md, "Kept sessions: the hair's BVH built once a group"). Fresh sessions get
    the keeper too, so that both sessions render the same scene, to the same bytes. A part whose data
    changes view by view (facial hair: `moves_points`) gets no keeper."""

    moves_points = False  # set_view writes new points into the data

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.object = self.keeper = None
        self.hides = NO_OCCLUDER

    def add(self, name: str, data):
        ob = super().add(name, data)
        if not self.moves_points:
            self.keeper = keeper = super().add(f"{name}_keeper", data)
            # Seen by volume-scatter rays only, which no scene of relhead casts (it has no volumes), and
            # far below the scene: it is in the scene for Cycles' count of the data's users alone.
            for ray in ("camera", "diffuse", "glossy", "transmission", "shadow"):
                setattr(keeper, f"visible_{ray}", False)
            keeper.matrix_world = Matrix.LocRotScale((0.0, 0.0, -1000.0), None, (1e-3, 1e-3, 1e-3))
        return ob

    def drop(self) -> None:
        """Remove the last group's object (and keeper) and its occluder."""
        if self.keeper is not None:
            bpy.data.objects.remove(self.keeper)
            self.keeper = None
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
        return mm(v, T[:3, :3].T) + T[:3, 3], f


def remove(ob) -> None:
    """A scene object and its data (mesh or curves), gone."""
    data = ob.data
    bpy.data.objects.remove(ob)
    (bpy.data.hair_curves if isinstance(data, bpy.types.Curves) else bpy.data.meshes).remove(data)
