"""Extra lights in Blender: point or area lights placed around the head of the group's first view and
fixed in the world, at a strength relative to the world's. Light objects are made as groups need
them and hidden when unused."""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix

from relhead.assets.base import PosedHead
from relhead.exact import mm, norm
from relhead.render.blender.part import Part
from relhead.render.spec import GroupSpec, LightSpec


class LightsPart(Part):
    name = "lights"

    def __init__(self, scene, world) -> None:
        super().__init__(scene, world)
        self.objects: list = []  # light objects, made as groups need them, hidden when unused

    def set_group(self, spec: GroupSpec, geometry: None, first: PosedHead) -> None:
        self.place(spec.lighting.lights, first.T_world_head, spec.lighting.strength)

    def place(self, lights: list[LightSpec], T_world_head: np.ndarray, world_strength: float) -> None:
        """Place the group's extra lights around the head (head frame of `T_world_head`). A light of
        strength 1 gives a surface facing it the irradiance a uniform world of `world_strength` gives."""
        for i, spec in enumerate(lights):
            if i == len(self.objects):
                ob = bpy.data.objects.new(f"light{i}", bpy.data.lights.new(f"light{i}", "POINT"))
                ob.visible_camera = False  # seen in reflections, never as a patch in the image
                self.scene.collection.objects.link(ob)
                self.objects.append(ob)
            ob = self.objects[i]
            ob.hide_render = False
            ob.data.type = "AREA" if spec.kind == "area" else "POINT"
            L = ob.data
            L.use_temperature, L.temperature, L.color = True, spec.kelvin, (1.0, 1.0, 1.0)
            u = mm(T_world_head[:3, :3], np.array(spec.direction()))
            # Irradiance at distance d: point P / (4 pi^2 d^2), small area light facing it P / (pi^2 d^2).
            geometric = (4.0 if spec.kind == "point" else 1.0) * math.pi ** 2 * spec.distance_m ** 2
            L.energy = spec.strength * world_strength * geometric
            if spec.kind == "area":
                L.shape, L.size = "SQUARE", max(spec.size_m, 1e-3)
            else:
                L.shadow_soft_size = spec.size_m
            x = np.cross([0.0, 0.0, 1.0], u) if abs(u[2]) < 0.9 else np.cross([1.0, 0.0, 0.0], u)
            x /= norm(x)
            M = np.eye(4)
            M[:3, 0], M[:3, 1], M[:3, 2] = x, np.cross(u, x), u  # emits along -z: toward the head
            M[:3, 3] = T_world_head[:3, 3] + spec.distance_m * u
            ob.matrix_world = Matrix(M.tolist())
        for ob in self.objects[len(lights):]:
            ob.hide_render = True
